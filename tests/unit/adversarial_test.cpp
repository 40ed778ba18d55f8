// Tests for src/robust/adversarial.cpp: the invariants of the adversarial-step ops (norm <= ε
// after every step, padding untouched, linf step = sign, l2 normalization per example and per
// token, keyed starts independent of batch composition) and sym_kl against autograd.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "sturdy/core/error.h"
#include "sturdy/robust/adversarial.h"

namespace sturdy::robust {
namespace {

// (B,T) right-padded mask with the given real lengths.
torch::Tensor make_mask(const std::vector<int64_t>& lengths, int64_t T) {
  auto mask = torch::zeros({static_cast<int64_t>(lengths.size()), T}, torch::kBool);
  for (size_t b = 0; b < lengths.size(); ++b) mask[b].narrow(0, 0, lengths[b]).fill_(true);
  return mask;
}

torch::Tensor padded_part(const torch::Tensor& x, const torch::Tensor& mask) {
  return x.masked_select(mask.logical_not().unsqueeze(-1).expand_as(x));
}

const std::vector<AdvBall> kBalls = {{AdvNorm::kL2, AdvScope::kExample, 0.7},
                                     {AdvNorm::kL2, AdvScope::kToken, 0.3},
                                     {AdvNorm::kLinf, AdvScope::kExample, 0.05},
                                     {AdvNorm::kLinf, AdvScope::kToken, 0.05}};

TEST(Adversarial, StepsStayInTheBallAndKeepPaddingZero) {
  torch::manual_seed(0);
  const auto mask = make_mask({5, 2, 7}, 7);
  for (const auto& ball : kBalls) {
    for (auto kind : {AdvInitKind::kUniform, AdvInitKind::kNormal}) {
      auto emb = torch::randn({3, 7, 8});
      auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
      auto delta = adv_init(emb, mask, ball, {kind, 10.0}, gen);  // magnitude clipped to ε
      for (int step = 0; step < 6; ++step) {
        const auto norms = adv_group_norm(delta, mask, ball.norm, ball.scope);
        EXPECT_LE(norms.max().item<double>(), ball.epsilon * (1 + 1e-6)) << adv_norm_name(ball.norm) << " step " << step;
        EXPECT_EQ(padded_part(delta, mask).abs().max().item<float>(), 0.0f);
        // Gradients that are non-zero on padding too: the step must ignore them.
        auto grad = torch::randn({3, 7, 8}) * 5;
        delta = adv_step_project(delta, grad, mask, ball, 0.2);
      }
    }
  }
}

TEST(Adversarial, LinfStepIsSignOfTheGradient) {
  torch::manual_seed(1);
  const auto mask = make_mask({4, 3}, 4);
  const AdvBall ball{AdvNorm::kLinf, AdvScope::kExample, 1.0};
  auto delta = torch::zeros({2, 4, 6});
  auto grad = torch::randn({2, 4, 6});
  auto next = adv_step_project(delta, grad, mask, ball, 0.01);
  auto expected = grad.sign() * 0.01 * mask.unsqueeze(-1).to(torch::kFloat);
  EXPECT_TRUE(torch::equal(next, expected));
  // Projection clamps element-wise.
  auto far = adv_step_project(torch::full({2, 4, 6}, 0.995), grad, mask, ball, 0.01);
  auto want = torch::where(grad > 0, torch::full_like(grad, 1.0), torch::full_like(grad, 0.985));
  want = torch::where(grad == 0, torch::full_like(grad, 0.995), want) * mask.unsqueeze(-1).to(torch::kFloat);
  EXPECT_TRUE(torch::allclose(far, want, 0, 1e-6));
}

TEST(Adversarial, L2StepNormalizesPerExampleAndPerToken) {
  torch::manual_seed(2);
  const auto mask = make_mask({3, 5}, 5);
  auto grad = torch::randn({2, 5, 4}) * torch::tensor({1.0f, 100.0f}).view({2, 1, 1});
  const double alpha = 0.1;
  // Per example: each example moves by exactly α in Frobenius norm, whatever its grad scale.
  auto d = adv_step_project(torch::zeros({2, 5, 4}), grad, mask, {AdvNorm::kL2, AdvScope::kExample, 0.0}, alpha);
  auto n = adv_group_norm(d, mask, AdvNorm::kL2, AdvScope::kExample);
  EXPECT_NEAR(n[0].item<float>(), alpha, 1e-6);
  EXPECT_NEAR(n[1].item<float>(), alpha, 1e-6);
  // The direction is the gradient's.
  auto cos = torch::nn::functional::cosine_similarity(d[0].narrow(0, 0, 3).flatten(), grad[0].narrow(0, 0, 3).flatten(),
                                                      torch::nn::functional::CosineSimilarityFuncOptions().dim(0));
  EXPECT_NEAR(cos.item<float>(), 1.0, 1e-5);
  // Per token: every real token moves by α.
  auto t = adv_step_project(torch::zeros({2, 5, 4}), grad, mask, {AdvNorm::kL2, AdvScope::kToken, 0.0}, alpha);
  auto tn = adv_group_norm(t, mask, AdvNorm::kL2, AdvScope::kToken);
  EXPECT_TRUE(torch::allclose(tn.masked_select(mask), torch::full({8}, alpha), 1e-5, 1e-6));
  EXPECT_EQ(tn.masked_select(mask.logical_not()).abs().max().item<float>(), 0.0f);
}

TEST(Adversarial, L2ProjectionRescalesOnlyOutsideTheBall) {
  const auto mask = make_mask({2, 2}, 2);
  auto delta = torch::zeros({2, 2, 2});
  delta[0][0][0] = 3.0;  // norm 5 -> rescaled to ε = 1
  delta[0][1][1] = 4.0;
  delta[1][0][0] = 0.6;  // norm 0.6 -> unchanged
  auto p = adv_project(delta, mask, {AdvNorm::kL2, AdvScope::kExample, 1.0});
  EXPECT_FLOAT_EQ(p[0][0][0].item<float>(), 0.6f);
  EXPECT_FLOAT_EQ(p[0][1][1].item<float>(), 0.8f);
  EXPECT_FLOAT_EQ(p[1][0][0].item<float>(), 0.6f);
}

TEST(Adversarial, ZeroGradientAndZeroInitAreSafe) {
  const auto mask = make_mask({2}, 3);
  auto delta = adv_init(torch::ones({1, 3, 4}), mask, {}, {AdvInitKind::kUniform, 0.0},
                        at::make_generator<at::CPUGeneratorImpl>(1));
  EXPECT_EQ(delta.abs().sum().item<float>(), 0.0f);
  auto next = adv_step_project(delta, torch::zeros({1, 3, 4}), mask, {}, 0.5);
  EXPECT_FALSE(torch::any(torch::isnan(next)).item<bool>());
  EXPECT_EQ(next.abs().sum().item<float>(), 0.0f);
}

TEST(Adversarial, KeyedInitDependsOnExampleIdNotOnBatchOrPadding) {
  const AdvBall ball{AdvNorm::kL2, AdvScope::kExample, 1.0};
  const AdvInit init{AdvInitKind::kUniform, 0.5};
  // Example 7 alone (no padding) and in a batch where it is padded further.
  auto alone = adv_init(torch::zeros({1, 3, 4}), make_mask({3}, 3), ball, init, {7}, 42, 0);
  auto batched = adv_init(torch::zeros({2, 5, 4}), make_mask({5, 3}, 5), ball, init, {9, 7}, 42, 0);
  EXPECT_TRUE(torch::equal(alone[0], batched[1].narrow(0, 0, 3)));
  auto other_stream = adv_init(torch::zeros({1, 3, 4}), make_mask({3}, 3), ball, init, {7}, 42, 1);
  EXPECT_FALSE(torch::equal(alone, other_stream));
  // Uniform l2 start lies inside the init radius.
  EXPECT_LE(adv_group_norm(batched, make_mask({5, 3}, 5), AdvNorm::kL2, AdvScope::kExample).max().item<float>(),
            0.5f + 1e-6f);
}

TEST(Adversarial, UniformLinfInitFillsTheBox) {
  const auto mask = make_mask({64}, 64);
  auto d = adv_init(torch::zeros({1, 64, 32}), mask, {AdvNorm::kLinf, AdvScope::kExample, 0.1},
                    {AdvInitKind::kUniform, 0.1}, at::make_generator<at::CPUGeneratorImpl>(5));
  EXPECT_LE(d.abs().max().item<float>(), 0.1f);
  EXPECT_GT(d.abs().max().item<float>(), 0.09f);       // reaches near the faces
  EXPECT_NEAR(d.mean().item<float>(), 0.0, 0.005);     // centred
}

TEST(Adversarial, SymKLValueAndGradientMatchAutograd) {
  torch::manual_seed(3);
  auto a = torch::randn({4, 6}, torch::kFloat64).requires_grad_(true);
  auto b = torch::randn({4, 6}, torch::kFloat64).requires_grad_(true);
  // Reference in plain autograd ops.
  auto lp = torch::log_softmax(a, -1), lq = torch::log_softmax(b, -1);
  auto ref = ((lp.exp() * (lp - lq)).sum(-1) + (lq.exp() * (lq - lp)).sum(-1)).mean();
  auto ref_grads = torch::autograd::grad({ref * 3.0}, {a, b});
  auto value = sym_kl(a, b);
  EXPECT_NEAR(value.item<double>(), ref.item<double>(), 1e-12);
  auto grads = torch::autograd::grad({value * 3.0}, {a, b});  // upstream gradient 3
  EXPECT_TRUE(torch::allclose(grads[0], ref_grads[0], 1e-10, 1e-12));
  EXPECT_TRUE(torch::allclose(grads[1], ref_grads[1], 1e-10, 1e-12));
  const SymKL fb = sym_kl_forward_backward(a.detach(), b.detach());
  EXPECT_TRUE(torch::allclose(fb.grad_p * 3.0, ref_grads[0], 1e-10, 1e-12));
  // Symmetric, zero on equal inputs, leading dims averaged.
  EXPECT_NEAR(sym_kl(b, a).item<double>(), value.item<double>(), 1e-12);
  EXPECT_NEAR(sym_kl(a, a).item<double>(), 0.0, 1e-15);
  auto a3 = a.detach().view({2, 2, 6}), b3 = b.detach().view({2, 2, 6});
  EXPECT_NEAR(sym_kl(a3, b3).item<double>(), value.item<double>(), 1e-12);
}

TEST(Adversarial, ParsesNamesWithHints) {
  EXPECT_EQ(parse_adv_norm("linf", "t"), AdvNorm::kLinf);
  EXPECT_EQ(parse_adv_scope("token", "t"), AdvScope::kToken);
  try {
    parse_adv_norm("l3", "suite.yaml: attacks[0].norm");
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'l2'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sturdy::robust
