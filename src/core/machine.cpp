// Machine description and the BLAS start-up check (see machine.h).
#include "sturdy/core/machine.h"

#include <dlfcn.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cstdlib>
#include <fstream>
#include <thread>

#include <fmt/format.h>

namespace sturdy {
namespace {

std::string cpuinfo_field(const std::string& key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "";
}

bool has_flag(const std::string& flags, const std::string& flag) {
  return (" " + flags + " ").find(" " + flag + " ") != std::string::npos;
}

}  // namespace

std::string cpu_model() {
  const std::string m = cpuinfo_field("model name");
  return m.empty() ? "unknown CPU" : m;
}

std::string blas_core_name() {
  using CoreName = char* (*)();
  auto fn = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (fn == nullptr) return "";
  const char* name = fn();
  return name ? name : "";
}

std::string blas_warning() {
  const std::string core = blas_core_name();
  if (core.empty()) return "";
  const std::string flags = cpuinfo_field("flags");
  const bool old_kernel = core == "Prescott" || core == "Core2" || core == "Penryn" ||
                          core == "Dunnington" || core == "Nehalem" || core == "Atom" ||
                          core == "Katmai" || core == "Northwood" || core == "Banias";
  if (!old_kernel) return "";
  std::string suggest;
  if (has_flag(flags, "avx512_bf16")) {
    suggest = "Cooperlake";
  } else if (has_flag(flags, "avx512f")) {
    suggest = "SkylakeX";
  } else if (has_flag(flags, "avx2")) {
    suggest = "Haswell";
  } else {
    return "";
  }
  return fmt::format("OpenBLAS uses '{}' kernels on a CPU with {} (matrix products run 2-3x "
                     "slower than they could); export OPENBLAS_CORETYPE={} before launching",
                     core, suggest == "Haswell" ? "AVX2" : "AVX-512", suggest);
}

bool set_blas_threads(int threads) {
  using SetThreads = void (*)(int);
  auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (fn == nullptr) return false;
  fn(threads);
  return true;
}

bool retain_freed_memory() {
#if defined(__GLIBC__)
  if (const char* v = std::getenv("STURDY_SYSTEM_MALLOC"); v != nullptr && std::string(v) == "1") {
    return false;
  }
  constexpr int kMmapThreshold = 32 << 20;  // glibc's largest allowed value on 64-bit
  constexpr int kTrimThreshold = 1 << 30;
  constexpr int kTopPad = 64 << 20;         // grow the heap in large steps
  return mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1 &&
         mallopt(M_TOP_PAD, kTopPad) == 1;
#else
  return false;
#endif
}

int threads_per_rank(int local_ranks) {
  if (const char* v = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(v);
    if (n > 0) return n;
  }
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, cores / std::max(1, local_ranks));
}

}  // namespace sturdy
