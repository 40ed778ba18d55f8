// Tests for src/robust/objective.cpp: ∂L/∂δ against finite differences, and every
// objective lowering its own robust loss on a small learnable task.
#include <gtest/gtest.h>

#include <random>

#include "sturdy/core/error.h"
#include "sturdy/perturb/augment.h"
#include "sturdy/robust/autocast.h"
#include "sturdy/robust/objective.h"
#include "sturdy/text/tokenizer.h"
#include "sturdy/train/optimizer.h"

namespace sturdy::robust {
namespace {

Config small_config() {
  Config c;
  c.model.vocab_size = 260;
  c.model.dim = 32;
  c.model.layers = 1;
  c.model.heads = 2;
  c.model.kv_heads = 2;
  c.model.ffn = 64;
  c.model.dropout = 0.0;
  c.model.num_classes = 2;
  c.run.seed = 5;
  c.augment.recipe = "typos";
  return c;
}

// Class 0 sentences mention fruit, class 1 sentences mention motion.
Batch toy_batch(const Tokenizer& tok, int64_t step, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed + step));
  const char* fruit[] = {"apple", "pear", "plum", "fig"};
  const char* motion[] = {"run", "jump", "swim", "walk"};
  const char* filler[] = {"the", "a", "very", "some", "with"};
  std::vector<std::string> texts;
  std::vector<int32_t> labels;
  for (int i = 0; i < 16; ++i) {
    const int label = static_cast<int>(rng() % 2);
    std::string t = std::string(filler[rng() % 5]) + " " + (label ? motion[rng() % 4] : fruit[rng() % 4]) +
                    " " + filler[rng() % 5];
    texts.push_back(t);
    labels.push_back(label);
  }
  Batch b = make_batch(tok, texts, labels, 32);
  b.step = step;
  for (int i = 0; i < 16; ++i) b.example_ids.push_back(step * 16 + i);
  return b;
}

TEST(Objective, GradientWrtDeltaMatchesFiniteDifferences) {
  Config c = small_config();
  torch::manual_seed(1);
  Transformer model(c.model);
  model->to(torch::kFloat64);
  model->eval();
  auto tok = make_tokenizer(c.tokenizer);
  Batch b = toy_batch(*tok, 0, 1);
  auto e = model->embed(b.ids).detach();
  auto m = b.mask.unsqueeze(-1).to(torch::kFloat64);
  auto delta = (torch::randn(e.sizes(), torch::kFloat64) * 0.05 * m).requires_grad_(true);
  auto loss_at = [&](const torch::Tensor& d) {
    return cross_entropy_sum(model->head(model->encode(e + d, b.mask), b.mask), b.labels);
  };
  auto g = torch::autograd::grad({loss_at(delta)}, {delta})[0];
  torch::NoGradGuard no_grad;
  for (int trial = 0; trial < 3; ++trial) {
    auto v = torch::randn(e.sizes(), torch::kFloat64) * m;
    const double h = 1e-5;
    const double fd = (loss_at(delta + h * v).item<double>() - loss_at(delta - h * v).item<double>()) / (2 * h);
    const double ad = (g * v).sum().item<double>();
    EXPECT_NEAR(ad, fd, 1e-6 * std::max(1.0, std::fabs(fd))) << "trial " << trial;
  }
  // Padded positions get no gradient.
  EXPECT_EQ((g * (1 - m)).abs().max().item<double>(), 0.0);
}

class ObjectiveLearns : public ::testing::TestWithParam<std::string> {};

TEST_P(ObjectiveLearns, LowersItsRobustLoss) {
  Config c = small_config();
  // "kind" or "kind/bf16" (precision.dtype: bf16).
  const std::string param = GetParam();
  c.objective.kind = param.substr(0, param.find('/'));
  if (param.find("/bf16") != std::string::npos) c.precision.dtype = "bf16";
  if (param.find("/half") != std::string::npos) c.objective.fraction = 0.5;
  c.objective.steps = 2;
  c.objective.step_size = 0.05;
  c.objective.epsilon = 0.05;
  c.objective.init = c.objective.kind == "smart" ? 1e-3 : 0.02;
  c.objective.replays = 2;
  if (c.objective.kind == "augment") c.augment.probability = 0.5;
  torch::manual_seed(2);
  Transformer model(c.model);
  std::vector<NamedParameter> params;
  for (const auto& kv : model->named_parameters(true)) params.push_back({kv.key(), kv.value()});
  OptimConfig oc;
  oc.weight_decay = 0;
  AdamW opt(params, oc);
  auto objective = make_objective(c);
  auto tok = make_tokenizer(c.tokenizer);
  auto view = c.objective.kind == "consistency" ? make_view_transform(c) : nullptr;
  double first = 0, last = 0;
  const int steps = 60;
  for (int s = 0; s < steps; ++s) {
    Batch b = toy_batch(*tok, s, 9);
    if (view) {
      std::vector<std::string> v;
      for (size_t i = 0; i < b.texts.size(); ++i) v.push_back(view(b.texts[i], b.example_ids[i], 0));
      std::vector<int32_t> labels(b.labels.data_ptr<int64_t>(), b.labels.data_ptr<int64_t>() + b.labels.numel());
      b.perturbed = std::make_shared<Batch>(make_batch(*tok, v, labels, 32));
    }
    double robust = 0;
    for (int64_t r = 0; r < objective->replays(); ++r) {
      const auto res = objective->micro_step(model, b, 1.0 / 16, [](bool) {});
      robust = res.robust_loss_sum / 16;
      opt.step(3e-3);
      opt.zero_grad();
    }
    if (s < 10) first += robust / 10;
    if (s >= steps - 10) last += robust / 10;
  }
  EXPECT_LT(last, 0.85 * first) << GetParam() << ": robust loss " << first << " -> " << last;
  for (const auto& p : params) EXPECT_EQ(p.tensor.scalar_type(), torch::kFloat32) << p.name;
}

INSTANTIATE_TEST_SUITE_P(All, ObjectiveLearns,
                         ::testing::Values("erm", "augment", "consistency", "fgm", "pgd", "freeat",
                                           "freelb", "smart", "consistency/half", "erm/bf16", "pgd/bf16", "freelb/bf16",
                                           "smart/bf16"));

// precision.dtype bf16: the same step as fp32 up to bf16 rounding (so it did run in bf16:
// the gradients are close but not equal), float32 parameters, gradients and loss, and the
// autocast state restored afterwards.
TEST(Objective, Bf16AutocastStepMatchesFp32UpToRounding) {
  auto step = [](const std::string& dtype, double* loss) {
    Config c = small_config();
    c.objective.kind = "freelb";
    c.objective.steps = 2;
    c.objective.init = 0.02;
    c.precision.dtype = dtype;
    torch::manual_seed(3);
    Transformer model(c.model);
    auto tok = make_tokenizer(c.tokenizer);
    Batch b = toy_batch(*tok, 0, 4);
    auto objective = make_objective(c);
    *loss = objective->micro_step(model, b, 1.0 / 16, [](bool) {}).loss_sum;
    EXPECT_FALSE(autocast_enabled(c10::DeviceType::CPU));
    std::vector<torch::Tensor> grads;
    for (const auto& p : model->parameters()) {
      EXPECT_EQ(p.grad().scalar_type(), torch::kFloat32);
      grads.push_back(p.grad().reshape({-1}));
    }
    return torch::cat(grads);
  };
  double loss32 = 0, loss16 = 0;
  const auto g32 = step("fp32", &loss32);
  const auto g16 = step("bf16", &loss16);
  EXPECT_NEAR(loss16, loss32, 0.02 * std::fabs(loss32));
  EXPECT_NE(loss16, loss32) << "bf16 gave bitwise the fp32 loss: autocast did not act";
  const double cosine = (g32 * g16).sum().item<double>() / (g32.norm().item<double>() * g16.norm().item<double>());
  EXPECT_GT(cosine, 0.99);
  EXPECT_FALSE(torch::equal(g32, g16));
  Config bad = small_config();
  bad.precision.dtype = "fp16";
  EXPECT_THROW(make_objective(bad), UsageError);
}

// State between steps (checkpointed in objective.h5): only FreeAT keeps any (its δ). A FreeAT
// restored from state() continues bitwise like the original; one that is not restored does
// not (so the state matters and the round trip is what makes a resume exact).
TEST(Objective, OnlyFreeAtKeepsStateAndItsRoundTripContinuesExactly) {
  for (const std::string kind : {"erm", "augment", "consistency", "fgm", "pgd", "freelb", "smart"}) {
    Config c = small_config();
    c.objective.kind = kind;
    c.augment.probability = 0.5;
    auto objective = make_objective(c);
    EXPECT_FALSE(objective->keeps_state()) << kind;
    EXPECT_TRUE(objective->state().empty()) << kind;
  }
  Config c = small_config();
  c.objective.kind = "freeat";
  c.objective.epsilon = 0.3;
  c.precision.dtype = "bf16";  // the autocast wrapper passes the state through
  auto tok = make_tokenizer(c.tokenizer);
  torch::manual_seed(4);
  Transformer model(c.model);
  model->eval();
  auto original = make_objective(c);
  ASSERT_TRUE(original->keeps_state());
  ASSERT_EQ(original->state().size(), 1u);
  EXPECT_EQ(original->state()[0].name, "delta");
  EXPECT_EQ(original->state()[0].tensor.abs().max().item<double>(), 0.0) << "no δ before the first batch";
  for (int64_t s = 0; s < 2; ++s) original->micro_step(model, toy_batch(*tok, s, 2), 1.0 / 16, [](bool) {});
  const auto saved = original->state();
  ASSERT_EQ(saved[0].tensor.dim(), 3);
  EXPECT_GT(saved[0].tensor.abs().max().item<double>(), 0.0);
  EXPECT_EQ(saved[0].tensor.scalar_type(), torch::kFloat32);

  auto grads_of_next_step = [&](Objective& objective) {
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
    objective.micro_step(model, toy_batch(*tok, 2, 2), 1.0 / 16, [](bool) {});
    std::vector<torch::Tensor> g;
    for (const auto& p : model->parameters()) g.push_back(p.grad().reshape({-1}).clone());
    return torch::cat(g);
  };
  auto restored = make_objective(c);
  restored->load_state(saved);
  auto fresh = make_objective(c);
  const auto g_restored = grads_of_next_step(*restored);
  const auto g_fresh = grads_of_next_step(*fresh);
  const auto g_original = grads_of_next_step(*original);
  EXPECT_TRUE(torch::equal(g_original, g_restored));
  EXPECT_FALSE(torch::equal(g_original, g_fresh)) << "δ made no difference: the test proves nothing";
  EXPECT_TRUE(torch::equal(original->state()[0].tensor, restored->state()[0].tensor));

  EXPECT_THROW(restored->load_state({{"delta", torch::zeros({4, 4})}}), UsageError);
  EXPECT_THROW(restored->load_state({{"other", torch::zeros({1, 1, 1})}}), UsageError);
}

TEST(Objective, ConfigErrorsNameTheKey) {
  Config c = small_config();
  c.objective.kind = "augment";
  c.augment.probability = 0;
  try {
    make_objective(c);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("augment.probability"), std::string::npos);
  }
  c.objective.kind = "consistency";
  c.objective.fraction = 0;
  try {
    make_objective(c);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("objective.fraction"), std::string::npos);
  }
  c.objective.fraction = 1;
  c.augment.recipe.clear();
  EXPECT_THROW(make_objective(c), UsageError);
}

}  // namespace
}  // namespace sturdy::robust
