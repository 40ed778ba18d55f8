// Tests for the global sampler: the sample stream is a pure function of
// (seed, N, global_batch), independent of the world size and of the call order.
#include <algorithm>
#include <numeric>
#include <set>

#include <gtest/gtest.h>

#include "sturdy/core/error.h"
#include "sturdy/data/sampler.h"

using namespace sturdy;

namespace {

TEST(SamplerTest, EveryExampleOncePerEpochAndEpochsDiffer) {
  GlobalSampler sampler(103, 10, 42);
  EXPECT_EQ(sampler.steps_per_epoch(), 10);  // 3 examples dropped per epoch
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    std::vector<int64_t> order = sampler.epoch_order(epoch);
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> expected(103);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(sorted, expected);
    // The epoch's batches are its order, in order; no index repeats within the epoch.
    std::set<int64_t> seen;
    for (int64_t s = 0; s < sampler.steps_per_epoch(); ++s) {
      std::vector<int64_t> batch = sampler.global_batch(epoch * sampler.steps_per_epoch() + s);
      ASSERT_EQ(batch.size(), 10u);
      EXPECT_TRUE(std::equal(batch.begin(), batch.end(), order.begin() + s * 10));
      for (int64_t i : batch) EXPECT_TRUE(seen.insert(i).second) << "repeated " << i;
    }
    EXPECT_EQ(seen.size(), 100u);
  }
  EXPECT_NE(sampler.epoch_order(0), sampler.epoch_order(1));
  EXPECT_NE(sampler.epoch_order(0), GlobalSampler(103, 10, 43).epoch_order(0));
}

TEST(SamplerTest, DeterministicAndIndependentOfCallOrder) {
  GlobalSampler a(1000, 64, 7), b(1000, 64, 7);
  // b visits steps out of order (crossing epochs), as a resumed run or a second reader would.
  for (int64_t step : {47, 3, 15, 16, 0, 31}) EXPECT_EQ(b.global_batch(step), a.global_batch(step)) << step;
  // Alternating between two epochs (prefetch across an epoch boundary) stays consistent.
  for (int64_t step : {15, 16, 14, 17, 15, 32, 16}) EXPECT_EQ(b.global_batch(step), a.global_batch(step)) << step;
  EXPECT_EQ(a.consumed_samples(31), 31 * 64);
  EXPECT_EQ(a.epoch_of(31), 2);
}

TEST(SamplerTest, RankShardsUnionToTheGlobalBatchForAnyWorldSize) {
  const int64_t global = 12;
  GlobalSampler sampler(500, global, 3);
  for (int world : {1, 2, 3}) {
    for (int64_t micro : {int64_t{1}, int64_t{2}}) {
      int64_t accumulation = accumulation_steps(global, micro, world);
      EXPECT_EQ(accumulation * micro * world, global);
      for (int64_t step : {0, 1, 40, 41, 42}) {
        // Concatenating rank 0..W-1, each in micro-batch order, gives the global batch exactly.
        std::vector<int64_t> joined;
        for (int rank = 0; rank < world; ++rank) {
          for (int64_t m = 0; m < accumulation; ++m) {
            std::vector<int64_t> part = sampler.rank_batch(step, rank, world, micro, m);
            ASSERT_EQ(static_cast<int64_t>(part.size()), micro);
            joined.insert(joined.end(), part.begin(), part.end());
          }
        }
        EXPECT_EQ(joined, sampler.global_batch(step)) << "world " << world << " micro " << micro;
      }
    }
  }
}

TEST(SamplerTest, AccumulationStepsValidates) {
  EXPECT_EQ(accumulation_steps(64, 32, 1), 2);
  EXPECT_EQ(accumulation_steps(64, 8, 4), 2);
  EXPECT_EQ(accumulation_steps(64, 64, 1), 1);
  try {
    accumulation_steps(64, 24, 2);
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("data.global_batch (64)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(accumulation_steps(16, 32, 1), UsageError);
  EXPECT_THROW(accumulation_steps(64, 0, 1), UsageError);
  EXPECT_THROW(GlobalSampler(10, 11, 1), UsageError);
  EXPECT_THROW(GlobalSampler(10, 0, 1), UsageError);
  GlobalSampler sampler(100, 8, 1);
  EXPECT_THROW(sampler.rank_batch(0, 2, 2, 4, 0), RuntimeError);
  EXPECT_THROW(sampler.rank_batch(0, 0, 2, 4, 1), RuntimeError);
}

// Padded positions of one epoch when every global batch is padded to its longest example.
int64_t padded_positions(const GlobalSampler& sampler, const std::vector<int64_t>& lengths, int64_t epoch) {
  int64_t padded = 0;
  for (int64_t s = 0; s < sampler.steps_per_epoch(); ++s) {
    int64_t longest = 0;
    for (int64_t i : sampler.global_batch(epoch * sampler.steps_per_epoch() + s)) longest = std::max(longest, lengths[i]);
    padded += longest * sampler.global_batch_size();
  }
  return padded;
}

TEST(SamplerTest, LengthBucketingKeepsAPermutationAndCutsPadding) {
  const int64_t n = 1003, global = 16;
  std::vector<int64_t> lengths(n);
  for (int64_t i = 0; i < n; ++i) lengths[i] = 1 + (i * 7919) % 64;  // 1..64, scattered over the ids
  GlobalSampler plain(n, global, 5);
  GlobalSampler bucketed(n, global, 5, LengthBucketing{lengths, 8});
  GlobalSampler again(n, global, 5, LengthBucketing{lengths, 8});
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> order = bucketed.epoch_order(epoch);
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> expected(n);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(sorted, expected);
    // The dropped tail (n mod global) is the same examples as without bucketing.
    const auto p = plain.epoch_order(epoch);
    const int64_t used = bucketed.steps_per_epoch() * global;
    EXPECT_TRUE(std::equal(order.begin() + used, order.end(), p.begin() + used));
    EXPECT_EQ(order, again.epoch_order(epoch));  // deterministic
    // Much less padding: each batch holds similar lengths.
    EXPECT_LT(padded_positions(bucketed, lengths, epoch), padded_positions(plain, lengths, epoch) * 2 / 3);
  }
  EXPECT_NE(bucketed.epoch_order(0), bucketed.epoch_order(1));
  // Rank shards still union to the global batch for any world size (the split is unchanged).
  for (int world : {1, 2, 4}) {
    for (int64_t step : {0, 7, 62, 63}) {
      std::vector<int64_t> joined;
      for (int rank = 0; rank < world; ++rank) {
        auto part = bucketed.rank_batch(step, rank, world, global / world, 0);
        joined.insert(joined.end(), part.begin(), part.end());
      }
      EXPECT_EQ(joined, bucketed.global_batch(step));
    }
  }
  // A window of one batch, or no lengths, is the plain order.
  EXPECT_EQ(GlobalSampler(n, global, 5, LengthBucketing{lengths, 1}).epoch_order(0), plain.epoch_order(0));
  EXPECT_EQ(GlobalSampler(n, global, 5, LengthBucketing{{}, 8}).epoch_order(0), plain.epoch_order(0));
  EXPECT_THROW(GlobalSampler(n, global, 5, LengthBucketing{std::vector<int64_t>(10, 1), 8}), UsageError);
}

}  // namespace
