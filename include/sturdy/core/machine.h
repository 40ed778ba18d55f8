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
// Makes glibc keep freed memory for reuse instead of returning it to the system: blocks up
// to 32 MiB come from the heap rather than fresh mmap()s, and the heap's top is not trimmed
// below 1 GiB. A step or an evaluation pass allocates and frees the same large tensors over
// and over; with glibc's defaults every one is faulted in page by page again (a third of the
// evaluation's time: docs/performance.md, "Allocator"). Call first thing in main(), before
// threads start. STURDY_SYSTEM_MALLOC=1 keeps glibc's defaults (for measuring the effect).
// Returns false where the C library is not glibc or the settings were refused.
bool retain_freed_memory();
// A warning when OpenBLAS picked kernels far below what the CPU supports (e.g. SSE3
// 'Prescott' kernels on an AVX-512 Xeon), with the environment variable that fixes it;
// "" when all is well.
std::string blas_warning();
// Threads per rank: $OMP_NUM_THREADS when set, else cores / ranks on this node (at least 1).
int threads_per_rank(int local_ranks);

}  // namespace sturdy
