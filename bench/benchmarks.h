// The benchmarks behind `sturdy bench` (src/apps/cmd_bench.cpp is its front end): each
// add_* adds one subcommand to `bench`; its callback runs it and stores the exit code in
// *exit_code. They time the trainer's own step (train/step.h), not a copy of it.
#pragma once

#include <CLI/CLI.hpp>

namespace sturdy::bench {

// comm, train, step and data.
void add_benchmarks(CLI::App& bench, int* exit_code);

// step (objectives vs ERM) and data (perturb + tokenize throughput); local_benches.cpp.
void add_local_benches(CLI::App& bench, int* exit_code);

}  // namespace sturdy::bench
