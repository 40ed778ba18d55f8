// Evaluation driver (see evaluator.h).
#include "sturdy/eval/evaluator.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "sturdy/ckpt/checkpoint.h"
#include "sturdy/core/error.h"

namespace fs = std::filesystem;

namespace sturdy::eval {
namespace {

std::vector<NamedParameter> named_parameters(torch::nn::Module& module) {
  std::vector<NamedParameter> out;
  for (const auto& item : module.named_parameters(true)) out.push_back({item.key(), item.value()});
  return out;
}

// Sums a buffer over ranks; every position is filled by exactly one rank, so the
// result is bit-identical to a single-rank run.
template <class T>
void combine(std::vector<T>& v, MPI_Datatype type, const dist::Context& ctx) {
  if (ctx.world_size() == 1 || v.empty()) return;
  STURDY_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), type, MPI_SUM, ctx.world()));
}

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

}  // namespace

LoadedModel load_model(const std::string& checkpoint, const std::string& config_path,
                       const std::vector<std::string>& overrides) {
  LoadedModel m;
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
  torch::NoGradGuard no_grad;
  const int64_t n = reader.size();
  std::vector<int32_t> predicted(n, 0);
  std::vector<double> confidence(n, 0.0);
  const int64_t batches = (n + batch_size - 1) / batch_size;
  for (int64_t b = ctx.rank(); b < batches; b += ctx.world_size()) {
    std::vector<int64_t> indices;
    for (int64_t i = b * batch_size; i < std::min(n, (b + 1) * batch_size); ++i) indices.push_back(i);
    auto examples = reader.read(indices);
    std::vector<std::string> texts;
    for (auto& e : examples) {
      texts.push_back(transform ? transform(e.text, static_cast<uint64_t>(e.id), 0) : std::move(e.text));
    }
    Batch batch = make_batch(*m.tokenizer, texts, {}, m.config.data.max_length);
    auto probs = torch::softmax(m.model->forward(batch.ids, batch.mask).to(torch::kFloat64), -1);
    auto [conf, pred] = probs.max(-1);
    auto conf_a = conf.accessor<double, 1>();
    auto pred_a = pred.accessor<int64_t, 1>();
    for (size_t k = 0; k < indices.size(); ++k) {
      predicted[indices[k]] = static_cast<int32_t>(pred_a[k]);
      confidence[indices[k]] = conf_a[k];
    }
  }
  combine(predicted, MPI_INT32_T, ctx);
  combine(confidence, MPI_DOUBLE, ctx);
  Predictions p;
  p.labels = reader.labels();
  p.predicted = std::move(predicted);
  p.confidence = std::move(confidence);
  return p;
}

nlohmann::json run_eval(const EvalOptions& options, const dist::Context& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  LoadedModel m = load_model(options.checkpoint, options.config, options.overrides);
  if (m.config.model.head != "classifier") {
    throw UsageError(fmt::format("{}: eval of LM checkpoints is not supported yet (model.head is {})",
                                 m.checkpoint_dir, m.config.model.head));
  }
  const std::string data = options.data.empty() ? m.config.data.valid : options.data;
  if (data.empty()) throw UsageError("no evaluation corpus: pass --data or set data.valid");
  const CorpusReader reader(data);
  if (reader.info().num_classes == 0) throw UsageError(fmt::format("{}: the corpus has no labels", data));
  if (reader.info().label_names != m.label_names) {
    throw UsageError(fmt::format("{}: labels [{}] differ from the checkpoint's [{}]", data,
                                 fmt::join(reader.info().label_names, ","), fmt::join(m.label_names, ",")));
  }
  spdlog::info("evaluating {} on {} ({} examples, {} rank(s))", m.checkpoint_dir, data, reader.size(),
               ctx.world_size());
  const Predictions clean = predict(m, reader, nullptr, options.batch_size, ctx);

  nlohmann::json r;
  r["sturdy_version"] = STURDY_VERSION;
  r["checkpoint"] = m.checkpoint_dir;
  r["dataset"] = data;
  r["num_examples"] = reader.size();
  r["seed"] = m.config.run.seed;
  r["clean"] = {{"accuracy", accuracy(clean)},
                {"ece", expected_calibration_error(clean, 15)},
                {"severe_error_rate", severe_error_rate(clean, 0.9)},
                {"majority_baseline", majority_share(clean.labels)}};
  r["perturbations"] = nlohmann::json::array();
  r["attacks"] = nlohmann::json::array();
  r["cost"] = train_cost(m.checkpoint_dir);
  r["cost"]["eval_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (ctx.is_root() && !options.output.empty()) {
    const fs::path out(options.output);
    if (out.has_parent_path()) fs::create_directories(out.parent_path());
    const std::string tmp = options.output + ".tmp";
    {
      std::ofstream f(tmp);
      f << r.dump(2) << '\n';
      if (!f) throw RuntimeError(fmt::format("{}: cannot write", tmp));
    }
    fs::rename(tmp, out);
  }
  return r;
}

}  // namespace sturdy::eval
