// Sharding and length-grouped batching of evaluation passes (see shard.h).
#include <algorithm>
#include <numeric>
#include <string_view>
#include <unordered_map>

#include "shard.h"
#include "sturdy/perturb/augment.h"
#include "sturdy/perturb/recipe.h"

namespace sturdy::eval::detail {

Shard read_shard(const CorpusReader& reader, int64_t max_examples, const dist::Context& ctx) {
  Shard s;
  s.n = max_examples > 0 ? std::min(max_examples, reader.size()) : reader.size();
  if (reader.info().num_classes > 0) s.labels.assign(reader.labels().begin(), reader.labels().begin() + s.n);
  std::vector<int64_t> indices;
  for (int64_t i = ctx.rank(); i < s.n; i += ctx.world_size()) indices.push_back(i);
  s.examples = reader.read(indices);
  return s;
}

torch::Tensor forward_float64(Transformer& model, const torch::Tensor& ids) {
  const torch::Device device = model->device();
  const auto on_device = ids.to(device);
  const auto mask = torch::ones(on_device.sizes(), on_device.options().dtype(torch::kBool));
  return model->forward(on_device, mask).to(torch::kFloat64).to(torch::kCPU);
}

void for_each_length_batch(const std::vector<std::vector<int32_t>>& seqs, const BatchLimits& limits,
                           const LengthBatchFn& fn, const std::vector<int64_t>* subset) {
  std::vector<int64_t> order;
  if (subset) {
    order = *subset;
  } else {
    order.resize(seqs.size());
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return seqs[a].size() < seqs[b].size(); });
  size_t begin = 0;
  while (begin < order.size()) {
    const auto length = static_cast<int64_t>(seqs[order[begin]].size());
    STURDY_CHECK(length > 0, "evaluation sequence {} is empty", order[begin]);
    const int64_t cap = std::max<int64_t>(1, std::min(limits.max_examples, limits.max_tokens / length));
    size_t end = begin;
    while (end < order.size() && static_cast<int64_t>(end - begin) < cap &&
           static_cast<int64_t>(seqs[order[end]].size()) == length) {
      ++end;
    }
    const std::vector<int64_t> members(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                       order.begin() + static_cast<std::ptrdiff_t>(end));
    auto ids = torch::empty({static_cast<int64_t>(members.size()), length}, torch::kInt64);
    auto a = ids.accessor<int64_t, 2>();
    for (size_t r = 0; r < members.size(); ++r) {
      const auto& s = seqs[members[r]];
      for (int64_t t = 0; t < length; ++t) a[static_cast<int64_t>(r)][t] = s[t];
    }
    fn(ids, members);
    begin = end;
  }
}

std::vector<int64_t> first_occurrences(const std::vector<std::vector<int32_t>>& seqs) {
  std::unordered_map<std::string_view, int64_t> seen;
  seen.reserve(seqs.size());
  std::vector<int64_t> first(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const std::string_view key(reinterpret_cast<const char*>(seqs[i].data()), seqs[i].size() * sizeof(int32_t));
    first[i] = seen.emplace(key, static_cast<int64_t>(i)).first->second;
  }
  return first;
}

std::vector<int32_t> classifier_tokens(const Tokenizer& tokenizer, std::string_view text, int64_t max_length) {
  std::vector<int32_t> ids = tokenizer.encode(text);
  if (static_cast<int64_t>(ids.size()) > max_length) ids.resize(static_cast<size_t>(max_length));
  if (ids.empty()) ids.push_back(tokenizer.pad_id());
  return ids;
}

namespace {
std::shared_ptr<const perturb::Lexicons> suite_lexicons(const Suite& suite) {
  return suite.lexicon_dir.empty() ? perturb::Lexicons::builtin()
                                   : perturb::Lexicons::load(perturb::LexiconPaths::from_dir(suite.lexicon_dir));
}
}  // namespace

std::vector<PerturbationRun> perturbation_runs(const Suite& suite) {
  const auto lexicons = suite_lexicons(suite);
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
  return std::make_shared<const perturb::Perturber>(
      perturb::Perturber::from_recipe(suite.worst_case.recipe, default_recipe_dir(), suite_lexicons(suite)));
}

}  // namespace sturdy::eval::detail
