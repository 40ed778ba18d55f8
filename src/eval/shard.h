// Internal to src/eval: the examples one rank evaluates, how their token sequences are
// batched, and the exact combination of per-example results over ranks.
//
// Why results do not depend on the world size or the batch size: a rank's sequences are
// grouped by exact token length, so a batch holds no padding and every sequence runs
// through the same shapes (L tokens) whatever else is in its batch; the model treats rows
// independently (row-wise matrix products, attention and norms within a sequence), so a
// sequence's output is the same in any batch. Sharding and batching then only decide who
// computes what, and `combine` sums per-example buffers written by exactly one rank.
#pragma once

#include <mpi.h>

#include <functional>
#include <future>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "sturdy/data/corpus.h"
#include "sturdy/distributed/context.h"
#include "sturdy/eval/evaluator.h"
#include "sturdy/perturb/perturber.h"

namespace sturdy::eval::detail {

// Examples 0..n-1 of a corpus; this rank holds every W-th one (rank, rank + W, ...), read
// once and reused by every pass. Round-robin gives every rank the same mix of lengths.
struct Shard {
  int64_t n = 0;
  std::vector<int32_t> labels;    // all n labels (empty for unlabelled corpora)
  std::vector<Example> examples;  // this rank's examples; Example::index = corpus position
};
Shard read_shard(const CorpusReader& reader, int64_t max_examples, const dist::Context& ctx);

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

// The logits of `model` for a batch of unpadded sequences `ids` (CPU int64, every token
// real), moved to the model's device and back: float64 on the CPU.
torch::Tensor forward_float64(Transformer& model, const torch::Tensor& ids);

// How many sequences one forward takes: at most max_examples, and at most max_tokens
// tokens (but always at least one sequence).
struct BatchLimits {
  int64_t max_examples = 64;
  int64_t max_tokens = 4096;
};

// Calls fn(ids (B,L) int64, members) for batches of `seqs` grouped by exact length L, in
// increasing length and then increasing position; `members` are positions in `seqs`.
// Only the positions listed in `subset` are batched (all when empty).
using LengthBatchFn = std::function<void(const torch::Tensor& ids, const std::vector<int64_t>& members)>;
void for_each_length_batch(const std::vector<std::vector<int32_t>>& seqs, const BatchLimits& limits,
                           const LengthBatchFn& fn, const std::vector<int64_t>* subset = nullptr);

// Positions whose sequence equals an earlier one (or a reference) are computed once:
// unique[i] is the position i's result is copied from (i itself when it must be computed).
std::vector<int64_t> first_occurrences(const std::vector<std::vector<int32_t>>& seqs);

// The tokens a classifier reads for `text`: encode, truncate to max_length; an empty text
// is one pad token (so pooling stays defined, as in make_batch).
std::vector<int32_t> classifier_tokens(const Tokenizer& tokenizer, std::string_view text, int64_t max_length);

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

// Perturbed texts of a pass, prepared on a helper thread while the model works on the
// previous pass (the evaluation's prefetch). prepare(i) must be thread-safe; results come
// back in order.
template <class Prepared>
class PassPipeline {
 public:
  PassPipeline(size_t passes, std::function<Prepared(size_t)> prepare) : passes_(passes), prepare_(std::move(prepare)) {
    if (passes_ > 0) next_ = std::async(std::launch::async, prepare_, size_t{0});
  }
  ~PassPipeline() {
    if (next_.valid()) next_.wait();
  }
  // Pass i's prepared data (call with i = 0, 1, ... in order); starts preparing pass i + 1.
  Prepared take(size_t i) {
    Prepared p = next_.get();
    if (i + 1 < passes_) next_ = std::async(std::launch::async, prepare_, i + 1);
    return p;
  }

 private:
  size_t passes_;
  std::function<Prepared(size_t)> prepare_;
  std::future<Prepared> next_;
};

// The text an evaluation pass feeds the model for an example (clean or a perturbed draw).
using TextOf = std::function<std::string(const Example&)>;

// LM evaluation (lm_eval.cpp): the LM part of R.json (clean.perplexity, per perturbation
// perplexity/top1_agreement).
// `adversarial` collects this rank's successful search-attack texts (search_attack.h).
struct AdversarialRecord;
nlohmann::json evaluate_lm(const EvalModel& m, const Shard& shard, const Suite& suite, EvalWork& work,
                           std::vector<AdversarialRecord>& adversarial, const dist::Context& ctx);

}  // namespace sturdy::eval::detail
