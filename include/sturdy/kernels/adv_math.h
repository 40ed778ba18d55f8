// Per-element and per-group math of the adversarial-step kernels, shared by the CUDA kernels
// (src/kernels/adv_kernels.cu) and the host emulation (src/kernels/adv_host.cpp), so the
// arithmetic the GPU runs is the arithmetic CI tests without a GPU. Plain C++17 with no
// CUDA or torch headers: under nvcc the functions are __host__ __device__.
//
// Formulas (see sturdy/robust/adversarial.h for the CPU reference):
//   l2 step:   x = δ + α·g/max(‖g‖,1e-12);  out = x·min(1, ε/max(‖x‖,1e-12)) (ε > 0)
//   linf step: out = clamp(δ + α·sign(g), -ε, ε)
//   per example, ‖x‖² comes from three sums taken in one pass over δ and g:
//     ‖x‖² = Σδ² + 2α·Σδg/n_g + α²·Σg²/n_g²,  n_g = max(‖g‖, 1e-12)   (double precision)
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define STURDY_HD __host__ __device__ __forceinline__
#else
#define STURDY_HD inline
#endif

namespace sturdy::kernels {

constexpr float kTinyNorm = 1e-12f;  // the reference's clamp_min for norms

enum class DType : int { kFloat32 = 0, kBFloat16 = 1 };
enum class StepNorm : int { kL2 = 0, kLinf = 1 };
enum class StepScope : int { kExample = 0, kToken = 1 };
enum class InitKind : int { kUniform = 0, kNormal = 1 };

// ---- bf16 storage (uint16_t: the top half of an IEEE float) ----------------------------
STURDY_HD float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}
// Round to nearest even, NaN kept quiet (what torch and __float2bfloat16_rn do).
STURDY_HD uint16_t float_to_bf16(float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

template <class T> STURDY_HD float load_f(T v);
template <> STURDY_HD float load_f<float>(float v) { return v; }
template <> STURDY_HD float load_f<uint16_t>(uint16_t v) { return bf16_to_float(v); }
template <class T> STURDY_HD T store_f(float v);
template <> STURDY_HD float store_f<float>(float v) { return v; }
template <> STURDY_HD uint16_t store_f<uint16_t>(float v) { return float_to_bf16(v); }

// ---- adv_step_project ------------------------------------------------------------------
STURDY_HD float sign_f(float g) { return g > 0.f ? 1.f : (g < 0.f ? -1.f : 0.f); }
STURDY_HD float clamp_f(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

// linf: δ + α·sign(g), clamped when the ball is bounded (ε > 0).
STURDY_HD float linf_step(float delta, float grad, float alpha, float eps) {
  const float x = delta + alpha * sign_f(grad);
  return eps > 0.f ? clamp_f(x, -eps, eps) : x;
}
// 1 / max(‖v‖, 1e-12) from Σv².
STURDY_HD float inv_norm_from_sq(double sum_sq) {
  const float n = static_cast<float>(sqrt(sum_sq));
  return 1.f / (n > kTinyNorm ? n : kTinyNorm);
}
// Projection factor min(1, ε/max(‖x‖,1e-12)); 1 when unbounded.
STURDY_HD float l2_project_scale(double sum_sq_x, float eps) {
  if (eps <= 0.f) return 1.f;
  float n = static_cast<float>(sqrt(sum_sq_x));
  n = n > kTinyNorm ? n : kTinyNorm;
  const float s = eps / n;
  return s < 1.f ? s : 1.f;
}
// ‖δ + α·g·inv_ng‖² from Σδ², Σδg, Σg² (clamped at 0 against rounding).
STURDY_HD double l2_step_sq_norm(double s_dd, double s_dg, double s_gg, float alpha, float inv_ng) {
  const double a = static_cast<double>(alpha) * inv_ng;
  const double v = s_dd + 2.0 * a * s_dg + a * a * s_gg;
  return v > 0.0 ? v : 0.0;
}
// The l2 step of one element before projection.
STURDY_HD float l2_step(float delta, float grad, float alpha, float inv_ng) {
  return delta + alpha * (grad * inv_ng);
}

// Three running sums of one example (or partial chunk): Σδ², Σδg, Σg².
struct StepSums {
  double dd = 0, dg = 0, gg = 0;
  STURDY_HD void add(float d, float g) {
    dd += static_cast<double>(d) * d;
    dg += static_cast<double>(d) * g;
    gg += static_cast<double>(g) * g;
  }
  STURDY_HD void merge(const StepSums& o) {
    dd += o.dd;
    dg += o.dg;
    gg += o.gg;
  }
};

// ---- counter-based RNG (Philox4x32-10, Salmon et al. 2011) -----------------------------
struct U32x4 {
  uint32_t v[4];
};
STURDY_HD uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}
STURDY_HD U32x4 philox4x32_10(U32x4 ctr, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo32(0xD2511F53u, ctr.v[0], &hi0);
    const uint32_t lo1 = mulhilo32(0xCD9E8D57u, ctr.v[2], &hi1);
    ctr = U32x4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return ctr;
}
STURDY_HD uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
// The Philox key of one example: (seed, example id, stream) mixed by splitmix64.
STURDY_HD uint64_t init_key(uint64_t seed, int64_t example_id, uint64_t stream) {
  return splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(example_id)) ^ stream);
}
// Uniform in (0, 1] from 24 random bits (never 0, so log() is finite).
STURDY_HD float uniform_01(uint32_t bits) { return (static_cast<float>(bits >> 8) + 1.f) * (1.f / 16777216.f); }

// Draws of element (t, d) of one example: [0] a uniform in (0,1], [1] a standard normal
// (Box-Muller on two more words). Counter = (t, d, purpose 0, 0); position-keyed, so the
// start of example i does not depend on the rest of the batch (right padding).
struct ElementDraw {
  float uniform;
  float normal;
};
STURDY_HD ElementDraw element_draw(uint64_t key, uint32_t t, uint32_t d) {
  const U32x4 r = philox4x32_10(U32x4{{t, d, 0u, 0u}}, static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32));
  const float u1 = uniform_01(r.v[1]);
  const float u2 = uniform_01(r.v[2]);
  const float rad = sqrtf(-2.f * logf(u1));
  return ElementDraw{uniform_01(r.v[0]), rad * cosf(6.2831853071795864f * u2)};
}
// The group uniform u of the uniform-l2 start (radius r·u^(1/n)): counter (t, 0, 1, 0),
// t = 0 for the per-example group.
STURDY_HD float group_uniform(uint64_t key, uint32_t t) {
  const U32x4 r = philox4x32_10(U32x4{{t, 0u, 1u, 0u}}, static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32));
  return uniform_01(r.v[0]);
}

// The pre-scaling value z of one element: uniform-linf uses (2u-1)·r directly (final);
// every other start uses the normal draw and is scaled per group afterwards.
STURDY_HD bool init_is_elementwise(InitKind kind, StepNorm norm) { return norm == StepNorm::kLinf; }
STURDY_HD float init_linf(InitKind kind, ElementDraw e, float r) {
  return kind == InitKind::kUniform ? (2.f * e.uniform - 1.f) * r : clamp_f(e.normal * r, -r, r);
}
// Group factor for the l2 starts, from Σz² of the group's normal draws and n numbers:
//   uniform: r·u^(1/n)/‖z‖;   normal: σ·min(1, r/(σ‖z‖)), σ = r/√n.
STURDY_HD float init_l2_factor(InitKind kind, double sum_zz, double n, float u, float r) {
  float nz = static_cast<float>(sqrt(sum_zz));
  nz = nz > kTinyNorm ? nz : kTinyNorm;
  if (kind == InitKind::kUniform) return r * static_cast<float>(pow(static_cast<double>(u), 1.0 / n)) / nz;
  const float sigma = r / static_cast<float>(sqrt(n));
  const float scaled = sigma * nz;
  return sigma * (scaled > r ? r / scaled : 1.f);
}

// ---- sym_kl ------------------------------------------------------------------------------
// Online softmax state: running max m and Σexp(x - m).
struct SoftmaxState {
  float m = -INFINITY;
  float s = 0.f;
  STURDY_HD void add(float x) {
    if (x > m) {
      s = s * expf(m - x) + 1.f;
      m = x;
    } else {
      s += expf(x - m);
    }
  }
  STURDY_HD void merge(const SoftmaxState& o) {
    if (o.m == -INFINITY) return;
    if (m == -INFINITY) {
      *this = o;
      return;
    }
    if (o.m > m) {
      s = s * expf(m - o.m) + o.s;
      m = o.m;
    } else {
      s += o.s * expf(o.m - m);
    }
  }
};
// log softmax of one element as (x − max) − log Σexp(x − max): subtracting the max first
// keeps the digits that m + log(s) would round away when |x| is large (as log_softmax does).
struct LogSoftmax {
  float m, log_s;
  STURDY_HD explicit LogSoftmax(const SoftmaxState& st) : m(st.m), log_s(logf(st.s)) {}
  STURDY_HD float operator()(float x) const { return (x - m) - log_s; }
};
// Row sums of the second pass: Σ p·d, Σ q·d, Σ (p-q)·d with d = log p - log q.
struct KLSums {
  float pd = 0.f, qd = 0.f, value = 0.f;
  STURDY_HD void add(float a, float b, const LogSoftmax& ls_a, const LogSoftmax& ls_b) {
    const float lp = ls_a(a), lq = ls_b(b);
    const float p = expf(lp), q = expf(lq), d = lp - lq;
    pd += p * d;
    qd += q * d;
    value += (p - q) * d;
  }
  STURDY_HD void merge(const KLSums& o) {
    pd += o.pd;
    qd += o.qd;
    value += o.value;
  }
};
// The closed-form gradients of one element (divided by the number of rows).
STURDY_HD void sym_kl_grads(float a, float b, const LogSoftmax& ls_a, const LogSoftmax& ls_b, float sum_pd, float sum_qd,
                            float inv_rows, float* grad_a, float* grad_b) {
  const float lp = ls_a(a), lq = ls_b(b);
  const float p = expf(lp), q = expf(lq), d = lp - lq;
  *grad_a = (p * (d - sum_pd) + (p - q)) * inv_rows;
  *grad_b = (q * (sum_qd - d) + (q - p)) * inv_rows;
}

}  // namespace sturdy::kernels
