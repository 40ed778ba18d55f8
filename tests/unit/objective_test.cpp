// Tests for src/robust/objective.cpp and attack_augment.cpp: ∂L/∂δ against finite differences,
// every objective lowering its own robust loss on a small learnable task, and what
// attack_augment's search selects, ranks and edits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "sturdy/core/error.h"
#include "sturdy/core/utf8.h"
#include "sturdy/perturb/augment.h"
#include "sturdy/perturb/word_edits.h"
#include "sturdy/robust/attack_augment.h"
#include "sturdy/robust/autocast.h"
#include "sturdy/robust/objective.h"
#include "sturdy/text/tokenizer.h"
#include "sturdy/train/optimizer.h"
#include "tiny_models.h"

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
                                           "freelb", "smart", "attack_augment", "consistency/half", "attack_augment/half",
                                           "erm/bf16", "pgd/bf16", "freelb/bf16", "smart/bf16"));

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
  for (const std::string kind : {"erm", "augment", "consistency", "fgm", "pgd", "freelb", "smart", "attack_augment"}) {
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

  auto error_of = [](const Config& config) {
    try {
      make_objective(config);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  Config a = small_config();
  a.objective.kind = "attack_augment";
  a.objective.edit_ops = {"delete", "word_drop"};
  const std::string op = error_of(a);
  EXPECT_NE(op.find("objective.edit_ops"), std::string::npos) << op;
  EXPECT_NE(op.find("word_drop"), std::string::npos) << op;
  a.objective.edit_ops = {"delete"};
  a.objective.fraction = 0;
  EXPECT_NE(error_of(a).find("objective.fraction"), std::string::npos) << error_of(a);
  a.objective.fraction = 0.5;
  a.model.head = "lm";
  a.model.causal = true;
  EXPECT_NE(error_of(a).find("objective.kind attack_augment needs model.head classifier"), std::string::npos)
      << error_of(a);
}

// --- attack_augment ---------------------------------------------------------------------------

Config attack_config(double fraction) {
  Config c = small_config();
  c.objective.kind = "attack_augment";
  c.objective.fraction = fraction;
  c.objective.edit_ops = {"delete", "swap", "synonym", "misspell"};  // never a space: words stay words
  c.data.max_length = 96;
  return c;
}

// Ten words per sentence, a pure function of the example id (so an example reads the same in
// any batch): content words of its class (three in four) or the other among stopwords.
Batch sentence_batch(const Tokenizer& tok, const std::vector<int64_t>& ids, int64_t epoch = 0) {
  const char* fruit[] = {"apple", "pear", "plum", "cherry", "melon", "grape"};
  const char* motion[] = {"run", "jump", "swim", "walk", "climb", "dance"};
  const char* stop[] = {"the", "a", "very", "some", "with", "and", "of", "to"};
  std::vector<std::string> texts;
  std::vector<int32_t> labels;
  for (const int64_t id : ids) {
    std::mt19937 rng(static_cast<uint32_t>(id));
    const int label = static_cast<int>(rng() % 2);
    std::string t;
    for (int w = 0; w < 10; ++w) {
      const bool own = rng() % 4 != 0;
      const char* word = rng() % 2 ? stop[rng() % 8] : (own == (label == 1) ? motion : fruit)[rng() % 6];
      t += (w ? " " : "") + std::string(word);
    }
    texts.push_back(t);
    labels.push_back(label);
  }
  Batch b = make_batch(tok, texts, labels, 96);
  b.example_ids = ids;
  b.epoch = epoch;
  return b;
}

// A random model with weights large enough that candidates change its output visibly.
Transformer sharp_model(const Config& c, uint64_t seed) {
  torch::manual_seed(seed);
  Transformer model(c.model);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.mul_(8.0);
  return model;
}

// One micro-step of attack_augment on `ids`; its search by example id. Gradients are dropped.
std::map<int64_t, AttackedExample> attack(const Config& c, Transformer& model, const std::vector<int64_t>& ids,
                                          int64_t epoch = 0, MicroStepResult* result = nullptr) {
  auto objective = make_objective(c);
  auto* aa = dynamic_cast<AttackAugment*>(objective.get());
  EXPECT_NE(aa, nullptr);
  if (aa == nullptr) return {};
  auto tok = make_tokenizer(c.tokenizer);
  const auto r = aa->micro_step(model, sentence_batch(*tok, ids, epoch), 1.0 / 16, [](bool) {});
  if (result != nullptr) *result = r;
  for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
  std::map<int64_t, AttackedExample> out;
  for (const auto& a : aa->last_attack()) out[a.id] = a;
  return out;
}

TEST(AttackAugment, SelectionIsAKeyedDrawPerExample) {
  for (const double f : {0.3, 0.5}) {
    int64_t n = 0;
    for (int64_t id = 0; id < 4000; ++id) n += attack_augment_selects(1, f, 0, id) ? 1 : 0;
    EXPECT_NEAR(static_cast<double>(n) / 4000, f, 0.03) << "fraction " << f;
  }
  int64_t all = 0, same_next_epoch = 0, same_other_seed = 0;
  for (int64_t id = 0; id < 1000; ++id) {
    all += attack_augment_selects(1, 1.0, 0, id) ? 1 : 0;
    same_next_epoch += attack_augment_selects(1, 0.5, 0, id) == attack_augment_selects(1, 0.5, 1, id) ? 1 : 0;
    same_other_seed += attack_augment_selects(1, 0.5, 0, id) == attack_augment_selects(2, 0.5, 0, id) ? 1 : 0;
  }
  EXPECT_EQ(all, 1000);
  EXPECT_LT(same_next_epoch, 600);  // another epoch draws anew (about half agree by chance)
  EXPECT_LT(same_other_seed, 600);
}

// One rank with 16 examples, two ranks with 8 each, and the same examples in another order
// attack the same examples in the same way: the selection is keyed by (seed, epoch, id), the
// ranking and the scores of an example depend on its own row only.
TEST(AttackAugment, SearchDependsOnTheExampleNotOnRanksOrBatches) {
  const Config c = attack_config(0.5);
  Transformer model = sharp_model(c, 7);
  model->train();  // dropout 0: the training forward is deterministic
  std::vector<int64_t> ids(16);
  std::iota(ids.begin(), ids.end(), 100);
  const auto whole = attack(c, model, ids);
  auto ranks = attack(c, model, std::vector<int64_t>(ids.begin(), ids.begin() + 8));
  const auto rank1 = attack(c, model, std::vector<int64_t>(ids.begin() + 8, ids.end()));
  ranks.insert(rank1.begin(), rank1.end());
  const auto reversed = attack(c, model, std::vector<int64_t>(ids.rbegin(), ids.rend()));
  const auto again = attack(c, model, ids);

  std::vector<int64_t> expected, got;
  for (const int64_t id : ids) {
    if (attack_augment_selects(c.run.seed, 0.5, 0, id)) expected.push_back(id);
  }
  for (const auto& [id, a] : whole) got.push_back(id);
  EXPECT_EQ(got, expected);
  ASSERT_GT(expected.size(), 2u);
  ASSERT_LT(expected.size(), ids.size());
  int64_t edited = 0;
  for (const auto& [id, a] : whole) {
    SCOPED_TRACE("example " + std::to_string(id));
    const std::map<int64_t, AttackedExample>* others[] = {&ranks, &reversed, &again};
    for (const auto* other : others) {
      ASSERT_EQ(other->count(id), 1u);
      const AttackedExample& b = other->at(id);
      EXPECT_EQ(a.text, b.text);
      EXPECT_EQ(a.ranked, b.ranked);
      EXPECT_EQ(a.edited, b.edited);
    }
    edited += static_cast<int64_t>(a.edited.size());
  }
  EXPECT_GT(edited, 0) << "no example was edited: the comparison proves nothing";
  // Another epoch draws other examples and other candidate edits.
  const auto next = attack(c, model, ids, 1);
  std::vector<int64_t> next_ids;
  for (const auto& [id, a] : next) next_ids.push_back(id);
  EXPECT_NE(next_ids, got);
}

TEST(AttackAugment, ReplacesAtMostTheWordShareAndNoStopword) {
  for (const double share : {0.3, 0.5}) {
    SCOPED_TRACE("max_word_share " + std::to_string(share));
    Config c = attack_config(1.0);
    c.objective.max_word_share = share;
    Transformer model = sharp_model(c, 3);
    std::vector<int64_t> ids(32);
    std::iota(ids.begin(), ids.end(), 0);
    auto tok = make_tokenizer(c.tokenizer);
    const Batch batch = sentence_batch(*tok, ids);
    const auto attacked = attack(c, model, ids);
    ASSERT_EQ(attacked.size(), ids.size());
    int64_t at_budget = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      const AttackedExample& a = attacked.at(ids[i]);
      const auto before = words_of(batch.texts[i]), after = words_of(a.text);
      const auto budget = static_cast<size_t>(std::max(1.0, std::floor(share * static_cast<double>(before.size()))));
      EXPECT_EQ(a.words, static_cast<int64_t>(before.size()));
      EXPECT_LE(a.ranked.size(), budget);
      EXPECT_LE(a.edited.size(), budget);
      ASSERT_EQ(after.size(), before.size()) << a.text;
      for (size_t k = 0; k < before.size(); ++k) {
        const bool edited = std::find(a.edited.begin(), a.edited.end(), static_cast<int64_t>(k)) != a.edited.end();
        EXPECT_EQ(after[k] != before[k], edited) << "word " << k << " of '" << batch.texts[i] << "' -> '" << a.text << "'";
        if (edited) {
          EXPECT_FALSE(perturb::is_stopword(utf8::decode(before[k]))) << before[k];
        }
      }
      for (const int64_t k : a.ranked) EXPECT_FALSE(perturb::is_stopword(utf8::decode(before[static_cast<size_t>(k)])));
      if (!a.edited.empty()) {
        EXPECT_LT(a.best_prob, a.clean_prob);
      }
      at_budget += a.edited.size() == budget ? 1 : 0;
    }
    EXPECT_GT(at_budget, 0) << "the word budget never bound: a search that ignored it would pass";
  }
}

// The hand-built model of the search-attack test (its decision hinges on the word holding a
// 'q'), with an almost linear final norm so the gradient sees the 'q': with a budget of one word
// of six, the gradient ranking must pick "qi" (fifth, so ranking by position would pick "cat"),
// and deleting its 'q' flips the decision. The adversarial text is then trained on.
TEST(AttackAugment, EditsTheOneWordTheDecisionHingesOn) {
  Config c = small_config();
  c.objective.kind = "attack_augment";
  c.objective.fraction = 1.0;
  c.objective.edit_ops = {"delete"};
  c.objective.edit_draws = 8;
  auto tok = make_tokenizer(c.tokenizer);
  Transformer model = q_detector(*tok, /*norm_eps=*/100.0);
  auto objective = make_objective(c);
  auto* aa = dynamic_cast<AttackAugment*>(objective.get());
  ASSERT_NE(aa, nullptr);
  Batch b = make_batch(*tok, {"the cat sat on qi mat", "the cat sat on the mat"}, {1, 0}, 32);
  b.example_ids = {7, 8};
  const auto r = aa->micro_step(model, b, 0.5, [](bool) {});
  const auto& attacked = aa->last_attack();
  ASSERT_EQ(attacked.size(), 2u);
  const AttackedExample& pos = attacked[0];
  EXPECT_EQ(pos.words, 6);
  EXPECT_EQ(pos.ranked, std::vector<int64_t>{4});
  EXPECT_EQ(pos.edited, std::vector<int64_t>{4});
  EXPECT_EQ(pos.text, "the cat sat on i mat");
  EXPECT_GT(pos.clean_prob, 0.5);
  EXPECT_LT(pos.best_prob, 0.5);
  // No deletion puts a 'q' into the negative example.
  EXPECT_GE(attacked[1].best_prob, attacked[1].clean_prob - 1e-6);
  torch::NoGradGuard no_grad;
  const Batch adv = make_batch(*tok, {pos.text}, {1}, 32);
  EXPECT_EQ(model->forward(adv.ids, adv.mask).argmax(-1).item<int64_t>(), 0) << "the edit did not flip the decision";
  EXPECT_GT(r.robust_loss_sum, r.loss_sum) << "the adversarial text was not trained on";
}

}  // namespace
}  // namespace sturdy::robust
