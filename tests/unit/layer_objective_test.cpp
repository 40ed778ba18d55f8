// Tests for objective.layer (δ on the output of block L), objective.epsilon_relative, r3f and
// flooding (src/robust/objective.cpp, Transformer::lower/upper): the split forward is the
// whole forward, ∂L/∂δ at layer L against finite differences, layer 0 bitwise the objectives
// as written before layers existed, the blocks below L run once per micro-step, the one
// backward through them gives the gradients of one backward per ascent step, and the new
// objectives lower their own loss.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "sturdy/core/error.h"
#include "sturdy/robust/objective.h"
#include "sturdy/text/tokenizer.h"
#include "sturdy/train/optimizer.h"
#include "tiny_models.h"

namespace sturdy::robust {
namespace {

namespace F = torch::nn::functional;

Config deep_config(int64_t layers) {
  Config c;
  c.model.vocab_size = 260;
  c.model.dim = 32;
  c.model.layers = layers;
  c.model.heads = 2;
  c.model.kv_heads = 2;
  c.model.ffn = 64;
  c.model.dropout = 0.0;
  c.model.num_classes = 2;
  c.run.seed = 5;
  c.objective.steps = 3;
  c.objective.step_size = 0.05;
  c.objective.epsilon = 0.05;
  c.objective.init = 0.02;
  return c;
}


std::vector<torch::Tensor> grads_of(Transformer& model) {
  std::vector<torch::Tensor> g;
  for (const auto& p : model->parameters()) g.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  return g;
}

void zero_grads(Transformer& model) {
  for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
}

// One micro-step of `c`'s objective from fresh gradients; the parameter gradients after it.
std::vector<torch::Tensor> step_grads(const Config& c, Transformer& model, const Batch& b) {
  zero_grads(model);
  auto objective = make_objective(c);
  objective->micro_step(model, b, 1.0 / 16, [](bool) {});
  return grads_of(model);
}

double max_rel_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double scale = std::max(a[i].abs().max().item<double>(), 1e-12);
    worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>() / scale);
  }
  return worst;
}

TEST(Transformer, LowerThenUpperIsTheWholeEncode) {
  Config c = deep_config(3);
  torch::manual_seed(1);
  Transformer model(c.model);
  model->eval();
  auto tok = make_tokenizer(c.tokenizer);
  const Batch b = toy_batch(*tok, 0, 1);
  torch::NoGradGuard no_grad;
  const auto e = model->embed(b.ids);
  const auto whole = model->encode(e, b.mask);
  for (int64_t layer = 0; layer <= c.model.layers; ++layer) {
    const int64_t before = model->block_forwards();
    const auto split = model->upper(model->lower(e, b.mask, layer), b.mask, layer);
    EXPECT_TRUE(torch::equal(split, whole)) << "layer " << layer;
    EXPECT_EQ(model->block_forwards() - before, c.model.layers) << "every block once, layer " << layer;
  }
  EXPECT_THROW(model->lower(e, b.mask, 4), std::exception);
  EXPECT_THROW(model->upper(e, b.mask, -1), std::exception);
}

// ∂L/∂δ at the output of block 2 of 3 (what the ascent steps use) against central differences
// of the loss, in float64.
TEST(LayerObjective, GradientWrtDeltaAtLayerMatchesFiniteDifferences) {
  Config c = deep_config(3);
  torch::manual_seed(2);
  Transformer model(c.model);
  model->to(torch::kFloat64);
  model->eval();
  auto tok = make_tokenizer(c.tokenizer);
  const Batch b = toy_batch(*tok, 0, 1);
  const int64_t layer = 2;
  const auto site = model->lower(model->embed(b.ids), b.mask, layer).detach();
  const auto m = b.mask.unsqueeze(-1).to(torch::kFloat64);
  auto delta = (torch::randn(site.sizes(), torch::kFloat64) * 0.05 * m).requires_grad_(true);
  auto loss_at = [&](const torch::Tensor& d) {
    return cross_entropy_sum(model->head(model->upper(site + d, b.mask, layer), b.mask), b.labels);
  };
  const auto g = torch::autograd::grad({loss_at(delta)}, {delta})[0];
  torch::NoGradGuard no_grad;
  for (int trial = 0; trial < 3; ++trial) {
    const auto v = torch::randn(site.sizes(), torch::kFloat64) * m;
    const double h = 1e-5;
    const double fd = (loss_at(delta + h * v).item<double>() - loss_at(delta - h * v).item<double>()) / (2 * h);
    const double ad = (g * v).sum().item<double>();
    EXPECT_NEAR(ad, fd, 1e-6 * std::max(1.0, std::fabs(fd))) << "trial " << trial;
  }
  EXPECT_EQ((g * (1 - m)).abs().max().item<double>(), 0.0) << "padded positions got a gradient";
}

// The objectives as they were written before objective.layer (δ on the embedding output,
// embeddings looked up again for each backward): layer 0 must give bitwise their gradients.
std::vector<torch::Tensor> reference_fgm(const Config& c, Transformer& model, const Batch& b) {
  zero_grads(model);
  const AdvBall ball{c.objective.norm.value(), AdvScope::kExample, c.objective.epsilon};
  auto e = model->embed(b.ids);
  e.retain_grad();
  auto clean = cross_entropy_sum(model->head(model->encode(e, b.mask), b.mask), b.labels);
  (clean * (1.0 / 16)).backward();
  auto delta = adv_step_project(torch::zeros_like(e), e.grad(), b.mask, ball, c.objective.epsilon);
  auto adv = cross_entropy_sum(model->head(model->encode(model->embed(b.ids) + delta, b.mask), b.mask), b.labels);
  (adv * (1.0 / 16)).backward();
  return grads_of(model);
}

// FreeLB's keyed start δ₀ ~ U(−1, 1)·init/√(L_i·d), projected (robust/objective.cpp, FreeLb::init).
torch::Tensor freelb_start(const Config& c, const torch::Tensor& site, const Batch& b, const AdvBall& ball) {
  const AdvBall unit{AdvNorm::kLinf, AdvScope::kExample, 1.0};
  auto u = adv_init(site, b.mask, unit, AdvInit{AdvInitKind::kUniform, 1.0}, b.example_ids, c.run.seed,
                    delta_stream(b, kFreeLbStart));
  auto lengths = b.mask.sum(1).to(site.dtype()).clamp_min(1.0);
  return adv_project(u * (c.objective.init / torch::sqrt(lengths * 32.0)).view({-1, 1, 1}), b.mask, ball);
}

std::vector<torch::Tensor> reference_freelb(const Config& c, Transformer& model, const Batch& b) {
  zero_grads(model);
  const AdvBall ball{c.objective.norm.value(), AdvScope::kExample, c.objective.epsilon};
  auto delta = freelb_start(c, model->embed(b.ids).detach(), b, ball);
  const int64_t k_steps = c.objective.steps;
  for (int64_t k = 0; k < k_steps; ++k) {
    auto e = model->embed(b.ids);
    delta.requires_grad_(true);
    auto loss = cross_entropy_sum(model->head(model->encode(e + delta, b.mask), b.mask), b.labels);
    (loss * (1.0 / 16 / static_cast<double>(k_steps))).backward();
    if (k + 1 < k_steps) delta = adv_step_project(delta.detach(), delta.grad(), b.mask, ball, c.objective.step_size);
  }
  return grads_of(model);
}

TEST(LayerObjective, LayerZeroIsBitwiseTheEmbeddingObjectives) {
  Config c = deep_config(2);
  torch::manual_seed(3);
  Transformer model(c.model);
  model->eval();
  auto tok = make_tokenizer(c.tokenizer);
  const Batch b = toy_batch(*tok, 1, 3);
  c.objective.kind = "fgm";
  const auto fgm = step_grads(c, model, b);
  const auto fgm_ref = reference_fgm(c, model, b);
  c.objective.kind = "freelb";
  const auto freelb = step_grads(c, model, b);
  const auto freelb_ref = reference_freelb(c, model, b);
  for (size_t i = 0; i < fgm.size(); ++i) {
    EXPECT_TRUE(torch::equal(fgm[i], fgm_ref[i])) << "fgm parameter " << i;
    EXPECT_TRUE(torch::equal(freelb[i], freelb_ref[i])) << "freelb parameter " << i;
  }
  EXPECT_GT(max_rel_diff(fgm, freelb), 1e-3) << "the two objectives agree: the comparison proves nothing";
}

// Forwards through the blocks above the site per micro-step, by objective (3 ascent steps).
struct UpperPasses {
  const char* kind;
  int64_t passes;
};

TEST(LayerObjective, BlocksBelowTheLayerRunOncePerMicroStep) {
  const int64_t n = 4;
  Config c = deep_config(n);
  torch::manual_seed(4);
  Transformer model(c.model);
  auto tok = make_tokenizer(c.tokenizer);
  const Batch b = toy_batch(*tok, 0, 4);
  // fgm: clean + adversarial; pgd: 3 ascents + descent; freeat: 1; freelb: 3; smart: clean,
  // ascent, adversarial; r3f: one forward of the stacked clean and noisy rows.
  for (const UpperPasses& u : {UpperPasses{"fgm", 2}, UpperPasses{"pgd", 4}, UpperPasses{"freeat", 1},
                               UpperPasses{"freelb", 3}, UpperPasses{"smart", 3}, UpperPasses{"r3f", 1}}) {
    for (const int64_t layer : {int64_t{0}, int64_t{2}, n - 1}) {
      c.objective.kind = u.kind;
      c.objective.layer = layer;
      const int64_t before = model->block_forwards();
      step_grads(c, model, b);
      // Layer 0: every pass runs all n blocks. Layer L: the L below once, the rest per pass.
      EXPECT_EQ(model->block_forwards() - before, layer + u.passes * (n - layer)) << u.kind << " at layer " << layer;
    }
  }
}

// Site::finish pushes the gradient accumulated at the site through the lower blocks once; by
// linearity that is the gradient of backpropagating every ascent step through them. The
// reference below does exactly that (FreeLB with K backward passes through the whole graph).
TEST(LayerObjective, OneBackwardThroughTheLowerBlocksEqualsOnePerStep) {
  Config c = deep_config(3);
  c.objective.kind = "freelb";
  c.objective.layer = 2;
  torch::manual_seed(5);
  Transformer model(c.model);
  model->to(torch::kFloat64);
  model->eval();
  auto tok = make_tokenizer(c.tokenizer);
  const Batch b = toy_batch(*tok, 2, 5);
  const auto fast = step_grads(c, model, b);

  zero_grads(model);
  const AdvBall ball{c.objective.norm.value(), AdvScope::kExample, c.objective.epsilon};
  auto site = model->lower(model->embed(b.ids), b.mask, 2);
  auto delta = freelb_start(c, site.detach(), b, ball);
  for (int64_t k = 0; k < c.objective.steps; ++k) {
    delta.requires_grad_(true);
    auto loss = cross_entropy_sum(model->head(model->upper(site + delta, b.mask, 2), b.mask), b.labels);
    (loss * (1.0 / 16 / 3.0)).backward({}, /*retain_graph=*/true);
    if (k + 1 < c.objective.steps) delta = adv_step_project(delta.detach(), delta.grad(), b.mask, ball, c.objective.step_size);
  }
  const auto slow = grads_of(model);
  EXPECT_LT(max_rel_diff(fast, slow), 1e-10);
  // The lower blocks did get a gradient (the site is not cut off from them).
  EXPECT_GT(model->named_parameters()["layers.0.attention.wq.weight"].grad().abs().max().item<double>(), 0.0);
}

// epsilon_relative r (which replaces objective.epsilon) on an example whose embeddings have
// Frobenius norm ‖e‖ is the absolute ε = r·‖e‖ (l2): one example, FGM both ways.
TEST(LayerObjective, RelativeEpsilonIsTheExampleNormTimesR) {
  Config c = deep_config(2);
  c.objective.kind = "fgm";
  torch::manual_seed(6);
  Transformer model(c.model);
  model->to(torch::kFloat64);
  model->eval();
  auto tok = make_tokenizer(c.tokenizer);
  const Batch b = toy_batch(*tok, 0, 6, /*n=*/1);
  const double norm = model->embed(b.ids).detach().square().sum().sqrt().item<double>();
  const double r = 0.05;
  c.objective.epsilon = 7.0;  // ignored once epsilon_relative is set
  c.objective.epsilon_relative = r;
  const auto relative = step_grads(c, model, b);
  c.objective.epsilon_relative = 0;
  c.objective.epsilon = r * norm;
  const auto absolute = step_grads(c, model, b);
  EXPECT_LT(max_rel_diff(relative, absolute), 1e-9);
  c.objective.epsilon = norm;  // a different ε gives different gradients
  EXPECT_GT(max_rel_diff(step_grads(c, model, b), absolute), 1e-6);
}

TEST(Flooding, GradientChangesSignBelowTheLevel) {
  auto per = torch::tensor({0.2, 0.5, 1.5}, torch::kFloat64).requires_grad_(true);
  auto s = flooded_sum(per, 1.0);
  EXPECT_DOUBLE_EQ(s.item<double>(), (1.0 - 0.2 + 1.0) + (1.0 - 0.5 + 1.0) + 1.5);
  s.backward();
  EXPECT_TRUE(torch::equal(per.grad(), torch::tensor({-1.0, -1.0, 1.0}, torch::kFloat64)));
}

// Flooding and r3f in training: each lowers its own loss; flood keeps ERM's loss near its level.
class NewObjectiveLearns : public ::testing::TestWithParam<std::string> {};

TEST_P(NewObjectiveLearns, LowersItsLoss) {
  Config c = deep_config(2);
  const std::string param = GetParam();
  c.objective.kind = param.substr(0, param.find('/'));
  if (param.find("/layer") != std::string::npos) c.objective.layer = 1;
  if (param.find("/uniform") != std::string::npos) c.objective.noise = "uniform";
  if (param.find("/flood") != std::string::npos) c.objective.flood = 0.3;
  c.objective.sigma = 0.05;
  torch::manual_seed(7);
  Transformer model(c.model);
  std::vector<NamedParameter> params;
  for (const auto& kv : model->named_parameters(true)) params.push_back({kv.key(), kv.value()});
  OptimConfig oc;
  oc.weight_decay = 0;
  AdamW opt(params, oc);
  auto objective = make_objective(c);
  auto tok = make_tokenizer(c.tokenizer);
  double first = 0, last = 0, last_clean = 0;
  const int steps = 60;
  for (int s = 0; s < steps; ++s) {
    const auto res = objective->micro_step(model, toy_batch(*tok, s, 9), 1.0 / 16, [](bool) {});
    opt.step(3e-3);
    opt.zero_grad();
    if (s < 10) first += res.robust_loss_sum / 16 / 10;
    if (s >= steps - 10) {
      last += res.robust_loss_sum / 16 / 10;
      last_clean += res.loss_sum / 16 / 10;
    }
  }
  EXPECT_LT(last, 0.85 * first) << param << ": loss " << first << " -> " << last;
  if (c.objective.flood > 0) {
    EXPECT_GT(last_clean, 0.15) << "flooding at 0.3 let the mean loss fall to " << last_clean;
    EXPECT_GE(last, c.objective.flood) << "a flooded loss is never below the level";
  }
}

INSTANTIATE_TEST_SUITE_P(All, NewObjectiveLearns,
                         ::testing::Values("r3f", "r3f/uniform", "r3f/layer", "freelb/layer", "smart/layer",
                                           "erm/flood", "freelb/flood"));

TEST(LayerObjective, ConfigErrorsNameTheKey) {
  auto error_of = [](const std::string& yaml) {
    try {
      parse_config(yaml, "test.yaml");
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("model: {layers: 2}\nobjective: {kind: fgm, layer: 3}").find("objective.layer must be in 0..model.layers (2)"),
            std::string::npos);
  EXPECT_NE(error_of("objective: {kind: erm, layer: 1}").find("objective.layer applies to fgm"), std::string::npos);
  EXPECT_NE(error_of("objective: {kind: r3f, epsilon_relative: 0.1}").find("objective.epsilon_relative: r3f"),
            std::string::npos);
  EXPECT_NE(error_of("objective: {kind: r3f, noise: gauss}").find("objective.noise"), std::string::npos);
  EXPECT_NE(error_of("objective: {kind: erm, flood: -1}").find("objective.flood"), std::string::npos);
  EXPECT_EQ(error_of("model: {layers: 2}\nobjective: {kind: r3f, layer: 2, flood: 0.1}"), "no error");
}

}  // namespace
}  // namespace sturdy::robust
