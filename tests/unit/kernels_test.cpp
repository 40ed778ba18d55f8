// Tests for src/kernels/ without a GPU: the host emulation (the kernels' per-group algorithm
// on the shared adv_math.h functions) against the LibTorch CPU reference of
// robust/adversarial.h on fresh random inputs, odd sizes, ragged and random masks, fp32 and
// bf16, outputs poisoned with NaN first; the RNG and bf16 rounding against known answers;
// statistics and the ball constraint of the counter-based starts; argument checks.
// Error measure (ggml style): max |out − ref| / max |ref|, ≤ 1e-5 (fp32), ≤ 1e-2 (bf16).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include <torch/torch.h>

#include "sturdy/core/error.h"
#include "sturdy/kernels/adv_ops.h"
#include "sturdy/robust/adversarial.h"

namespace sturdy::kernels {
namespace {

using robust::AdvBall;
using robust::AdvNorm;
using robust::AdvScope;

DType dtype_of(const torch::Tensor& t) { return t.scalar_type() == torch::kFloat32 ? DType::kFloat32 : DType::kBFloat16; }
double tolerance(DType t) { return t == DType::kFloat32 ? 1e-5 : 1e-2; }

double rel_error(const torch::Tensor& out, const torch::Tensor& ref) {
  auto o = out.to(torch::kFloat64), r = ref.to(torch::kFloat64);
  const double scale = std::max(r.abs().max().item<double>(), 1e-30);
  const double err = (o - r).abs().max().item<double>();
  return std::isnan(err) ? std::numeric_limits<double>::infinity() : err / scale;
}

torch::Tensor poisoned_like(const torch::Tensor& x) {
  return torch::full_like(x, std::numeric_limits<float>::quiet_NaN());
}

// Masks: right-padded with an all-padding row, random holes, and all real.
std::vector<torch::Tensor> masks_for(int64_t B, int64_t T, std::mt19937& rng) {
  auto right = torch::zeros({B, T}, torch::kBool);
  for (int64_t b = 0; b < B; ++b) right[b].narrow(0, 0, b == 1 ? 0 : 1 + static_cast<int64_t>(rng() % T)).fill_(true);
  auto holes = torch::rand({B, T}) > 0.3;
  return {right, holes, torch::ones({B, T}, torch::kBool)};
}

StepArgs step_args(const torch::Tensor& delta, const torch::Tensor* grad, const torch::Tensor& mask, torch::Tensor& out,
                   const AdvBall& ball, double alpha) {
  StepArgs a;
  a.delta = delta.data_ptr();
  a.grad = grad ? grad->data_ptr() : nullptr;
  a.mask = reinterpret_cast<const uint8_t*>(mask.data_ptr<bool>());
  a.out = out.data_ptr();
  a.batch = delta.size(0), a.len = delta.size(1), a.dim = delta.size(2);
  a.dtype = dtype_of(delta);
  a.norm = ball.norm == AdvNorm::kL2 ? StepNorm::kL2 : StepNorm::kLinf;
  a.scope = ball.scope == AdvScope::kExample ? StepScope::kExample : StepScope::kToken;
  a.epsilon = static_cast<float>(ball.epsilon);
  a.alpha = static_cast<float>(alpha);
  return a;
}

const std::vector<std::vector<int64_t>> kShapes = {{3, 7, 8}, {5, 9, 13}, {2, 1, 1}, {4, 17, 64}, {1, 33, 130}};

std::vector<AdvBall> all_balls() {
  std::vector<AdvBall> balls;
  for (auto norm : {AdvNorm::kL2, AdvNorm::kLinf})
    for (auto scope : {AdvScope::kExample, AdvScope::kToken})
      for (double eps : {0.3, 2.0, 0.0}) balls.push_back({norm, scope, eps});
  return balls;
}

std::string describe(const AdvBall& ball, const torch::Tensor& x, int mask_kind) {
  return fmt::format("{} {} eps {} shape {} {} mask {}", robust::adv_norm_name(ball.norm), robust::adv_scope_name(ball.scope),
                     ball.epsilon, c10::str(x.sizes()), dtype_name(dtype_of(x)), mask_kind);
}

void check_step_against_reference(torch::ScalarType type) {
  std::mt19937 rng(11);
  int cases = 0;
  for (const auto& shape : kShapes) {
    const int64_t B = shape[0], T = shape[1];
    const auto masks = masks_for(B, T, rng);
    for (size_t mk = 0; mk < masks.size(); ++mk) {
      const auto& mask = masks[mk];
      for (const auto& ball : all_balls()) {
        // δ partly outside the ball; g non-zero on padding too (must be ignored).
        auto delta = (torch::randn(shape) * 0.4).to(type);
        auto grad = (torch::randn(shape) * 3).to(type);
        for (double alpha : {0.1, 0.0}) {
          auto out = poisoned_like(delta);
          host_adv_step_project(step_args(delta, &grad, mask, out, ball, alpha));
          // bf16: the reference evaluated in float32 on the same bf16 inputs. The kernels
          // accumulate in float32 and round once; the reference run in bf16 rounds after
          // every op (ĝ, α·ĝ, δ+α·ĝ, the scale) and is itself off by up to ~2% of max|δ'|
          // where δ and α·ĝ cancel, so it is the less exact of the two (checked below).
          auto ref = robust::adv_step_project(delta.to(torch::kFloat32), grad.to(torch::kFloat32), mask, ball, alpha);
          EXPECT_LE(rel_error(out, ref), tolerance(dtype_of(delta))) << describe(ball, delta, mk) << " alpha " << alpha;
          if (type == torch::kBFloat16) {
            const auto ref_bf16 = robust::adv_step_project(delta, grad, mask, ball, alpha);
            EXPECT_LE(rel_error(out, ref), rel_error(ref_bf16, ref) + 1e-6) << describe(ball, delta, mk);
          }
          const auto pad = mask.logical_not().unsqueeze(-1).expand_as(out);
          EXPECT_EQ(out.masked_select(pad).abs().sum().item<double>(), 0.0) << describe(ball, delta, mk);
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 5 * 3 * 12 * 2);
}

TEST(KernelsHost, StepMatchesReferenceFloat32) { check_step_against_reference(torch::kFloat32); }
TEST(KernelsHost, StepMatchesReferenceBFloat16) { check_step_against_reference(torch::kBFloat16); }

TEST(KernelsHost, ProjectionAloneMatchesAdvProjectAndMayRunInPlace) {
  torch::manual_seed(3);
  std::mt19937 rng(3);
  for (const auto& ball : all_balls()) {
    for (auto type : {torch::kFloat32, torch::kBFloat16}) {
      auto delta = torch::randn({4, 11, 24}).to(type);
      const auto mask = masks_for(4, 11, rng)[0];
      auto ref = robust::adv_project(delta, mask, ball);
      auto inplace = delta.clone();
      host_adv_step_project(step_args(inplace, nullptr, mask, inplace, ball, 0.5));  // grad null: Π alone
      EXPECT_LE(rel_error(inplace, ref), tolerance(dtype_of(delta))) << describe(ball, delta, 0);
      // In place with a gradient as well (out aliases δ).
      auto grad = torch::randn({4, 11, 24}).to(type);
      auto step_ref = robust::adv_step_project(delta, grad, mask, ball, 0.2);
      auto d2 = delta.clone();
      host_adv_step_project(step_args(d2, &grad, mask, d2, ball, 0.2));
      EXPECT_LE(rel_error(d2, step_ref), tolerance(dtype_of(delta))) << describe(ball, delta, 0) << " in place";
    }
  }
}

TEST(KernelsHost, StepNormsStayInTheBall) {
  torch::manual_seed(4);
  const auto mask = torch::rand({6, 10}) > 0.2;
  for (const auto& ball : all_balls()) {
    if (ball.epsilon <= 0) continue;
    auto delta = torch::zeros({6, 10, 16});
    for (int step = 0; step < 5; ++step) {
      auto grad = torch::randn({6, 10, 16}) * 10;
      auto out = poisoned_like(delta);
      host_adv_step_project(step_args(delta, &grad, mask, out, ball, 0.7));
      const double worst = robust::adv_group_norm(out, mask, ball.norm, ball.scope).max().item<double>();
      EXPECT_LE(worst, ball.epsilon * (1 + 1e-6)) << describe(ball, delta, 0) << " step " << step;
      delta = out;
    }
  }
}

// ---- sym_kl -------------------------------------------------------------------------------
TEST(KernelsHost, SymKLMatchesReference) {
  torch::manual_seed(5);
  for (auto type : {torch::kFloat32, torch::kBFloat16}) {
    for (auto [rows, classes, scale] : std::vector<std::tuple<int64_t, int64_t, double>>{
             {1, 1, 1.0}, {3, 2, 1.0}, {7, 33, 3.0}, {5, 1000, 5.0}, {2, 4099, 1.0}, {4, 17, 40.0}}) {
      auto p = (torch::randn({rows, classes}) * scale).to(type);
      auto q = (p.to(torch::kFloat32) + torch::randn({rows, classes}) * scale * 0.5).to(type);
      auto gp = poisoned_like(p), gq = poisoned_like(q);
      float value = std::numeric_limits<float>::quiet_NaN();
      SymKLArgs a;
      a.p_logits = p.data_ptr(), a.q_logits = q.data_ptr(), a.grad_p = gp.data_ptr(), a.grad_q = gq.data_ptr();
      a.value = &value, a.rows = rows, a.classes = classes, a.dtype = dtype_of(p);
      host_sym_kl_forward_backward(a);
      const auto ref = robust::sym_kl_forward_backward(p, q);
      const std::string what = fmt::format("{}x{} scale {} {}", rows, classes, scale, dtype_name(a.dtype));
      const double ref_value = ref.value.item<double>();
      // The value is always computed in float32 (the reference promotes bf16 to float32 too).
      EXPECT_LE(std::fabs(value - ref_value), 1e-5 * std::max(std::fabs(ref_value), 1e-6)) << what;
      EXPECT_LE(rel_error(gp, ref.grad_p), tolerance(a.dtype)) << what;
      EXPECT_LE(rel_error(gq, ref.grad_q), tolerance(a.dtype)) << what;
    }
  }
}

TEST(KernelsHost, SymKLOfEqualLogitsIsZeroWithZeroGradient) {
  auto p = torch::randn({3, 50});
  auto gp = poisoned_like(p), gq = poisoned_like(p);
  float value = -1;
  SymKLArgs a;
  a.p_logits = p.data_ptr(), a.q_logits = p.data_ptr(), a.grad_p = gp.data_ptr(), a.grad_q = gq.data_ptr();
  a.value = &value, a.rows = 3, a.classes = 50;
  host_sym_kl_forward_backward(a);
  EXPECT_EQ(value, 0.0f);
  EXPECT_EQ(gp.abs().max().item<float>(), 0.0f);
  EXPECT_EQ(gq.abs().max().item<float>(), 0.0f);
}

// ---- adv_init -------------------------------------------------------------------------------
torch::Tensor run_init(const torch::Tensor& mask, int64_t D, StepNorm norm, StepScope scope, InitKind kind, float r,
                       const std::vector<int64_t>& ids, uint64_t seed = 9, torch::ScalarType type = torch::kFloat32) {
  auto out = torch::full({mask.size(0), mask.size(1), D}, std::numeric_limits<float>::quiet_NaN(),
                         torch::TensorOptions().dtype(type));
  InitArgs a;
  a.mask = reinterpret_cast<const uint8_t*>(mask.data_ptr<bool>());
  a.example_ids = ids.data();
  a.out = out.data_ptr();
  a.batch = mask.size(0), a.len = mask.size(1), a.dim = D;
  a.dtype = dtype_of(out), a.norm = norm, a.scope = scope, a.kind = kind, a.radius = r, a.seed = seed, a.stream = 1;
  host_adv_init(a);
  return out;
}

std::vector<int64_t> iota_ids(int64_t n, int64_t first = 0) {
  std::vector<int64_t> ids(n);
  for (int64_t i = 0; i < n; ++i) ids[i] = first + i;
  return ids;
}

TEST(KernelsHost, InitStaysInTheBallWithZeroPadding) {
  std::mt19937 rng(6);
  for (auto norm : {StepNorm::kL2, StepNorm::kLinf})
    for (auto scope : {StepScope::kExample, StepScope::kToken})
      for (auto kind : {InitKind::kUniform, InitKind::kNormal})
        for (auto type : {torch::kFloat32, torch::kBFloat16}) {
          const auto mask = masks_for(5, 13, rng)[0];
          const float r = 0.37f;
          auto d = run_init(mask, 21, norm, scope, kind, r, iota_ids(5), 9, type);
          ASSERT_FALSE(d.isnan().any().item<bool>());
          const auto pad = mask.logical_not().unsqueeze(-1).expand_as(d);
          EXPECT_EQ(d.masked_select(pad).abs().sum().item<double>(), 0.0);
          const auto ball_norm = norm == StepNorm::kL2 ? AdvNorm::kL2 : AdvNorm::kLinf;
          const auto ball_scope = scope == StepScope::kExample ? AdvScope::kExample : AdvScope::kToken;
          const double bf16_slack = type == torch::kBFloat16 ? 1e-2 : 1e-6;
          EXPECT_LE(robust::adv_group_norm(d.to(torch::kFloat32), mask, ball_norm, ball_scope).max().item<double>(),
                    r * (1 + bf16_slack));
        }
}

TEST(KernelsHost, UniformL2StartHasRadiusRTimesUToTheOneOverN) {
  const auto mask = torch::ones({4, 6}, torch::kBool);
  mask[2].narrow(0, 3, 3).fill_(false);
  const float r = 0.8f;
  const auto ids = iota_ids(4, 100);
  auto d = run_init(mask, 10, StepNorm::kL2, StepScope::kExample, InitKind::kUniform, r, ids);
  const auto norms = robust::adv_group_norm(d, mask, AdvNorm::kL2, AdvScope::kExample);
  for (int64_t b = 0; b < 4; ++b) {
    const double n = (b == 2 ? 3 : 6) * 10;
    const double u = group_uniform(init_key(9, ids[b], 1), 0);
    EXPECT_NEAR(norms[b].item<double>(), r * std::pow(u, 1.0 / n), 1e-5) << b;
  }
}

TEST(KernelsHost, InitStatistics) {
  const auto mask = torch::ones({64, 32}, torch::kBool);
  const float r = 0.5f;
  // uniform linf: U(-r, r): mean 0, variance r²/3, every element inside.
  auto u = run_init(mask, 64, StepNorm::kLinf, StepScope::kExample, InitKind::kUniform, r, iota_ids(64));
  EXPECT_NEAR(u.mean().item<double>(), 0.0, 0.005);
  EXPECT_NEAR(u.var().item<double>(), r * r / 3, 0.003);
  EXPECT_LE(u.abs().max().item<double>(), r);
  EXPECT_GT(u.abs().max().item<double>(), 0.99 * r);
  // normal linf: N(0, r²) clamped: P(clamped) = P(|z| ≥ 1) ≈ 0.3173.
  auto n = run_init(mask, 64, StepNorm::kLinf, StepScope::kExample, InitKind::kNormal, r, iota_ids(64));
  EXPECT_NEAR((n.abs() >= r).to(torch::kFloat64).mean().item<double>(), 0.3173, 0.01);
  // normal l2 per token, D = 64: E‖δ‖² = r² before the projection; after it, most tokens
  // sit near the sphere, none outside; elements are symmetric around 0.
  auto t = run_init(mask, 64, StepNorm::kL2, StepScope::kToken, InitKind::kNormal, r, iota_ids(64));
  const auto tn = robust::adv_group_norm(t, mask, AdvNorm::kL2, AdvScope::kToken);
  EXPECT_NEAR(tn.mean().item<double>(), 0.95 * r, 0.05 * r);
  EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.002);
  // uniform l2 per token, D = 4: P(‖δ‖ ≤ r/2) = (1/2)^4.
  auto s = run_init(mask, 4, StepNorm::kL2, StepScope::kToken, InitKind::kUniform, r, iota_ids(64));
  const auto sn = robust::adv_group_norm(s, mask, AdvNorm::kL2, AdvScope::kToken);
  EXPECT_NEAR((sn <= r / 2).to(torch::kFloat64).mean().item<double>(), 1.0 / 16, 0.01);
  // Directions: the per-token unit vectors average to ~0 in every coordinate.
  const auto dirs = s / sn.unsqueeze(-1);
  EXPECT_LT(dirs.reshape({-1, 4}).mean(0).abs().max().item<double>(), 0.03);
}

TEST(KernelsHost, InitIsKeyedByExampleIdSeedAndStream) {
  const auto mask = torch::ones({3, 5}, torch::kBool);
  auto a = run_init(mask, 8, StepNorm::kL2, StepScope::kToken, InitKind::kNormal, 1.f, {7, 8, 9});
  auto b = run_init(mask, 8, StepNorm::kL2, StepScope::kToken, InitKind::kNormal, 1.f, {9, 7, 8});
  EXPECT_TRUE(torch::equal(a[0], b[1]));  // example 7 gets the same start wherever it sits
  EXPECT_TRUE(torch::equal(a[2], b[0]));
  EXPECT_FALSE(torch::equal(a[0], a[1]));
  auto c = run_init(mask, 8, StepNorm::kL2, StepScope::kToken, InitKind::kNormal, 1.f, {7, 8, 9}, 10);
  EXPECT_FALSE(torch::equal(a[0], c[0]));  // another seed
  // Right padding does not change the real tokens' start (position-keyed, per-token scope).
  auto shorter = mask.clone();
  shorter[0].narrow(0, 3, 2).fill_(false);
  auto p = run_init(shorter, 8, StepNorm::kL2, StepScope::kToken, InitKind::kNormal, 1.f, {7, 8, 9});
  EXPECT_TRUE(torch::equal(p[0].narrow(0, 0, 3), a[0].narrow(0, 0, 3)));
}

// ---- building blocks against known answers --------------------------------------------------
TEST(KernelsHost, PhiloxMatchesRandom123KnownAnswers) {
  const U32x4 zero = philox4x32_10(U32x4{{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(zero.v[0], 0x6627e8d5u);
  EXPECT_EQ(zero.v[1], 0xe169c58du);
  EXPECT_EQ(zero.v[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.v[3], 0x9b00dbd8u);
  const U32x4 pi = philox4x32_10(U32x4{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(pi.v[0], 0xd16cfe09u);
  EXPECT_EQ(pi.v[1], 0x94fdccebu);
  EXPECT_EQ(pi.v[2], 0x5001e420u);
  EXPECT_EQ(pi.v[3], 0x24126ea1u);
}

TEST(KernelsHost, BFloat16RoundingMatchesTorch) {
  auto x = torch::cat({torch::randn({4096}) * 100, torch::randn({4096}) * 1e-3,
                       torch::tensor({0.f, -0.f, 1.f, 1.00390625f, 1.01171875f, 3.4e38f, -3.4e38f, 1e-40f,
                                      std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()})});
  const auto ref = x.to(torch::kBFloat16);
  const float* xs = x.data_ptr<float>();
  const auto* rs = reinterpret_cast<const uint16_t*>(ref.data_ptr<at::BFloat16>());
  for (int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_EQ(float_to_bf16(xs[i]), rs[i]) << "x = " << xs[i];
    ASSERT_EQ(bf16_to_float(rs[i]), ref[i].item<float>());
  }
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(KernelsHost, ArgumentChecksNameTheProblem) {
  StepArgs a;
  a.batch = 2, a.len = 3, a.dim = 4;
  EXPECT_THROW(host_adv_step_project(a), UsageError);  // null δ/out
  std::vector<float> buf(24), grad(24);
  a.delta = buf.data(), a.out = grad.data(), a.grad = grad.data();
  EXPECT_THROW(host_adv_step_project(a), UsageError);  // out aliases grad
  a.out = buf.data(), a.alpha = std::numeric_limits<float>::infinity();
  EXPECT_THROW(host_adv_step_project(a), UsageError);
  SymKLArgs s;
  EXPECT_THROW(host_sym_kl_forward_backward(s), UsageError);  // empty
  InitArgs i;
  i.batch = 1, i.len = 1, i.dim = 1, i.out = buf.data(), i.radius = -1.f;
  std::vector<int64_t> ids{0};
  i.example_ids = ids.data();
  EXPECT_THROW(host_adv_init(i), UsageError);
}

}  // namespace
}  // namespace sturdy::kernels
