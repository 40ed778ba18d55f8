// Fused CUDA kernels of the adversarial step (adv_kernels.h): the per-element math is
// adv_math.h's, shared with the host emulation in adv_host.cpp.
//
// adv_step_project
//   linf (either scope): one element-wise pass, out = mask ? clamp(δ + α·sign g) : 0.
//   l2 per example:      pass A, grid (chunks, B): Σδ², Σδg, Σg² of each chunk in double
//                        (one read of δ and g); pass B: each block folds its example's
//                        chunk sums in a fixed order, then writes Π(δ + α·ĝ) (second read).
//   l2 per token:        one warp per token: Σg², Σx², write; the second and third reads of
//                        a D-row hit L1/L2, so DRAM sees one read of δ, g and one write.
// adv_init: the same shapes with Philox draws regenerated instead of re-read.
// sym_kl: one block per row: online max/Σexp of both logits, the KL sums, the gradients;
// the per-row values are summed by one block in a fixed order (deterministic).
// Vector path: 16-byte loads (4 fp32 / 8 bf16) when D (or C) is a multiple of the width and
// the pointers are 16-byte aligned; the scalar path otherwise.
#include "sturdy/kernels/adv_kernels.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include "sturdy/core/error.h"

namespace sturdy::kernels {
namespace {

constexpr int kThreads = 256;      // block size of the element-wise and chunked kernels
constexpr int kWarpsPerBlock = 8;  // per-token kernels: one warp per token

// ---- vector loads ---------------------------------------------------------------------
template <class T, int V>
__device__ __forceinline__ void load_vec(const T* p, float (&f)[V]) {
  if constexpr (V * sizeof(T) == 16) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    T e[V];
    memcpy(e, &raw, 16);
#pragma unroll
    for (int i = 0; i < V; ++i) f[i] = load_f<T>(e[i]);
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) f[i] = load_f<T>(p[i]);
  }
}
template <class T, int V>
__device__ __forceinline__ void store_vec(T* p, const float (&f)[V]) {
  if constexpr (V * sizeof(T) == 16) {
    T e[V];
#pragma unroll
    for (int i = 0; i < V; ++i) e[i] = store_f<T>(f[i]);
    uint4 raw;
    memcpy(&raw, e, 16);
    *reinterpret_cast<uint4*>(p) = raw;
  } else {
#pragma unroll
    for (int i = 0; i < V; ++i) p[i] = store_f<T>(f[i]);
  }
}

// ---- reductions (fixed order: deterministic for a given launch shape) -------------------
template <class F, int N>
__device__ __forceinline__ void warp_sum(F (&v)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
    for (int o = 16; o > 0; o >>= 1) v[i] += __shfl_xor_sync(0xffffffffu, v[i], o);
}
// Every thread ends with the block's totals. blockDim.x is a multiple of 32.
template <class F, int N>
__device__ __forceinline__ void block_sum(F (&v)[N]) {
  __shared__ F smem[N][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  warp_sum(v);
  if (lane == 0)
#pragma unroll
    for (int i = 0; i < N; ++i) smem[i][warp] = v[i];
  __syncthreads();
#pragma unroll
  for (int i = 0; i < N; ++i) v[i] = lane < warps ? smem[i][lane] : F(0);
  warp_sum(v);
  __syncthreads();  // smem may be reused by the next call
}
__device__ __forceinline__ void warp_merge(SoftmaxState& s) {
  for (int o = 16; o > 0; o >>= 1) {
    SoftmaxState other;
    other.m = __shfl_xor_sync(0xffffffffu, s.m, o);
    other.s = __shfl_xor_sync(0xffffffffu, s.s, o);
    s.merge(other);
  }
}
__device__ __forceinline__ void block_merge(SoftmaxState& a, SoftmaxState& b) {
  __shared__ SoftmaxState smem[2][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  warp_merge(a);
  warp_merge(b);
  if (lane == 0) {
    smem[0][warp] = a;
    smem[1][warp] = b;
  }
  __syncthreads();
  a = lane < warps ? smem[0][lane] : SoftmaxState{};
  b = lane < warps ? smem[1][lane] : SoftmaxState{};
  warp_merge(a);
  warp_merge(b);
  __syncthreads();
}

// ---- adv_step_project ---------------------------------------------------------------------
struct StepShape {
  int64_t batch, len, dim;
  int64_t per_example;  // len·dim
  int64_t chunk_elems;  // multiple of the vector width
  int chunks;           // per example
};

__device__ __forceinline__ bool is_real(const uint8_t* mask, int64_t token) { return mask == nullptr || mask[token] != 0; }

template <class T, int V>
__global__ void step_linf_kernel(const T* __restrict__ delta, const T* __restrict__ grad, const uint8_t* __restrict__ mask,
                                 T* out, int64_t vectors, int64_t dim, float alpha, float eps) {
  for (int64_t v = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; v < vectors; v += int64_t{gridDim.x} * blockDim.x) {
    const int64_t e = v * V;
    float d[V], g[V] = {};
    load_vec<T, V>(delta + e, d);
    if (grad != nullptr) load_vec<T, V>(grad + e, g);
    const bool real = is_real(mask, e / dim);
#pragma unroll
    for (int i = 0; i < V; ++i) d[i] = real ? linf_step(d[i], g[i], alpha, eps) : 0.f;
    store_vec<T, V>(out + e, d);
  }
}

// Pass A: sums of one chunk of one example -> partials[b·chunks + c].
template <class T, int V>
__global__ void step_sums_kernel(const T* __restrict__ delta, const T* __restrict__ grad, const uint8_t* __restrict__ mask,
                                 StepShape s, StepSums* __restrict__ partials) {
  const int b = blockIdx.y, c = blockIdx.x;
  const int64_t base = b * s.per_example;
  const int64_t begin = c * s.chunk_elems, end = min(begin + s.chunk_elems, s.per_example);
  double acc[3] = {0, 0, 0};
#pragma unroll 4
  for (int64_t e = begin + int64_t{threadIdx.x} * V; e < end; e += int64_t{blockDim.x} * V) {
    if (!is_real(mask, b * s.len + e / s.dim)) continue;
    float d[V], g[V] = {};
    load_vec<T, V>(delta + base + e, d);
    if (grad != nullptr) load_vec<T, V>(grad + base + e, g);
#pragma unroll
    for (int i = 0; i < V; ++i) {
      acc[0] += static_cast<double>(d[i]) * d[i];
      acc[1] += static_cast<double>(d[i]) * g[i];
      acc[2] += static_cast<double>(g[i]) * g[i];
    }
  }
  block_sum(acc);
  if (threadIdx.x == 0) {
    StepSums out;
    out.dd = acc[0];
    out.dg = acc[1];
    out.gg = acc[2];
    partials[b * s.chunks + c] = out;
  }
}

// Pass B: fold the example's chunk sums (fixed order), then write Π(δ + α·ĝ).
template <class T, int V>
__global__ void step_apply_kernel(const T* __restrict__ delta, const T* __restrict__ grad, const uint8_t* __restrict__ mask,
                                  T* out, StepShape s, const StepSums* __restrict__ partials, float alpha, float eps) {
  const int b = blockIdx.y, c = blockIdx.x;
  __shared__ float factors[2];  // inv_ng, scale
  if (threadIdx.x == 0) {
    StepSums sums;
    for (int k = 0; k < s.chunks; ++k) sums.merge(partials[b * s.chunks + k]);
    const float inv_ng = grad != nullptr ? inv_norm_from_sq(sums.gg) : 0.f;
    factors[0] = inv_ng;
    factors[1] = l2_project_scale(l2_step_sq_norm(sums.dd, sums.dg, sums.gg, alpha, inv_ng), eps);
  }
  __syncthreads();
  const float inv_ng = factors[0], scale = factors[1];
  const int64_t base = b * s.per_example;
  const int64_t begin = c * s.chunk_elems, end = min(begin + s.chunk_elems, s.per_example);
#pragma unroll 4
  for (int64_t e = begin + int64_t{threadIdx.x} * V; e < end; e += int64_t{blockDim.x} * V) {
    float d[V], g[V] = {};
    const bool real = is_real(mask, b * s.len + e / s.dim);
    if (real) {
      load_vec<T, V>(delta + base + e, d);
      if (grad != nullptr) load_vec<T, V>(grad + base + e, g);
    }
#pragma unroll
    for (int i = 0; i < V; ++i) d[i] = real ? l2_step(d[i], g[i], alpha, inv_ng) * scale : 0.f;
    store_vec<T, V>(out + base + e, d);
  }
}

// l2 per token: one warp per token row of D elements.
template <class T, int V>
__global__ void step_token_kernel(const T* __restrict__ delta, const T* __restrict__ grad, const uint8_t* __restrict__ mask,
                                  T* out, int64_t tokens, int64_t dim, float alpha, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t token = blockIdx.x * int64_t{kWarpsPerBlock} + (threadIdx.x >> 5);
  if (token >= tokens) return;  // whole warps leave together
  const int64_t row = token * dim;
  if (!is_real(mask, token)) {
    float z[V] = {};
    for (int64_t e = int64_t{lane} * V; e < dim; e += 32 * V) store_vec<T, V>(out + row + e, z);
    return;
  }
  double gg[1] = {0};
  if (grad != nullptr) {
    for (int64_t e = int64_t{lane} * V; e < dim; e += 32 * V) {
      float g[V];
      load_vec<T, V>(grad + row + e, g);
#pragma unroll
      for (int i = 0; i < V; ++i) gg[0] += static_cast<double>(g[i]) * g[i];
    }
    warp_sum(gg);
  }
  const float inv_ng = grad != nullptr ? inv_norm_from_sq(gg[0]) : 0.f;
  double xx[1] = {0};
  for (int64_t e = int64_t{lane} * V; e < dim; e += 32 * V) {
    float d[V], g[V] = {};
    load_vec<T, V>(delta + row + e, d);
    if (grad != nullptr) load_vec<T, V>(grad + row + e, g);
#pragma unroll
    for (int i = 0; i < V; ++i) {
      const float x = l2_step(d[i], g[i], alpha, inv_ng);
      xx[0] += static_cast<double>(x) * x;
    }
  }
  warp_sum(xx);
  const float scale = l2_project_scale(xx[0], eps);
  for (int64_t e = int64_t{lane} * V; e < dim; e += 32 * V) {
    float d[V], g[V] = {};
    load_vec<T, V>(delta + row + e, d);
    if (grad != nullptr) load_vec<T, V>(grad + row + e, g);
#pragma unroll
    for (int i = 0; i < V; ++i) d[i] = l2_step(d[i], g[i], alpha, inv_ng) * scale;
    store_vec<T, V>(out + row + e, d);
  }
}

// ---- adv_init -------------------------------------------------------------------------------
template <class T, int V>
__global__ void init_linf_kernel(const uint8_t* __restrict__ mask, const int64_t* __restrict__ ids, T* out, int64_t batch,
                                 int64_t len, int64_t dim, InitKind kind, float radius, uint64_t seed, uint64_t stream) {
  const int64_t vectors = batch * len * dim / V;
  for (int64_t v = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; v < vectors; v += int64_t{gridDim.x} * blockDim.x) {
    const int64_t e = v * V, token = e / dim, b = token / len, t = token % len, d0 = e % dim;
    float x[V] = {};
    if (is_real(mask, token)) {
      const uint64_t key = init_key(seed, ids[b], stream);
#pragma unroll
      for (int i = 0; i < V; ++i)
        x[i] = init_linf(kind, element_draw(key, static_cast<uint32_t>(t), static_cast<uint32_t>(d0 + i)), radius);
    }
    store_vec<T, V>(out + e, x);
  }
}

// Pass A of the per-example l2 start: Σz² and the number of real elements of one chunk.
__global__ void init_sums_kernel(const uint8_t* __restrict__ mask, const int64_t* __restrict__ ids, StepShape s,
                                 uint64_t seed, uint64_t stream, double2* __restrict__ partials) {
  const int b = blockIdx.y, c = blockIdx.x;
  const uint64_t key = init_key(seed, ids[b], stream);
  const int64_t begin = c * s.chunk_elems, end = min(begin + s.chunk_elems, s.per_example);
  double acc[2] = {0, 0};
  for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x) {
    const int64_t t = e / s.dim;
    if (!is_real(mask, b * s.len + t)) continue;
    const float z = element_draw(key, static_cast<uint32_t>(t), static_cast<uint32_t>(e % s.dim)).normal;
    acc[0] += static_cast<double>(z) * z;
    acc[1] += 1.0;
  }
  block_sum(acc);
  if (threadIdx.x == 0) partials[b * s.chunks + c] = make_double2(acc[0], acc[1]);
}

template <class T>
__global__ void init_apply_kernel(const uint8_t* __restrict__ mask, const int64_t* __restrict__ ids, T* out, StepShape s,
                                  InitKind kind, float radius, uint64_t seed, uint64_t stream,
                                  const double2* __restrict__ partials) {
  const int b = blockIdx.y, c = blockIdx.x;
  const uint64_t key = init_key(seed, ids[b], stream);
  __shared__ float factor;
  if (threadIdx.x == 0) {
    double zz = 0, count = 0;
    for (int k = 0; k < s.chunks; ++k) {
      zz += partials[b * s.chunks + k].x;
      count += partials[b * s.chunks + k].y;
    }
    const double n = count > 0 ? count : static_cast<double>(s.dim);  // max(T_i, 1)·D
    factor = init_l2_factor(kind, zz, n, group_uniform(key, 0), radius);
  }
  __syncthreads();
  const int64_t base = b * s.per_example;
  const int64_t begin = c * s.chunk_elems, end = min(begin + s.chunk_elems, s.per_example);
  for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x) {
    const int64_t t = e / s.dim;
    float x = 0.f;
    if (is_real(mask, b * s.len + t))
      x = element_draw(key, static_cast<uint32_t>(t), static_cast<uint32_t>(e % s.dim)).normal * factor;
    out[base + e] = store_f<T>(x);
  }
}

template <class T>
__global__ void init_token_kernel(const uint8_t* __restrict__ mask, const int64_t* __restrict__ ids, T* out, int64_t tokens,
                                  int64_t len, int64_t dim, InitKind kind, float radius, uint64_t seed, uint64_t stream) {
  const int lane = threadIdx.x & 31;
  const int64_t token = blockIdx.x * int64_t{kWarpsPerBlock} + (threadIdx.x >> 5);
  if (token >= tokens) return;
  const int64_t row = token * dim;
  const uint32_t t = static_cast<uint32_t>(token % len);
  if (!is_real(mask, token)) {
    for (int64_t d = lane; d < dim; d += 32) out[row + d] = store_f<T>(0.f);
    return;
  }
  const uint64_t key = init_key(seed, ids[token / len], stream);
  double zz[1] = {0};
  for (int64_t d = lane; d < dim; d += 32) {
    const float z = element_draw(key, t, static_cast<uint32_t>(d)).normal;
    zz[0] += static_cast<double>(z) * z;
  }
  warp_sum(zz);
  const float factor = init_l2_factor(kind, zz[0], static_cast<double>(dim), group_uniform(key, t), radius);
  for (int64_t d = lane; d < dim; d += 32)
    out[row + d] = store_f<T>(element_draw(key, t, static_cast<uint32_t>(d)).normal * factor);
}

// ---- sym_kl -----------------------------------------------------------------------------------
template <class T, int V>
__global__ void sym_kl_row_kernel(const T* __restrict__ pa, const T* __restrict__ qa, T* __restrict__ gp,
                                  T* __restrict__ gq, int64_t classes, float inv_rows, float* __restrict__ row_values) {
  const int64_t row = blockIdx.x * classes;
  const int64_t stride = int64_t{blockDim.x} * V;
  SoftmaxState sa, sb;
  for (int64_t c = int64_t{threadIdx.x} * V; c < classes; c += stride) {
    float a[V], b[V];
    load_vec<T, V>(pa + row + c, a);
    load_vec<T, V>(qa + row + c, b);
#pragma unroll
    for (int i = 0; i < V; ++i) {
      sa.add(a[i]);
      sb.add(b[i]);
    }
  }
  block_merge(sa, sb);
  const LogSoftmax lse_a(sa), lse_b(sb);
  KLSums k;
  for (int64_t c = int64_t{threadIdx.x} * V; c < classes; c += stride) {
    float a[V], b[V];
    load_vec<T, V>(pa + row + c, a);
    load_vec<T, V>(qa + row + c, b);
#pragma unroll
    for (int i = 0; i < V; ++i) k.add(a[i], b[i], lse_a, lse_b);
  }
  float sums[3] = {k.pd, k.qd, k.value};
  block_sum(sums);
  for (int64_t c = int64_t{threadIdx.x} * V; c < classes; c += stride) {
    float a[V], b[V], ga[V], gb[V];
    load_vec<T, V>(pa + row + c, a);
    load_vec<T, V>(qa + row + c, b);
#pragma unroll
    for (int i = 0; i < V; ++i) sym_kl_grads(a[i], b[i], lse_a, lse_b, sums[0], sums[1], inv_rows, &ga[i], &gb[i]);
    store_vec<T, V>(gp + row + c, ga);
    store_vec<T, V>(gq + row + c, gb);
  }
  if (threadIdx.x == 0) row_values[blockIdx.x] = sums[2];
}

__global__ void mean_kernel(const float* __restrict__ values, int64_t n, float* __restrict__ out) {
  double acc[1] = {0};
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc[0] += values[i];
  block_sum(acc);
  if (threadIdx.x == 0) *out = static_cast<float>(acc[0] / static_cast<double>(n));
}

// ---- launch helpers ---------------------------------------------------------------------------
int multiprocessors() {
  int device = 0;
  STURDY_CUDA_CHECK(cudaGetDevice(&device));
  static std::mutex mu;
  static std::vector<int> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (static_cast<int>(cache.size()) <= device) cache.resize(device + 1, 0);
  if (cache[device] == 0) STURDY_CUDA_CHECK(cudaDeviceGetAttribute(&cache[device], cudaDevAttrMultiProcessorCount, device));
  return cache[device];
}

int grid_for(int64_t work_items, int threads) {
  const int64_t max_blocks = int64_t{multiprocessors()} * 16;  // grid-stride beyond that
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>((work_items + threads - 1) / threads, max_blocks)));
}

// Chunking of one example so that B·chunks blocks fill the device several times over.
// Independent of the vector width, so the workspace size does not depend on alignment.
StepShape step_shape(int64_t batch, int64_t len, int64_t dim) {
  StepShape s{batch, len, dim, len * dim, 0, 0};
  const int64_t target_blocks = int64_t{multiprocessors()} * 8;
  const int64_t want_chunks = std::max<int64_t>(1, (target_blocks + batch - 1) / std::max<int64_t>(batch, 1));
  const int64_t granule = int64_t{kThreads} * 32;  // ≥ 4 vectors of 8 per thread; a multiple of every width
  int64_t chunk = (s.per_example + want_chunks - 1) / want_chunks;
  chunk = std::max<int64_t>(granule, (chunk + granule - 1) / granule * granule);
  s.chunk_elems = chunk;
  s.chunks = static_cast<int>(std::max<int64_t>(1, (s.per_example + chunk - 1) / chunk));
  return s;
}

bool aligned16(const void* p) { return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <class T>
int vector_width(int64_t dim, std::initializer_list<const void*> ptrs) {
  constexpr int kV = 16 / sizeof(T);
  if (dim % kV != 0) return 1;
  for (const void* p : ptrs)
    if (!aligned16(p)) return 1;
  return kV;
}

void check_launch(const char* op) { STURDY_CUDA_CHECK(cudaGetLastError()); }

void check_workspace(const char* op, size_t need, void* ws, size_t have) {
  STURDY_USAGE_CHECK(need == 0 || (ws != nullptr && have >= need), "{}: workspace of {} bytes needed, {} given at {}", op,
                     need, have, ws);
}

template <class T, int V>
void step_typed(const StepArgs& a, void* ws, cudaStream_t stream) {
  const T* delta = static_cast<const T*>(a.delta);
  const T* grad = a.alpha != 0.f ? static_cast<const T*>(a.grad) : nullptr;
  T* out = static_cast<T*>(a.out);
  const float alpha = grad != nullptr ? a.alpha : 0.f;
  const int64_t n = a.batch * a.len * a.dim;
  if (a.norm == StepNorm::kLinf) {
    step_linf_kernel<T, V><<<grid_for(n / V, kThreads), kThreads, 0, stream>>>(delta, grad, a.mask, out, n / V, a.dim,
                                                                                 alpha, a.epsilon);
  } else if (a.scope == StepScope::kToken) {
    const int64_t tokens = a.batch * a.len;
    const int64_t blocks = (tokens + kWarpsPerBlock - 1) / kWarpsPerBlock;
    STURDY_USAGE_CHECK(blocks < (int64_t{1} << 31), "adv_step_project: {} tokens are too many for one grid", tokens);
    step_token_kernel<T, V><<<static_cast<unsigned>(blocks), kWarpsPerBlock * 32, 0, stream>>>(delta, grad, a.mask, out,
                                                                                            tokens, a.dim, alpha, a.epsilon);
  } else {
    const StepShape s = step_shape(a.batch, a.len, a.dim);
    STURDY_USAGE_CHECK(a.batch < 65536, "adv_step_project: batch {} exceeds the grid's 65535 examples", a.batch);
    const dim3 grid(s.chunks, static_cast<unsigned>(a.batch));
    auto* partials = static_cast<StepSums*>(ws);
    step_sums_kernel<T, V><<<grid, kThreads, 0, stream>>>(delta, grad, a.mask, s, partials);
    check_launch("adv_step_project sums");
    step_apply_kernel<T, V><<<grid, kThreads, 0, stream>>>(delta, grad, a.mask, out, s, partials, alpha, a.epsilon);
  }
  check_launch("adv_step_project");
}

template <class T>
void step_dispatch(const StepArgs& a, void* ws, cudaStream_t stream) {
  if (vector_width<T>(a.dim, {a.delta, a.grad, a.out}) == 1) step_typed<T, 1>(a, ws, stream);
  else step_typed<T, 16 / sizeof(T)>(a, ws, stream);
}

template <class T>
void init_typed(const InitArgs& a, void* ws, cudaStream_t stream) {
  T* out = static_cast<T*>(a.out);
  if (a.norm == StepNorm::kLinf) {
    const int64_t n = a.batch * a.len * a.dim;
    if (vector_width<T>(a.dim, {a.out}) == 1)
      init_linf_kernel<T, 1><<<grid_for(n, kThreads), kThreads, 0, stream>>>(a.mask, a.example_ids, out, a.batch, a.len,
                                                                              a.dim, a.kind, a.radius, a.seed, a.stream);
    else
      init_linf_kernel<T, 16 / sizeof(T)><<<grid_for(n / (16 / sizeof(T)), kThreads), kThreads, 0, stream>>>(
          a.mask, a.example_ids, out, a.batch, a.len, a.dim, a.kind, a.radius, a.seed, a.stream);
  } else if (a.scope == StepScope::kToken) {
    const int64_t tokens = a.batch * a.len;
    const int64_t blocks = (tokens + kWarpsPerBlock - 1) / kWarpsPerBlock;
    init_token_kernel<T><<<static_cast<unsigned>(blocks), kWarpsPerBlock * 32, 0, stream>>>(
        a.mask, a.example_ids, out, tokens, a.len, a.dim, a.kind, a.radius, a.seed, a.stream);
  } else {
    STURDY_USAGE_CHECK(a.batch < 65536, "adv_init: batch {} exceeds the grid's 65535 examples", a.batch);
    const StepShape s = step_shape(a.batch, a.len, a.dim);
    const dim3 grid(s.chunks, static_cast<unsigned>(a.batch));
    auto* partials = static_cast<double2*>(ws);
    init_sums_kernel<<<grid, kThreads, 0, stream>>>(a.mask, a.example_ids, s, a.seed, a.stream, partials);
    check_launch("adv_init sums");
    init_apply_kernel<T><<<grid, kThreads, 0, stream>>>(a.mask, a.example_ids, out, s, a.kind, a.radius, a.seed, a.stream,
                                                       partials);
  }
  check_launch("adv_init");
}

int row_threads(int64_t classes, int vec) {
  int threads = 32;
  while (threads < 1024 && int64_t{threads} * vec * 4 < classes) threads *= 2;  // ≥ 4 vectors per thread
  return threads;
}

template <class T>
void sym_kl_typed(const SymKLArgs& a, void* ws, cudaStream_t stream) {
  const T* pa = static_cast<const T*>(a.p_logits);
  const T* qa = static_cast<const T*>(a.q_logits);
  T* gp = static_cast<T*>(a.grad_p);
  T* gq = static_cast<T*>(a.grad_q);
  auto* row_values = static_cast<float*>(ws);
  const float inv_rows = 1.f / static_cast<float>(a.rows);
  STURDY_USAGE_CHECK(a.rows < (int64_t{1} << 31), "sym_kl: {} rows exceed one grid", a.rows);
  const unsigned rows = static_cast<unsigned>(a.rows);
  constexpr int kV = 16 / sizeof(T);
  if (vector_width<T>(a.classes, {pa, qa, gp, gq}) == 1)
    sym_kl_row_kernel<T, 1><<<rows, row_threads(a.classes, 1), 0, stream>>>(pa, qa, gp, gq, a.classes, inv_rows, row_values);
  else
    sym_kl_row_kernel<T, kV><<<rows, row_threads(a.classes, kV), 0, stream>>>(pa, qa, gp, gq, a.classes, inv_rows,
                                                                              row_values);
  check_launch("sym_kl rows");
  mean_kernel<<<1, 1024, 0, stream>>>(row_values, a.rows, a.value);
  check_launch("sym_kl mean");
}

}  // namespace

void cuda_check(cudaError_t status, const char* what, const char* file, int line) {
  if (status == cudaSuccess) return;
  const char* hint = "";
  switch (status) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
      hint = " (no usable GPU: check nvidia-smi and that the driver supports CUDA 13)";
      break;
    case cudaErrorNoKernelImageForDevice:
    case cudaErrorUnsupportedPtxVersion:
      hint = " (binary not built for this GPU: set CMAKE_CUDA_ARCHITECTURES to include its compute capability)";
      break;
    case cudaErrorMemoryAllocation:
      hint = " (out of device memory: smaller batch or fewer bench sizes)";
      break;
    case cudaErrorIllegalAddress:
    case cudaErrorMisalignedAddress:
      hint = " (bad device pointer: are the pointers device memory of the right size? run under compute-sanitizer)";
      break;
    case cudaErrorInvalidConfiguration:
      hint = " (grid or block too large for the shape)";
      break;
    default:
      break;
  }
  throw RuntimeError(fmt::format("{}:{}: CUDA error {} ({}) in {}{}", file, line, cudaGetErrorName(status),
                                 cudaGetErrorString(status), what, hint));
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

size_t adv_step_project_workspace_bytes(const StepArgs& a) {
  check_step_args(a);
  if (a.norm != StepNorm::kL2 || a.scope != StepScope::kExample || a.batch * a.len * a.dim == 0) return 0;
  return static_cast<size_t>(a.batch) * step_shape(a.batch, a.len, a.dim).chunks * sizeof(StepSums);
}

size_t adv_init_workspace_bytes(const InitArgs& a) {
  check_init_args(a);
  if (a.norm != StepNorm::kL2 || a.scope != StepScope::kExample || a.batch * a.len * a.dim == 0) return 0;
  return static_cast<size_t>(a.batch) * step_shape(a.batch, a.len, a.dim).chunks * sizeof(double2);
}

size_t sym_kl_workspace_bytes(const SymKLArgs& a) {
  check_sym_kl_args(a);
  return static_cast<size_t>(a.rows) * sizeof(float);
}

void adv_step_project(const StepArgs& a, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  check_workspace("adv_step_project", adv_step_project_workspace_bytes(a), workspace, workspace_bytes);
  if (a.batch * a.len * a.dim == 0) return;
  if (a.dtype == DType::kFloat32) step_dispatch<float>(a, workspace, stream);
  else step_dispatch<uint16_t>(a, workspace, stream);
}

void adv_init(const InitArgs& a, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  check_workspace("adv_init", adv_init_workspace_bytes(a), workspace, workspace_bytes);
  if (a.batch * a.len * a.dim == 0) return;
  if (a.radius == 0.f) {
    STURDY_CUDA_CHECK(cudaMemsetAsync(a.out, 0, a.batch * a.len * a.dim * dtype_size(a.dtype), stream));
    return;
  }
  if (a.dtype == DType::kFloat32) init_typed<float>(a, workspace, stream);
  else init_typed<uint16_t>(a, workspace, stream);
}

void sym_kl_forward_backward(const SymKLArgs& a, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  check_workspace("sym_kl", sym_kl_workspace_bytes(a), workspace, workspace_bytes);
  if (a.dtype == DType::kFloat32) sym_kl_typed<float>(a, workspace, stream);
  else sym_kl_typed<uint16_t>(a, workspace, stream);
}

}  // namespace sturdy::kernels
