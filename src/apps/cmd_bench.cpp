// `sturdy bench`: the front end of the benchmarks in bench/ (benchmarks.h).
#include "benchmarks.h"
#include "commands.h"

namespace sturdy::apps {

void register_bench(CLI::App& root, int* exit_code) {
  auto* bench = root.add_subcommand("bench", "Built-in benchmarks (run under mpirun for several ranks)");
  bench->require_subcommand(1);
  bench::add_benchmarks(*bench, exit_code);
}

}  // namespace sturdy::apps
