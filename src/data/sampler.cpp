// Global sampler: per-epoch Fisher–Yates permutation, fixed-size global batches,
// contiguous rank slices and micro-batches, optional length bucketing (see sampler.h).
#include "sturdy/data/sampler.h"

#include <algorithm>
#include <numeric>

#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"

namespace sturdy {

namespace {
constexpr uint64_t kEpochOrderTag = 0x5EED0A11u;  // separates this stream from other (seed, e) users
constexpr uint64_t kBucketTag = 0xB0C4E7u;        // the shuffles of length bucketing

template <class It>
void shuffle_with(It begin, It end, Rng& rng) {
  for (auto n = static_cast<uint64_t>(end - begin); n > 1; --n) {
    std::swap(begin[n - 1], begin[static_cast<int64_t>(rng.below(n))]);
  }
}
}  // namespace

int64_t accumulation_steps(int64_t global_batch, int64_t micro_batch, int world) {
  STURDY_USAGE_CHECK(micro_batch >= 1, "data.micro_batch must be >= 1 (got {})", micro_batch);
  STURDY_USAGE_CHECK(world >= 1, "world size must be >= 1 (got {})", world);
  const int64_t per_step = micro_batch * world;
  STURDY_USAGE_CHECK(global_batch >= per_step && global_batch % per_step == 0,
                     "data.global_batch ({}) must be a multiple of data.micro_batch ({}) x ranks ({}) = {}; "
                     "try data.global_batch={}",
                     global_batch, micro_batch, world, per_step,
                     std::max<int64_t>(1, global_batch / per_step) * per_step);
  return global_batch / per_step;
}

GlobalSampler::GlobalSampler(int64_t num_examples, int64_t global_batch, uint64_t seed, LengthBucketing bucketing)
    : num_examples_(num_examples), global_batch_(global_batch), seed_(seed), bucketing_(std::move(bucketing)) {
  STURDY_USAGE_CHECK(global_batch >= 1, "data.global_batch must be >= 1 (got {})", global_batch);
  STURDY_USAGE_CHECK(num_examples >= global_batch,
                     "the training corpus has {} examples, fewer than data.global_batch ({}): "
                     "lower data.global_batch", num_examples, global_batch);
  STURDY_USAGE_CHECK(bucketing_.lengths.empty() || static_cast<int64_t>(bucketing_.lengths.size()) == num_examples,
                     "length bucketing: {} lengths for {} examples", bucketing_.lengths.size(), num_examples);
}

std::vector<int64_t> GlobalSampler::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order(static_cast<size_t>(num_examples_));
  std::iota(order.begin(), order.end(), int64_t{0});
  Rng rng{seed_, static_cast<uint64_t>(epoch), kEpochOrderTag};
  for (int64_t i = num_examples_ - 1; i > 0; --i) {
    auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
  if (!bucketing_.enabled()) return order;
  // Windows of `window` global batches over the steps of the epoch (the dropped tail stays
  // where it is): sort by length, then shuffle the batches and the examples inside each.
  const int64_t used = steps_per_epoch() * global_batch_;
  const int64_t span = bucketing_.window * global_batch_;
  const auto& len = bucketing_.lengths;
  std::vector<int64_t> window;
  std::vector<int64_t> batch_order;
  for (int64_t begin = 0, w = 0; begin < used; begin += span, ++w) {
    const int64_t end = std::min(used, begin + span);
    window.assign(order.begin() + begin, order.begin() + end);
    std::stable_sort(window.begin(), window.end(), [&](int64_t a, int64_t b) { return len[a] < len[b]; });
    Rng rng{seed_, static_cast<uint64_t>(epoch), kBucketTag, static_cast<uint64_t>(w)};
    const int64_t batches = (end - begin) / global_batch_;
    batch_order.resize(static_cast<size_t>(batches));
    std::iota(batch_order.begin(), batch_order.end(), int64_t{0});
    shuffle_with(batch_order.begin(), batch_order.end(), rng);
    for (int64_t b = 0; b < batches; ++b) {
      auto out = order.begin() + begin + b * global_batch_;
      const auto in = window.begin() + batch_order[b] * global_batch_;
      std::copy(in, in + global_batch_, out);
      shuffle_with(out, out + global_batch_, rng);
    }
  }
  return order;
}

const std::vector<int64_t>& GlobalSampler::cached_order(int64_t epoch) const {
  const int slot = static_cast<int>(epoch % 2);
  if (cached_epoch_[slot] != epoch) {
    cached_order_[slot] = epoch_order(epoch);
    cached_epoch_[slot] = epoch;
  }
  return cached_order_[slot];
}

std::vector<int64_t> GlobalSampler::global_batch(int64_t step) const {
  STURDY_CHECK(step >= 0, "negative step {}", step);
  std::lock_guard<std::mutex> lock(mutex_);
  const std::vector<int64_t>& order = cached_order(epoch_of(step));
  const int64_t begin = (step % steps_per_epoch()) * global_batch_;
  return {order.begin() + begin, order.begin() + begin + global_batch_};
}

std::vector<int64_t> GlobalSampler::rank_batch(int64_t step, int rank, int world, int64_t micro_batch,
                                               int64_t micro) const {
  const int64_t accumulation = accumulation_steps(global_batch_, micro_batch, world);
  STURDY_CHECK(rank >= 0 && rank < world, "rank {} not in [0, {})", rank, world);
  STURDY_CHECK(micro >= 0 && micro < accumulation, "micro-batch {} not in [0, {})", micro, accumulation);
  STURDY_CHECK(step >= 0, "negative step {}", step);
  const int64_t per_rank = global_batch_ / world;
  const int64_t begin = (step % steps_per_epoch()) * global_batch_ + rank * per_rank + micro * micro_batch;
  std::lock_guard<std::mutex> lock(mutex_);
  const std::vector<int64_t>& order = cached_order(epoch_of(step));
  return {order.begin() + begin, order.begin() + begin + micro_batch};
}

}  // namespace sturdy
