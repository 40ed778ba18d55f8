// Recipe loading: strict YAML, ops spec strings, recipe lookup by name or path.
#include "sturdy/perturb/recipe.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "sturdy/core/error.h"
#include "sturdy/perturb/perturber.h"

namespace sturdy::perturb {
namespace fs = std::filesystem;
namespace {

constexpr double kDefaultRate = 0.1;

std::string hint(const std::string& key, const std::vector<std::string>& valid) {
  const std::string best = closest_key(key, valid);
  return best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best);
}

void check_keys(const YAML::Node& node, const std::vector<std::string>& valid, const std::string& where) {
  for (const auto& kv : node) {
    // "? [a, b]: 1" is valid YAML with a sequence as key: not a recipe key (found by perturb_fuzz).
    if (!kv.first.IsScalar()) throw UsageError(fmt::format("{}: keys must be plain names", where));
    const std::string key = kv.first.Scalar();
    if (std::find(valid.begin(), valid.end(), key) == valid.end()) {
      throw UsageError(fmt::format("{}: unknown key '{}'{}", where, key, hint(key, valid)));
    }
  }
}

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::char_traits<char>::length(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

const char* mode_name(Mode mode) { return mode == Mode::kAll ? "all" : "one_of"; }

void validate_ops(const std::vector<PerturbOpSpec>& ops, const std::string& origin, const std::string& list_key) {
  const auto& names = op_names();
  for (size_t i = 0; i < ops.size(); ++i) {
    const PerturbOpSpec& spec = ops[i];
    // "ORIGIN" or, naming the entry's key, "ORIGIN: LIST_KEY[i].FIELD".
    auto where = [&](const char* field) {
      return list_key.empty() ? origin : fmt::format("{}: {}[{}].{}", origin, list_key, i, field);
    };
    if (std::find(names.begin(), names.end(), spec.op) == names.end()) {
      throw UsageError(fmt::format("{}: unknown perturbation op '{}'{}; valid ops: {}", where("op"), spec.op,
                                   hint(spec.op, names), fmt::join(names, ", ")));
    }
    STURDY_USAGE_CHECK(spec.rate >= 0.0 && spec.rate <= 1.0, "{}: rate of '{}' must be in [0, 1] (got {})",
                       where("rate"), spec.op, spec.rate);
  }
}

Recipe parse_recipe(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw UsageError(fmt::format("{}: YAML error: {}", origin, e.what()));
  }
  STURDY_USAGE_CHECK(root.IsMap(), "{}: a recipe is a mapping with keys name, mode, ops", origin);
  check_keys(root, {"name", "description", "mode", "ops"}, origin);
  Recipe r;
  try {
    if (root["name"]) r.name = root["name"].as<std::string>();
    if (root["description"]) r.description = root["description"].as<std::string>();
    if (root["mode"]) {
      const std::string mode = root["mode"].as<std::string>();
      if (mode == "all") {
        r.mode = Mode::kAll;
      } else if (mode == "one_of") {
        r.mode = Mode::kOneOf;
      } else {
        throw UsageError(fmt::format("{}: mode must be 'all' or 'one_of' (got '{}'){}", origin, mode,
                                     hint(mode, {"all", "one_of"})));
      }
    }
    const YAML::Node ops = root["ops"];
    STURDY_USAGE_CHECK(ops && ops.IsSequence() && ops.size() > 0,
                       "{}: 'ops' must be a non-empty list of {{op: NAME, rate: R}}", origin);
    for (size_t i = 0; i < ops.size(); ++i) {
      const std::string where = fmt::format("{}: ops[{}]", origin, i);
      STURDY_USAGE_CHECK(ops[i].IsMap() && ops[i]["op"], "{}: expected {{op: NAME, rate: R}}", where);
      check_keys(ops[i], {"op", "rate"}, where);
      PerturbOpSpec spec;
      spec.op = ops[i]["op"].as<std::string>();
      spec.rate = ops[i]["rate"] ? ops[i]["rate"].as<double>() : kDefaultRate;
      r.ops.push_back(spec);
    }
  } catch (const YAML::Exception& e) {
    throw UsageError(fmt::format("{}: {}", origin, e.what()));
  }
  validate_ops(r.ops, origin, "ops");
  return r;
}

std::vector<std::string> list_recipes(const std::string& recipe_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_directory(recipe_dir, ec)) return names;
  for (const auto& e : fs::directory_iterator(recipe_dir, ec)) {
    if (e.path().extension() == ".yaml") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

Recipe load_recipe(const std::string& name_or_path, const std::string& recipe_dir) {
  STURDY_USAGE_CHECK(!name_or_path.empty(), "empty recipe name");
  std::string path;
  if (fs::is_regular_file(name_or_path) || ends_with(name_or_path, ".yaml") || ends_with(name_or_path, ".yml") ||
      name_or_path.find('/') != std::string::npos) {
    path = name_or_path;
  } else {
    path = (fs::path(recipe_dir) / (name_or_path + ".yaml")).string();
  }
  std::ifstream in(path);
  if (!in.good()) {
    const auto known = list_recipes(recipe_dir);
    throw UsageError(fmt::format("recipe '{}' not found ({} does not exist; recipes in {}: {}{})", name_or_path,
                                 path, recipe_dir, known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", ")),
                                 hint(name_or_path, known)));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  Recipe r = parse_recipe(buf.str(), path);
  if (r.name.empty()) r.name = fs::path(path).stem().string();
  return r;
}

std::vector<PerturbOpSpec> parse_ops_spec(const std::string& spec) {
  std::vector<PerturbOpSpec> ops;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) continue;
    PerturbOpSpec op;
    const size_t colon = item.find(':');
    op.op = item.substr(0, colon);
    op.rate = kDefaultRate;
    if (colon != std::string::npos) {
      const std::string rate = item.substr(colon + 1);
      size_t used = 0;
      try {
        op.rate = std::stod(rate, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      STURDY_USAGE_CHECK(used == rate.size() && !rate.empty(), "--ops: bad rate '{}' for '{}' (expected OP:RATE)",
                         rate, op.op);
    }
    ops.push_back(op);
  }
  STURDY_USAGE_CHECK(!ops.empty(), "--ops: no ops in '{}' (expected e.g. keyboard:0.1,swap:0.05)", spec);
  validate_ops(ops, "--ops");
  return ops;
}

std::string source_recipe_dir() {
#ifdef STURDY_PERTURB_SOURCE_DIR
  return std::string(STURDY_PERTURB_SOURCE_DIR) + "/configs/perturb";
#else
  return "configs/perturb";
#endif
}

}  // namespace sturdy::perturb
