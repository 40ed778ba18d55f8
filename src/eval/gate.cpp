// Robustness gates: strict gate files, metric paths into R.json, the gate section (see gate.h).
#include "sturdy/eval/gate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "sturdy/config/config.h"
#include "sturdy/core/error.h"
#include "sturdy/robust/adversarial.h"
#include "yaml_keys.h"

namespace sturdy::eval {
namespace {

using nlohmann::json;

constexpr double kBoundTolerance = 1e-9;  // a value this close to its bound is on it
const char* const kUnknown = "?";          // result_layout(): a number known only after the evaluation

const std::vector<std::string> kTopKeys = {"description", "criteria"};
const std::vector<std::string> kCriterionKeys = {"metric", "min", "max", "max_drop_from_baseline",
                                                 "max_increase_over_baseline"};
const std::vector<std::pair<GateTest, const char*>> kTests = {
    {GateTest::kMin, "min"},
    {GateTest::kMax, "max"},
    {GateTest::kMaxDropFromBaseline, "max_drop_from_baseline"},
    {GateTest::kMaxIncreaseOverBaseline, "max_increase_over_baseline"}};

using detail::check_keys;  // yaml_keys.h

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

bool is_identifier(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool parse_number(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

bool same_number(double a, double b) {
  return std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)});
}

std::string show(const json& v) {
  if (v.is_number()) return fmt::format("{:g}", v.get<double>());
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// How an entry of a list is told apart from the others, e.g. "name=typos,kind=recipe,rate=1,k=5".
std::string describe_entry(const json& e) {
  static const char* const kIdentity[] = {"name", "kind", "norm", "scope", "rate", "epsilon_relative",
                                          "epsilon", "steps", "k"};
  const bool relative = e.contains("epsilon_relative") && !e["epsilon_relative"].is_null();
  std::vector<std::string> parts;
  for (const char* key : kIdentity) {
    if (!e.is_object() || !e.contains(key) || e[key].is_null()) continue;
    if (std::string(key) == "epsilon" && relative) continue;  // the factor is what a user writes
    if (e[key].is_string() && e[key].get<std::string>() == kUnknown) continue;
    parts.push_back(fmt::format("{}={}", key, show(e[key])));
  }
  return fmt::format("{}", fmt::join(parts, ","));
}

std::string describe_entries(const json& list, const std::vector<size_t>& which) {
  std::vector<std::string> out;
  for (size_t i = 0; i < which.size() && i < 12; ++i) out.push_back(describe_entry(list[which[i]]));
  if (which.size() > 12) out.push_back(fmt::format("... ({} more)", which.size() - 12));
  return fmt::format("{}", fmt::join(out, "; "));
}

std::string where_text(const std::vector<std::pair<std::string, std::string>>& where) {
  std::vector<std::string> parts;
  for (const auto& [f, v] : where) parts.push_back(f + "=" + v);
  return fmt::format("{}", fmt::join(parts, ","));
}

std::vector<std::string> keys_of(const json& obj) {
  std::vector<std::string> keys;
  for (const auto& kv : obj.items()) keys.push_back(kv.key());
  return keys;
}

// Does entry field `have` equal the selector's text `want`? `wildcard` is set when `have` is
// result_layout()'s unknown marker.
bool field_matches(const json& have, const std::string& want, bool layout, bool& wildcard) {
  if (layout && have.is_string() && have.get<std::string>() == kUnknown) {
    wildcard = true;
    return true;
  }
  if (have.is_number()) {
    double w = 0;
    return parse_number(want, w) && same_number(have.get<double>(), w);
  }
  if (have.is_string()) return have.get<std::string>() == want;
  if (have.is_null()) return want == "null";
  if (have.is_boolean()) return want == (have.get<bool>() ? "true" : "false");
  return false;
}

// The one entry of `list` (named `key`) matching `step`; UsageError "<what>: ..." otherwise.
const json& select_entry(const json& list, const MetricStep& step, const std::string& what, bool layout) {
  std::vector<size_t> matches;
  bool any_wildcard = false;
  std::vector<bool> field_seen(step.where.size(), false);
  std::vector<std::string> fields;
  for (size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    if (!e.is_object()) continue;
    for (const auto& k : keys_of(e)) {
      if (std::find(fields.begin(), fields.end(), k) == fields.end()) fields.push_back(k);
    }
    bool all = true, wildcard = false;
    for (size_t c = 0; c < step.where.size(); ++c) {
      const auto& [field, want] = step.where[c];
      if (!e.contains(field)) {
        all = false;
        continue;
      }
      field_seen[c] = true;
      if (!field_matches(e[field], want, layout, wildcard)) all = false;
    }
    if (all) {
      matches.push_back(i);
      any_wildcard = any_wildcard || wildcard;
    }
  }
  if (matches.size() == 1 || (layout && matches.size() > 1 && any_wildcard)) return list[matches.front()];
  if (matches.empty()) {
    for (size_t c = 0; c < step.where.size(); ++c) {
      if (field_seen[c]) continue;
      const std::string best = closest_key(step.where[c].first, fields);
      throw UsageError(fmt::format("{}: no entry of {} has a field '{}'{}; fields: {}", what, step.key,
                                   step.where[c].first, best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best),
                                   fmt::join(fields, ", ")));
    }
    std::vector<size_t> all(list.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    throw UsageError(fmt::format("{}: no entry of {} has {}; its entries: {}", what, step.key, where_text(step.where),
                                 list.empty() ? std::string("none") : describe_entries(list, all)));
  }
  throw UsageError(fmt::format("{}: {}[{}] matches {} entries ({}); add a field that tells them apart", what,
                               step.key, where_text(step.where), matches.size(), describe_entries(list, matches)));
}

std::string type_of(const json& v) {
  if (v.is_object()) return "a section";
  if (v.is_array()) return "a list";
  if (v.is_string()) return fmt::format("the text '{}'", v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return "a number";
  return v.type_name();
}

double number_of(const json& v, bool layout) {
  if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (layout && v.is_string() && v.get<std::string>() == kUnknown) return 0.0;
  return v.get<double>();
}

bool is_number_like(const json& v, bool layout) {
  return v.is_number() || v.is_null() || (layout && v.is_string() && v.get<std::string>() == kUnknown);
}

std::string fmt_value(const json& v) {
  if (!v.is_number()) return "null";
  return fmt::format("{:.6g}", v.get<double>());
}

}  // namespace

const char* gate_test_name(GateTest test) {
  for (const auto& [t, name] : kTests) {
    if (t == test) return name;
  }
  return "?";
}

bool Gate::relative() const {
  return std::any_of(criteria.begin(), criteria.end(), [](const GateCriterion& c) { return c.relative(); });
}

std::vector<MetricStep> parse_metric_path(const std::string& metric, const std::string& where) {
  const std::string text = trim(metric);
  auto fail = [&](const std::string& why) {
    return UsageError(fmt::format("{}: cannot read the path '{}': {} (write keys joined by '.', and select a list "
                                  "entry by its fields, e.g. perturbations[name=typos,rate=1].accuracy)",
                                  where, metric, why));
  };
  if (text.empty()) throw fail("it is empty");
  std::vector<MetricStep> steps;
  size_t i = 0;
  while (true) {
    MetricStep step;
    const size_t start = i;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) ++i;
    step.key = text.substr(start, i - start);
    if (step.key.empty()) {
      throw fail(i < text.size() ? fmt::format("expected a key at '{}'", text.substr(i)) : "it ends with '.'");
    }
    if (i < text.size() && text[i] == '[') {
      const size_t close = text.find(']', i);
      if (close == std::string::npos) throw fail("'[' without ']'");
      const std::string inside = text.substr(i + 1, close - i - 1);
      if (inside.find('[') != std::string::npos) throw fail("'[' inside a selector");
      double index = 0;
      if (parse_number(trim(inside), index)) {
        throw fail(fmt::format("select an entry of {} by its fields, not by its position [{}]", step.key, trim(inside)));
      }
      std::stringstream parts(inside);
      std::string part;
      while (std::getline(parts, part, ',')) {
        const auto eq = part.find('=');
        if (eq == std::string::npos) throw fail(fmt::format("'{}' in a selector is not field=value", trim(part)));
        const std::string field = trim(part.substr(0, eq)), value = trim(part.substr(eq + 1));
        if (!is_identifier(field)) throw fail(fmt::format("'{}' is not a field name", field));
        if (value.empty()) throw fail(fmt::format("{}= has no value", field));
        step.where.emplace_back(field, value);
      }
      if (step.where.empty() || (!inside.empty() && inside.back() == ',')) throw fail("an empty selector");
      step.select = true;
      i = close + 1;
    }
    steps.push_back(std::move(step));
    if (i == text.size()) break;
    if (text[i] != '.') throw fail(fmt::format("unexpected '{}'", text.substr(i)));
    ++i;
  }
  return steps;
}

Gate parse_gate(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root = detail::load_yaml(yaml_text, origin);
  STURDY_USAGE_CHECK(root.IsMap(), "{}: a gate file is a mapping with a list 'criteria' of {{metric: PATH, min: "
                     "NUMBER}} (docs/evaluation.md, \"Gate\")", origin);
  check_keys(root, kTopKeys, origin, "");
  Gate gate;
  gate.origin = origin;
  if (const YAML::Node d = root["description"]; d && !d.IsNull()) {
    STURDY_USAGE_CHECK(d.IsScalar(), "{}:{}: description must be a text", origin, d.Mark().line + 1);
    gate.description = d.as<std::string>();
  }
  const YAML::Node list = root["criteria"];
  STURDY_USAGE_CHECK(list && !list.IsNull(), "{}: 'criteria' is missing: a gate needs at least one criterion", origin);
  STURDY_USAGE_CHECK(list.IsSequence(), "{}:{}: criteria must be a list of {{metric: PATH, min: NUMBER}}", origin,
                     list.Mark().line + 1);
  STURDY_USAGE_CHECK(list.size() > 0, "{}:{}: criteria is empty: a gate needs at least one criterion", origin,
                     list.Mark().line + 1);
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node e = list[i];
    const int line = e.Mark().line + 1;
    const std::string place = fmt::format("criteria[{}]", i);
    STURDY_USAGE_CHECK(e.IsMap(), "{}:{}: {}: expected {{metric: PATH, min|max|max_drop_from_baseline|"
                       "max_increase_over_baseline: NUMBER}}", origin, line, place);
    check_keys(e, kCriterionKeys, origin, place);
    GateCriterion c;
    c.line = line;
    const YAML::Node m = e["metric"];
    STURDY_USAGE_CHECK(m && !m.IsNull(), "{}:{}: {}: 'metric' is missing (a path into R.json, e.g. clean.accuracy)",
                       origin, line, place);
    STURDY_USAGE_CHECK(m.IsScalar(), "{}:{}: {}.metric: expected a path into R.json, e.g. clean.accuracy (quote a "
                       "path with a selector inside {{...}}: \"perturbations[name=typos,rate=1].accuracy\")",
                       origin, m.Mark().line + 1, place);
    c.metric = m.as<std::string>();
    c.steps = parse_metric_path(c.metric, fmt::format("{}:{}: {}.metric", origin, m.Mark().line + 1, place));
    std::vector<std::string> given;
    for (const auto& [test, name] : kTests) {
      const YAML::Node t = e[name];
      if (!t) continue;
      given.push_back(name);
      const std::string at = fmt::format("{}:{}: {}.{}", origin, t.Mark().line + 1, place, name);
      double v = 0;
      try {
        STURDY_USAGE_CHECK(t.IsScalar(), "{}: expected a number", at);
        v = t.as<double>();
      } catch (const YAML::Exception&) {
        throw UsageError(fmt::format("{}: expected a number, got '{}'", at, YAML::Dump(t)));
      }
      STURDY_USAGE_CHECK(std::isfinite(v), "{}: expected a finite number, got {}", at, YAML::Dump(t));
      c.test = test;
      c.threshold = v;
      STURDY_USAGE_CHECK(!c.relative() || v >= 0, "{}: the allowed change must be >= 0 (got {:g})", at, v);
    }
    STURDY_USAGE_CHECK(!given.empty(), "{}:{}: {}: no test: give one of min, max, max_drop_from_baseline, "
                       "max_increase_over_baseline", origin, line, place);
    STURDY_USAGE_CHECK(given.size() == 1, "{}:{}: {}: one test per criterion, got {} (write one criterion each)",
                       origin, line, place, fmt::join(given, " and "));
    gate.criteria.push_back(std::move(c));
  }
  return gate;
}

Gate load_gate(const std::string& path) {
  std::ifstream in(path);
  STURDY_USAGE_CHECK(static_cast<bool>(in), "{}: cannot open the gate file", path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_gate(text.str(), path);
}

json read_result_json(const std::string& path, const std::string& role) {
  std::ifstream f(path);
  STURDY_USAGE_CHECK(static_cast<bool>(f), "{} ({}): cannot open", path, role);
  json r;
  try {
    r = json::parse(f);
  } catch (const json::exception& e) {
    throw UsageError(fmt::format("{} ({}): not valid JSON: {}", path, role, e.what()));
  }
  STURDY_USAGE_CHECK(r.is_object() && r.contains("clean"),
                     "{} ({}): not an evaluation result (no \"clean\" section; written by sturdy eval?)", path, role);
  return r;
}

double metric_value(const json& r, const GateCriterion& c, const std::string& what, bool layout) {
  const json* cur = &r;
  std::string prefix;  // the path so far, for messages
  for (size_t i = 0; i < c.steps.size(); ++i) {
    const MetricStep& step = c.steps[i];
    const bool last = i + 1 == c.steps.size();
    const std::string in = prefix.empty() ? "R.json" : "'" + prefix + "'";
    if (!cur->is_object()) throw UsageError(fmt::format("{}: {} is {}, not a section with keys", what, in, type_of(*cur)));
    if (!cur->contains(step.key)) {
      const std::string base = ends_with(step.key, "_drop") ? step.key.substr(0, step.key.size() - 5) : "";
      if (last && !step.select && ends_with(base, "accuracy") && cur->contains(base)) {
        // Derived: the drop from clean accuracy.
        STURDY_USAGE_CHECK(is_number_like((*cur)[base], layout), "{}: {}.{} is {}, not a number", what, in, base,
                           type_of((*cur)[base]));
        const json* clean = r.contains("clean") && r["clean"].is_object() && r["clean"].contains("accuracy")
                                 ? &r["clean"]["accuracy"]
                                 : nullptr;
        STURDY_USAGE_CHECK(clean && is_number_like(*clean, layout),
                           "{}: {} is clean.accuracy - {}, and R.json has no clean.accuracy (a language model's "
                           "result?)", what, step.key, base);
        return number_of(*clean, layout) - number_of((*cur)[base], layout);
      }
      const auto keys = keys_of(*cur);
      const std::string best = closest_key(step.key, keys);
      throw UsageError(fmt::format("{}: {} has no '{}'{}; keys there: {}", what, in, step.key,
                                   best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best), fmt::join(keys, ", ")));
    }
    const json& next = (*cur)[step.key];
    prefix += (prefix.empty() ? "" : ".") + step.key;
    if (step.select) {
      STURDY_USAGE_CHECK(next.is_array(), "{}: '{}' is {}, not a list: a selector [field=value] picks an entry of "
                         "perturbations, attacks or extra_sets", what, prefix, type_of(next));
      cur = &select_entry(next, step, what, layout);
      prefix += "[" + where_text(step.where) + "]";
      continue;
    }
    if (next.is_array() && !last) {
      const std::string example = next.empty() ? "field=value" : describe_entry(next[0]);
      throw UsageError(fmt::format("{}: '{}' is a list: select one entry by its fields, e.g. {}[{}]", what, prefix,
                                   prefix, example));
    }
    cur = &next;
  }
  if (!is_number_like(*cur, layout)) {
    std::string hint;
    if (cur->is_object()) {
      std::vector<std::string> numbers;
      for (const auto& kv : cur->items()) {
        if (is_number_like(kv.value(), layout)) numbers.push_back(kv.key());
      }
      if (!numbers.empty()) hint = fmt::format(" (its numbers: {})", fmt::join(numbers, ", "));
    } else if (cur->is_array()) {
      hint = " (select one entry by its fields and name a number in it)";
    }
    throw UsageError(fmt::format("{}: '{}' is {}, not a number{}", what, prefix, type_of(*cur), hint));
  }
  return number_of(*cur, layout);
}

json result_layout(const Suite& suite, const std::string& head) {
  const bool lm = head == "lm";
  json r;
  for (const char* key : {"sturdy_version", "checkpoint", "run_name", "objective", "dataset"}) r[key] = "";
  r["augment"] = nullptr;
  r["head"] = head;
  r["num_examples"] = 0;
  r["seed"] = 0;
  r["suite"] = suite.name;
  r["clean"] = lm ? json{{"perplexity", 0}, {"scored_examples", 0}}
                  : json{{"accuracy", 0}, {"ece", 0}, {"severe_error_rate", 0}, {"majority_baseline", 0}};
  r["perturbations"] = json::array();
  for (const auto& spec : suite.perturbations) {
    for (double rate : spec.rates) {
      json e = {{"name", spec.name()},
                {"kind", spec.op.empty() ? "recipe" : "op"},
                {"rate", rate},
                {"k", spec.k > 0 ? spec.k : suite.k}};
      if (lm) {
        e.update({{"perplexity", 0}, {"top1_agreement", 0}, {"worst_case_top1_agreement", 0}});
      } else {
        e.update({{"accuracy", 0}, {"worst_case_accuracy", 0}, {"flip_rate", 0}});
      }
      r["perturbations"].push_back(e);
    }
  }
  if (!suite.worst_case.recipe.empty()) {
    r["worst_case"] = {{"recipe", suite.worst_case.recipe}, {"k", suite.worst_case.k > 0 ? suite.worst_case.k : suite.k}};
    if (lm) {
      r["worst_case"].update({{"top1_agreement", 0}, {"perplexity", 0}});
    } else {
      r["worst_case"].update({{"accuracy", 0}, {"mean_accuracy", 0}, {"flip_rate", 0}});
    }
  }
  r["attacks"] = json::array();
  if (!lm && !suite.attacks.empty()) {
    r["attack_scale"] = {{"mean_example_embedding_norm", 0}, {"mean_token_embedding_norm", 0}};
    for (const auto& a : suite.attacks) {
      auto entry = [&](const json& eps, const json& rel, const json& step) {
        return json{{"kind", a.kind},
                    {"norm", robust::adv_norm_name(a.norm)},
                    {"scope", robust::adv_scope_name(a.scope)},
                    {"epsilon", eps},
                    {"epsilon_relative", rel},
                    {"steps", a.steps},
                    {"step_size", step},
                    {"accuracy_under_attack", 0},
                    {"attack_success_rate", 0}};
      };
      for (double eps : a.epsilons) r["attacks"].push_back(entry(eps, nullptr, a.step_for(eps)));
      for (double rel : a.epsilons_relative) {
        r["attacks"].push_back(entry(kUnknown, rel, a.step_size > 0 ? json(a.step_size) : json(kUnknown)));
      }
    }
  }
  for (const auto& a : suite.search_attacks) {  // after the PGD entries, as the evaluator writes them
    json e = {{"kind", a.kind},
              {"ops", a.ops},
              {"draws", a.draws},
              {"max_word_share", a.max_word_share},
              {"max_queries", a.max_queries},
              {lm ? "top1_agreement_under_attack" : "accuracy_under_attack", 0},
              {"attack_success_rate", 0},
              {"attacked", 0},
              {"successes", 0},
              {"mean_words_changed", 0},
              {"mean_queries", 0},
              {"median_queries", 0},
              {"seconds", 0},
              {"examples_per_second", 0}};
    r["attacks"].push_back(e);
  }
  if (!lm && !suite.extra_sets.empty()) {
    r["extra_sets"] = json::array();
    for (const auto& x : suite.extra_sets) {
      r["extra_sets"].push_back({{"accuracy", 0},
                                 {"ece", 0},
                                 {"severe_error_rate", 0},
                                 {"majority_baseline", 0},
                                 {"name", x.name},
                                 {"path", x.path},
                                 {"num_examples", 0}});
    }
  }
  r["cost"] = {{"train_seconds", 0},
               {"train_tokens_per_second", 0},
               {"eval_seconds", 0},
               {"eval_text_passes",
                {{"sequences", 0}, {"forwarded_sequences", 0}, {"forwarded_tokens", 0}, {"seconds", 0},
                 {"tokens_per_second", 0}}}};
  return r;
}

namespace {
std::string criterion_place(const Gate& gate, size_t i) {
  const GateCriterion& c = gate.criteria[i];
  return fmt::format("{}:{}: criteria[{}].metric '{}'", gate.origin, c.line, i, c.metric);
}
}  // namespace

void require_baseline(const Gate& gate, bool have_baseline) {
  for (size_t i = 0; i < gate.criteria.size(); ++i) {
    const GateCriterion& c = gate.criteria[i];
    STURDY_USAGE_CHECK(!c.relative() || have_baseline, "{}:{}: criteria[{}].{}: compares with a baseline result; "
                       "pass --baseline R0.json", gate.origin, c.line, i, gate_test_name(c.test));
  }
}

void check_gate(const Gate& gate, const json& results, const std::string& results_name, const json* baseline,
                const std::string& baseline_name, bool layout) {
  require_baseline(gate, baseline != nullptr);
  for (size_t i = 0; i < gate.criteria.size(); ++i) {
    const GateCriterion& c = gate.criteria[i];
    metric_value(results, c, fmt::format("{} in {}", criterion_place(gate, i), results_name), layout);
    if (c.relative()) {
      metric_value(*baseline, c, fmt::format("{} in {} (--baseline)", criterion_place(gate, i), baseline_name));
    }
  }
}

json evaluate_gate(const Gate& gate, const json& results, const json* baseline, const std::string& baseline_path) {
  check_gate(gate, results, "R.json", baseline, baseline_path);
  json out;
  out["file"] = gate.origin;
  if (!gate.description.empty()) out["description"] = gate.description;
  out["baseline"] = baseline ? json(baseline_path) : json(nullptr);
  out["criteria"] = json::array();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  int64_t failed = 0;
  for (size_t i = 0; i < gate.criteria.size(); ++i) {
    const GateCriterion& c = gate.criteria[i];
    const double value = metric_value(results, c, criterion_place(gate, i));
    const double base = c.relative() ? metric_value(*baseline, c, criterion_place(gate, i)) : nan;
    double bound = c.threshold;
    if (c.test == GateTest::kMaxDropFromBaseline) bound = base - c.threshold;
    if (c.test == GateTest::kMaxIncreaseOverBaseline) bound = base + c.threshold;
    const bool lower = c.test == GateTest::kMin || c.test == GateTest::kMaxDropFromBaseline;
    // NaN (a null value or baseline) compares false: the criterion fails.
    const bool passed = lower ? value >= bound - kBoundTolerance : value <= bound + kBoundTolerance;
    failed += !passed;
    auto num = [](double v) { return std::isnan(v) ? json(nullptr) : json(v); };
    out["criteria"].push_back({{"metric", c.metric},
                               {"test", gate_test_name(c.test)},
                               {"threshold", c.threshold},
                               {"value", num(value)},
                               {"baseline", c.relative() ? num(base) : json(nullptr)},
                               {"bound", num(bound)},
                               {"passed", passed}});
  }
  out["failed"] = failed;
  out["passed"] = failed == 0;
  return out;
}

std::vector<std::string> gate_lines(const json& gate) {
  std::vector<std::string> lines;
  const json criteria = gate.value("criteria", json::array());
  for (const auto& c : criteria) {
    const std::string test = c.value("test", "");
    const bool lower = test == "min" || test == "max_drop_from_baseline";
    std::string line = fmt::format("{} {} = {} {} {}", c.value("passed", false) ? "PASS" : "FAIL",
                                   c.value("metric", "?"), fmt_value(c.value("value", json())), lower ? ">=" : "<=",
                                   fmt_value(c.value("bound", json())));
    if (test == "max_drop_from_baseline" || test == "max_increase_over_baseline") {
      line += fmt::format(" (baseline {} {} {:g})", fmt_value(c.value("baseline", json())), lower ? "-" : "+",
                          c.value("threshold", 0.0));
    }
    lines.push_back(line);
  }
  const int64_t failed = gate.value("failed", int64_t{0});
  const std::string file = gate.value("file", "");
  if (gate.value("passed", false)) {
    lines.push_back(fmt::format("gate PASSED: {} of {} criteria ({})", criteria.size(), criteria.size(), file));
  } else {
    lines.push_back(fmt::format("gate FAILED: {} of {} criteria failed ({})", failed, criteria.size(), file));
  }
  return lines;
}

std::vector<std::string> baseline_mismatches(const json& results, const json& baseline) {
  std::vector<std::string> out;
  for (const char* key : {"head", "suite", "seed", "dataset", "num_examples"}) {
    if (!results.contains(key) || !baseline.contains(key) || results[key] == baseline[key]) continue;
    out.push_back(fmt::format("the baseline was measured with {} {}, this result with {}: relative criteria compare "
                              "different measurements", key, baseline[key].dump(), results[key].dump()));
  }
  return out;
}

}  // namespace sturdy::eval
