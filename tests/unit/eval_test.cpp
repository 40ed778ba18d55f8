// Tests for src/eval: every metric on hand-made predictions with known answers, strict suite
// loading, the evaluation driver end to end on a tiny model (same seed -> same JSON, identity
// perturbation -> clean numbers, attacks take no parameter gradients), LM scoring and the
// Markdown report. Rank-count invariance runs through the real binary:
// tests/integration/eval_ranks.py.
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <torch/torch.h>

#include "sturdy/core/error.h"
#include "sturdy/core/machine.h"
#include "sturdy/data/corpus.h"
#include "sturdy/distributed/context.h"
#include "sturdy/eval/evaluator.h"
#include "sturdy/eval/metrics.h"
#include "sturdy/eval/report.h"
#include "sturdy/eval/suite.h"
#include "sturdy/text/tokenizer.h"
#include "tiny_models.h"

namespace fs = std::filesystem;

namespace sturdy::eval {
namespace {

// MPI as a singleton process, for the collective evaluate() calls.
class MpiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { dist::Context::init(nullptr, nullptr); }
  void TearDown() override { dist::Context::finalize(); }
};
[[maybe_unused]] ::testing::Environment* const kMpi = ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

Predictions preds(std::vector<int32_t> labels, std::vector<int32_t> predicted, std::vector<double> confidence = {}) {
  if (confidence.empty()) confidence.assign(labels.size(), 0.5);
  return {std::move(labels), std::move(predicted), std::move(confidence)};
}

template <typename Fn>
std::string usage_error(Fn fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected UsageError";
  return {};
}

// --- metrics on hand-made predictions ---------------------------------------------------

TEST(EvalMetrics, AccuracyAndSevereErrors) {
  const auto p = preds({0, 1, 1, 0}, {0, 1, 0, 1}, {0.6, 0.8, 0.95, 0.9});
  EXPECT_DOUBLE_EQ(accuracy(p), 0.5);
  // wrong with confidence >= 0.9: examples 2 (0.95) and 3 (exactly 0.9)
  EXPECT_DOUBLE_EQ(severe_error_rate(p, 0.9), 0.5);
  EXPECT_DOUBLE_EQ(majority_share({1, 1, 0, 2}), 0.5);
}

TEST(EvalMetrics, ExpectedCalibrationErrorWithKnownBins) {
  // Bin 14 ([14/15, 1]): confidences 0.95 and 1.0 (1.0 goes to the last bin), one right:
  //   |0.5 - 0.975| * 2/5 = 0.19
  // Bin 8 ([8/15, 9/15)): 0.55, 0.55, 0.58, all right: |1 - 0.56| * 3/5 = 0.264
  const auto p = preds({0, 0, 1, 1, 1}, {0, 1, 1, 1, 1}, {0.95, 1.0, 0.55, 0.55, 0.58});
  EXPECT_NEAR(expected_calibration_error(p, 15), 0.19 + 0.264, 1e-12);
  // Perfect calibration: 4 examples at 0.75, three right.
  EXPECT_NEAR(expected_calibration_error(preds({1, 1, 1, 0}, {1, 1, 1, 1}, {0.75, 0.75, 0.75, 0.75}), 15), 0.0, 1e-12);
}

TEST(EvalMetrics, WorstCaseAndFlipRate) {
  const auto clean = preds({0, 1, 1}, {0, 1, 0});  // examples 0, 1 right; 2 wrong
  const std::vector<Predictions> draws = {preds({0, 1, 1}, {0, 1, 1}),   // example 2 flips to right
                                          preds({0, 1, 1}, {0, 0, 0})};  // example 1 flips to wrong
  const DrawMetrics d = draw_metrics(clean, draws);
  EXPECT_DOUBLE_EQ(d.mean_accuracy, (1.0 + 1.0 / 3) / 2);
  // correct on clean and both draws: only example 0 (example 2 right in a draw does not count)
  EXPECT_DOUBLE_EQ(d.worst_case_accuracy, 1.0 / 3);
  // 2 of the 6 (example, draw) pairs differ from the clean prediction
  EXPECT_DOUBLE_EQ(d.flip_rate, 2.0 / 6);
}

TEST(EvalMetrics, AttackSuccessRateCountsOnlyExamplesCorrectBefore) {
  const auto clean = preds({0, 1, 1, 0, 1}, {0, 1, 1, 1, 0});  // 3 correct before
  const AttackMetrics a = attack_metrics(clean, {1, 1, 0, 1, 0});  // 2 of the 3 broken
  EXPECT_EQ(a.attacked, 3);
  EXPECT_EQ(a.successes, 2);
  EXPECT_DOUBLE_EQ(a.attack_success_rate, 2.0 / 3);
  EXPECT_DOUBLE_EQ(a.accuracy_under_attack, 1.0 / 5);
  EXPECT_DOUBLE_EQ(attack_metrics(preds({0}, {1}), {1}).attack_success_rate, 0.0);  // nothing to attack
}

TEST(EvalMetrics, PerplexityAndTopOneAgreement) {
  LmScores a{{3 * std::log(2.0), std::log(2.0), 0.0}, {3, 1, 0}, {5, 7, -1}};
  LmScores b{{4 * std::log(4.0), 0.0, 0.0}, {4, 0, 0}, {5, 8, -1}};
  EXPECT_NEAR(perplexity({a}), 2.0, 1e-12);
  // pooled over passes: (4 ln2 + 4 ln4) / 8 tokens = 1.5 ln2 -> 2^1.5
  EXPECT_NEAR(perplexity({a, b}), std::pow(2.0, 1.5), 1e-12);
  EXPECT_TRUE(std::isnan(perplexity({LmScores{{0.0}, {0}, {-1}}})));
  // example 2 is not scored; example 0 agrees in both draws, example 1 in one
  EXPECT_DOUBLE_EQ(top1_agreement(a, {b, a}), 3.0 / 4);
  EXPECT_DOUBLE_EQ(worst_case_top1_agreement(a, {b, a}), 1.0 / 2);
}

// --- suites -------------------------------------------------------------------------------

TEST(EvalSuite, ParsesEveryKey) {
  const Suite s = parse_suite(R"(
name: t
seed: 7
k: 3
max_examples: 10
batch_size: 4
perturbations:
  - {op: keyboard, rates: [0.1, 0.2]}
  - {recipe: typos, k: 2}
worst_case: {recipe: mixed}
attacks:
  - {kind: pgd, norm: linf, epsilons: 0.01, steps: 4, scope: token, init: uniform, init_magnitude: 0.005}
extra_sets:
  - {path: x/test.tsv, format: tsv, text_field: sentence}
lm: {prompt_fraction: 0.25}
)",
                              "t.yaml");
  EXPECT_EQ(s.seed, 7u);
  ASSERT_EQ(s.perturbations.size(), 2u);
  EXPECT_EQ(s.perturbations[0].rates, (std::vector<double>{0.1, 0.2}));
  EXPECT_EQ(s.perturbations[1].rates, (std::vector<double>{1.0}));  // recipe default: as written
  EXPECT_EQ(s.perturbations[1].k, 2);
  EXPECT_EQ(s.worst_case.recipe, "mixed");
  ASSERT_EQ(s.attacks.size(), 1u);
  EXPECT_EQ(s.attacks[0].norm, robust::AdvNorm::kLinf);
  EXPECT_EQ(s.attacks[0].scope, robust::AdvScope::kToken);
  EXPECT_DOUBLE_EQ(s.attacks[0].step_for(0.01), 2.5 * 0.01 / 4);
  EXPECT_EQ(s.extra_sets[0].name, "test");
  EXPECT_DOUBLE_EQ(s.lm.prompt_fraction, 0.25);
}

TEST(EvalSuite, RelativeEpsilonsAndBatchLimits) {
  const Suite s = parse_suite(R"(
batch_size: 32
batch_tokens: 500
attacks:
  - {kind: pgd, norm: l2, epsilons_relative: [0.05, 0.1]}
  - {kind: pgd, norm: l2, scope: token, epsilons: [0.5], epsilons_relative: 0.2}
  - {kind: pgd, norm: linf, epsilons_relative: [0.1]}
)",
                              "r.yaml");
  EXPECT_EQ(s.batch_size, 32);
  EXPECT_EQ(s.batch_tokens, 500);
  ASSERT_EQ(s.attacks.size(), 3u);
  EXPECT_TRUE(s.attacks[0].epsilons.empty());
  EXPECT_EQ(s.attacks[0].epsilons_relative, (std::vector<double>{0.05, 0.1}));
  EXPECT_EQ(s.attacks[1].epsilons, (std::vector<double>{0.5}));
  // The unit a factor multiplies: example norm (l2 per example), token norm (l2 per token),
  // token norm / sqrt(dim) (linf: a typical coordinate).
  EXPECT_DOUBLE_EQ(s.attacks[0].scale_of(8.0, 2.0, 64), 8.0);
  EXPECT_DOUBLE_EQ(s.attacks[1].scale_of(8.0, 2.0, 64), 2.0);
  EXPECT_DOUBLE_EQ(s.attacks[2].scale_of(8.0, 2.0, 64), 0.25);
  auto msg = usage_error([] { parse_suite("attacks:\n  - {norm: l2, steps: 3}\n", "r.yaml"); });
  EXPECT_NE(msg.find("epsilons_relative"), std::string::npos) << msg;
  usage_error([] { parse_suite("attacks:\n  - {epsilons_relative: [0]}\n", "r.yaml"); });
  usage_error([] { parse_suite("batch_tokens: 0\n", "r.yaml"); });
}

TEST(EvalSuite, UnknownKeysNameFileAndClosestKey) {
  auto msg = usage_error([] { parse_suite("perturbations:\n  - {op: keyboard, rats: [0.1]}\n", "s.yaml"); });
  EXPECT_NE(msg.find("s.yaml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("perturbations[0]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'rates'"), std::string::npos) << msg;
  msg = usage_error([] { parse_suite("worst_cases: {recipe: mixed}\n", "s.yaml"); });
  EXPECT_NE(msg.find("did you mean 'worst_case'"), std::string::npos) << msg;
  msg = usage_error([] { parse_suite("attacks:\n  - {norm: l2, epsilon: [1]}\n", "s.yaml"); });
  EXPECT_NE(msg.find("did you mean 'epsilons'"), std::string::npos) << msg;
  msg = usage_error([] { parse_suite("perturbations:\n  - {op: keybord, rates: [0.1]}\n", "s.yaml"); });
  EXPECT_NE(msg.find("keyboard"), std::string::npos) << msg;
  usage_error([] { parse_suite("perturbations:\n  - {op: swap, recipe: typos}\n", "s.yaml"); });
  usage_error([] { parse_suite("perturbations:\n  - {op: swap}\n", "s.yaml"); });  // op without rates
}

TEST(EvalSuite, ShippedSuitesLoad) {
  for (const char* name : {"quick", "standard", "sst2", "demo"}) {
    const Suite s = load_suite(std::string(STURDY_SOURCE_DIR) + "/configs/eval/" + name + ".yaml");
    EXPECT_EQ(s.name, name);
    EXPECT_FALSE(s.perturbations.empty());
    EXPECT_EQ(s.worst_case.recipe, "mixed");
    // Attack radii relative to the model's embedding scale, so the rows separate models.
    for (const auto& a : s.attacks) EXPECT_TRUE(a.epsilons.empty() && !a.epsilons_relative.empty()) << name;
  }
  EXPECT_NE(usage_error([] { load_suite("no-such-suite"); }).find("quick"), std::string::npos);
  // The search attacks alone (the adversarial-training recipe attacks a training corpus with it),
  // each with its defaults.
  const Suite search = load_suite(std::string(STURDY_SOURCE_DIR) + "/configs/eval/search.yaml");
  EXPECT_TRUE(search.perturbations.empty());
  EXPECT_TRUE(search.worst_case.recipe.empty());
  EXPECT_TRUE(search.attacks.empty());
  ASSERT_EQ(search.search_attacks.size(), 2u);
  for (const auto& a : search.search_attacks) {
    const SearchAttackSpec d = SearchAttackSpec::defaults(a.kind);
    EXPECT_EQ(a.ops, d.ops) << a.kind;
    EXPECT_EQ(a.draws, d.draws) << a.kind;
    EXPECT_EQ(a.max_word_share, d.max_word_share) << a.kind;
    EXPECT_EQ(a.max_queries, d.max_queries) << a.kind;
  }
  EXPECT_EQ(search.search_attacks[0].kind, "char_search");
  EXPECT_EQ(search.search_attacks[1].kind, "word_search");
}

// --- the driver on a tiny model ----------------------------------------------------------

class EvalDriver : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sturdy_eval_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    tokenizer_ = make_bytes_tokenizer();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // 30 short labelled sentences (two classes by word family), ids 100...
  std::string make_corpus(bool labelled = true) {
    const std::vector<std::string> good = {"great", "lovely", "charming", "superb"};
    const std::vector<std::string> bad = {"awful", "boring", "dull", "terrible"};
    const std::string p = path(labelled ? "c.h5" : "lm.h5");
    CorpusWriter w(p, labelled ? std::vector<std::string>{"neg", "pos"} : std::vector<std::string>{}, "", "");
    for (int i = 0; i < 30; ++i) {
      const int label = i % 2;
      const auto& fam = label ? good : bad;
      w.add("the film was " + fam[i % 4] + " and " + fam[(i / 2) % 4] + " overall", labelled ? label : -1, 100 + i);
    }
    w.finish();
    return p;
  }

  Transformer make_model(const std::string& head) {
    torch::manual_seed(5);
    Transformer m(tiny_model_config(tokenizer_->vocab_size(), head));
    // Classifier: larger random weights than the 0.02 init, so predictions depend on the text.
    torch::NoGradGuard no_grad;
    for (auto& p : m->parameters()) {
      if (p.dim() > 1 && head == "classifier") p.normal_(0.0, 0.4);
    }
    m->eval();
    return m;
  }

  Suite suite(const std::string& extra = "") {
    return parse_suite(R"(
name: tiny
seed: 3
k: 3
batch_size: 7
perturbations:
  - {op: keyboard, rates: [0.0, 0.3]}
  - {recipe: typos, rates: [2.0]}
worst_case: {recipe: mixed, k: 2}
attacks:
  - {kind: pgd, norm: l2, epsilons: [0.000001, 20.0], steps: 5}
  - {kind: pgd, norm: linf, epsilons: [2.0], steps: 3, init: uniform, init_magnitude: 0.5}
)" + extra,
                       "tiny.yaml");
  }

  fs::path dir_;
  std::shared_ptr<const Tokenizer> tokenizer_;
};

TEST_F(EvalDriver, ClassifierJsonHasTheContractKeysAndIsDeterministic) {
  const CorpusReader reader(make_corpus());
  Transformer model = make_model("classifier");
  const EvalModel em{model, *tokenizer_, 48, {"neg", "pos"}};
  const auto& ctx = dist::Context::get();
  const auto r = evaluate(em, reader, suite(), ctx);
  EXPECT_EQ(r["num_examples"], 30);
  EXPECT_EQ(r["seed"], 3);
  for (const char* key : {"accuracy", "ece", "severe_error_rate"}) EXPECT_TRUE(r["clean"].contains(key)) << key;
  ASSERT_EQ(r["perturbations"].size(), 3u);
  const double clean = r["clean"]["accuracy"];
  // Rate 0 is the identity: the clean numbers, no flips.
  const auto& identity = r["perturbations"][0];
  EXPECT_EQ(identity["name"], "keyboard");
  EXPECT_EQ(identity["k"], 3);
  EXPECT_DOUBLE_EQ(identity["accuracy"].get<double>(), clean);
  EXPECT_DOUBLE_EQ(identity["worst_case_accuracy"].get<double>(), clean);
  EXPECT_DOUBLE_EQ(identity["flip_rate"].get<double>(), 0.0);
  for (const auto& p : r["perturbations"]) {
    for (const char* key : {"name", "rate", "k", "accuracy", "worst_case_accuracy", "flip_rate"}) {
      EXPECT_TRUE(p.contains(key)) << key;
    }
    EXPECT_LE(p["worst_case_accuracy"].get<double>(), std::min(clean, p["accuracy"].get<double>()));
  }
  EXPECT_EQ(r["worst_case"]["recipe"], "mixed");
  EXPECT_EQ(r["worst_case"]["k"], 2);
  EXPECT_LE(r["worst_case"]["accuracy"].get<double>(), clean);
  ASSERT_EQ(r["attacks"].size(), 3u);
  for (const auto& a : r["attacks"]) {
    for (const char* key : {"kind", "norm", "epsilon", "steps", "accuracy_under_attack", "attack_success_rate"}) {
      EXPECT_TRUE(a.contains(key)) << key;
    }
    EXPECT_LE(a["accuracy_under_attack"].get<double>(), clean);
    // accuracy under attack = clean accuracy x (1 - success rate)
    EXPECT_NEAR(a["accuracy_under_attack"].get<double>(), clean * (1 - a["attack_success_rate"].get<double>()), 1e-12);
  }
  EXPECT_DOUBLE_EQ(r["attacks"][0]["attack_success_rate"].get<double>(), 0.0);  // ε = 1e-6 changes nothing
  EXPECT_GE(r["attacks"][1]["attack_success_rate"].get<double>(), 0.5);         // a large ball breaks most
  // The attacks took gradients w.r.t. δ only.
  for (const auto& p : model->parameters()) EXPECT_FALSE(p.grad().defined());
  // Same suite and seed -> the same JSON, byte for byte.
  EXPECT_EQ(evaluate(em, reader, suite(), ctx).dump(), r.dump());
  // Another seed draws other perturbations.
  Suite other = suite();
  other.seed = 4;
  EXPECT_NE(evaluate(em, reader, other, ctx)["perturbations"].dump(), r["perturbations"].dump());
}

TEST_F(EvalDriver, BatchSizeAndMaxExamples) {
  const CorpusReader reader(make_corpus());
  Transformer model = make_model("classifier");
  const EvalModel em{model, *tokenizer_, 48, {"neg", "pos"}};
  Suite a = suite(), b = suite(), c = suite();
  b.batch_size = 30;   // large batches instead of batches of 7
  c.batch_size = 100;  // and batches cut by the token budget instead
  c.batch_tokens = 40;
  const auto ra = evaluate(em, reader, a, dist::Context::get());
  const auto rb = evaluate(em, reader, b, dist::Context::get());
  const auto rc = evaluate(em, reader, c, dist::Context::get());
  // Sequences are batched by exact length, so every number is the same, bit for bit.
  EXPECT_EQ(ra.dump(), rb.dump());
  EXPECT_EQ(ra.dump(), rc.dump());
  a.max_examples = 10;
  EXPECT_EQ(evaluate(em, reader, a, dist::Context::get())["num_examples"], 10);
  // Labels must match the model's.
  const EvalModel wrong{model, *tokenizer_, 48, {"a", "b"}};
  usage_error([&] { evaluate(wrong, reader, a, dist::Context::get()); });
}

TEST_F(EvalDriver, ExtraSetsAreImportedOnTheFly) {
  const CorpusReader reader(make_corpus());
  std::ofstream(path("extra.tsv")) << "sentence\tlabel\nthe film was great\tpos\nthe film was dull\tneg\n"
                                   << "dull and boring\tneg\n";
  Transformer model = make_model("classifier");
  const EvalModel em{model, *tokenizer_, 48, {"neg", "pos"}};
  const auto r = evaluate(em, reader, suite("extra_sets:\n  - {name: mine, path: " + path("extra.tsv") + "}\n"),
                          dist::Context::get());
  ASSERT_EQ(r["extra_sets"].size(), 1u);
  EXPECT_EQ(r["extra_sets"][0]["name"], "mine");
  EXPECT_EQ(r["extra_sets"][0]["num_examples"], 3);
  const double acc = r["extra_sets"][0]["accuracy"];
  EXPECT_TRUE(acc == 0.0 || acc == 1.0 / 3 || acc == 2.0 / 3 || acc == 1.0);
}

TEST_F(EvalDriver, TrainingHookRestoresModeAndLogsTheSuite) {
  make_corpus();
  std::ofstream(path("quick.yaml")) << "k: 2\nmax_examples: 12\nperturbations:\n  - {op: swap, rates: [0.2]}\n";
  Transformer model = make_model("classifier");
  model->train();
  Config config;
  config.data.valid = path("c.h5");
  config.data.max_length = 48;
  config.eval.suite = path("quick.yaml");
  const auto r = evaluate_during_training(model, config, *tokenizer_, dist::Context::get());
  EXPECT_TRUE(model->is_training());
  EXPECT_EQ(r["num_examples"], 12);
  EXPECT_EQ(r["perturbations"][0]["name"], "swap");
  config.data.valid.clear();
  EXPECT_TRUE(evaluate_during_training(model, config, *tokenizer_, dist::Context::get()).is_null());
}

TEST_F(EvalDriver, LanguageModelPerplexityAndAgreement) {
  const CorpusReader reader(make_corpus(/*labelled=*/false));
  Transformer model = make_model("lm");
  const EvalModel em{model, *tokenizer_, 48, {}};
  const auto r = evaluate(em, reader, suite(), dist::Context::get());
  const double ppl = r["clean"]["perplexity"];
  // A random byte LM: perplexity near the vocabulary size, certainly above 1.
  EXPECT_GT(ppl, 1.0);
  EXPECT_LT(ppl, 2.0 * tokenizer_->vocab_size());
  EXPECT_EQ(r["clean"]["scored_examples"], 30);
  // Rate 0: the same prompts, so the same perplexity and full agreement.
  EXPECT_NEAR(r["perturbations"][0]["perplexity"].get<double>(), ppl, 1e-12 * ppl);  // pooled in another order
  EXPECT_DOUBLE_EQ(r["perturbations"][0]["top1_agreement"].get<double>(), 1.0);
  const double agree = r["perturbations"][1]["top1_agreement"];
  EXPECT_GE(agree, 0.0);
  EXPECT_LE(agree, 1.0);
  EXPECT_EQ(evaluate(em, reader, suite(), dist::Context::get()).dump(), r.dump());
  // Batched by exact length: other batch sizes and token budgets give the same JSON.
  Suite small = suite(), budget = suite();
  small.batch_size = 1;
  budget.batch_size = 100;
  budget.batch_tokens = 60;
  EXPECT_EQ(evaluate(em, reader, small, dist::Context::get()).dump(), r.dump());
  EXPECT_EQ(evaluate(em, reader, budget, dist::Context::get()).dump(), r.dump());
}

// --- search attacks -----------------------------------------------------------------------

// R.json without the timing fields of the attacks (results must not depend on anything else).
std::string without_timing(nlohmann::json r) {
  for (auto& a : r["attacks"]) {
    a.erase("seconds");
    a.erase("examples_per_second");
  }
  return r.dump();
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

TEST_F(EvalDriver, CharSearchEditsTheOneWordTheDecisionHingesOn) {
  const std::string corpus = path("q.h5");
  {
    CorpusWriter w(corpus, {"neg", "pos"}, "", "");
    w.add("the qi sat on the mat", 1, 7);
    w.add("the cat sat on the mat", 0, 8);
    w.finish();
  }
  const CorpusReader reader(corpus);
  Transformer model = q_detector(*tokenizer_);
  const EvalModel em{model, *tokenizer_, 48, {"neg", "pos"}};
  const auto& ctx = dist::Context::get();
  auto attack_suite = [](const std::string& attack) {
    return parse_suite("name: hinge\nseed: 1\nk: 1\nattacks:\n  - " + attack + "\n", "hinge.yaml");
  };
  const std::string dump = path("adv.jsonl");
  const auto r = evaluate(em, reader,
                          attack_suite("{kind: char_search, ops: [delete], draws: 8, max_queries: 100}"), ctx,
                          nullptr, dump);
  EXPECT_DOUBLE_EQ(r["clean"]["accuracy"].get<double>(), 1.0);
  ASSERT_EQ(r["attacks"].size(), 1u);
  const auto& a = r["attacks"][0];
  EXPECT_EQ(a["kind"], "char_search");
  EXPECT_EQ(a["attacked"], 2);
  // The positive example flips by deleting the 'q' of "qi"; no deletion puts a 'q' into the
  // negative one.
  EXPECT_EQ(a["successes"], 1);
  EXPECT_DOUBLE_EQ(a["attack_success_rate"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(a["accuracy_under_attack"].get<double>(), 0.5);
  EXPECT_NEAR(a["mean_words_changed"].get<double>(), 1.0 / 6.0, 1e-12);
  const auto rows = read_jsonl(dump);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["id"], 7);
  EXPECT_EQ(rows[0]["label"], "pos");
  EXPECT_EQ(rows[0]["attack"], "char_search");
  EXPECT_EQ(rows[0]["original"], "the qi sat on the mat");
  const auto before = words_of(rows[0]["original"]), after = words_of(rows[0]["text"]);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    if (i == 1) {
      EXPECT_EQ(after[i], "i");  // "qi" without its 'q'
    } else {
      EXPECT_EQ(after[i], before[i]) << "word " << i << " was edited";
    }
  }
  // Queries: the unedited text, leave-one-out for the editable words (qi, sat, mat; "the" and
  // "on" are stopwords), then the two deletions of "qi".
  const double neg_queries = 2 * a["mean_queries"].get<double>() - 6;
  EXPECT_GE(neg_queries, 4);
  EXPECT_LE(neg_queries, 100);

  // Budgets: two queries only leave no room for a candidate, so nothing flips.
  const auto tight = evaluate(em, reader, attack_suite("{kind: char_search, ops: [delete], draws: 8, max_queries: 3}"), ctx);
  EXPECT_EQ(tight["attacks"][0]["successes"], 0);
  EXPECT_LE(tight["attacks"][0]["mean_queries"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(tight["attacks"][0]["accuracy_under_attack"].get<double>(), 1.0);
  // An op that cannot remove the 'q' (swap keeps both bytes) cannot flip it either.
  const auto swap = evaluate(em, reader, attack_suite("{kind: char_search, ops: [swap], draws: 8}"), ctx);
  EXPECT_EQ(swap["attacks"][0]["successes"], 0);
}

TEST_F(EvalDriver, SearchAttacksDoNotDependOnBatchingAndAreDeterministic) {
  const CorpusReader reader(make_corpus());
  Transformer model = make_model("classifier");
  const EvalModel em{model, *tokenizer_, 48, {"neg", "pos"}};
  const auto& ctx = dist::Context::get();
  const std::string attacks = R"(name: search
seed: 3
k: 1
batch_size: 7
attacks:
  - {kind: char_search, max_word_share: 0.3, max_queries: 60}
  - {kind: word_search, ops: [misspell], max_queries: 40}
)";
  const Suite base = parse_suite(attacks, "search.yaml");
  Suite big = base, budget = base;
  big.batch_size = 100;
  budget.batch_size = 100;
  budget.batch_tokens = 40;
  const std::string dump_a = path("a.jsonl"), dump_b = path("b.jsonl");
  const auto r = evaluate(em, reader, base, ctx, nullptr, dump_a);
  ASSERT_EQ(r["attacks"].size(), 2u);
  for (const auto& a : r["attacks"]) {
    for (const char* key : {"accuracy_under_attack", "attack_success_rate", "mean_words_changed", "mean_queries",
                            "median_queries", "examples_per_second", "max_word_share", "max_queries", "ops"}) {
      EXPECT_TRUE(a.contains(key)) << key;
    }
    EXPECT_LE(a["mean_queries"].get<double>(), a["max_queries"].get<double>());
    EXPECT_LE(a["mean_words_changed"].get<double>(), 0.3 + 1e-12);
    const double clean = r["clean"]["accuracy"];
    EXPECT_NEAR(a["accuracy_under_attack"].get<double>(), clean * (1 - a["attack_success_rate"].get<double>()), 1e-12);
  }
  EXPECT_GT(r["attacks"][0]["successes"].get<int64_t>(), 0);  // the random model is fragile
  EXPECT_EQ(without_timing(evaluate(em, reader, big, ctx)), without_timing(r));
  EXPECT_EQ(without_timing(evaluate(em, reader, budget, ctx, nullptr, dump_b)), without_timing(r));
  std::ifstream a(dump_a), b(dump_b);
  const std::string text_a((std::istreambuf_iterator<char>(a)), {}), text_b((std::istreambuf_iterator<char>(b)), {});
  EXPECT_FALSE(text_a.empty());
  EXPECT_EQ(text_a, text_b);
  // Every dumped text changed at most 30 % of the words (at least one), one edit per word.
  for (const auto& row : read_jsonl(dump_a)) {
    const auto before = words_of(row["original"]), after = words_of(row["text"]);
    if (row["attack"] != "char_search") continue;
    ASSERT_EQ(before.size(), after.size()) << row.dump();  // no op of the default list splits a word
    size_t changed = 0;
    for (size_t i = 0; i < before.size(); ++i) changed += before[i] != after[i];
    EXPECT_GE(changed, 1u);
    EXPECT_LE(changed, std::max<size_t>(1, static_cast<size_t>(0.3 * before.size())));
  }
}

TEST_F(EvalDriver, SearchAttackOnTheLanguageModelHeadEditsPromptsOnly) {
  const CorpusReader reader(make_corpus(/*labelled=*/false));
  Transformer model = make_model("lm");
  {
    // Larger weights than the 0.02 init, so the next token depends on the prompt's bytes.
    torch::NoGradGuard no_grad;
    torch::manual_seed(11);
    for (auto& p : model->parameters()) {
      if (p.dim() > 1) p.normal_(0.0, 0.5);
    }
  }
  const EvalModel em{model, *tokenizer_, 48, {}};
  const Suite s = parse_suite(R"(name: lm-search
seed: 2
k: 1
lm: {prompt_fraction: 0.5}
attacks:
  - {kind: char_search, max_queries: 80}
)",
                              "lm.yaml");
  const std::string dump = path("lm.jsonl");
  const auto r = evaluate(em, reader, s, dist::Context::get(), nullptr, dump);
  ASSERT_EQ(r["attacks"].size(), 1u);
  const auto& a = r["attacks"][0];
  EXPECT_EQ(a["attacked"], 30);  // every scored example
  EXPECT_NEAR(a["top1_agreement_under_attack"].get<double>(), 1.0 - a["attack_success_rate"].get<double>(), 1e-12);
  EXPECT_GT(a["successes"].get<int64_t>(), 0);  // a random LM's next token is easy to move
  const auto rows = read_jsonl(dump);
  EXPECT_EQ(static_cast<int64_t>(rows.size()), a["successes"].get<int64_t>());
  for (const auto& row : rows) {
    EXPECT_EQ(row["label"], "");
    // The original is the prompt, the first floor(7 x 0.5) = 3 words of a corpus sentence;
    // only "film" is not a stopword, so it is the word edited.
    EXPECT_EQ(row["original"], "the film was") << row.dump();
    const auto after = words_of(row["text"]);
    ASSERT_EQ(after.size(), 3u) << row.dump();
    EXPECT_EQ(after[0], "the");
    EXPECT_NE(after[1], "film");
    EXPECT_EQ(after[2], "was");
  }
  Suite small = s;
  small.batch_size = 1;
  EXPECT_EQ(without_timing(evaluate(em, reader, small, dist::Context::get())), without_timing(r));
}

// --- threads ------------------------------------------------------------------------------

// OpenBLAS keeps its own thread pool; start-up sets it to the rank's share of the cores so two
// ranks on two cores do not run four BLAS threads.
TEST(Machine, BlasThreadsFollowTheRank) {
  using GetThreads = int (*)();
  auto get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (get == nullptr) GTEST_SKIP() << "the BLAS in use is not OpenBLAS";
  ASSERT_TRUE(set_blas_threads(1));
  EXPECT_EQ(get(), 1);
}

// --- report ------------------------------------------------------------------------------

TEST(EvalReport, MarkdownComparesMethods) {
  const auto dir = fs::temp_directory_path() / ("sturdy_report_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& run, double acc, double wc) {
    nlohmann::json r = {{"run_name", run},
                        {"checkpoint", "runs/" + run + "/checkpoints/step_1"},
                        {"objective", "erm"},
                        {"dataset", "dev.h5"},
                        {"num_examples", 10},
                        {"seed", 1},
                        {"clean", {{"accuracy", 0.9}, {"ece", 0.05}, {"severe_error_rate", 0.01}}},
                        {"perturbations",
                         {{{"name", "keyboard"}, {"kind", "op"}, {"rate", 0.1}, {"k", 5}, {"accuracy", acc},
                           {"worst_case_accuracy", wc}, {"flip_rate", 0.125}}}},
                        {"worst_case", {{"recipe", "mixed"}, {"k", 5}, {"accuracy", 0.5}}},
                        {"attacks",
                         {{{"kind", "pgd"}, {"norm", "l2"}, {"epsilon", 0.5}, {"steps", 10},
                           {"accuracy_under_attack", 0.3}, {"attack_success_rate", 0.6667}}}},
                        {"cost", {{"train_seconds", 120.0}, {"train_tokens_per_second", 5000.0}}}};
    std::ofstream((dir / name).string()) << r.dump();
    return (dir / name).string();
  };
  const auto inputs = read_results({write("a.json", "erm", 0.8, 0.7), write("b.json", "erm", 0.85, 0.75)});
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[1].label, "erm #2");  // labels made unique
  const std::string md = render_markdown(inputs, {"accuracy_vs_rate.png"});
  EXPECT_NE(md.find("| perturbation (K) | erm | erm #2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| keyboard @ 0.1 (5) | 0.800 / 0.700 / 0.125 | 0.850 / 0.750 / 0.125 |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("0.300 / 0.667"), std::string::npos) << md;
  EXPECT_NE(md.find("![accuracy_vs_rate](accuracy_vs_rate.png)"), std::string::npos) << md;
  std::ofstream((dir / "bad.json").string()) << "{\"x\": 1}";
  EXPECT_NE(usage_error([&] { read_results({(dir / "bad.json").string()}); }).find("bad.json"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sturdy::eval
