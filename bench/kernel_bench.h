// The adversarial kernels' bandwidth benchmark (kernel_bench.cu, the bench_kernels executable;
// docs/kernels.md). Needs nvcc; runs on a GPU.
#pragma once

#include <cstdint>
#include <string>

namespace sturdy::kernels {

// `sturdy bench kernels` / bench_kernels: achieved bandwidth of each op next to a
// device-to-device cudaMemcpy measured in the same run, for δ sizes from `min_mb` to
// `max_mb` MB (doubling), fp32 and bf16. One table row per (op, dtype, size) on stdout,
// plus a `#wrong` column from a checked run against the host emulation on the smallest size.
struct KernelBenchOptions {
  double min_mb = 4, max_mb = 256;
  int warmup = 5, iters = 50;
  int64_t dim = 1024;  // D; T = 512, B follows from the size
  std::string out_csv;  // also write the rows here when non-empty
};
// Returns the number of wrong values found by the checks (0 = all good).
int64_t run_kernel_bench(const KernelBenchOptions& options);

}  // namespace sturdy::kernels
