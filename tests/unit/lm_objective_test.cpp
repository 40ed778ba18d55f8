// Language-model training (issue 9, item 3): LM batches that score only the continuation,
// per-example CE and symKL over aligned continuation positions, and every objective
// lowering its own loss with the LM head.
#include <gtest/gtest.h>

#include <random>

#include "sturdy/data/loader.h"
#include "sturdy/perturb/augment.h"
#include "sturdy/robust/objective.h"
#include "sturdy/text/prompt.h"
#include "sturdy/text/tokenizer.h"
#include "sturdy/train/optimizer.h"

namespace sturdy::robust {
namespace {

Config lm_config() {
  Config c;
  c.model.vocab_size = 260;  // bytes
  c.model.dim = 32;
  c.model.layers = 1;
  c.model.heads = 2;
  c.model.kv_heads = 2;
  c.model.ffn = 64;
  c.model.dropout = 0.0;
  c.model.causal = true;
  c.model.head = "lm";
  c.run.seed = 5;
  c.augment.recipe = "typos";
  return c;
}

std::vector<int64_t> row(const torch::Tensor& t, int64_t i) {
  auto r = t[i].contiguous();
  return {r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel()};
}

TEST(LmBatch, LabelsScoreOnlyTheContinuation) {
  auto tok = make_tokenizer(TokenizerConfig{});
  const std::string text = "the cat sat on the mat";
  EXPECT_EQ(prompt_end(text, 0.5), 11u);  // "the cat sat"
  EXPECT_EQ(prompt_end("single", 0.5), 0u);
  EXPECT_EQ(prompt_end("a b", 0.0), 1u);  // at least one word, never all

  LmText clean = split_lm_text(*tok, text, 0.5, 64);
  EXPECT_EQ(clean.prompt, "the cat sat");
  EXPECT_EQ(clean.continuation, tok->encode(" on the mat"));
  LmText noisy = clean;
  noisy.prompt = "teh caat sta";  // longer once tokenized
  LmText short_text = split_lm_text(*tok, "single", 0.5, 64);
  EXPECT_TRUE(short_text.continuation.empty());

  const Batch b = make_lm_batch(*tok, {clean, noisy, short_text}, 64);
  ASSERT_EQ(b.labels.sizes(), b.ids.sizes());
  const auto cont = tok->encode(" on the mat");
  for (int64_t i = 0; i < 2; ++i) {
    const auto ids = row(b.ids, i), labels = row(b.labels, i);
    const int64_t prompt_len = static_cast<int64_t>(tok->encode(i == 0 ? clean.prompt : noisy.prompt).size()) +
                               (tok->bos_id() >= 0 ? 1 : 0);
    std::vector<int64_t> scored;
    for (size_t t = 0; t < labels.size(); ++t) {
      if (labels[t] == kIgnoreLabel) continue;
      EXPECT_GE(static_cast<int64_t>(t), prompt_len - 1) << "row " << i << ": a prompt token is scored";
      EXPECT_EQ(labels[t], ids[t + 1]) << "row " << i << " position " << t;
      scored.push_back(labels[t]);
    }
    // The same continuation tokens, in order, whatever the prompt.
    EXPECT_EQ(scored, std::vector<int64_t>(cont.begin(), cont.end())) << "row " << i;
  }
  for (int64_t v : row(b.labels, 2)) EXPECT_EQ(v, kIgnoreLabel);

  // Caps: the prompt keeps its last max_length/2 tokens, the continuation the rest.
  const std::string long_text = std::string(100, 'x') + " " + std::string(100, 'y') + " z";
  LmText capped = split_lm_text(*tok, long_text, 0.5, 16);
  EXPECT_EQ(capped.continuation.size(), static_cast<size_t>(lm_continuation_cap(16)));
  const Batch c = make_lm_batch(*tok, {capped}, 16);
  EXPECT_EQ(c.ids.size(1), 16);
  EXPECT_EQ(c.labels.ne(kIgnoreLabel).sum().item<int64_t>(), lm_continuation_cap(16));
}

TEST(LmObjective, CrossEntropyIsThePerExampleMeanOverTheContinuation) {
  torch::manual_seed(3);
  auto labels = torch::full({2, 5}, kIgnoreLabel, torch::kInt64);
  labels[0][2] = 4;
  labels[0][3] = 1;
  labels[1][0] = 7;
  auto logits = torch::randn({2, 6, 9}, torch::kFloat64);  // one position longer than the labels
  double expected = 0;
  auto lp = torch::log_softmax(logits, -1);
  expected -= (lp[0][2][4].item<double>() + lp[0][3][1].item<double>()) / 2;
  expected -= lp[1][0][7].item<double>();
  EXPECT_NEAR(cross_entropy_sum(logits, labels).item<double>(), expected, 1e-12);
  // No scored token: zero, not NaN.
  EXPECT_EQ(cross_entropy_sum(logits, torch::full({2, 5}, kIgnoreLabel, torch::kInt64)).item<double>(), 0.0);
}

TEST(LmObjective, SymKlSumComparesAlignedContinuationPositions) {
  torch::manual_seed(4);
  // View p: prompt of 2 tokens, continuation scored at positions 1..3; view q: prompt of 4,
  // continuation at positions 3..5. Same continuation logits -> zero divergence.
  auto p_labels = torch::full({1, 4}, kIgnoreLabel, torch::kInt64);
  auto q_labels = torch::full({1, 6}, kIgnoreLabel, torch::kInt64);
  for (int j = 0; j < 3; ++j) {
    p_labels[0][1 + j] = j;
    q_labels[0][3 + j] = j;
  }
  auto p = torch::randn({1, 4, 7}, torch::kFloat64);
  auto q = torch::randn({1, 6, 7}, torch::kFloat64);
  q.narrow(1, 3, 3).copy_(p.narrow(1, 1, 3));
  EXPECT_NEAR(sym_kl_sum(p, p_labels, q, q_labels).item<double>(), 0.0, 1e-12);
  // Change one continuation position: the sum is that position's symKL over 3 tokens.
  q[0][4] += torch::randn({7}, torch::kFloat64);
  auto lp = torch::log_softmax(p[0][2], -1), lq = torch::log_softmax(q[0][4], -1);
  const double one = ((lp.exp() - lq.exp()) * (lp - lq)).sum().item<double>();
  EXPECT_GT(one, 0);
  EXPECT_NEAR(sym_kl_sum(p, p_labels, q, q_labels).item<double>(), one / 3, 1e-12);
  // Classifier logits keep sym_kl's meaning (mean over rows) times the rows.
  auto a = torch::randn({3, 2}, torch::kFloat64), b = torch::randn({3, 2}, torch::kFloat64);
  EXPECT_NEAR(sym_kl_sum(a, {}, b, {}).item<double>(), 3 * sym_kl(a, b).item<double>(), 1e-12);
}

// A tiny causal LM learns "<colour> <fruit> is <colour> <fruit>": the continuation repeats the
// prompt's words, so predicting it needs the (perturbed) context.
Batch toy_lm_batch(const Tokenizer& tok, const TextTransform& view, int64_t step) {
  std::mt19937 rng(static_cast<uint32_t>(11 + step));
  const char* colour[] = {"red", "green", "blue", "pink"};
  const char* fruit[] = {"apple", "pear", "plum", "fig"};
  std::vector<LmText> texts;
  std::vector<int64_t> ids;
  for (int i = 0; i < 16; ++i) {
    const std::string c = colour[rng() % 4], f = fruit[rng() % 4];
    texts.push_back(split_lm_text(tok, c + " " + f + " is " + c + " " + f, 0.5, 32));
    ids.push_back(step * 16 + i);
  }
  Batch b = make_lm_batch(tok, texts, 32);
  if (view) {
    for (size_t i = 0; i < texts.size(); ++i) texts[i].prompt = view(texts[i].prompt, ids[i], 0);
    b.perturbed = std::make_shared<Batch>(make_lm_batch(tok, texts, 32));
    b.perturbed->example_ids = ids;
  }
  b.example_ids = ids;
  b.step = step;
  return b;
}

class LmObjectiveLearns : public ::testing::TestWithParam<std::string> {};

TEST_P(LmObjectiveLearns, LowersItsRobustLoss) {
  Config c = lm_config();
  const std::string param = GetParam();
  c.objective.kind = param.substr(0, param.find('/'));
  if (param.find("/half") != std::string::npos) c.objective.fraction = 0.5;
  c.objective.steps = 2;
  c.objective.step_size = 0.05;
  c.objective.epsilon = 0.05;
  c.objective.init = c.objective.kind == "smart" ? 1e-3 : 0.02;
  c.objective.replays = 2;
  torch::manual_seed(2);
  Transformer model(c.model);
  std::vector<NamedParameter> params;
  for (const auto& kv : model->named_parameters(true)) params.push_back({kv.key(), kv.value()});
  OptimConfig oc;
  oc.weight_decay = 0;
  AdamW opt(params, oc);
  auto objective = make_objective(c);
  auto tok = make_tokenizer(c.tokenizer);
  auto view = objective->needs_perturbed_view() ? make_view_transform(c) : nullptr;
  double first = 0, last = 0;
  const int steps = 60;
  for (int s = 0; s < steps; ++s) {
    const Batch b = toy_lm_batch(*tok, view, s);
    double robust = 0;
    for (int64_t r = 0; r < objective->replays(); ++r) {
      const auto res = objective->micro_step(model, b, 1.0 / 16, [](bool) {});
      ASSERT_TRUE(std::isfinite(res.robust_loss_sum)) << GetParam() << " step " << s;
      robust = res.robust_loss_sum / 16;
      opt.step(1e-2);
      opt.zero_grad();
    }
    if (s < 10) first += robust / 10;
    if (s >= steps - 10) last += robust / 10;
  }
  EXPECT_LT(last, 0.7 * first) << GetParam() << ": robust loss " << first << " -> " << last;
}

INSTANTIATE_TEST_SUITE_P(All, LmObjectiveLearns,
                         ::testing::Values("erm", "consistency", "consistency/half", "fgm", "pgd", "freeat",
                                           "freelb", "smart"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& ch : n) if (ch == '/') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace sturdy::robust
