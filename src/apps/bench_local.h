// Single-process benchmarks added to `sturdy bench`: step (objectives vs ERM) and data
// (perturb + tokenize throughput).
#pragma once

#include <CLI/CLI.hpp>

namespace sturdy::apps {

void add_local_benches(CLI::App& bench, int* exit_code);

}  // namespace sturdy::apps
