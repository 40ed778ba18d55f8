// Robustness gates: thresholds on R.json values for release pipelines (`sturdy eval --gate`,
// `sturdy gate`; docs/evaluation.md, "Gate").
//
// A gate file is YAML:
//
//   description: release gate for the sentiment model     # optional
//   criteria:
//     - {metric: clean.accuracy, min: 0.80}
//     - {metric: worst_case.accuracy, min: 0.70}
//     - {metric: "attacks[norm=l2,epsilon_relative=0.1].attack_success_rate", max: 0.5}
//     - {metric: clean.accuracy, max_drop_from_baseline: 0.01}                        # needs --baseline
//     - {metric: "perturbations[name=typos,rate=1].accuracy_drop", max_increase_over_baseline: 0.01}
//
// `metric` is a path into R.json: keys joined by '.', and a list (perturbations, attacks,
// extra_sets) takes a selector of the one entry whose fields equal the given values,
// `list[field=value,field=value]` (numbers compare as numbers: rate=1 matches 1.0). A field
// `X_drop`, where X is a field ending in "accuracy" and R.json has no `X_drop`, is the derived
// clean.accuracy − X. Each criterion has exactly one test:
//   min: T                          passes when value >= T
//   max: T                          passes when value <= T
//   max_drop_from_baseline: D       passes when value >= baseline − D   (D >= 0)
//   max_increase_over_baseline: D   passes when value <= baseline + D   (D >= 0)
// where baseline is the same metric in the baseline R.json. A value within 1e-9 of its bound
// counts as on it (passes), so that rounding in a subtraction never decides; a value that
// R.json holds as null (NaN) fails.
//
// Loading is strict (UsageError, exit 2, naming the gate file, line, criterion and key): an
// unknown key, a criterion with no test or two, a non-numeric threshold, a path that does not
// parse, and (check_gate) a path that is not in R.json or the baseline, that names no number,
// or a relative test without a baseline.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "sturdy/eval/suite.h"

namespace sturdy::eval {

// One step of a metric path: a key, and for a list the field=value pairs selecting one entry.
struct MetricStep {
  std::string key;
  bool select = false;
  std::vector<std::pair<std::string, std::string>> where;
};

enum class GateTest { kMin, kMax, kMaxDropFromBaseline, kMaxIncreaseOverBaseline };
const char* gate_test_name(GateTest test);  // the gate file's key: "min", "max", ...

struct GateCriterion {
  std::string metric;             // the path as written
  std::vector<MetricStep> steps;  // parsed
  GateTest test = GateTest::kMin;
  double threshold = 0;
  int line = 0;                   // 1-based line in the gate file
  bool relative() const {
    return test == GateTest::kMaxDropFromBaseline || test == GateTest::kMaxIncreaseOverBaseline;
  }
};

struct Gate {
  std::string origin;  // the file
  std::string description;
  std::vector<GateCriterion> criteria;
  bool relative() const;  // any criterion needs a baseline
};

// Parses a metric path ("perturbations[name=typos,rate=1].accuracy"); UsageError "<where>: ..."
// when it does not parse.
std::vector<MetricStep> parse_metric_path(const std::string& metric, const std::string& where);

Gate parse_gate(const std::string& yaml_text, const std::string& origin);
Gate load_gate(const std::string& path);

// Reads an R.json (UsageError naming `role`, e.g. "--baseline", when it cannot be opened, is
// not JSON or has no "clean" section).
nlohmann::json read_result_json(const std::string& path, const std::string& role);

// The value of one metric: a number, NaN for null; UsageError "<what>: ..." when the path does
// not lead to a number. `layout`: `r` is result_layout()'s skeleton, where unknown selector
// fields ("?") match any value and several matching entries are fine.
double metric_value(const nlohmann::json& r, const GateCriterion& c, const std::string& what, bool layout = false);

// The R.json keys an evaluation with `suite` of a model with `head` ("classifier" | "lm") will
// write, numbers as 0 and values known only after the evaluation (the absolute ε of a relative
// attack) as "?". Lets `sturdy eval --gate` check the gate's paths before any model work.
nlohmann::json result_layout(const Suite& suite, const std::string& head);

// UsageError naming the first relative criterion (file, line, index, test) when there is no baseline.
void require_baseline(const Gate& gate, bool have_baseline);

// Every criterion's path resolves to a number in `results` (named `results_name` in
// messages), and a relative criterion's in `baseline` (nullptr = no --baseline: UsageError).
void check_gate(const Gate& gate, const nlohmann::json& results, const std::string& results_name,
                const nlohmann::json* baseline, const std::string& baseline_name, bool layout = false);

// The `gate` section of R.json: {file, baseline, passed, criteria: [{metric, test, threshold,
// value, baseline, bound, passed}]}. Checks the gate first (check_gate).
nlohmann::json evaluate_gate(const Gate& gate, const nlohmann::json& results, const nlohmann::json* baseline,
                             const std::string& baseline_path);

// One line per criterion ("PASS clean.accuracy = 0.831193 >= 0.8"), then
// "gate PASSED: ..." / "gate FAILED: ...".
std::vector<std::string> gate_lines(const nlohmann::json& gate_section);

// Warnings worth printing when `results` and `baseline` were not measured alike (another
// suite, seed, dataset or number of examples); empty when they were.
std::vector<std::string> baseline_mismatches(const nlohmann::json& results, const nlohmann::json& baseline);

}  // namespace sturdy::eval
