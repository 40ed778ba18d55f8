// Recipes: named bundles of perturbation ops, stored as YAML in configs/perturb/NAME.yaml.
//
//   name: typos
//   description: keyboard slips, transpositions, dropped and doubled letters
//   mode: all            # all: every op in order | one_of: one op per view, chosen uniformly
//   ops:
//     - {op: keyboard, rate: 0.04}
//     - {op: swap, rate: 0.02}
//
// Loading is strict: unknown keys, unknown ops and rates outside [0, 1] are UsageErrors that
// name the file and the closest valid key.
#pragma once

#include <string>
#include <vector>

#include "sturdy/config/config.h"

namespace sturdy::perturb {

enum class Mode { kAll, kOneOf };
const char* mode_name(Mode mode);

struct Recipe {
  std::string name;
  std::string description;
  Mode mode = Mode::kAll;
  std::vector<PerturbOpSpec> ops;
};

// `name_or_path` is a path when it names an existing file or ends in .yaml/.yml, else the
// recipe `recipe_dir`/NAME.yaml. Throws UsageError listing the recipes found when absent.
Recipe load_recipe(const std::string& name_or_path, const std::string& recipe_dir);
Recipe parse_recipe(const std::string& yaml_text, const std::string& origin);
// Names of the recipes in `recipe_dir` (NAME.yaml files), sorted.
std::vector<std::string> list_recipes(const std::string& recipe_dir);
// "keyboard:0.1,swap:0.05" -> ops; a missing rate ("swap") means 0.1.
std::vector<PerturbOpSpec> parse_ops_spec(const std::string& spec);
// Checks op names (closest valid name in the message) and rates; `origin` prefixes messages.
// With `list_key` they also name the entry's key: validate_ops(ops, "config", "augment.ops")
// -> "config: augment.ops[2].op: unknown perturbation op 'foo' (did you mean ...); valid ops: ...".
void validate_ops(const std::vector<PerturbOpSpec>& ops, const std::string& origin,
                  const std::string& list_key = "");

// The recipe directory of the source tree this library was built from (configs/perturb).
std::string source_recipe_dir();

}  // namespace sturdy::perturb
