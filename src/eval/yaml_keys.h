// Strict keys of the evaluation's YAML files (suites, gates): private to src/eval.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace sturdy::eval::detail {

// `yaml_text` parsed; a syntax error is a UsageError "ORIGIN:LINE:COLUMN: YAML syntax error: ...".
YAML::Node load_yaml(const std::string& yaml_text, const std::string& origin);

// Throws UsageError "ORIGIN:LINE: WHERE: unknown key 'x' (did you mean 'y'?); valid keys: ..."
// for the first key of the map `node` that is not in `valid` (suite.cpp).
void check_keys(const YAML::Node& node, const std::vector<std::string>& valid, const std::string& origin,
                const std::string& where);

}  // namespace sturdy::eval::detail
