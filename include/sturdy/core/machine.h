// What the process runs on: CPU model, BLAS kernel, threads. Printed with every
// benchmark, and checked at start-up so a slow BLAS does not go unnoticed.
#pragma once

#include <string>

namespace sturdy {

std::string cpu_model();
// OpenBLAS's detected kernel ("Prescott", "Haswell", "Cooperlake", ...) or "" when the
// BLAS in use is not OpenBLAS.
std::string blas_core_name();
// Sets OpenBLAS's own thread pool (which otherwise starts one thread per core in every
// rank, whatever LibTorch was told) to `threads`; false when the BLAS is not OpenBLAS.
bool set_blas_threads(int threads);
// A warning when OpenBLAS picked kernels far below what the CPU supports (e.g. SSE3
// 'Prescott' kernels on an AVX-512 Xeon), with the environment variable that fixes it;
// "" when all is well.
std::string blas_warning();
// Threads per rank: $OMP_NUM_THREADS when set, else cores / ranks on this node (at least 1).
int threads_per_rank(int local_ranks);

}  // namespace sturdy
