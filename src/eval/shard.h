// Internal to src/eval: the examples one rank evaluates, and the exact combination of
// per-example results over ranks.
#pragma once

#include <mpi.h>

#include <functional>
#include <string>
#include <vector>

#include "sturdy/data/corpus.h"
#include "sturdy/dist/context.h"
#include "sturdy/eval/evaluator.h"
#include "sturdy/perturb/perturber.h"

namespace sturdy::eval::detail {

// Examples 0..n-1 of a corpus cut into batches of batch_size in corpus order; this rank
// holds batches rank, rank + W, ... (read once, reused by every pass).
struct Shard {
  int64_t n = 0;
  int64_t batch_size = 0;
  std::vector<int32_t> labels;                // all n labels (empty for unlabelled corpora)
  std::vector<std::vector<Example>> batches;  // this rank's batches; Example::index = position
};
Shard read_shard(const CorpusReader& reader, int64_t max_examples, int64_t batch_size, const dist::Context& ctx);

// Sums a per-example buffer over ranks. Every position is written by exactly one rank and
// is zero elsewhere, so the sum is exact and identical to a single-rank run.
template <class T>
void combine(std::vector<T>& v, const dist::Context& ctx) {
  if (ctx.world_size() == 1 || v.empty()) return;
  MPI_Datatype type;
  if constexpr (std::is_same_v<T, double>) {
    type = MPI_DOUBLE;
  } else if constexpr (std::is_same_v<T, int32_t>) {
    type = MPI_INT32_T;
  } else {
    static_assert(std::is_same_v<T, int64_t>, "combine: double, int32_t or int64_t");
    type = MPI_INT64_T;
  }
  STURDY_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), type, MPI_SUM, ctx.world()));
}

// The text an evaluation pass feeds the model for an example (clean or a perturbed draw).
using TextOf = std::function<std::string(const Example&)>;

// One perturbation of the suite at one rate, ready to apply.
struct PerturbationRun {
  std::string name;  // op or recipe name
  std::string kind;  // "op" | "recipe"
  double rate = 0;   // op rate, or the factor on a recipe's rates
  int64_t k = 0;
  std::shared_ptr<const perturb::Perturber> perturber;
};
// Every (entry, rate) of suite.perturbations, in suite order; recipes and lexicons are
// loaded here, so a bad name fails before any model work.
std::vector<PerturbationRun> perturbation_runs(const Suite& suite);
// The worst_case recipe (nullptr when the suite has none).
std::shared_ptr<const perturb::Perturber> worst_case_perturber(const Suite& suite);

// LM evaluation (lm_eval.cpp): scores of one pass; `perturb` = nullptr for the clean prompt.
LmScores lm_scores(const EvalModel& m, const Shard& shard, double prompt_fraction, const TextOf& perturb_prompt,
                   const dist::Context& ctx);
// The LM part of R.json (clean.perplexity, per perturbation perplexity/top1_agreement).
nlohmann::json evaluate_lm(const EvalModel& m, const Shard& shard, const Suite& suite, const dist::Context& ctx);

}  // namespace sturdy::eval::detail
