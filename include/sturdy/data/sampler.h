// Global sample order, independent of the number of ranks (docs/data.md, "Sampler").
//
// Epoch e visits a permutation of [0, N) drawn by Fisher–Yates from Rng{seed, e, tag}.
// Global step s takes the next `global_batch` indices of that order; the last, incomplete
// batch of an epoch is dropped, so every step has the same size and an epoch has
// floor(N / global_batch) steps. Rank r of W takes the contiguous slice
// [r * G/W, (r+1) * G/W) of the global batch and cuts it into micro-batches for gradient
// accumulation. The stream is a pure function of (seed, N, global_batch): a resume needs
// only the step (consumed_samples = step * global_batch), and any world size that divides
// the global batch sees the same samples.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

namespace sturdy {

// Micro-batches per rank per step: global_batch / (micro_batch * world). Throws UsageError
// naming data.global_batch / data.micro_batch when it does not divide evenly.
int64_t accumulation_steps(int64_t global_batch, int64_t micro_batch, int world);

struct LengthBucketing {
  std::vector<int64_t> lengths;  // one per example (e.g. text bytes); empty: off
  int64_t window = 0;            // global batches per sorting window; <= 1: off
  bool enabled() const { return window > 1 && !lengths.empty(); }
};

class GlobalSampler {
 public:
  // Throws UsageError when global_batch < 1, the corpus holds fewer than global_batch
  // examples, or bucketing.lengths does not have one entry per example.
  GlobalSampler(int64_t num_examples, int64_t global_batch, uint64_t seed, LengthBucketing bucketing = {});

  int64_t num_examples() const { return num_examples_; }
  int64_t global_batch_size() const { return global_batch_; }
  int64_t steps_per_epoch() const { return num_examples_ / global_batch_; }
  int64_t epoch_of(int64_t step) const { return step / steps_per_epoch(); }
  int64_t consumed_samples(int64_t step) const { return step * global_batch_; }

  // The permutation of [0, N) visited in `epoch` (computed fresh, not cached).
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  // Corpus indices of global step `step`, counted from the start of training.
  std::vector<int64_t> global_batch(int64_t step) const;
  // This rank's micro-batch `micro` (0 <= micro < accumulation_steps) of global step `step`.
  std::vector<int64_t> rank_batch(int64_t step, int rank, int world, int64_t micro_batch,
                                  int64_t micro) const;

 private:
  const std::vector<int64_t>& cached_order(int64_t epoch) const;

  int64_t num_examples_;
  int64_t global_batch_;
  uint64_t seed_;
  LengthBucketing bucketing_;
  // Permutations of the two most recent epochs, in slot epoch % 2: consecutive steps reuse
  // them (O(N) once per epoch), and prefetch workers straddling an epoch boundary do not thrash.
  mutable std::mutex mutex_;
  mutable int64_t cached_epoch_[2] = {-1, -1};
  mutable std::vector<int64_t> cached_order_[2];
};

}  // namespace sturdy
