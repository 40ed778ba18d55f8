// Suite files: strict YAML loading (see suite.h).
#include "sturdy/eval/suite.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "sturdy/config/config.h"
#include "sturdy/core/error.h"
#include "sturdy/perturb/perturber.h"
#include "sturdy/perturb/recipe.h"
#include "sturdy/perturb/word_edits.h"
#include "yaml_keys.h"

namespace fs = std::filesystem;

namespace sturdy::eval {

void detail::check_keys(const YAML::Node& node, const std::vector<std::string>& valid, const std::string& origin,
                        const std::string& where) {
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (std::find(valid.begin(), valid.end(), key) != valid.end()) continue;
    const std::string best = closest_key(key, valid);
    throw UsageError(fmt::format("{}:{}: {}unknown key '{}'{}; valid keys: {}", origin, kv.first.Mark().line + 1,
                                 where.empty() ? "" : where + ": ", key,
                                 best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best),
                                 fmt::join(valid, ", ")));
  }
}

YAML::Node detail::load_yaml(const std::string& yaml_text, const std::string& origin) {
  try {
    return YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw UsageError(fmt::format("{}:{}:{}: YAML syntax error: {}", origin, e.mark.line + 1, e.mark.column + 1,
                                 e.msg));
  }
}

namespace {

using detail::check_keys;

template <class T>
T get(const YAML::Node& node, const char* key, T fallback, const std::string& origin, const std::string& where) {
  const YAML::Node v = node[key];
  if (!v || v.IsNull()) return fallback;
  try {
    return v.as<T>();
  } catch (const YAML::Exception&) {
    throw UsageError(fmt::format("{}:{}: {}{}: cannot read '{}'", origin, v.Mark().line + 1,
                                 where.empty() ? "" : where + ".", key, YAML::Dump(v)));
  }
}

// A number or a list of numbers.
std::vector<double> get_list(const YAML::Node& node, const char* key, const std::string& origin,
                             const std::string& where) {
  const YAML::Node v = node[key];
  std::vector<double> out;
  if (!v || v.IsNull()) return out;
  try {
    if (v.IsSequence()) {
      for (const auto& x : v) out.push_back(x.as<double>());
    } else {
      out.push_back(v.as<double>());
    }
  } catch (const YAML::Exception&) {
    throw UsageError(fmt::format("{}:{}: {}.{}: expected a number or a list of numbers", origin,
                                 v.Mark().line + 1, where, key));
  }
  return out;
}

std::string place(const char* list, size_t i) { return fmt::format("{}[{}]", list, i); }


SearchAttackSpec parse_search_attack(const YAML::Node& e, const std::string& kind, const std::string& origin,
                                     const std::string& where) {
  check_keys(e, {"kind", "ops", "draws", "max_word_share", "max_queries"}, origin, where);
  const std::string at = fmt::format("{}: {}", origin, where);
  SearchAttackSpec a = SearchAttackSpec::defaults(kind);
  if (const YAML::Node ops = e["ops"]; ops && !ops.IsNull()) {
    STURDY_USAGE_CHECK(ops.IsSequence() && ops.size() > 0, "{}.ops: expected a non-empty list of op names", at);
    a.ops.clear();
    for (const auto& op : ops) a.ops.push_back(op.as<std::string>());
  }
  const auto& allowed = kind == "char_search" ? perturb::char_edit_ops() : perturb::word_edit_ops();
  for (const auto& op : a.ops) {
    if (std::find(allowed.begin(), allowed.end(), op) != allowed.end()) continue;
    const std::string best = closest_key(op, allowed);
    throw UsageError(fmt::format("{}.ops: '{}' is not an op of {}{}; valid: {}", at, op, kind,
                                 best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best),
                                 fmt::join(allowed, ", ")));
  }
  a.draws = get<int64_t>(e, "draws", a.draws, origin, where);
  a.max_word_share = get<double>(e, "max_word_share", a.max_word_share, origin, where);
  a.max_queries = get<int64_t>(e, "max_queries", a.max_queries, origin, where);
  STURDY_USAGE_CHECK(a.draws >= 1, "{}.draws must be >= 1 (got {})", at, a.draws);
  STURDY_USAGE_CHECK(a.max_word_share > 0 && a.max_word_share <= 1, "{}.max_word_share must be in (0, 1] (got {})",
                     at, a.max_word_share);
  STURDY_USAGE_CHECK(a.max_queries >= 1, "{}.max_queries must be >= 1 (got {})", at, a.max_queries);
  return a;
}

}  // namespace

SearchAttackSpec SearchAttackSpec::defaults(const std::string& kind) {
  SearchAttackSpec a;
  a.kind = kind;
  if (kind == "char_search") {
    a.ops = {"swap", "delete", "insert", "keyboard", "homoglyph", "ocr"};
    a.draws = 2;
  } else {
    a.ops = {"synonym", "misspell"};
    a.draws = 8;
  }
  return a;
}

double AttackSpec::scale_of(double mean_example_norm, double mean_token_norm, int64_t dim) const {
  if (norm == robust::AdvNorm::kLinf) return mean_token_norm / std::sqrt(static_cast<double>(dim));
  return scope == robust::AdvScope::kExample ? mean_example_norm : mean_token_norm;
}

std::string default_suite_dir() {
  if (fs::is_directory("configs/eval")) return "configs/eval";
  return (fs::path(perturb::source_recipe_dir()).parent_path() / "eval").string();
}

Suite parse_suite(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root = detail::load_yaml(yaml_text, origin);
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  STURDY_USAGE_CHECK(root.IsMap(), "{}: a suite is a mapping (keys: name, k, perturbations, attacks, ...)",
                     origin);
  check_keys(root,
             {"name", "description", "seed", "k", "max_examples", "batch_size", "batch_tokens",
              "lexicon_dir", "perturbations",
              "worst_case", "attacks", "extra_sets", "lm"},
             origin, "");
  Suite s;
  s.origin = origin;
  s.name = get<std::string>(root, "name", fs::path(origin).stem().string(), origin, "");
  s.description = get<std::string>(root, "description", "", origin, "");
  s.seed = get<uint64_t>(root, "seed", s.seed, origin, "");
  s.k = get<int64_t>(root, "k", s.k, origin, "");
  s.max_examples = get<int64_t>(root, "max_examples", 0, origin, "");
  s.batch_size = get<int64_t>(root, "batch_size", s.batch_size, origin, "");
  s.batch_tokens = get<int64_t>(root, "batch_tokens", s.batch_tokens, origin, "");
  s.lexicon_dir = get<std::string>(root, "lexicon_dir", "", origin, "");
  STURDY_USAGE_CHECK(s.k >= 1, "{}: k must be >= 1 (got {})", origin, s.k);
  STURDY_USAGE_CHECK(s.max_examples >= 0, "{}: max_examples must be >= 0 (got {})", origin, s.max_examples);
  STURDY_USAGE_CHECK(s.batch_size >= 1, "{}: batch_size must be >= 1 (got {})", origin, s.batch_size);
  STURDY_USAGE_CHECK(s.batch_tokens >= 1, "{}: batch_tokens must be >= 1 (got {})", origin, s.batch_tokens);

  if (const YAML::Node list = root["perturbations"]; list && !list.IsNull()) {
    STURDY_USAGE_CHECK(list.IsSequence(), "{}: perturbations must be a list of {{op: NAME, rates: [...]}}", origin);
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = place("perturbations", i);
      const YAML::Node e = list[i];
      STURDY_USAGE_CHECK(e.IsMap(), "{}: {}: expected {{op: NAME, rates: [...]}} or {{recipe: NAME}}", origin,
                         where);
      check_keys(e, {"op", "recipe", "rates", "k"}, origin, where);
      PerturbationSpec p;
      p.op = get<std::string>(e, "op", "", origin, where);
      p.recipe = get<std::string>(e, "recipe", "", origin, where);
      p.rates = get_list(e, "rates", origin, where);
      p.k = get<int64_t>(e, "k", 0, origin, where);
      STURDY_USAGE_CHECK(p.op.empty() != p.recipe.empty(), "{}: {}: give exactly one of 'op' and 'recipe'", origin,
                         where);
      if (p.rates.empty()) {
        STURDY_USAGE_CHECK(!p.recipe.empty(), "{}: {}: an op needs 'rates' (e.g. rates: [0.05, 0.1, 0.2])",
                           origin, where);
        p.rates = {1.0};
      }
      for (double r : p.rates) {
        STURDY_USAGE_CHECK(r >= 0 && (r <= 1 || !p.recipe.empty()), "{}: {}: rate {} outside [0, 1]", origin,
                           where, r);
      }
      if (!p.op.empty()) perturb::validate_ops({{p.op, p.rates.front()}}, fmt::format("{}: {}", origin, where));
      STURDY_USAGE_CHECK(p.k >= 0, "{}: {}: k must be >= 1", origin, where);
      s.perturbations.push_back(std::move(p));
    }
  }
  if (const YAML::Node wc = root["worst_case"]; wc && !wc.IsNull()) {
    STURDY_USAGE_CHECK(wc.IsMap(), "{}: worst_case must be {{recipe: NAME, k: K}}", origin);
    check_keys(wc, {"recipe", "k"}, origin, "worst_case");
    s.worst_case.recipe = get<std::string>(wc, "recipe", "", origin, "worst_case");
    s.worst_case.k = get<int64_t>(wc, "k", 0, origin, "worst_case");
    STURDY_USAGE_CHECK(!s.worst_case.recipe.empty(), "{}: worst_case: 'recipe' is required", origin);
  }
  if (const YAML::Node list = root["attacks"]; list && !list.IsNull()) {
    STURDY_USAGE_CHECK(list.IsSequence(), "{}: attacks must be a list of {{kind: pgd, norm: l2, epsilons: [...]}}",
                       origin);
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = place("attacks", i);
      const YAML::Node e = list[i];
      STURDY_USAGE_CHECK(e.IsMap(), "{}: {}: expected a mapping", origin, where);
      const std::string at = fmt::format("{}: {}", origin, where);
      const std::string kind = get<std::string>(e, "kind", "pgd", origin, where);
      if (kind == "char_search" || kind == "word_search") {
        s.search_attacks.push_back(parse_search_attack(e, kind, origin, where));
        continue;
      }
      STURDY_USAGE_CHECK(kind == "pgd", "{}: kind '{}' is not supported (pgd, char_search, word_search)", at, kind);
      check_keys(e, {"kind", "norm", "scope", "epsilons", "epsilons_relative", "steps", "step_size", "init", "init_magnitude"}, origin,
                 where);
      AttackSpec a;
      a.kind = kind;
      a.norm = robust::parse_adv_norm(get<std::string>(e, "norm", "l2", origin, where), at + ".norm");
      a.scope = robust::parse_adv_scope(get<std::string>(e, "scope", "example", origin, where), at + ".scope");
      a.epsilons = get_list(e, "epsilons", origin, where);
      a.epsilons_relative = get_list(e, "epsilons_relative", origin, where);
      a.steps = get<int64_t>(e, "steps", a.steps, origin, where);
      a.step_size = get<double>(e, "step_size", 0.0, origin, where);
      a.init.kind = robust::parse_adv_init(get<std::string>(e, "init", "zero", origin, where), at + ".init");
      a.init.magnitude = get<double>(e, "init_magnitude", 0.0, origin, where);
      STURDY_USAGE_CHECK(!a.epsilons.empty() || !a.epsilons_relative.empty(),
                         "{}: 'epsilons' (absolute) or 'epsilons_relative' (factors of the embedding scale, "
                         "e.g. [0.05, 0.1, 0.2]) is required",
                         at);
      for (double eps : a.epsilons) STURDY_USAGE_CHECK(eps > 0, "{}: epsilon {} must be > 0", at, eps);
      for (double eps : a.epsilons_relative) {
        STURDY_USAGE_CHECK(eps > 0, "{}: epsilons_relative {} must be > 0", at, eps);
      }
      STURDY_USAGE_CHECK(a.steps >= 1, "{}: steps must be >= 1", at);
      STURDY_USAGE_CHECK(a.step_size >= 0 && a.init.magnitude >= 0, "{}: step_size and init_magnitude must be >= 0",
                         at);
      s.attacks.push_back(std::move(a));
    }
  }
  if (const YAML::Node list = root["extra_sets"]; list && !list.IsNull()) {
    STURDY_USAGE_CHECK(list.IsSequence(), "{}: extra_sets must be a list of {{name: N, path: P}}", origin);
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = place("extra_sets", i);
      const YAML::Node e = list[i];
      STURDY_USAGE_CHECK(e.IsMap(), "{}: {}: expected a mapping", origin, where);
      check_keys(e, {"name", "path", "format", "text_field", "label_field"}, origin, where);
      ExtraSetSpec x;
      x.path = get<std::string>(e, "path", "", origin, where);
      STURDY_USAGE_CHECK(!x.path.empty(), "{}: {}: 'path' is required", origin, where);
      x.name = get<std::string>(e, "name", fs::path(x.path).stem().string(), origin, where);
      x.format = get<std::string>(e, "format", "", origin, where);
      x.text_field = get<std::string>(e, "text_field", "", origin, where);
      x.label_field = get<std::string>(e, "label_field", "", origin, where);
      s.extra_sets.push_back(std::move(x));
    }
  }
  if (const YAML::Node lm = root["lm"]; lm && !lm.IsNull()) {
    STURDY_USAGE_CHECK(lm.IsMap(), "{}: lm must be a mapping", origin);
    check_keys(lm, {"prompt_fraction"}, origin, "lm");
    s.lm.prompt_fraction = get<double>(lm, "prompt_fraction", 0.5, origin, "lm");
    STURDY_USAGE_CHECK(s.lm.prompt_fraction > 0 && s.lm.prompt_fraction < 1,
                       "{}: lm.prompt_fraction must be in (0, 1)", origin);
  }
  return s;
}

Suite load_suite(const std::string& name_or_path) {
  std::string path = name_or_path;
  const bool looks_like_path = fs::exists(path) || fs::path(path).extension() == ".yaml" ||
                               fs::path(path).extension() == ".yml";
  if (!looks_like_path) {
    path = (fs::path("configs/eval") / (name_or_path + ".yaml")).string();
    if (!fs::exists(path)) path = (fs::path(default_suite_dir()) / (name_or_path + ".yaml")).string();
  }
  std::ifstream in(path);
  if (!in) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(default_suite_dir(), ec)) {
      if (e.path().extension() == ".yaml") names.push_back(e.path().stem().string());
    }
    std::sort(names.begin(), names.end());
    throw UsageError(fmt::format("suite '{}' not found ({} cannot be read; suites in {}: {})", name_or_path, path,
                                 default_suite_dir(), fmt::join(names, ", ")));
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_suite(text.str(), path);
}

}  // namespace sturdy::eval
