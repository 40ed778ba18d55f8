// Tests for src/eval/gate.cpp: strict gate files, metric paths and selectors on a hand-written
// R.json, each test passing and failing at its boundary, relative criteria without a baseline,
// the printed lines, the report's gate table, and result_layout() against what evaluate()
// really writes (so that `sturdy eval --gate` can check paths before the evaluation). The
// command line (`sturdy gate`, `sturdy eval --gate`, exit codes) is tested through the binary:
// tests/integration/gate.py and bad_input.py.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include <torch/torch.h>

#include "sturdy/core/error.h"
#include "sturdy/data/corpus.h"
#include "sturdy/distributed/context.h"
#include "sturdy/eval/evaluator.h"
#include "sturdy/eval/gate.h"
#include "sturdy/eval/report.h"
#include "sturdy/eval/suite.h"
#include "sturdy/model/transformer.h"
#include "sturdy/text/tokenizer.h"
#include "tiny_models.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace sturdy::eval {
namespace {

class MpiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { dist::Context::init(nullptr, nullptr); }
  void TearDown() override { dist::Context::finalize(); }
};
[[maybe_unused]] ::testing::Environment* const kMpi = ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

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

// Every word of `words` is in `message`.
::testing::AssertionResult mentions(const std::string& message, const std::vector<std::string>& words) {
  for (const auto& w : words) {
    if (message.find(w) == std::string::npos) {
      return ::testing::AssertionFailure() << "'" << w << "' not in: " << message;
    }
  }
  return ::testing::AssertionSuccess();
}

// A hand-written classifier R.json in the layout evaluate() writes.
json results() {
  return json::parse(R"({
    "run_name": "toy", "suite": "standard", "seed": 1, "dataset": "dev.h5", "num_examples": 100, "head": "classifier",
    "clean": {"accuracy": 0.8, "ece": 0.05, "severe_error_rate": 0.02, "majority_baseline": 0.5},
    "perturbations": [
      {"name": "keyboard", "kind": "op", "rate": 0.1, "k": 5, "accuracy": 0.75, "worst_case_accuracy": 0.6, "flip_rate": 0.1},
      {"name": "typos", "kind": "recipe", "rate": 1.0, "k": 5, "accuracy": 0.74, "worst_case_accuracy": 0.62, "flip_rate": 0.08},
      {"name": "typos", "kind": "recipe", "rate": 2.0, "k": 5, "accuracy": 0.7, "worst_case_accuracy": 0.5, "flip_rate": 0.15},
      {"name": "ocr", "kind": "op", "rate": 0.1, "k": 5, "accuracy": 0.77, "worst_case_accuracy": 0.7, "flip_rate": 0.05},
      {"name": "ocr", "kind": "recipe", "rate": 1.0, "k": 5, "accuracy": 0.76, "worst_case_accuracy": 0.68, "flip_rate": 0.06}
    ],
    "worst_case": {"recipe": "mixed", "k": 5, "accuracy": 0.65, "mean_accuracy": 0.74, "flip_rate": 0.09},
    "attacks": [
      {"kind": "pgd", "norm": "l2", "scope": "example", "epsilon": 0.25, "epsilon_relative": null, "steps": 10,
       "step_size": 0.0625, "accuracy_under_attack": 0.3, "attack_success_rate": 0.625},
      {"kind": "pgd", "norm": "l2", "scope": "example", "epsilon": 0.4106, "epsilon_relative": 0.1, "steps": 10,
       "step_size": 0.1, "accuracy_under_attack": 0.5, "attack_success_rate": 0.375}
    ],
    "extra_sets": [{"name": "sst-test", "path": "test.tsv", "num_examples": 50, "accuracy": 0.78, "ece": null}],
    "cost": {"train_seconds": null, "eval_seconds": 12.5}
  })");
}

Gate gate_of(const std::string& yaml) { return parse_gate(yaml, "gate.yaml"); }

GateCriterion criterion(const std::string& metric) {
  GateCriterion c;
  c.metric = metric;
  c.steps = parse_metric_path(metric, "test");
  return c;
}

double value(const std::string& metric, const json& r = results()) {
  return metric_value(r, criterion(metric), "test");
}

std::string value_error(const std::string& metric, const json& r = results()) {
  return usage_error([&] { value(metric, r); });
}

// --- the gate file ------------------------------------------------------------------------------

TEST(GateFile, ParsesEveryTest) {
  const Gate g = gate_of(R"(description: release gate
criteria:
  - {metric: clean.accuracy, min: 0.80}
  - {metric: worst_case.accuracy, min: 0.7}
  - metric: perturbations[name=typos, rate=1].accuracy_drop
    max: 0.05
  - {metric: clean.accuracy, max_drop_from_baseline: 0.01}
  - {metric: "attacks[norm=l2,epsilon_relative=0.1].attack_success_rate", max_increase_over_baseline: 0}
)");
  EXPECT_EQ(g.description, "release gate");
  ASSERT_EQ(g.criteria.size(), 5u);
  EXPECT_EQ(g.criteria[0].metric, "clean.accuracy");
  EXPECT_EQ(g.criteria[0].test, GateTest::kMin);
  EXPECT_DOUBLE_EQ(g.criteria[0].threshold, 0.8);
  EXPECT_EQ(g.criteria[0].line, 3);
  EXPECT_EQ(g.criteria[2].test, GateTest::kMax);
  EXPECT_EQ(g.criteria[2].line, 5);
  ASSERT_EQ(g.criteria[2].steps.size(), 2u);
  EXPECT_EQ(g.criteria[2].steps[0].key, "perturbations");
  EXPECT_TRUE(g.criteria[2].steps[0].select);
  ASSERT_EQ(g.criteria[2].steps[0].where.size(), 2u);
  EXPECT_EQ(g.criteria[2].steps[0].where[1], (std::pair<std::string, std::string>{"rate", "1"}));
  EXPECT_EQ(g.criteria[2].steps[1].key, "accuracy_drop");
  EXPECT_EQ(g.criteria[3].test, GateTest::kMaxDropFromBaseline);
  EXPECT_EQ(g.criteria[4].test, GateTest::kMaxIncreaseOverBaseline);
  EXPECT_FALSE(g.criteria[0].relative());
  EXPECT_TRUE(g.criteria[3].relative());
  EXPECT_TRUE(g.relative());
  EXPECT_FALSE(gate_of("criteria: [{metric: clean.accuracy, min: 0.5}]").relative());
}

TEST(GateFile, StrictLoadingNamesFileLineCriterionAndKey) {
  struct Case {
    std::string yaml;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {"criterias: []\n", {"gate.yaml:1:", "unknown key 'criterias'", "did you mean 'criteria'"}},
      {"criteria:\n  - {metric: clean.accuracy, min: 0.8}\n  - {metric: clean.ece, mx: 0.1}\n",
       {"gate.yaml:3:", "criteria[1]", "unknown key 'mx'", "did you mean 'max'"}},
      {"criteria:\n  - {metric: clean.accuracy}\n", {"gate.yaml:2:", "criteria[0]", "no test", "min, max"}},
      {"criteria:\n  - {metric: clean.accuracy, min: 0.5, max: 0.9}\n",
       {"gate.yaml:2:", "criteria[0]", "one test per criterion", "min and max"}},
      {"criteria:\n  - {metric: clean.accuracy, min: high}\n",
       {"gate.yaml:2:", "criteria[0].min", "expected a number", "high"}},
      {"criteria:\n  - {metric: clean.accuracy, min: [1, 2]}\n", {"criteria[0].min", "expected a number"}},
      {"criteria:\n  - {metric: clean.accuracy, min: .nan}\n", {"criteria[0].min", "finite"}},
      {"criteria:\n  - {metric: clean.accuracy, max_drop_from_baseline: -0.01}\n",
       {"criteria[0].max_drop_from_baseline", ">= 0"}},
      {"criteria:\n  - {min: 0.8}\n", {"gate.yaml:2:", "criteria[0]", "'metric' is missing"}},
      {"criteria:\n  - {metric: [clean, accuracy], min: 0.8}\n", {"criteria[0].metric", "expected a path"}},
      {"criteria: []\n", {"gate.yaml:1:", "criteria is empty"}},
      {"description: x\n", {"gate.yaml", "'criteria' is missing"}},
      {"criteria: {metric: clean.accuracy}\n", {"gate.yaml:1:", "criteria must be a list"}},
      {"criteria:\n  - clean.accuracy >= 0.8\n", {"gate.yaml:2:", "criteria[0]", "expected {metric: PATH"}},
      {"- {metric: clean.accuracy, min: 0.8}\n", {"gate.yaml", "a gate file is a mapping"}},
      {"criteria: [{metric: clean.accuracy, min: 0.8}\n", {"gate.yaml:", "YAML syntax error"}},
      // paths that do not parse
      {"criteria:\n  - {metric: \"perturbations[name=typos.accuracy\", max: 1}\n",
       {"gate.yaml:2:", "criteria[0].metric", "'[' without ']'"}},
      {"criteria:\n  - {metric: \"perturbations[3].accuracy\", max: 1}\n",
       {"criteria[0].metric", "by its fields, not by its position"}},
      {"criteria:\n  - {metric: \"perturbations[typos].accuracy\", max: 1}\n", {"criteria[0].metric", "not field=value"}},
      {"criteria:\n  - {metric: \"perturbations[name=].accuracy\", max: 1}\n", {"criteria[0].metric", "name= has no value"}},
      {"criteria:\n  - {metric: clean..accuracy, max: 1}\n", {"criteria[0].metric", "expected a key"}},
      {"criteria:\n  - {metric: clean.accuracy., max: 1}\n", {"criteria[0].metric", "ends with '.'"}},
      {"criteria:\n  - {metric: \"clean accuracy\", max: 1}\n", {"criteria[0].metric", "unexpected ' accuracy'"}},
  };
  for (const auto& c : cases) {
    const std::string msg = usage_error([&] { gate_of(c.yaml); });
    EXPECT_TRUE(mentions(msg, c.words)) << c.yaml;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_TRUE(mentions(usage_error([] { load_gate("/nonexistent/gate.yaml"); }),
                       {"/nonexistent/gate.yaml", "cannot open the gate file"}));
}

// --- metric paths -------------------------------------------------------------------------------

TEST(GatePath, SelectsEntriesByTheirFields) {
  EXPECT_DOUBLE_EQ(value("clean.accuracy"), 0.8);
  EXPECT_DOUBLE_EQ(value("num_examples"), 100);
  EXPECT_DOUBLE_EQ(value("worst_case.accuracy"), 0.65);
  // numbers compare as numbers: rate=1 is the entry written 1.0; spaces are fine
  EXPECT_DOUBLE_EQ(value("perturbations[name=typos,rate=1].accuracy"), 0.74);
  EXPECT_DOUBLE_EQ(value("perturbations[ name = typos , rate = 2.0 ].worst_case_accuracy"), 0.5);
  EXPECT_DOUBLE_EQ(value("perturbations[name=keyboard].flip_rate"), 0.1);  // one keyboard entry: the name suffices
  EXPECT_DOUBLE_EQ(value("perturbations[name=ocr,kind=recipe].accuracy"), 0.76);
  EXPECT_DOUBLE_EQ(value("attacks[norm=l2,epsilon_relative=0.1].attack_success_rate"), 0.375);
  EXPECT_DOUBLE_EQ(value("attacks[epsilon=0.25].accuracy_under_attack"), 0.3);
  EXPECT_DOUBLE_EQ(value("attacks[epsilon_relative=null].attack_success_rate"), 0.625);
  EXPECT_DOUBLE_EQ(value("extra_sets[name=sst-test].accuracy"), 0.78);
  EXPECT_DOUBLE_EQ(value("cost.eval_seconds"), 12.5);
  // null (NaN in R.json) reads as NaN
  EXPECT_TRUE(std::isnan(value("extra_sets[name=sst-test].ece")));
  EXPECT_TRUE(std::isnan(value("cost.train_seconds")));
}

TEST(GatePath, DropsAreCleanAccuracyMinusAnAccuracy) {
  EXPECT_NEAR(value("perturbations[name=typos,rate=1].accuracy_drop"), 0.8 - 0.74, 1e-15);
  EXPECT_NEAR(value("perturbations[name=typos,rate=2].worst_case_accuracy_drop"), 0.8 - 0.5, 1e-15);
  EXPECT_NEAR(value("worst_case.accuracy_drop"), 0.8 - 0.65, 1e-15);
  EXPECT_NEAR(value("extra_sets[name=sst-test].accuracy_drop"), 0.8 - 0.78, 1e-15);
  // only fields ending in accuracy have a drop
  EXPECT_TRUE(mentions(value_error("perturbations[name=keyboard].flip_rate_drop"), {"has no 'flip_rate_drop'"}));
  // an LM result has no clean.accuracy
  json lm = json::parse(R"({"clean": {"perplexity": 12.0}, "perturbations": [{"name": "typos", "kind": "recipe",
      "rate": 1.0, "k": 3, "accuracy": 0.5}]})");
  EXPECT_TRUE(mentions(value_error("perturbations[name=typos].accuracy_drop", lm), {"no clean.accuracy"}));
}

TEST(GatePath, ErrorsSayWhatIsThere) {
  EXPECT_TRUE(mentions(value_error("clen.accuracy"), {"test: R.json has no 'clen'", "did you mean 'clean'",
                                                      "perturbations"}));
  EXPECT_TRUE(mentions(value_error("clean.acuracy"), {"'clean' has no 'acuracy'", "did you mean 'accuracy'"}));
  EXPECT_TRUE(mentions(value_error("perturbations[name=typo].accuracy"),
                       {"no entry of perturbations has name=typo", "name=typos,kind=recipe,rate=1,k=5"}));
  EXPECT_TRUE(mentions(value_error("perturbations[name=typos,rate=3].accuracy"), {"has name=typos,rate=3"}));
  EXPECT_TRUE(mentions(value_error("perturbations[name=typos].accuracy"),
                       {"perturbations[name=typos] matches 2 entries", "rate=1", "rate=2", "tells them apart"}));
  EXPECT_TRUE(mentions(value_error("perturbations[nmae=typos].accuracy"),
                       {"no entry of perturbations has a field 'nmae'", "did you mean 'name'"}));
  EXPECT_TRUE(mentions(value_error("perturbations.accuracy"),
                       {"'perturbations' is a list", "select one entry", "perturbations[name=keyboard,kind=op"}));
  EXPECT_TRUE(mentions(value_error("clean[name=x].accuracy"), {"'clean' is a section, not a list"}));
  EXPECT_TRUE(mentions(value_error("perturbations[name=keyboard].name"), {"the text 'keyboard'", "not a number"}));
  EXPECT_TRUE(mentions(value_error("worst_case"), {"'worst_case' is a section, not a number", "its numbers: accuracy, flip_rate, k, mean_accuracy"}));
  EXPECT_TRUE(mentions(value_error("attacks"), {"'attacks' is a list, not a number"}));
  EXPECT_TRUE(mentions(value_error("clean.accuracy.mean"), {"'clean.accuracy' is a number, not a section"}));
  // the attack entries describe a relative radius by its factor
  EXPECT_TRUE(mentions(value_error("attacks[norm=linf].accuracy_under_attack"),
                       {"epsilon=0.25,steps=10", "epsilon_relative=0.1,steps=10"}));
}

// --- tests at their boundaries --------------------------------------------------------------

json one(const std::string& gate_yaml, const json& r, const json* baseline = nullptr) {
  const json section = evaluate_gate(gate_of(gate_yaml), r, baseline, baseline ? "R0.json" : "");
  return section["criteria"][0];
}

json with_accuracy(double clean, double typos) {
  json r = results();
  r["clean"]["accuracy"] = clean;
  r["perturbations"][1]["accuracy"] = typos;
  return r;
}

TEST(GateTests, MinAndMaxAtTheBoundary) {
  const std::string min = "criteria: [{metric: clean.accuracy, min: 0.8}]";
  EXPECT_TRUE(one(min, with_accuracy(0.8, 0.7))["passed"]);
  EXPECT_TRUE(one(min, with_accuracy(0.9, 0.7))["passed"]);
  EXPECT_FALSE(one(min, with_accuracy(0.8 - 1e-6, 0.7))["passed"]);
  const std::string max = "criteria: [{metric: 'attacks[epsilon=0.25].attack_success_rate', max: 0.5}]";
  json r = results();
  r["attacks"][0]["attack_success_rate"] = 0.5;
  EXPECT_TRUE(one(max, r)["passed"]);
  r["attacks"][0]["attack_success_rate"] = 0.5 + 1e-6;
  const json c = one(max, r);
  EXPECT_FALSE(c["passed"]);
  EXPECT_EQ(c["test"], "max");
  EXPECT_DOUBLE_EQ(c["threshold"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(c["bound"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(c["value"].get<double>(), 0.5 + 1e-6);
  EXPECT_TRUE(c["baseline"].is_null());
  // a drop computed by subtraction on the boundary: 0.8 - 0.75 is 0.05000000000000004
  const std::string drop = "criteria: [{metric: 'perturbations[name=typos,rate=1].accuracy_drop', max: 0.05}]";
  EXPECT_TRUE(one(drop, with_accuracy(0.8, 0.75))["passed"]);
  EXPECT_FALSE(one(drop, with_accuracy(0.8, 0.7499))["passed"]);
}

TEST(GateTests, RelativeToTheBaselineAtTheBoundary) {
  const json baseline = with_accuracy(0.8, 0.75);  // typos drop 0.05
  const std::string drop = "criteria: [{metric: clean.accuracy, max_drop_from_baseline: 0.01}]";
  json c = one(drop, with_accuracy(0.79, 0.7), &baseline);  // 0.8 - 0.79 = 0.010000000000000009
  EXPECT_TRUE(c["passed"]);
  EXPECT_DOUBLE_EQ(c["baseline"].get<double>(), 0.8);
  EXPECT_NEAR(c["bound"].get<double>(), 0.79, 1e-15);
  EXPECT_TRUE(one(drop, with_accuracy(0.95, 0.7), &baseline)["passed"]);
  EXPECT_FALSE(one(drop, with_accuracy(0.7899, 0.7), &baseline)["passed"]);
  const std::string grow =
      "criteria: [{metric: 'perturbations[name=typos,rate=1].accuracy_drop', max_increase_over_baseline: 0.01}]";
  c = one(grow, with_accuracy(0.8, 0.74), &baseline);  // drop 0.06 = 0.05 + 0.01
  EXPECT_TRUE(c["passed"]);
  EXPECT_EQ(c["test"], "max_increase_over_baseline");
  EXPECT_NEAR(c["baseline"].get<double>(), 0.05, 1e-15);
  EXPECT_NEAR(c["bound"].get<double>(), 0.06, 1e-15);
  EXPECT_TRUE(one(grow, with_accuracy(0.9, 0.9), &baseline)["passed"]);  // no drop at all
  EXPECT_FALSE(one(grow, with_accuracy(0.8, 0.7399), &baseline)["passed"]);
  // zero allowed change: no worse than the baseline
  EXPECT_TRUE(one("criteria: [{metric: clean.accuracy, max_drop_from_baseline: 0}]", baseline, &baseline)["passed"]);
}

TEST(GateTests, NullValuesFail) {
  json r = results();
  r["clean"]["accuracy"] = nullptr;  // what nlohmann writes for NaN
  const json c = one("criteria: [{metric: clean.accuracy, min: 0}]", r);
  EXPECT_FALSE(c["passed"]);
  EXPECT_TRUE(c["value"].is_null());
  json null_baseline = results();
  null_baseline["worst_case"]["accuracy"] = nullptr;
  const json b = one("criteria: [{metric: worst_case.accuracy, max_drop_from_baseline: 1}]", results(), &null_baseline);
  EXPECT_FALSE(b["passed"]);
  EXPECT_TRUE(b["baseline"].is_null());
  EXPECT_TRUE(b["bound"].is_null());
}

TEST(GateTests, RelativeWithoutABaselineIsAUsageError) {
  const Gate g = gate_of("criteria:\n  - {metric: clean.accuracy, min: 0.5}\n"
                         "  - {metric: clean.accuracy, max_drop_from_baseline: 0.01}\n");
  const std::string msg = usage_error([&] { check_gate(g, results(), "R.json", nullptr, ""); });
  EXPECT_TRUE(mentions(msg, {"gate.yaml:3:", "criteria[1].max_drop_from_baseline", "--baseline"})) << msg;
  EXPECT_TRUE(mentions(usage_error([&] { evaluate_gate(g, results(), nullptr, ""); }), {"--baseline"}));
}

TEST(GateTests, CheckNamesTheFileTheCriterionAndTheResult) {
  const Gate g = gate_of("criteria:\n  - {metric: clean.accuracy, min: 0.5}\n"
                         "  - {metric: 'perturbations[name=typo].accuracy', max_drop_from_baseline: 0.01}\n");
  json baseline = results();
  std::string msg = usage_error([&] { check_gate(g, results(), "runs/x/R.json", &baseline, "R0.json"); });
  EXPECT_TRUE(mentions(msg, {"gate.yaml:3: criteria[1].metric 'perturbations[name=typo].accuracy' in runs/x/R.json",
                             "no entry of perturbations has name=typo"}))
      << msg;
  // present in the result, missing in the baseline
  json r = results();
  r["perturbations"].push_back({{"name", "typo"}, {"kind", "op"}, {"rate", 0.1}, {"k", 5}, {"accuracy", 0.7}});
  msg = usage_error([&] { check_gate(g, r, "R.json", &baseline, "R0.json"); });
  EXPECT_TRUE(mentions(msg, {"criteria[1].metric", "in R0.json (--baseline)", "name=typo"})) << msg;
}

TEST(GateTests, SectionAndLines) {
  const json baseline = with_accuracy(0.8, 0.75);
  const Gate g = gate_of(R"(criteria:
  - {metric: clean.accuracy, min: 0.8}
  - {metric: worst_case.accuracy, min: 0.7}
  - {metric: 'perturbations[name=typos,rate=1].accuracy_drop', max_increase_over_baseline: 0.01}
)");
  const json s = evaluate_gate(g, with_accuracy(0.83, 0.78), &baseline, "R0.json");
  EXPECT_EQ(s["file"], "gate.yaml");
  EXPECT_EQ(s["baseline"], "R0.json");
  EXPECT_FALSE(s["passed"]);
  EXPECT_EQ(s["failed"], 1);
  ASSERT_EQ(s["criteria"].size(), 3u);
  EXPECT_EQ(s["criteria"][0]["metric"], "clean.accuracy");
  const auto lines = gate_lines(s);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "PASS clean.accuracy = 0.83 >= 0.8");
  EXPECT_EQ(lines[1], "FAIL worst_case.accuracy = 0.65 >= 0.7");
  EXPECT_EQ(lines[2], "PASS perturbations[name=typos,rate=1].accuracy_drop = 0.05 <= 0.06 (baseline 0.05 + 0.01)");
  EXPECT_EQ(lines[3], "gate FAILED: 1 of 3 criteria failed (gate.yaml)");
  const json ok = evaluate_gate(gate_of("criteria: [{metric: clean.accuracy, min: 0.8}]"), results(), nullptr, "");
  EXPECT_TRUE(ok["passed"]);
  EXPECT_TRUE(ok["baseline"].is_null());
  EXPECT_EQ(gate_lines(ok).back(), "gate PASSED: 1 of 1 criteria (gate.yaml)");
}

TEST(GateTests, BaselineMismatchesAreNamed) {
  json r = results(), baseline = results();
  EXPECT_TRUE(baseline_mismatches(r, baseline).empty());
  baseline["suite"] = "quick";
  baseline["num_examples"] = 256;
  const auto w = baseline_mismatches(r, baseline);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_TRUE(mentions(w[0], {"suite \"quick\"", "\"standard\""}));
}

TEST(GateReport, MarkdownHasTheGateTable) {
  json r = results();
  const json baseline = with_accuracy(0.9, 0.8);
  r["gate"] = evaluate_gate(gate_of("criteria:\n  - {metric: clean.accuracy, min: 0.75}\n"
                                    "  - {metric: clean.accuracy, max_drop_from_baseline: 0.05}\n"),
                            r, &baseline, "R0.json");
  json plain = results();
  plain["run_name"] = "other";
  const std::string md = render_markdown({{"a.json", "toy", r}, {"b.json", "other", plain}}, {});
  EXPECT_TRUE(mentions(md, {"## Gate", "### toy: **FAILED** (1 of 2 criteria)", "baseline `R0.json`",
                            "| `clean.accuracy` | min 0.75 | 0.8000 | ≥ 0.7500 | – | pass |",
                            "| `clean.accuracy` | max_drop_from_baseline 0.05 | 0.8000 | ≥ 0.8500 | 0.9000 | **FAIL** |"}))
      << md;
  EXPECT_EQ(md.find("### other"), std::string::npos);
  EXPECT_EQ(render_markdown({{"b.json", "other", plain}}, {}).find("## Gate"), std::string::npos);
}

// --- the layout `sturdy eval --gate` checks paths against, before any model work -------------

class GateLayout : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sturdy_gate_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    tokenizer_ = make_bytes_tokenizer();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string corpus(bool labelled) {
    const std::string p = (dir_ / (labelled ? "c.h5" : "lm.h5")).string();
    CorpusWriter w(p, labelled ? std::vector<std::string>{"neg", "pos"} : std::vector<std::string>{}, "", "");
    for (int i = 0; i < 12; ++i) w.add("the film was fine and good " + std::to_string(i), labelled ? i % 2 : -1, i);
    w.finish();
    return p;
  }
  Transformer model(const std::string& head) {
    torch::manual_seed(5);
    Transformer m(tiny_model_config(tokenizer_->vocab_size(), head));
    m->eval();
    return m;
  }
  Suite suite() {
    const std::string extra = (dir_ / "extra.tsv").string();
    std::ofstream(extra) << "sentence\tlabel\nfine\tneg\ngood\tpos\n";
    return parse_suite(R"(
name: layout
k: 2
perturbations:
  - {op: keyboard, rates: [0.1, 0.3]}
  - {recipe: typos, rates: [2.0], k: 3}
worst_case: {recipe: mixed, k: 2}
attacks:
  - {kind: pgd, norm: l2, epsilons: [0.5], epsilons_relative: [0.1], steps: 2}
  - {kind: pgd, norm: linf, epsilons_relative: [0.2], steps: 1, step_size: 0.01, scope: token}
extra_sets:
  - {name: extra, path: )" + extra + "}\n",
                       "layout.yaml");
  }

  fs::path dir_;
  std::shared_ptr<const Tokenizer> tokenizer_;
};

// Every key evaluate() writes is in the layout with the same kind of value (and the same
// identity values), and every key of the layout that evaluate() owns is written.
void expect_same_shape(const json& real, const json& layout, const std::string& at) {
  if (real.is_object()) {
    ASSERT_TRUE(layout.is_object()) << at;
    for (const auto& kv : real.items()) {
      ASSERT_TRUE(layout.contains(kv.key())) << at << "." << kv.key() << " missing from result_layout()";
      expect_same_shape(kv.value(), layout[kv.key()], at + "." + kv.key());
    }
    for (const auto& kv : layout.items()) EXPECT_TRUE(real.contains(kv.key())) << at << "." << kv.key() << " not written";
  } else if (real.is_array()) {
    ASSERT_TRUE(layout.is_array()) << at;
    ASSERT_EQ(real.size(), layout.size()) << at;
    for (size_t i = 0; i < real.size(); ++i) expect_same_shape(real[i], layout[i], at + "[" + std::to_string(i) + "]");
  } else if (real.is_number()) {
    EXPECT_TRUE(layout.is_number() || layout == "?") << at << ": " << layout;
    if (layout.is_number() && layout.get<double>() != 0) {
      EXPECT_DOUBLE_EQ(real.get<double>(), layout.get<double>()) << at;
    }
  } else {
    EXPECT_EQ(real, layout) << at;
  }
}

json evaluate_body_of_layout(json layout) {
  // run_eval adds these around evaluate()'s body
  for (const char* key : {"sturdy_version", "checkpoint", "run_name", "objective", "augment", "dataset", "head", "cost"}) {
    layout.erase(key);
  }
  return layout;
}

TEST_F(GateLayout, MatchesWhatTheClassifierEvaluationWrites) {
  const CorpusReader reader(corpus(true));
  Transformer m = model("classifier");
  const EvalModel em{m, *tokenizer_, 32, {"neg", "pos"}};
  const Suite s = suite();
  const json real = evaluate(em, reader, s, dist::Context::get());
  const json layout = result_layout(s, "classifier");
  expect_same_shape(real, evaluate_body_of_layout(layout), "R.json");
  // Every path the gate can name in the layout resolves in the real result too, and back.
  const Gate g = gate_of(R"(criteria:
  - {metric: clean.accuracy, min: 0}
  - {metric: "perturbations[name=typos,rate=2].accuracy_drop", max: 1}
  - {metric: "perturbations[name=keyboard,rate=0.3].flip_rate", max: 1}
  - {metric: worst_case.accuracy, min: 0}
  - {metric: "attacks[norm=l2,epsilon=0.5].attack_success_rate", max: 1}
  - {metric: "attacks[norm=l2,epsilon_relative=0.1].attack_success_rate", max: 1}
  - {metric: "attacks[norm=linf,epsilon_relative=0.2].accuracy_under_attack", min: 0}
  - {metric: "extra_sets[name=extra].accuracy", min: 0}
  - {metric: attack_scale.mean_example_embedding_norm, min: 0}
  - {metric: num_examples, min: 12}
)");
  check_gate(g, layout, "layout", nullptr, "", /*layout=*/true);
  check_gate(g, real, "real", nullptr, "");
  EXPECT_TRUE(evaluate_gate(g, real, nullptr, "")["passed"]);
  // The absolute ε of a relative attack is known only afterwards: any value passes the layout.
  const Gate eps = gate_of("criteria: [{metric: 'attacks[norm=linf,epsilon=0.0123].accuracy_under_attack', min: 0}]");
  check_gate(eps, layout, "layout", nullptr, "", true);
  // Typos are caught before the evaluation.
  for (const char* bad : {"perturbations[name=typo,rate=2].accuracy", "perturbations[name=keyboard].accuracy",
                          "worst_case.acc", "attacks[norm=l3].attack_success_rate", "clean.perplexity",
                          "perturbations[name=keyboard,rate=0.1].name"}) {
    const Gate typo = gate_of(fmt::format("criteria: [{{metric: '{}', min: 0}}]", bad));
    EXPECT_TRUE(mentions(usage_error([&] { check_gate(typo, layout, "the results of suite layout.yaml", nullptr, "", true); }),
                         {"gate.yaml:1: criteria[0].metric", "in the results of suite layout.yaml"}))
        << bad;
  }
}

TEST_F(GateLayout, MatchesWhatTheLanguageModelEvaluationWrites) {
  const CorpusReader reader(corpus(false));
  Transformer m = model("lm");
  const EvalModel em{m, *tokenizer_, 32, {}};
  const Suite s = suite();
  const json real = evaluate(em, reader, s, dist::Context::get());
  const json layout = result_layout(s, "lm");
  expect_same_shape(real, evaluate_body_of_layout(layout), "R.json");
  const Gate acc = gate_of("criteria: [{metric: clean.accuracy, min: 0.8}]");
  EXPECT_TRUE(mentions(usage_error([&] { check_gate(acc, layout, "lm", nullptr, "", true); }),
                       {"'clean' has no 'accuracy'", "perplexity"}));
  check_gate(gate_of("criteria: [{metric: 'perturbations[name=typos].top1_agreement', min: 0}]"), layout, "lm",
             nullptr, "", true);
}

// The shipped example gates fit the suites they name, checked as `sturdy eval --gate` would.
TEST(GateFile, ShippedGatesFitTheirSuites) {
  const std::string dir = std::string(STURDY_SOURCE_DIR) + "/configs/gates/";
  const Gate release = load_gate(dir + "release.yaml");
  const Gate regression = load_gate(dir + "regression.yaml");
  EXPECT_FALSE(release.relative());
  EXPECT_TRUE(regression.relative());
  for (const char* name : {"standard", "sst2", "demo"}) {
    const json layout = result_layout(load_suite(std::string(STURDY_SOURCE_DIR) + "/configs/eval/" + name + ".yaml"),
                                      "classifier");
    check_gate(release, layout, name, nullptr, "", /*layout=*/true);
    check_gate(regression, layout, name, &layout, "baseline", /*layout=*/true);
  }
}

}  // namespace
}  // namespace sturdy::eval
