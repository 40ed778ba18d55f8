// bench_kernels: the adversarial kernels' achieved bandwidth next to cudaMemcpy
// (run_kernel_bench in bench/kernel_bench.cu; docs/kernels.md). Exit 3 when a
// checked run disagrees with the host emulation, 4 when there is no GPU.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "sturdy/core/error.h"
#include "kernel_bench.h"
#include "sturdy/kernels/adv_kernels.h"

int main(int argc, char** argv) {
  sturdy::kernels::KernelBenchOptions o;
  CLI::App app("Bandwidth of the fused adversarial-step kernels next to a device-to-device copy");
  app.add_option("--min-mb", o.min_mb, "smallest δ size in MB")->capture_default_str();
  app.add_option("--max-mb", o.max_mb, "largest δ size in MB (sizes double)")->capture_default_str();
  app.add_option("--warmup", o.warmup, "warm-up iterations")->capture_default_str();
  app.add_option("--iters", o.iters, "timed iterations")->capture_default_str();
  app.add_option("--dim", o.dim, "embedding width D (T = 512)")->capture_default_str();
  app.add_option("--csv", o.out_csv, "also write the table as CSV here");
  CLI11_PARSE(app, argc, argv);
  if (sturdy::kernels::cuda_device_count() == 0) {
    std::printf("bench_kernels: no CUDA device; nothing measured\n");
    return 4;
  }
  try {
    const int64_t wrong = sturdy::kernels::run_kernel_bench(o);
    if (wrong != 0) {
      std::fprintf(stderr, "bench_kernels: %lld wrong values in the checked runs\n", static_cast<long long>(wrong));
      return 3;
    }
  } catch (const sturdy::Error& e) {
    std::fprintf(stderr, "bench_kernels: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}
