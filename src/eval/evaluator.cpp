// Evaluation driver (see evaluator.h): sharding, classifier passes, PGD attacks, R.json.
#include "sturdy/eval/evaluator.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

#include <mpi.h>

#include <unistd.h>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "search_attack.h"
#include "shard.h"
#include "sturdy/ckpt/checkpoint.h"
#include "sturdy/ckpt/pretrained.h"
#include "sturdy/core/atomic_file.h"
#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#include "sturdy/data/importers.h"
#include "sturdy/distributed/device.h"
#include "sturdy/eval/gate.h"
#include "sturdy/perturb/augment.h"
#include "sturdy/perturb/recipe.h"
#include "sturdy/robust/adversarial.h"

namespace fs = std::filesystem;

namespace sturdy::eval {
namespace {

using detail::BatchLimits;
using detail::combine;
using detail::Shard;
using detail::TextOf;

// Attack streams: each (attack, ε) pair gets its own random start.
constexpr uint64_t kAttackKey = 0x61747461636bull;  // "attack"

nlohmann::json train_cost(const std::string& checkpoint_dir) {
  // RUN/checkpoints/step_X -> RUN/train_summary.json
  const fs::path summary = fs::path(checkpoint_dir).parent_path().parent_path() / "train_summary.json";
  nlohmann::json cost = {{"train_seconds", nullptr}, {"train_tokens_per_second", nullptr}};
  std::ifstream in(summary);
  if (!in) return cost;
  try {
    const auto j = nlohmann::json::parse(in);
    cost["train_seconds"] = j.value("train_seconds", 0.0);
    cost["train_tokens_per_second"] = j.value("train_tokens_per_second", 0.0);
  } catch (const nlohmann::json::exception&) {
    spdlog::warn("{}: unreadable, training cost left out of R.json", summary.string());
  }
  return cost;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Per-sequence classifier outputs.
struct Scored {
  std::vector<int32_t> predicted;
  std::vector<double> confidence;
};

// Classifies every sequence; a sequence equal to an earlier one, or to `reference[i / k]`
// (the clean tokens of the same example), is copied instead of recomputed.
Scored classify(const EvalModel& m, const std::vector<std::vector<int32_t>>& seqs, const BatchLimits& limits,
                EvalWork& work, const std::vector<std::vector<int32_t>>* reference = nullptr,
                const Scored* reference_scored = nullptr, int64_t k = 1) {
  c10::InferenceMode inference;
  BatchInvariantGuard invariant;
  const auto t0 = std::chrono::steady_clock::now();
  const size_t n = seqs.size();
  Scored s{std::vector<int32_t>(n, 0), std::vector<double>(n, 0.0)};
  std::vector<int64_t> from_reference(n, -1);
  if (reference) {
    for (size_t i = 0; i < n; ++i) {
      if (seqs[i] == (*reference)[i / static_cast<size_t>(k)]) from_reference[i] = static_cast<int64_t>(i) / k;
    }
  }
  const auto first = detail::first_occurrences(seqs);
  std::vector<int64_t> todo;
  for (size_t i = 0; i < n; ++i) {
    if (from_reference[i] < 0 && first[i] == static_cast<int64_t>(i)) todo.push_back(static_cast<int64_t>(i));
  }
  detail::for_each_length_batch(
      seqs, limits,
      [&](const torch::Tensor& ids, const std::vector<int64_t>& members) {
        const auto probs = torch::softmax(detail::forward_float64(m.model, ids), -1);
        const auto [conf, pred] = probs.max(-1);
        const auto conf_a = conf.accessor<double, 1>();
        const auto pred_a = pred.accessor<int64_t, 1>();
        for (size_t r = 0; r < members.size(); ++r) {
          s.predicted[members[r]] = static_cast<int32_t>(pred_a[static_cast<int64_t>(r)]);
          s.confidence[members[r]] = conf_a[static_cast<int64_t>(r)];
        }
        work.tokens += ids.numel();
        work.forwarded += ids.size(0);
      },
      &todo);
  for (size_t i = 0; i < n; ++i) {
    if (from_reference[i] >= 0) {
      s.predicted[i] = reference_scored->predicted[from_reference[i]];
      s.confidence[i] = reference_scored->confidence[from_reference[i]];
    } else if (first[i] != static_cast<int64_t>(i)) {
      s.predicted[i] = s.predicted[first[i]];
      s.confidence[i] = s.confidence[first[i]];
    }
  }
  work.sequences += static_cast<int64_t>(n);
  work.seconds += seconds_since(t0);
  return s;
}

// Per-draw predictions in corpus order from this rank's scores (draw v of local example j
// at j·k + v); every rank gets all of them.
std::vector<Predictions> gather_draws(const Shard& shard, const Scored& local, int64_t k, const dist::Context& ctx) {
  const int64_t n = shard.n;
  std::vector<int32_t> predicted(static_cast<size_t>(k * n), 0);
  std::vector<double> confidence(static_cast<size_t>(k * n), 0.0);
  for (size_t j = 0; j < shard.examples.size(); ++j) {
    for (int64_t v = 0; v < k; ++v) {
      const size_t from = j * static_cast<size_t>(k) + static_cast<size_t>(v);
      const size_t to = static_cast<size_t>(v * n + shard.examples[j].index);
      predicted[to] = local.predicted[from];
      confidence[to] = local.confidence[from];
    }
  }
  combine(predicted, ctx);
  combine(confidence, ctx);
  std::vector<Predictions> draws(static_cast<size_t>(k));
  for (int64_t v = 0; v < k; ++v) {
    draws[v].labels = shard.labels;
    draws[v].predicted.assign(predicted.begin() + v * n, predicted.begin() + (v + 1) * n);
    draws[v].confidence.assign(confidence.begin() + v * n, confidence.begin() + (v + 1) * n);
  }
  return draws;
}

// The token sequences of k draws of `perturber` over this rank's examples (j·k + v):
// draw v of example id = apply(text, seed, epoch 0, id, view v). Thread-safe.
std::vector<std::vector<int32_t>> draw_tokens(const EvalModel& m, const Shard& shard,
                                              const perturb::Perturber& perturber, uint64_t seed, int64_t k) {
  std::vector<std::vector<int32_t>> seqs;
  seqs.reserve(shard.examples.size() * static_cast<size_t>(k));
  for (const Example& e : shard.examples) {
    for (int64_t v = 0; v < k; ++v) {
      const std::string text =
          perturber.apply(e.text, seed, 0, static_cast<uint64_t>(e.id), static_cast<uint64_t>(v));
      seqs.push_back(detail::classifier_tokens(m.tokenizer, text, m.max_length));
    }
  }
  return seqs;
}

std::vector<int32_t> labels_of(const Shard& shard, const std::vector<int64_t>& local) {
  std::vector<int32_t> labels;
  for (int64_t j : local) labels.push_back(shard.labels[shard.examples[j].index]);
  return labels;
}

// PGD on the embedding output against the true label. Returns, per example, the prediction
// under attack: the first wrong prediction met along the iterates δ₀..δ_steps (an attack
// succeeds as soon as one iterate fools the model), else the final one. Examples wrong on
// clean input keep their clean prediction (they are not attacked). An example leaves its
// batch once it is fooled, so later steps work on the survivors only. Gradients are taken
// w.r.t. δ only (autograd::grad), so no parameter gradient is computed or accumulated.
std::vector<int32_t> attack_shard(const EvalModel& m, const Shard& shard,
                                  const std::vector<std::vector<int32_t>>& clean_seqs, const Predictions& clean,
                                  const AttackSpec& attack, double epsilon, uint64_t stream, uint64_t seed,
                                  const BatchLimits& limits, const dist::Context& ctx) {
  BatchInvariantGuard invariant;
  const robust::AdvBall ball{attack.norm, attack.scope, epsilon};
  const double alpha = attack.step_for(epsilon);
  std::vector<int32_t> out(shard.n, 0);
  std::vector<int64_t> attacked;  // local positions of the examples correct on clean input
  for (size_t j = 0; j < shard.examples.size(); ++j) {
    const int64_t idx = shard.examples[j].index;
    out[idx] = clean.predicted[idx];
    if (clean.predicted[idx] == clean.labels[idx]) attacked.push_back(static_cast<int64_t>(j));
  }
  detail::for_each_length_batch(
      clean_seqs, limits,
      [&](const torch::Tensor& batch_ids, const std::vector<int64_t>& members) {
        std::vector<int64_t> ids;
        for (int64_t j : members) ids.push_back(shard.examples[j].id);
        const torch::Device device = m.model->device();
        auto labels = torch::tensor(labels_of(shard, members), torch::kInt64).to(device);
        auto mask = torch::ones(batch_ids.sizes(), torch::TensorOptions().dtype(torch::kBool).device(device));
        torch::Tensor emb;
        {
          torch::NoGradGuard no_grad;
          emb = m.model->embed(batch_ids.to(device));
        }
        auto delta = robust::adv_init(emb, mask, ball, attack.init, ids, seed, stream);
        std::vector<int64_t> active = members;  // local positions of the rows still attacked
        for (int64_t step = 0; step <= attack.steps; ++step) {
          delta.requires_grad_(true);
          auto logits = m.model->head(m.model->encode(emb + delta, mask), mask);
          const auto pred = logits.argmax(-1).to(torch::kCPU);
          const auto pred_a = pred.accessor<int64_t, 1>();
          std::vector<int64_t> keep;  // rows of this batch still correct
          for (size_t r = 0; r < active.size(); ++r) {
            const int64_t idx = shard.examples[active[r]].index;
            out[idx] = static_cast<int32_t>(pred_a[static_cast<int64_t>(r)]);
            if (pred_a[static_cast<int64_t>(r)] == clean.labels[idx]) keep.push_back(static_cast<int64_t>(r));
          }
          if (keep.empty() || step == attack.steps) break;
          const auto rows = torch::tensor(keep, torch::kInt64).to(device);
          auto loss = torch::nn::functional::cross_entropy(
              logits.index_select(0, rows), labels.index_select(0, rows),
              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
          auto grad = torch::autograd::grad({loss}, {delta})[0];
          delta = robust::adv_step_project(delta.detach(), grad, mask, ball, alpha);
          if (keep.size() < active.size()) {  // the fooled rows leave the batch
            delta = delta.index_select(0, rows);
            emb = emb.index_select(0, rows);
            mask = mask.index_select(0, rows);
            labels = labels.index_select(0, rows);
            std::vector<int64_t> still;
            for (int64_t r : keep) still.push_back(active[r]);
            active = std::move(still);
          }
        }
      },
      &attacked);
  combine(out, ctx);
  return out;
}

// The scale ε is read against: mean per-example Frobenius norm and mean per-token l2 norm of
// the clean embeddings.
nlohmann::json embedding_scale(const EvalModel& m, const Shard& shard,
                               const std::vector<std::vector<int32_t>>& clean_seqs, const BatchLimits& limits,
                               const dist::Context& ctx) {
  c10::InferenceMode inference;
  std::vector<double> example_norm(shard.n, 0.0), token_norm_sum(shard.n, 0.0);
  std::vector<int64_t> tokens(shard.n, 0);
  detail::for_each_length_batch(clean_seqs, limits, [&](const torch::Tensor& ids, const std::vector<int64_t>& members) {
    const auto per_token =
        m.model->embed(ids.to(m.model->device())).to(torch::kFloat64).to(torch::kCPU).square().sum(-1).sqrt();  // (B,L)
    const auto ex = per_token.square().sum(-1).sqrt();                                      // (B)
    const auto tok_sum = per_token.sum(-1);
    const auto ex_a = ex.accessor<double, 1>();
    const auto tok_a = tok_sum.accessor<double, 1>();
    for (size_t r = 0; r < members.size(); ++r) {
      const int64_t idx = shard.examples[members[r]].index;
      example_norm[idx] = ex_a[static_cast<int64_t>(r)];
      token_norm_sum[idx] = tok_a[static_cast<int64_t>(r)];
      tokens[idx] = ids.size(1);
    }
  });
  combine(example_norm, ctx);
  combine(token_norm_sum, ctx);
  combine(tokens, ctx);
  double ex_sum = 0, tok_sum = 0;
  int64_t tok_count = 0;
  for (int64_t i = 0; i < shard.n; ++i) {
    ex_sum += example_norm[i];
    tok_sum += token_norm_sum[i];
    tok_count += tokens[i];
  }
  return {{"mean_example_embedding_norm", shard.n ? ex_sum / static_cast<double>(shard.n) : 0.0},
          {"mean_token_embedding_norm", tok_count ? tok_sum / static_cast<double>(tok_count) : 0.0}};
}

nlohmann::json clean_json(const Predictions& p) {
  return {{"accuracy", accuracy(p)},
          {"ece", expected_calibration_error(p, 15)},
          {"severe_error_rate", severe_error_rate(p, 0.9)},
          {"majority_baseline", majority_share(p.labels)}};
}

BatchLimits limits_of(const Suite& suite) { return {suite.batch_size, suite.batch_tokens}; }

std::vector<std::vector<int32_t>> clean_tokens(const EvalModel& m, const Shard& shard) {
  std::vector<std::vector<int32_t>> seqs;
  seqs.reserve(shard.examples.size());
  for (const Example& e : shard.examples) seqs.push_back(detail::classifier_tokens(m.tokenizer, e.text, m.max_length));
  return seqs;
}

// One classifier pass over the shard; every rank returns all n predictions.
Predictions predict_shard(const EvalModel& m, const Shard& shard, const TextOf& text_of, const BatchLimits& limits,
                          EvalWork& work, const dist::Context& ctx) {
  std::vector<std::vector<int32_t>> seqs;
  seqs.reserve(shard.examples.size());
  for (const Example& e : shard.examples) {
    seqs.push_back(detail::classifier_tokens(m.tokenizer, text_of ? text_of(e) : e.text, m.max_length));
  }
  return gather_draws(shard, classify(m, seqs, limits, work), 1, ctx)[0];
}

// An extra fixed test set: an HDF5 corpus is read directly; any other file is imported
// (as `sturdy prepare` would, with the checkpoint's label order) into a per-rank temp corpus.
nlohmann::json evaluate_extra_set(const EvalModel& m, const ExtraSetSpec& spec, const Suite& suite, EvalWork& work,
                                  const dist::Context& ctx) {
  std::string path = spec.path;
  std::string temp;
  const std::string ext = fs::path(spec.path).extension().string();
  if (ext != ".h5" && ext != ".hdf5") {
    temp = (fs::temp_directory_path() /
            fmt::format("sturdy-eval-{}-{}-{}.h5", static_cast<long>(::getpid()), ctx.rank(), spec.name))
               .string();
    ImportOptions io;
    io.input = spec.path;
    io.output = temp;
    io.format = spec.format;
    io.text_field = spec.text_field;
    io.label_field = spec.label_field;
    io.label_names = m.label_names;
    import_corpus(io);
    path = temp;
  }
  nlohmann::json j;
  try {
    const CorpusReader reader(path);
    STURDY_USAGE_CHECK(reader.info().label_names == m.label_names, "{}: labels [{}] differ from the model's [{}]",
                       spec.path, fmt::join(reader.info().label_names, ","), fmt::join(m.label_names, ","));
    const Shard shard = detail::read_shard(reader, 0, ctx);
    const Predictions p = predict_shard(m, shard, nullptr, limits_of(suite), work, ctx);
    j = clean_json(p);
    j["name"] = spec.name;
    j["path"] = spec.path;
    j["num_examples"] = shard.n;
  } catch (...) {
    if (!temp.empty()) fs::remove(temp);
    throw;
  }
  if (!temp.empty()) fs::remove(temp);
  return j;
}

// A text pass of the suite: k draws of one perturber.
struct TextPass {
  const perturb::Perturber* perturber;
  int64_t k;
};

nlohmann::json evaluate_classifier(const EvalModel& m, const Shard& shard, const Suite& suite, EvalWork& work,
                                   std::vector<detail::AdversarialRecord>& adversarial, const dist::Context& ctx) {
  const auto runs = detail::perturbation_runs(suite);
  const auto worst = detail::worst_case_perturber(suite);
  const BatchLimits limits = limits_of(suite);
  std::vector<TextPass> passes;
  for (const auto& run : runs) passes.push_back({run.perturber.get(), run.k});
  if (worst) passes.push_back({worst.get(), suite.worst_case.k > 0 ? suite.worst_case.k : suite.k});
  // Perturbation and tokenization of pass i + 1 run on a helper thread during pass i.
  detail::PassPipeline<std::vector<std::vector<int32_t>>> pipeline(passes.size(), [&](size_t i) {
    return draw_tokens(m, shard, *passes[i].perturber, suite.seed, passes[i].k);
  });

  nlohmann::json r;
  const auto clean_seqs = clean_tokens(m, shard);
  const Scored clean_local = classify(m, clean_seqs, limits, work);
  const Predictions clean = gather_draws(shard, clean_local, 1, ctx)[0];
  r["clean"] = clean_json(clean);

  auto draws_of = [&](size_t i) {
    const auto seqs = pipeline.take(i);
    return gather_draws(shard, classify(m, seqs, limits, work, &clean_seqs, &clean_local, passes[i].k), passes[i].k,
                        ctx);
  };
  r["perturbations"] = nlohmann::json::array();
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& run = runs[i];
    const auto t0 = std::chrono::steady_clock::now();
    const DrawMetrics d = draw_metrics(clean, draws_of(i));
    r["perturbations"].push_back({{"name", run.name},
                                  {"kind", run.kind},
                                  {"rate", run.rate},
                                  {"k", run.k},
                                  {"accuracy", d.mean_accuracy},
                                  {"worst_case_accuracy", d.worst_case_accuracy},
                                  {"flip_rate", d.flip_rate}});
    spdlog::info("[{}/{}] {} {} @ {}: accuracy {:.4f}, worst-case@{} {:.4f}, flip rate {:.4f} ({:.1f} s)", i + 1,
                 passes.size(), run.kind, run.name, run.rate, d.mean_accuracy, run.k, d.worst_case_accuracy,
                 d.flip_rate, seconds_since(t0));
  }
  if (worst) {
    const int64_t k = passes.back().k;
    const DrawMetrics d = draw_metrics(clean, draws_of(passes.size() - 1));
    r["worst_case"] = {{"recipe", suite.worst_case.recipe},
                       {"k", k},
                       {"accuracy", d.worst_case_accuracy},
                       {"mean_accuracy", d.mean_accuracy},
                       {"flip_rate", d.flip_rate}};
    spdlog::info("[{}/{}] worst case {} @{}: accuracy {:.4f}", passes.size(), passes.size(), suite.worst_case.recipe,
                 k, d.worst_case_accuracy);
  }

  r["attacks"] = nlohmann::json::array();
  if (!suite.attacks.empty()) {
    const auto scale = embedding_scale(m, shard, clean_seqs, limits, ctx);
    r["attack_scale"] = scale;
    uint64_t stream = 0;
    for (const auto& attack : suite.attacks) {
      const double unit = attack.scale_of(scale["mean_example_embedding_norm"].get<double>(),
                                          scale["mean_token_embedding_norm"].get<double>(), m.model->config().dim);
      std::vector<std::pair<double, double>> radii;  // (ε, relative factor or 0)
      for (double eps : attack.epsilons) radii.emplace_back(eps, 0.0);
      for (double rel : attack.epsilons_relative) radii.emplace_back(rel * unit, rel);
      for (const auto& [eps, rel] : radii) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto attacked = attack_shard(m, shard, clean_seqs, clean, attack, eps, hash_key({kAttackKey, stream++}),
                                           suite.seed, limits, ctx);
        const AttackMetrics a = attack_metrics(clean, attacked);
        r["attacks"].push_back({{"kind", attack.kind},
                                {"norm", robust::adv_norm_name(attack.norm)},
                                {"scope", robust::adv_scope_name(attack.scope)},
                                {"epsilon", eps},
                                {"epsilon_relative", rel > 0 ? nlohmann::json(rel) : nlohmann::json(nullptr)},
                                {"steps", attack.steps},
                                {"step_size", attack.step_for(eps)},
                                {"accuracy_under_attack", a.accuracy_under_attack},
                                {"attack_success_rate", a.attack_success_rate}});
        spdlog::info("pgd {} eps {:.4g}{}: accuracy under attack {:.4f}, success rate {:.4f} ({:.1f} s)",
                     robust::adv_norm_name(attack.norm), eps,
                     rel > 0 ? fmt::format(" ({} x scale)", rel) : std::string(), a.accuracy_under_attack,
                     a.attack_success_rate, seconds_since(t0));
      }
    }
  }
  // Search attacks (their forwards are not text passes: a separate tally).
  EvalWork search_work;
  for (const auto& spec : suite.search_attacks) {
    r["attacks"].push_back(detail::classifier_search_attack(m, shard, clean, spec, suite, search_work, adversarial, ctx));
  }
  if (!suite.extra_sets.empty()) {
    r["extra_sets"] = nlohmann::json::array();
    for (const auto& spec : suite.extra_sets) {
      r["extra_sets"].push_back(evaluate_extra_set(m, spec, suite, work, ctx));
    }
  }
  return r;
}

void write_json_atomically(const nlohmann::json& r, const std::string& path) {
  write_file_atomically(path, r.dump(2) + "\n");
}

}  // namespace

namespace {
// A llama2.c .bin file or a Hugging Face safetensors folder (not a Sturdy checkpoint).
bool is_foreign_weights(const std::string& path) {
  const fs::path p(path);
  return fs::is_regular_file(p) || fs::exists(p / "model.safetensors") ||
         fs::exists(p / "model.safetensors.index.json");
}
}  // namespace

LoadedModel load_model(const std::string& checkpoint, const std::string& config_path,
                       const std::vector<std::string>& overrides, const std::string& variant) {
  STURDY_USAGE_CHECK(variant.empty() || !config_path.empty(), "--variant needs --config");
  LoadedModel m;
  if (is_foreign_weights(checkpoint)) {
    // The base model of a fine-tuning experiment: architecture from the file, data and
    // tokenizer from --config/--set (tokenizer.path, else the one the folder carries).
    const PretrainedModel pretrained = read_pretrained(checkpoint);
    m.checkpoint_dir = checkpoint;
    m.config = config_path.empty() ? parse_config("{}", checkpoint, overrides)
                                   : load_config(config_path, overrides, variant);
    m.config.tokenizer = pretrained_tokenizer(
        pretrained, m.config.tokenizer.path,
        m.config.tokenizer.path.empty() ? std::nullopt : std::optional(m.config.tokenizer.kind.value()));
    m.config.model = pretrained.config;
    m.config.run.name = fs::path(checkpoint).filename().string();
    m.objective = "pretrained";
    m.config.augment = {};
    m.tokenizer = std::shared_ptr<const Tokenizer>(make_tokenizer(m.config.tokenizer));
    m.model = build_pretrained(pretrained);
    m.model->eval();
    return m;
  }
  m.checkpoint_dir = ckpt::resolve(checkpoint);
  const auto state = ckpt::read_state(m.checkpoint_dir);
  const Config trained = parse_config(state.config_yaml, m.checkpoint_dir + "/state.json:config");
  // The architecture and tokenizer always come from the checkpoint; the user's config
  // may choose data and evaluation settings.
  m.config = config_path.empty() ? parse_config(state.config_yaml, m.checkpoint_dir, overrides)
                                 : load_config(config_path, overrides, variant);
  m.config.model = trained.model;
  m.config.tokenizer = trained.tokenizer;
  // Where the model was trained says nothing about where it is evaluated: a GPU run's
  // checkpoint evaluates on a CPU-only machine. run.device comes from --config or --set.
  const bool device_set = std::any_of(overrides.begin(), overrides.end(),
                                      [](const std::string& o) { return o.rfind("run.device=", 0) == 0; });
  if (config_path.empty() && !device_set) m.config.run.device = DeviceKind::kAuto;
  m.objective = m.config.objective.kind.name();
  m.label_names = state.label_names;
  m.tokenizer = std::shared_ptr<const Tokenizer>(make_tokenizer(m.config.tokenizer));
  m.model = Transformer(m.config.model);
  ckpt::load_model(m.checkpoint_dir, named_parameters(*m.model));
  m.model->eval();
  return m;
}

Predictions predict(LoadedModel& m, const CorpusReader& reader, const TextTransform& transform,
                    int64_t batch_size, const dist::Context& ctx) {
  const EvalModel em{m.model, *m.tokenizer, m.config.data.max_length, m.label_names};
  const Shard shard = detail::read_shard(reader, 0, ctx);
  TextOf text_of;
  if (transform) text_of = [&](const Example& e) { return transform(e.text, static_cast<uint64_t>(e.id), 0); };
  EvalWork work;
  return predict_shard(em, shard, text_of, {batch_size, Suite{}.batch_tokens}, work, ctx);
}

nlohmann::json evaluate(const EvalModel& m, const CorpusReader& reader, const Suite& suite,
                        const dist::Context& ctx, EvalWork* work, const std::string& dump_adversarial) {
  m.model->eval();
  const bool lm = m.model->config().head == ModelHead::kLm;
  if (!lm) {
    STURDY_USAGE_CHECK(reader.info().num_classes > 0, "{}: the corpus has no labels", reader.path());
    STURDY_USAGE_CHECK(reader.info().label_names == m.label_names, "{}: labels [{}] differ from the model's [{}]",
                       reader.path(), fmt::join(reader.info().label_names, ","), fmt::join(m.label_names, ","));
  }
  EvalWork local;
  const Shard shard = detail::read_shard(reader, suite.max_examples, ctx);
  std::vector<detail::AdversarialRecord> adversarial;  // the search attacks' successes on this rank
  nlohmann::json r = lm ? detail::evaluate_lm(m, shard, suite, local, adversarial, ctx)
                        : evaluate_classifier(m, shard, suite, local, adversarial, ctx);
  if (!dump_adversarial.empty()) detail::dump_adversarial(dump_adversarial, adversarial, ctx);
  r["num_examples"] = shard.n;
  r["seed"] = suite.seed;
  r["suite"] = suite.name;
  if (work) {
    // Totals over ranks; the time of the slowest rank.
    std::vector<int64_t> counts{local.sequences, local.forwarded, local.tokens};
    STURDY_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, counts.data(), 3, MPI_INT64_T, MPI_SUM, ctx.world()));
    double seconds = local.seconds;
    STURDY_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, ctx.world()));
    *work = {counts[0], counts[1], counts[2], seconds};
  }
  return r;
}

nlohmann::json run_eval(const EvalOptions& options, const dist::Context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  // A gate is checked before any model work, so that a typo fails in a second.
  STURDY_USAGE_CHECK(options.baseline.empty() || !options.gate.empty(), "--baseline needs --gate");
  std::optional<Gate> gate;
  nlohmann::json baseline;
  if (!options.gate.empty()) {
    gate = load_gate(options.gate);
    if (!options.baseline.empty()) baseline = read_result_json(options.baseline, "--baseline");
    require_baseline(*gate, !options.baseline.empty());
  }
  const nlohmann::json* baseline_ptr = options.baseline.empty() ? nullptr : &baseline;
  LoadedModel m = load_model(options.checkpoint, options.config, options.overrides, options.variant);
  const std::string data = options.data.empty() ? m.config.data.valid : options.data;
  if (data.empty()) throw UsageError("no evaluation corpus: pass --data or set data.valid");
  const std::string suite_name =
      !options.suite.empty() ? options.suite : (!m.config.eval.suite.empty() ? m.config.eval.suite : "standard");
  Suite suite = load_suite(suite_name);
  if (options.batch_size > 0) suite.batch_size = options.batch_size;
  if (options.batch_tokens > 0) suite.batch_tokens = options.batch_tokens;
  if (options.max_examples >= 0) suite.max_examples = options.max_examples;
  if (options.seed >= 0) suite.seed = static_cast<uint64_t>(options.seed);
  if (gate) {
    check_gate(*gate, result_layout(suite, m.config.model.head), fmt::format("the results of suite {}", suite.origin),
               baseline_ptr, options.baseline, /*layout=*/true);
  }
  const CorpusReader reader(data);
  const torch::Device device =
      dist::select_device(m.config.run.device, m.config.dist.backend, ctx.local_rank(), ctx.local_size());
  m.model->to(device);
  spdlog::info("evaluating {} on {} ({} examples, suite {}, {} rank(s), device {})", m.checkpoint_dir, data,
               reader.size(), suite.origin, ctx.world_size(), dist::describe_device(device));

  const EvalModel em{m.model, *m.tokenizer, m.config.data.max_length, m.label_names};
  EvalWork work;
  if (!options.dump_adversarial.empty()) {
    STURDY_USAGE_CHECK(!suite.search_attacks.empty(),
                       "--dump-adversarial {}: suite {} has no search attack (char_search, word_search)",
                       options.dump_adversarial, suite.origin);
  }
  const nlohmann::json body = evaluate(em, reader, suite, ctx, &work, options.dump_adversarial);
  nlohmann::json r;
  r["sturdy_version"] = STURDY_VERSION;
  r["checkpoint"] = m.checkpoint_dir;
  r["run_name"] = m.config.run.name;
  r["objective"] = m.objective;
  r["augment"] = m.config.augment.probability > 0
                     ? nlohmann::json{{"recipe", m.config.augment.recipe}, {"probability", m.config.augment.probability}}
                     : nlohmann::json(nullptr);
  r["dataset"] = data;
  r["head"] = m.config.model.head.name();
  r.update(body);
  r["cost"] = train_cost(m.checkpoint_dir);
  const double eval_seconds = seconds_since(t0);
  r["cost"]["eval_seconds"] = eval_seconds;
  // The text passes (clean, perturbed, worst case, extra sets): sequences scored, those that
  // went through the model (the rest equal the clean text or another draw) and their tokens.
  r["cost"]["eval_text_passes"] = {{"sequences", work.sequences},
                                   {"forwarded_sequences", work.forwarded},
                                   {"forwarded_tokens", work.tokens},
                                   {"seconds", work.seconds},
                                   {"tokens_per_second", work.seconds > 0 ? work.tokens / work.seconds : 0.0}};
  spdlog::info("eval done in {:.1f} s: text passes {:.1f} s, {} of {} sequences through the model, {:.0f} tokens/s",
               eval_seconds, work.seconds, work.forwarded, work.sequences,
               work.seconds > 0 ? work.tokens / work.seconds : 0.0);
  if (gate) {
    // Rank 0 decides (the cost timings differ between ranks) and every rank gets its verdict.
    std::string text;
    if (ctx.is_root()) {
      r["gate"] = evaluate_gate(*gate, r, baseline_ptr, options.baseline);
      if (baseline_ptr) {
        for (const auto& w : baseline_mismatches(r, baseline)) spdlog::warn("gate: {}", w);
      }
      text = r["gate"].dump();
    }
    int64_t bytes = static_cast<int64_t>(text.size());
    ctx.broadcast(&bytes, sizeof bytes);
    text.resize(static_cast<size_t>(bytes));
    ctx.broadcast(text.data(), bytes);
    if (!ctx.is_root()) r["gate"] = nlohmann::json::parse(text);
  }
  if (ctx.is_root() && !options.output.empty()) write_json_atomically(r, options.output);
  return r;
}

nlohmann::json evaluate_during_training(Transformer& model, const Config& config, const Tokenizer& tokenizer,
                                        const dist::Context& ctx) {
  if (config.data.valid.empty()) return {};
  const auto t0 = std::chrono::steady_clock::now();
  const bool was_training = model->is_training();
  const Suite suite = load_suite(config.eval.suite.empty() ? "quick" : config.eval.suite);
  const CorpusReader reader(config.data.valid);
  const EvalModel em{model, tokenizer, config.data.max_length, reader.info().label_names};
  nlohmann::json r;
  try {
    r = evaluate(em, reader, suite, ctx);
  } catch (...) {
    model->train(was_training);
    throw;
  }
  model->train(was_training);
  r["eval_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace sturdy::eval
