// Evaluation driver (see evaluator.h): sharding, classifier passes, PGD attacks, R.json.
#include "sturdy/eval/evaluator.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "shard.h"
#include "sturdy/ckpt/checkpoint.h"
#include "sturdy/core/atomic_file.h"
#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#include "sturdy/data/importers.h"
#include "sturdy/model/pretrained.h"
#include "sturdy/perturb/recipe.h"
#include "sturdy/robust/adversarial.h"
#include "sturdy/robust/augment.h"

namespace fs = std::filesystem;

namespace sturdy::eval {
namespace detail {

Shard read_shard(const CorpusReader& reader, int64_t max_examples, int64_t batch_size, const dist::Context& ctx) {
  Shard s;
  s.n = max_examples > 0 ? std::min(max_examples, reader.size()) : reader.size();
  s.batch_size = batch_size;
  if (reader.info().num_classes > 0) s.labels.assign(reader.labels().begin(), reader.labels().begin() + s.n);
  const int64_t batches = (s.n + batch_size - 1) / batch_size;
  for (int64_t b = ctx.rank(); b < batches; b += ctx.world_size()) {
    std::vector<int64_t> indices;
    for (int64_t i = b * batch_size; i < std::min(s.n, (b + 1) * batch_size); ++i) indices.push_back(i);
    s.batches.push_back(reader.read(indices));
  }
  return s;
}

std::vector<PerturbationRun> perturbation_runs(const Suite& suite) {
  auto lexicons = suite.lexicon_dir.empty()
                      ? perturb::Lexicons::builtin()
                      : perturb::Lexicons::load(perturb::LexiconPaths::from_dir(suite.lexicon_dir));
  std::vector<PerturbationRun> runs;
  for (const auto& spec : suite.perturbations) {
    perturb::Recipe recipe;
    if (!spec.recipe.empty()) recipe = perturb::load_recipe(spec.recipe, default_recipe_dir());
    for (double rate : spec.rates) {
      PerturbationRun run;
      run.name = spec.name();
      run.kind = spec.op.empty() ? "recipe" : "op";
      run.rate = rate;
      run.k = spec.k > 0 ? spec.k : suite.k;
      if (spec.op.empty()) {
        auto ops = recipe.ops;
        for (auto& op : ops) op.rate = std::min(1.0, op.rate * rate);
        run.perturber = std::make_shared<const perturb::Perturber>(ops, lexicons, recipe.mode);
      } else {
        run.perturber = std::make_shared<const perturb::Perturber>(
            std::vector<PerturbOpSpec>{{spec.op, rate}}, lexicons);
      }
      runs.push_back(std::move(run));
    }
  }
  return runs;
}

std::shared_ptr<const perturb::Perturber> worst_case_perturber(const Suite& suite) {
  if (suite.worst_case.recipe.empty()) return nullptr;
  auto lexicons = suite.lexicon_dir.empty()
                      ? perturb::Lexicons::builtin()
                      : perturb::Lexicons::load(perturb::LexiconPaths::from_dir(suite.lexicon_dir));
  return std::make_shared<const perturb::Perturber>(
      perturb::Perturber::from_recipe(suite.worst_case.recipe, default_recipe_dir(), lexicons));
}

}  // namespace detail

namespace {

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

std::vector<int32_t> labels_of(const std::vector<Example>& batch) {
  std::vector<int32_t> labels;
  for (const auto& e : batch) labels.push_back(e.label);
  return labels;
}

// One classifier pass over the shard; every rank returns all n predictions.
Predictions predict_shard(const EvalModel& m, const Shard& shard, const TextOf& text_of, const dist::Context& ctx) {
  torch::NoGradGuard no_grad;
  std::vector<int32_t> predicted(shard.n, 0);
  std::vector<double> confidence(shard.n, 0.0);
  for (const auto& batch_examples : shard.batches) {
    std::vector<std::string> texts;
    for (const auto& e : batch_examples) texts.push_back(text_of ? text_of(e) : e.text);
    Batch batch = make_batch(m.tokenizer, texts, {}, m.max_length);
    auto probs = torch::softmax(m.model->forward(batch.ids, batch.mask).to(torch::kFloat64), -1);
    auto [conf, pred] = probs.max(-1);
    auto conf_a = conf.accessor<double, 1>();
    auto pred_a = pred.accessor<int64_t, 1>();
    for (size_t k = 0; k < batch_examples.size(); ++k) {
      predicted[batch_examples[k].index] = static_cast<int32_t>(pred_a[k]);
      confidence[batch_examples[k].index] = conf_a[k];
    }
  }
  combine(predicted, ctx);
  combine(confidence, ctx);
  Predictions p;
  p.labels = shard.labels;
  p.predicted = std::move(predicted);
  p.confidence = std::move(confidence);
  return p;
}

// K draws of `perturber`: draw v of example id = apply(text, seed, epoch 0, id, view v).
std::vector<Predictions> predict_draws(const EvalModel& m, const Shard& shard, const perturb::Perturber& perturber,
                                       uint64_t seed, int64_t k, const dist::Context& ctx) {
  std::vector<Predictions> draws;
  for (int64_t v = 0; v < k; ++v) {
    draws.push_back(predict_shard(
        m, shard,
        [&](const Example& e) {
          return perturber.apply(e.text, seed, 0, static_cast<uint64_t>(e.id), static_cast<uint64_t>(v));
        },
        ctx));
  }
  return draws;
}

// PGD on the embedding output against the true label. Returns, per example, the prediction
// under attack: the first wrong prediction met along the iterates δ₀..δ_steps (an attack
// succeeds as soon as one iterate fools the model), else the final one. Examples wrong on
// clean input keep their clean prediction (they are not attacked). Gradients are taken
// w.r.t. δ only (autograd::grad), so no parameter gradient is computed or accumulated.
std::vector<int32_t> attack_shard(const EvalModel& m, const Shard& shard, const Predictions& clean,
                                  const AttackSpec& attack, double epsilon, uint64_t stream, uint64_t seed,
                                  const dist::Context& ctx) {
  const robust::AdvBall ball{attack.norm, attack.scope, epsilon};
  const double alpha = attack.step_for(epsilon);
  std::vector<int32_t> out(shard.n, 0);
  for (const auto& batch_examples : shard.batches) {
    std::vector<std::string> texts;
    std::vector<int64_t> ids;
    for (const auto& e : batch_examples) {
      texts.push_back(e.text);
      ids.push_back(e.id);
    }
    const Batch batch = make_batch(m.tokenizer, texts, labels_of(batch_examples), m.max_length);
    const int64_t b = static_cast<int64_t>(batch_examples.size());
    std::vector<bool> done(b, false);
    for (int64_t i = 0; i < b; ++i) {
      const int64_t idx = batch_examples[i].index;
      out[idx] = clean.predicted[idx];
      done[i] = clean.predicted[idx] != clean.labels[idx];  // not attacked
    }
    torch::Tensor emb;
    {
      torch::NoGradGuard no_grad;
      emb = m.model->embed(batch.ids);
    }
    auto delta = robust::adv_init(emb, batch.mask, ball, attack.init, ids, seed, stream);
    for (int64_t step = 0; step <= attack.steps; ++step) {
      delta.requires_grad_(true);
      auto logits = m.model->head(m.model->encode(emb + delta, batch.mask), batch.mask);
      auto pred = logits.argmax(-1);
      auto pred_a = pred.accessor<int64_t, 1>();
      bool all_done = true;
      for (int64_t i = 0; i < b; ++i) {
        if (done[i]) continue;
        const int64_t idx = batch_examples[i].index;
        out[idx] = static_cast<int32_t>(pred_a[i]);
        done[i] = pred_a[i] != clean.labels[idx];
        all_done = all_done && done[i];
      }
      if (all_done || step == attack.steps) break;
      auto loss = torch::nn::functional::cross_entropy(
          logits, batch.labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      auto grad = torch::autograd::grad({loss}, {delta})[0];
      delta = robust::adv_step_project(delta.detach(), grad, batch.mask, ball, alpha);
    }
  }
  combine(out, ctx);
  return out;
}

// The scale ε is read against: mean per-example Frobenius norm and mean per-token l2 norm of
// the clean embeddings (real tokens only).
nlohmann::json embedding_scale(const EvalModel& m, const Shard& shard, const dist::Context& ctx) {
  torch::NoGradGuard no_grad;
  std::vector<double> example_norm(shard.n, 0.0), token_norm_sum(shard.n, 0.0);
  std::vector<int64_t> tokens(shard.n, 0);
  for (const auto& batch_examples : shard.batches) {
    std::vector<std::string> texts;
    for (const auto& e : batch_examples) texts.push_back(e.text);
    const Batch batch = make_batch(m.tokenizer, texts, {}, m.max_length);
    auto emb = m.model->embed(batch.ids).to(torch::kFloat64) * batch.mask.unsqueeze(-1).to(torch::kFloat64);
    auto per_token = emb.square().sum(-1).sqrt();  // (B,T)
    auto ex = per_token.square().sum(-1).sqrt();   // (B)
    auto tok_sum = per_token.sum(-1);
    auto count = batch.mask.sum(-1);
    for (size_t i = 0; i < batch_examples.size(); ++i) {
      const int64_t idx = batch_examples[i].index;
      example_norm[idx] = ex[i].item<double>();
      token_norm_sum[idx] = tok_sum[i].item<double>();
      tokens[idx] = count[i].item<int64_t>();
    }
  }
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

// An extra fixed test set: an HDF5 corpus is read directly; any other file is imported
// (as `sturdy prepare` would, with the checkpoint's label order) into a per-rank temp corpus.
nlohmann::json evaluate_extra_set(const EvalModel& m, const ExtraSetSpec& spec, const Suite& suite,
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
    const Shard shard = detail::read_shard(reader, 0, suite.batch_size, ctx);
    const Predictions p = predict_shard(m, shard, nullptr, ctx);
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

nlohmann::json evaluate_classifier(const EvalModel& m, const Shard& shard, const Suite& suite,
                                   const dist::Context& ctx) {
  const auto runs = detail::perturbation_runs(suite);
  const auto worst = detail::worst_case_perturber(suite);
  nlohmann::json r;
  const Predictions clean = predict_shard(m, shard, nullptr, ctx);
  r["clean"] = clean_json(clean);

  r["perturbations"] = nlohmann::json::array();
  for (const auto& run : runs) {
    const auto draws = predict_draws(m, shard, *run.perturber, suite.seed, run.k, ctx);
    const DrawMetrics d = draw_metrics(clean, draws);
    r["perturbations"].push_back({{"name", run.name},
                                  {"kind", run.kind},
                                  {"rate", run.rate},
                                  {"k", run.k},
                                  {"accuracy", d.mean_accuracy},
                                  {"worst_case_accuracy", d.worst_case_accuracy},
                                  {"flip_rate", d.flip_rate}});
    spdlog::info("{} {} @ {}: accuracy {:.4f}, worst-case@{} {:.4f}, flip rate {:.4f}", run.kind, run.name,
                 run.rate, d.mean_accuracy, run.k, d.worst_case_accuracy, d.flip_rate);
  }
  if (worst) {
    const int64_t k = suite.worst_case.k > 0 ? suite.worst_case.k : suite.k;
    const DrawMetrics d = draw_metrics(clean, predict_draws(m, shard, *worst, suite.seed, k, ctx));
    r["worst_case"] = {{"recipe", suite.worst_case.recipe},
                       {"k", k},
                       {"accuracy", d.worst_case_accuracy},
                       {"mean_accuracy", d.mean_accuracy},
                       {"flip_rate", d.flip_rate}};
  }

  r["attacks"] = nlohmann::json::array();
  if (!suite.attacks.empty()) r["attack_scale"] = embedding_scale(m, shard, ctx);
  uint64_t stream = 0;
  for (const auto& attack : suite.attacks) {
    for (double eps : attack.epsilons) {
      const auto attacked = attack_shard(m, shard, clean, attack, eps, hash_key({kAttackKey, stream++}),
                                         suite.seed, ctx);
      const AttackMetrics a = attack_metrics(clean, attacked);
      r["attacks"].push_back({{"kind", attack.kind},
                              {"norm", robust::adv_norm_name(attack.norm)},
                              {"scope", robust::adv_scope_name(attack.scope)},
                              {"epsilon", eps},
                              {"steps", attack.steps},
                              {"step_size", attack.step_for(eps)},
                              {"accuracy_under_attack", a.accuracy_under_attack},
                              {"attack_success_rate", a.attack_success_rate}});
      spdlog::info("pgd {} eps {}: accuracy under attack {:.4f}, success rate {:.4f}",
                   robust::adv_norm_name(attack.norm), eps, a.accuracy_under_attack, a.attack_success_rate);
    }
  }
  if (!suite.extra_sets.empty()) {
    r["extra_sets"] = nlohmann::json::array();
    for (const auto& spec : suite.extra_sets) r["extra_sets"].push_back(evaluate_extra_set(m, spec, suite, ctx));
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
                       const std::vector<std::string>& overrides) {
  LoadedModel m;
  if (is_foreign_weights(checkpoint)) {
    // The base model of a fine-tuning experiment: architecture from the file, data and
    // tokenizer from --config/--set (tokenizer.path, else the one the folder carries).
    const PretrainedModel pretrained = read_pretrained(checkpoint);
    m.checkpoint_dir = checkpoint;
    m.config = config_path.empty() ? parse_config("{}", checkpoint, overrides) : load_config(config_path, overrides);
    m.config.tokenizer = pretrained_tokenizer(pretrained, m.config.tokenizer.path,
                                              m.config.tokenizer.path.empty() ? "" : m.config.tokenizer.kind);
    m.config.model = pretrained.config;
    m.config.run.name = fs::path(checkpoint).filename().string();
    m.config.objective.kind = "pretrained";
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
                                 : load_config(config_path, overrides);
  m.config.model = trained.model;
  m.config.tokenizer = trained.tokenizer;
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
  const Shard shard = detail::read_shard(reader, 0, batch_size, ctx);
  TextOf text_of;
  if (transform) text_of = [&](const Example& e) { return transform(e.text, static_cast<uint64_t>(e.id), 0); };
  return predict_shard(em, shard, text_of, ctx);
}

nlohmann::json evaluate(const EvalModel& m, const CorpusReader& reader, const Suite& suite,
                        const dist::Context& ctx) {
  m.model->eval();
  const bool lm = m.model->config().head == "lm";
  if (!lm) {
    STURDY_USAGE_CHECK(reader.info().num_classes > 0, "{}: the corpus has no labels", reader.path());
    STURDY_USAGE_CHECK(reader.info().label_names == m.label_names, "{}: labels [{}] differ from the model's [{}]",
                       reader.path(), fmt::join(reader.info().label_names, ","), fmt::join(m.label_names, ","));
  }
  const Shard shard = detail::read_shard(reader, suite.max_examples, suite.batch_size, ctx);
  nlohmann::json r = lm ? detail::evaluate_lm(m, shard, suite, ctx) : evaluate_classifier(m, shard, suite, ctx);
  r["num_examples"] = shard.n;
  r["seed"] = suite.seed;
  r["suite"] = suite.name;
  return r;
}

nlohmann::json run_eval(const EvalOptions& options, const dist::Context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  LoadedModel m = load_model(options.checkpoint, options.config, options.overrides);
  const std::string data = options.data.empty() ? m.config.data.valid : options.data;
  if (data.empty()) throw UsageError("no evaluation corpus: pass --data or set data.valid");
  const std::string suite_name =
      !options.suite.empty() ? options.suite : (!m.config.eval.suite.empty() ? m.config.eval.suite : "standard");
  Suite suite = load_suite(suite_name);
  if (options.batch_size > 0) suite.batch_size = options.batch_size;
  if (options.max_examples >= 0) suite.max_examples = options.max_examples;
  if (options.seed >= 0) suite.seed = static_cast<uint64_t>(options.seed);
  const CorpusReader reader(data);
  spdlog::info("evaluating {} on {} ({} examples, suite {}, {} rank(s))", m.checkpoint_dir, data, reader.size(),
               suite.origin, ctx.world_size());

  const EvalModel em{m.model, *m.tokenizer, m.config.data.max_length, m.label_names};
  const nlohmann::json body = evaluate(em, reader, suite, ctx);
  nlohmann::json r;
  r["sturdy_version"] = STURDY_VERSION;
  r["checkpoint"] = m.checkpoint_dir;
  r["run_name"] = m.config.run.name;
  r["objective"] = m.config.objective.kind;
  r["augment"] = m.config.augment.probability > 0
                     ? nlohmann::json{{"recipe", m.config.augment.recipe}, {"probability", m.config.augment.probability}}
                     : nlohmann::json(nullptr);
  r["dataset"] = data;
  r["head"] = m.config.model.head;
  r.update(body);
  r["cost"] = train_cost(m.checkpoint_dir);
  r["cost"]["eval_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
