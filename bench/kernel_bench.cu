// run_kernel_bench (kernel_bench.h): achieved bandwidth of the fused adversarial ops next to
// a device-to-device cudaMemcpy of the same δ measured in the same run (nccl-tests habits:
// warm-up, timed iterations, then a checked iteration with a #wrong count).
//
// Bandwidth counts the minimal traffic of each op (what a perfect kernel must move):
//   step: read δ, g + write out = 3·|δ|;  init: write |δ|;  sym_kl: read 2, write 2 logits.
// The copy moves 2·|δ| (read + write). "% copy" = op bandwidth / copy bandwidth.
#include <cmath>
#include <cstdio>
#include <ctime>
#include <memory>
#include <vector>

#include <cuda_runtime.h>

#include "sturdy/core/error.h"
#include "kernel_bench.h"
#include "sturdy/kernels/adv_kernels.h"

namespace sturdy::kernels {
namespace {

struct CudaFree {
  void operator()(void* p) const { cudaFree(p); }
};
using DeviceBuffer = std::unique_ptr<void, CudaFree>;
DeviceBuffer device_alloc(size_t bytes) {
  void* p = nullptr;
  STURDY_CUDA_CHECK(cudaMalloc(&p, bytes > 0 ? bytes : 1));
  return DeviceBuffer(p);
}

struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    STURDY_CUDA_CHECK(cudaEventCreate(&start));
    STURDY_CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~EventPair() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
};

struct StreamHandle {
  cudaStream_t s = nullptr;
  StreamHandle() { STURDY_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~StreamHandle() { cudaStreamDestroy(s); }
  StreamHandle(const StreamHandle&) = delete;
  StreamHandle& operator=(const StreamHandle&) = delete;
};

// Mean milliseconds of `iters` runs of fn after `warmup` runs.
template <class F>
double time_ms(F&& fn, const KernelBenchOptions& o, cudaStream_t stream) {
  for (int i = 0; i < o.warmup; ++i) fn();
  EventPair ev;
  STURDY_CUDA_CHECK(cudaEventRecord(ev.start, stream));
  for (int i = 0; i < o.iters; ++i) fn();
  STURDY_CUDA_CHECK(cudaEventRecord(ev.stop, stream));
  STURDY_CUDA_CHECK(cudaEventSynchronize(ev.stop));
  float ms = 0;
  STURDY_CUDA_CHECK(cudaEventElapsedTime(&ms, ev.start, ev.stop));
  return ms / o.iters;
}

float host_value(DType t, const std::vector<uint8_t>& raw, size_t i) {
  if (t == DType::kFloat32) {
    float f;
    std::memcpy(&f, raw.data() + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, raw.data() + 2 * i, 2);
  return bf16_to_float(h);
}

// Elements of `got` farther than tol·max|ref| from `ref` (both host copies in dtype t).
int64_t count_wrong(DType t, const std::vector<uint8_t>& got, const std::vector<uint8_t>& ref, size_t n) {
  double scale = 0;
  for (size_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(static_cast<double>(host_value(t, ref, i))));
  const double tol = (t == DType::kFloat32 ? 1e-5 : 1e-2) * std::max(scale, 1e-30);
  int64_t wrong = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(host_value(t, got, i)) - host_value(t, ref, i));
    if (!(d <= tol)) ++wrong;  // NaN counts as wrong
  }
  return wrong;
}

std::vector<uint8_t> to_host(const void* p, size_t bytes) {
  std::vector<uint8_t> h(bytes);
  STURDY_CUDA_CHECK(cudaMemcpy(h.data(), p, bytes, cudaMemcpyDeviceToHost));
  return h;
}

struct Row {
  const char* op;
  DType dtype;
  double mb, ms, bytes, copy_gbs;
  int64_t wrong;
};

void print_row(const Row& r, FILE* csv) {
  const double gbs = r.bytes / (r.ms * 1e-3) / 1e9;
  std::printf("%-22s %-8s %10.1f %10.2f %10.1f %10.1f %8.1f%% %7lld\n", r.op, dtype_name(r.dtype), r.mb, r.ms * 1e3, gbs,
              r.copy_gbs, 100.0 * gbs / r.copy_gbs, static_cast<long long>(r.wrong));
  if (csv)
    std::fprintf(csv, "%s,%s,%.3f,%.3f,%.2f,%.2f,%.2f,%lld\n", r.op, dtype_name(r.dtype), r.mb, r.ms * 1e3, gbs, r.copy_gbs,
                 100.0 * gbs / r.copy_gbs, static_cast<long long>(r.wrong));
  std::fflush(stdout);
}

}  // namespace

int64_t run_kernel_bench(const KernelBenchOptions& o) {
  if (cuda_device_count() == 0) throw RuntimeError("bench kernels: no CUDA device (cudaGetDeviceCount = 0)");
  cudaDeviceProp prop{};
  STURDY_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("# sturdy bench kernels | %s | %d SMs | L2 %.0f MB | %d warm-up, %d timed iterations\n", prop.name,
              prop.multiProcessorCount, prop.l2CacheSize / 1e6, o.warmup, o.iters);
  std::printf("# GB/s counts minimal traffic (step 3|δ|, init |δ|, sym_kl 4|logits|); copy = cudaMemcpy D2D, 2|δ|\n");
  std::printf("%-22s %-8s %10s %10s %10s %10s %9s %7s\n", "op", "dtype", "MB(δ)", "time_us", "GB/s", "copy_GB/s",
              "%copy", "#wrong");
  FILE* csv = o.out_csv.empty() ? nullptr : std::fopen(o.out_csv.c_str(), "w");
  if (!o.out_csv.empty() && !csv) throw UsageError("bench kernels: cannot write " + o.out_csv);
  if (csv) std::fprintf(csv, "op,dtype,mb,time_us,gbs,copy_gbs,pct_copy,wrong\n");
  StreamHandle stream;
  int64_t total_wrong = 0;
  const int64_t T = 512, D = o.dim;
  bool first = true;
  for (double mb = o.min_mb; mb <= o.max_mb * 1.0001; mb *= 2, first = false) {
    for (DType dt : {DType::kFloat32, DType::kBFloat16}) {
      const size_t es = dtype_size(dt);
      const int64_t B = std::max<int64_t>(1, static_cast<int64_t>(mb * (1 << 20) / (es * T * D)));
      const size_t n = static_cast<size_t>(B * T * D), bytes = n * es;
      const double real_mb = bytes / double(1 << 20);
      auto delta = device_alloc(bytes), grad = device_alloc(bytes), out = device_alloc(bytes), copy = device_alloc(bytes);
      // Example b has T - 8·(b mod 16) real tokens: masks and ragged examples exercised.
      std::vector<uint8_t> mask_h(B * T);
      std::vector<int64_t> ids_h(B);
      for (int64_t b = 0; b < B; ++b) {
        ids_h[b] = b;
        for (int64_t t = 0; t < T; ++t) mask_h[b * T + t] = t < T - 8 * (b % 16);
      }
      auto mask = device_alloc(mask_h.size()), ids = device_alloc(ids_h.size() * 8);
      STURDY_CUDA_CHECK(cudaMemcpy(mask.get(), mask_h.data(), mask_h.size(), cudaMemcpyHostToDevice));
      STURDY_CUDA_CHECK(cudaMemcpy(ids.get(), ids_h.data(), ids_h.size() * 8, cudaMemcpyHostToDevice));
      // Inputs from the init kernel itself (normal, unmasked: no padding zeros in g).
      for (auto [buf, seed] : {std::pair{delta.get(), 1}, std::pair{grad.get(), 2}}) {
        InitArgs ia;
        ia.example_ids = static_cast<const int64_t*>(ids.get());
        ia.out = buf;
        ia.batch = B, ia.len = T, ia.dim = D, ia.dtype = dt, ia.norm = StepNorm::kLinf, ia.kind = InitKind::kNormal;
        ia.radius = 3.f, ia.seed = seed;
        adv_init(ia, nullptr, 0, stream.s);
      }
      const double copy_ms = time_ms(
          [&] { STURDY_CUDA_CHECK(cudaMemcpyAsync(copy.get(), delta.get(), bytes, cudaMemcpyDeviceToDevice, stream.s)); }, o,
          stream.s);
      const double copy_gbs = 2.0 * bytes / (copy_ms * 1e-3) / 1e9;
      print_row({"memcpy_d2d", dt, real_mb, copy_ms, 2.0 * bytes, copy_gbs, 0}, csv);

      struct StepCase {
        const char* name;
        StepNorm norm;
        StepScope scope;
      };
      for (const StepCase& c : {StepCase{"step_l2_example", StepNorm::kL2, StepScope::kExample},
                                StepCase{"step_l2_token", StepNorm::kL2, StepScope::kToken},
                                StepCase{"step_linf", StepNorm::kLinf, StepScope::kExample}}) {
        StepArgs a;
        a.delta = delta.get(), a.grad = grad.get(), a.mask = static_cast<const uint8_t*>(mask.get()), a.out = out.get();
        a.batch = B, a.len = T, a.dim = D, a.dtype = dt, a.norm = c.norm, a.scope = c.scope, a.epsilon = 0.5f, a.alpha = 0.1f;
        const size_t ws_bytes = adv_step_project_workspace_bytes(a);
        auto ws = device_alloc(ws_bytes);
        const double ms = time_ms([&] { adv_step_project(a, ws.get(), ws_bytes, stream.s); }, o, stream.s);
        int64_t wrong = 0;
        if (first) {  // checked run against the host emulation, output poisoned first
          STURDY_CUDA_CHECK(cudaMemsetAsync(out.get(), 0xff, bytes, stream.s));
          adv_step_project(a, ws.get(), ws_bytes, stream.s);
          STURDY_CUDA_CHECK(cudaStreamSynchronize(stream.s));
          auto d_h = to_host(delta.get(), bytes), g_h = to_host(grad.get(), bytes), got = to_host(out.get(), bytes);
          std::vector<uint8_t> ref(bytes);
          StepArgs h = a;
          h.delta = d_h.data(), h.grad = g_h.data(), h.mask = mask_h.data(), h.out = ref.data();
          host_adv_step_project(h);
          wrong = count_wrong(dt, got, ref, n);
        }
        total_wrong += wrong;
        print_row({c.name, dt, real_mb, ms, 3.0 * bytes, copy_gbs, wrong}, csv);
      }
      {
        InitArgs ia;
        ia.mask = static_cast<const uint8_t*>(mask.get()), ia.example_ids = static_cast<const int64_t*>(ids.get());
        ia.out = out.get(), ia.batch = B, ia.len = T, ia.dim = D, ia.dtype = dt, ia.norm = StepNorm::kL2;
        ia.scope = StepScope::kExample, ia.kind = InitKind::kUniform, ia.radius = 0.5f, ia.seed = 7;
        const size_t ws_bytes = adv_init_workspace_bytes(ia);
        auto ws = device_alloc(ws_bytes);
        const double ms = time_ms([&] { adv_init(ia, ws.get(), ws_bytes, stream.s); }, o, stream.s);
        print_row({"init_uniform_l2", dt, real_mb, ms, 1.0 * bytes, copy_gbs, 0}, csv);
      }
      {
        // sym_kl on (rows, 32000) logits of the same total size as δ, δ and g as logits.
        const int64_t C = 32000, rows = std::max<int64_t>(1, static_cast<int64_t>(n / C));
        SymKLArgs s;
        s.p_logits = delta.get(), s.q_logits = grad.get(), s.grad_p = out.get(), s.grad_q = copy.get();
        auto value = device_alloc(sizeof(float));
        s.value = static_cast<float*>(value.get()), s.rows = rows, s.classes = C, s.dtype = dt;
        const size_t ws_bytes = sym_kl_workspace_bytes(s);
        auto ws = device_alloc(ws_bytes);
        const double ms = time_ms([&] { sym_kl_forward_backward(s, ws.get(), ws_bytes, stream.s); }, o, stream.s);
        print_row({"sym_kl_vocab32000", dt, rows * C * es / double(1 << 20), ms, 4.0 * rows * C * es, copy_gbs, 0}, csv);
      }
    }
  }
  if (csv) std::fclose(csv);
  return total_wrong;
}

}  // namespace sturdy::kernels
