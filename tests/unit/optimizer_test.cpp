// Tests for src/train/optimizer.cpp: the learning-rate schedules (every optim.schedule the
// config accepts, warmup as a share and as a step count) against values computed by hand from
// the documented formulas, and global-norm gradient clipping below, at and above the threshold.
// AdamW itself is checked against torch.optim.AdamW in tests/python/optimizer_crosscheck.py.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "sturdy/config/config.h"
#include "sturdy/core/error.h"
#include "sturdy/train/optimizer.h"

namespace sturdy {
namespace {

OptimConfig schedule(const std::string& name, double warmup, double lr = 0.1) {
  OptimConfig c;
  c.lr = lr;
  c.schedule = name;
  c.warmup = warmup;
  return c;
}

// learning_rate(config, step, total) for step = 0 .. total - 1.
std::vector<double> curve(const OptimConfig& c, int64_t total) {
  std::vector<double> out;
  for (int64_t s = 0; s < total; ++s) out.push_back(learning_rate(c, s, total));
  return out;
}

void expect_curve(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << what << ", step " << i;
}

// The schedules the config accepts are exactly the ones tested below.
TEST(Schedule, ConfigAcceptsLinearCosineConstantOnly) {
  for (const std::string name : {"linear", "cosine", "constant"}) {
    EXPECT_EQ(parse_config("optim: {schedule: " + name + "}\n", "test.yaml").optim.schedule, name);
  }
  EXPECT_THROW(parse_config("optim: {schedule: step}\n", "test.yaml"), UsageError);
  EXPECT_THROW(parse_config("optim: {warmup: -1}\n", "test.yaml"), UsageError);
}

// Step s (0-based) of N with warmup W steps: lr·(s+1)/W while s+1 <= W; then with
// p = (s+1-W)/(N-W): linear lr·(1-p), cosine lr·(1+cos(πp))/2, constant lr.
TEST(Schedule, LinearWithWarmupCount) {
  // N = 10, W = 2: 0.1·1/2, 0.1·2/2, then p = 1/8 .. 8/8.
  expect_curve(curve(schedule("linear", 2), 10),
               {0.05, 0.1, 0.0875, 0.075, 0.0625, 0.05, 0.0375, 0.025, 0.0125, 0.0}, "linear, warmup 2");
}

TEST(Schedule, WarmupShareIsAShareOfAllSteps) {
  // 0.2 of 10 steps = 2 steps: the same curve as a count of 2, for every schedule.
  for (const std::string name : {"linear", "cosine", "constant"}) {
    expect_curve(curve(schedule(name, 0.2), 10), curve(schedule(name, 2), 10), name + ", warmup 0.2 vs 2");
  }
  // 0.25 of 10 = 2.5 steps: 0.1·1/2.5, 0.1·2/2.5, then linear with p = (3-2.5)/7.5 = 1/15, ...
  const auto c = curve(schedule("linear", 0.25), 10);
  EXPECT_NEAR(c[0], 0.04, 1e-12);
  EXPECT_NEAR(c[1], 0.08, 1e-12);
  EXPECT_NEAR(c[2], 0.1 * (1.0 - 1.0 / 15.0), 1e-12);
  EXPECT_NEAR(c[3], 0.1 * (1.0 - 3.0 / 15.0), 1e-12);
  EXPECT_NEAR(c[9], 0.0, 1e-12);
}

TEST(Schedule, LinearWithoutWarmup) {
  // W = 0: p = (s+1)/10.
  expect_curve(curve(schedule("linear", 0), 10),
               {0.09, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01, 0.0}, "linear, no warmup");
}

TEST(Schedule, CosineWithWarmup) {
  // N = 6, W = 2 (a count): 0.05, 0.1, then p = 1/4, 2/4, 3/4, 4/4.
  const double lr = 0.1;
  const double r = std::sqrt(0.5);  // cos(π/4)
  expect_curve(curve(schedule("cosine", 2, lr), 6),
               {0.05, 0.1, lr * (1 + r) / 2, lr * 0.5, lr * (1 - r) / 2, 0.0}, "cosine, warmup 2");
}

TEST(Schedule, CosineWithoutWarmup) {
  // N = 3, W = 0: p = 1/3, 2/3, 1; cos(π/3) = 1/2, cos(2π/3) = -1/2.
  expect_curve(curve(schedule("cosine", 0, 0.3), 3), {0.3 * 0.75, 0.3 * 0.25, 0.0}, "cosine, no warmup");
}

TEST(Schedule, ConstantAfterWarmup) {
  expect_curve(curve(schedule("constant", 4, 0.02), 7), {0.005, 0.01, 0.015, 0.02, 0.02, 0.02, 0.02},
               "constant, warmup 4");
  expect_curve(curve(schedule("constant", 0, 0.02), 3), {0.02, 0.02, 0.02}, "constant, no warmup");
}

TEST(Schedule, WarmupLongerThanTheRunNeverReachesThePeak) {
  // W = 20 steps of 5: lr·(s+1)/20 throughout, for every schedule.
  for (const std::string name : {"linear", "cosine", "constant"}) {
    expect_curve(curve(schedule(name, 20), 5), {0.005, 0.01, 0.015, 0.02, 0.025}, name + ", warmup 20 of 5");
  }
}

// --- gradient clipping ------------------------------------------------------------------

// Two parameters whose gradients are (3, 4) and (12): global L2 norm 13. A third has no grad.
std::vector<NamedParameter> with_grads() {
  std::vector<NamedParameter> ps = {{"a", torch::zeros({2}, torch::kFloat32)},
                                    {"b", torch::zeros({1, 1}, torch::kFloat32)},
                                    {"c", torch::zeros({3}, torch::kFloat32)}};
  ps[0].tensor.mutable_grad() = torch::tensor({3.0f, 4.0f});
  ps[1].tensor.mutable_grad() = torch::tensor({{12.0f}});
  return ps;
}

TEST(ClipGradNorm, BelowTheThresholdLeavesGradientsUntouched) {
  for (const double max_norm : {13.5, 1000.0, 13.0}) {  // 13.0: at the threshold, not above it
    auto ps = with_grads();
    EXPECT_NEAR(clip_grad_norm(ps, max_norm), 13.0, 1e-6);
    EXPECT_TRUE(torch::equal(ps[0].tensor.grad(), torch::tensor({3.0f, 4.0f}))) << max_norm;
    EXPECT_TRUE(torch::equal(ps[1].tensor.grad(), torch::tensor({{12.0f}}))) << max_norm;
    EXPECT_FALSE(ps[2].tensor.grad().defined());
  }
}

TEST(ClipGradNorm, AboveTheThresholdScalesToTheThreshold) {
  auto ps = with_grads();
  // Returns the norm before clipping; every gradient is scaled by 6.5/13 = 1/2 (up to the
  // 1e-6 guard in the denominator).
  EXPECT_NEAR(clip_grad_norm(ps, 6.5), 13.0, 1e-6);
  const auto a = ps[0].tensor.grad(), b = ps[1].tensor.grad();
  EXPECT_NEAR(a[0].item<double>(), 1.5, 1e-6);
  EXPECT_NEAR(a[1].item<double>(), 2.0, 1e-6);
  EXPECT_NEAR(b[0][0].item<double>(), 6.0, 1e-6);
  const double after = std::sqrt(a.square().sum().item<double>() + b.square().sum().item<double>());
  EXPECT_NEAR(after, 6.5, 1e-5);
  EXPECT_LE(after, 6.5 + 1e-6);
  // Clipping again changes nothing: the norm is now at the threshold.
  EXPECT_NEAR(clip_grad_norm(ps, 6.5), after, 1e-6);
  EXPECT_NEAR(ps[1].tensor.grad()[0][0].item<double>(), 6.0, 1e-6);
}

TEST(ClipGradNorm, ZeroMeansOffAndTheNormIsStillReported) {
  auto ps = with_grads();
  EXPECT_NEAR(clip_grad_norm(ps, 0.0), 13.0, 1e-6);
  EXPECT_TRUE(torch::equal(ps[0].tensor.grad(), torch::tensor({3.0f, 4.0f})));
  EXPECT_TRUE(torch::equal(ps[1].tensor.grad(), torch::tensor({{12.0f}})));
}

TEST(ClipGradNorm, NonFiniteNormIsReturnedForTheGuard) {
  auto ps = with_grads();
  ps[0].tensor.mutable_grad()[0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(clip_grad_norm(ps, 1.0)));
}

}  // namespace
}  // namespace sturdy
