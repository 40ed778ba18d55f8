// Argument checks of the adversarial kernels and their host emulation: the kernels'
// per-group algorithms in plain loops over the adv_math.h functions (see adv_ops.h).
#include "sturdy/kernels/adv_ops.h"

#include <vector>

#include "sturdy/core/error.h"

namespace sturdy::kernels {
namespace {

template <class T>
void step_typed(const StepArgs& a) {
  const T* delta = static_cast<const T*>(a.delta);
  const T* grad = static_cast<const T*>(a.grad);
  T* out = static_cast<T*>(a.out);
  const int64_t B = a.batch, L = a.len, D = a.dim;
  const bool has_grad = grad != nullptr && a.alpha != 0.f;
  auto real = [&](int64_t b, int64_t t) { return a.mask == nullptr || a.mask[b * L + t] != 0; };
  auto g_at = [&](int64_t i) { return has_grad ? load_f<T>(grad[i]) : 0.f; };

  if (a.norm == StepNorm::kLinf) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < L; ++t)
        for (int64_t d = 0; d < D; ++d) {
          const int64_t i = (b * L + t) * D + d;
          out[i] = store_f<T>(real(b, t) ? linf_step(load_f<T>(delta[i]), g_at(i), has_grad ? a.alpha : 0.f, a.epsilon)
                                         : 0.f);
        }
    return;
  }
  if (a.scope == StepScope::kExample) {
    // One pass for Σδ², Σδg, Σg² (the device splits it into chunks), then the write.
    for (int64_t b = 0; b < B; ++b) {
      StepSums sums;
      for (int64_t t = 0; t < L; ++t) {
        if (!real(b, t)) continue;
        for (int64_t d = 0; d < D; ++d) {
          const int64_t i = (b * L + t) * D + d;
          sums.add(load_f<T>(delta[i]), g_at(i));
        }
      }
      const float inv_ng = has_grad ? inv_norm_from_sq(sums.gg) : 0.f;
      const float alpha = has_grad ? a.alpha : 0.f;
      const float scale = l2_project_scale(l2_step_sq_norm(sums.dd, sums.dg, sums.gg, alpha, inv_ng), a.epsilon);
      for (int64_t t = 0; t < L; ++t)
        for (int64_t d = 0; d < D; ++d) {
          const int64_t i = (b * L + t) * D + d;
          out[i] = store_f<T>(real(b, t) ? l2_step(load_f<T>(delta[i]), g_at(i), alpha, inv_ng) * scale : 0.f);
        }
    }
    return;
  }
  // Per token (one warp per token on the device): ‖g‖, then ‖x‖, then the write.
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < L; ++t) {
      const int64_t row = (b * L + t) * D;
      if (!real(b, t)) {
        for (int64_t d = 0; d < D; ++d) out[row + d] = store_f<T>(0.f);
        continue;
      }
      double gg = 0;
      for (int64_t d = 0; d < D; ++d) gg += static_cast<double>(g_at(row + d)) * g_at(row + d);
      const float inv_ng = has_grad ? inv_norm_from_sq(gg) : 0.f;
      const float alpha = has_grad ? a.alpha : 0.f;
      double xx = 0;
      for (int64_t d = 0; d < D; ++d) {
        const float x = l2_step(load_f<T>(delta[row + d]), g_at(row + d), alpha, inv_ng);
        xx += static_cast<double>(x) * x;
      }
      const float scale = l2_project_scale(xx, a.epsilon);
      for (int64_t d = 0; d < D; ++d)
        out[row + d] = store_f<T>(l2_step(load_f<T>(delta[row + d]), g_at(row + d), alpha, inv_ng) * scale);
    }
}

template <class T>
void init_typed(const InitArgs& a) {
  T* out = static_cast<T*>(a.out);
  const int64_t B = a.batch, L = a.len, D = a.dim;
  auto real = [&](int64_t b, int64_t t) { return a.mask == nullptr || a.mask[b * L + t] != 0; };
  for (int64_t b = 0; b < B; ++b) {
    const uint64_t key = init_key(a.seed, a.example_ids[b], a.stream);
    auto z_at = [&](int64_t t, int64_t d) {
      return element_draw(key, static_cast<uint32_t>(t), static_cast<uint32_t>(d)).normal;
    };
    if (a.norm == StepNorm::kLinf) {
      for (int64_t t = 0; t < L; ++t)
        for (int64_t d = 0; d < D; ++d)
          out[(b * L + t) * D + d] = store_f<T>(
              real(b, t) ? init_linf(a.kind, element_draw(key, static_cast<uint32_t>(t), static_cast<uint32_t>(d)), a.radius)
                         : 0.f);
      continue;
    }
    if (a.scope == StepScope::kExample) {
      double zz = 0;
      int64_t real_tokens = 0;
      for (int64_t t = 0; t < L; ++t) {
        if (!real(b, t)) continue;
        ++real_tokens;
        for (int64_t d = 0; d < D; ++d) zz += static_cast<double>(z_at(t, d)) * z_at(t, d);
      }
      const double n = static_cast<double>(real_tokens > 0 ? real_tokens : 1) * static_cast<double>(D);
      const float factor = init_l2_factor(a.kind, zz, n, group_uniform(key, 0), a.radius);
      for (int64_t t = 0; t < L; ++t)
        for (int64_t d = 0; d < D; ++d) out[(b * L + t) * D + d] = store_f<T>(real(b, t) ? z_at(t, d) * factor : 0.f);
      continue;
    }
    for (int64_t t = 0; t < L; ++t) {
      double zz = 0;
      for (int64_t d = 0; d < D; ++d) zz += static_cast<double>(z_at(t, d)) * z_at(t, d);
      const float factor = init_l2_factor(a.kind, zz, static_cast<double>(D),
                                          group_uniform(key, static_cast<uint32_t>(t)), a.radius);
      for (int64_t d = 0; d < D; ++d) out[(b * L + t) * D + d] = store_f<T>(real(b, t) ? z_at(t, d) * factor : 0.f);
    }
  }
}

template <class T>
void sym_kl_typed(const SymKLArgs& a) {
  const T* pa = static_cast<const T*>(a.p_logits);
  const T* qa = static_cast<const T*>(a.q_logits);
  T* gp = static_cast<T*>(a.grad_p);
  T* gq = static_cast<T*>(a.grad_q);
  const int64_t C = a.classes;
  const float inv_rows = 1.f / static_cast<float>(a.rows);
  double total = 0;
  for (int64_t r = 0; r < a.rows; ++r) {
    const int64_t row = r * C;
    SoftmaxState sa, sb;  // pass 1: online max and Σexp
    for (int64_t c = 0; c < C; ++c) {
      sa.add(load_f<T>(pa[row + c]));
      sb.add(load_f<T>(qa[row + c]));
    }
    const LogSoftmax lse_a(sa), lse_b(sb);
    KLSums k;  // pass 2: the KL sums
    for (int64_t c = 0; c < C; ++c) k.add(load_f<T>(pa[row + c]), load_f<T>(qa[row + c]), lse_a, lse_b);
    total += k.value;
    for (int64_t c = 0; c < C; ++c) {  // pass 3: the gradients
      float ga, gb;
      sym_kl_grads(load_f<T>(pa[row + c]), load_f<T>(qa[row + c]), lse_a, lse_b, k.pd, k.qd, inv_rows, &ga, &gb);
      gp[row + c] = store_f<T>(ga);
      gq[row + c] = store_f<T>(gb);
    }
  }
  *a.value = static_cast<float>(total / static_cast<double>(a.rows));
}

void check_shape(const char* op, int64_t batch, int64_t len, int64_t dim) {
  STURDY_USAGE_CHECK(batch >= 0 && len >= 0 && dim >= 0, "{}: negative shape ({}, {}, {})", op, batch, len, dim);
  STURDY_USAGE_CHECK(len < (int64_t{1} << 31) && dim < (int64_t{1} << 31),
                     "{}: T ({}) and D ({}) must fit 31 bits (Philox counters, grid sizes)", op, len, dim);
}

}  // namespace

const char* dtype_name(DType t) { return t == DType::kFloat32 ? "float32" : "bfloat16"; }

void check_step_args(const StepArgs& a) {
  check_shape("adv_step_project", a.batch, a.len, a.dim);
  const bool empty = a.batch * a.len * a.dim == 0;
  STURDY_USAGE_CHECK(empty || (a.delta != nullptr && a.out != nullptr), "adv_step_project: null delta or out pointer");
  STURDY_USAGE_CHECK(a.grad == nullptr || a.grad != a.out,
                     "adv_step_project: out must not alias grad (it may alias delta)");
  STURDY_USAGE_CHECK(std::isfinite(a.alpha) && std::isfinite(a.epsilon), "adv_step_project: alpha {} / epsilon {} not finite",
                     a.alpha, a.epsilon);
}

void check_init_args(const InitArgs& a) {
  check_shape("adv_init", a.batch, a.len, a.dim);
  const bool empty = a.batch * a.len * a.dim == 0;
  STURDY_USAGE_CHECK(empty || (a.out != nullptr && a.example_ids != nullptr), "adv_init: null out or example_ids pointer");
  STURDY_USAGE_CHECK(a.radius >= 0.f && std::isfinite(a.radius), "adv_init: radius must be finite and >= 0, got {}",
                     a.radius);
}

void check_sym_kl_args(const SymKLArgs& a) {
  STURDY_USAGE_CHECK(a.rows > 0 && a.classes > 0, "sym_kl: empty logits ({} rows, {} classes)", a.rows, a.classes);
  STURDY_USAGE_CHECK(a.classes < (int64_t{1} << 31), "sym_kl: {} classes do not fit 31 bits", a.classes);
  STURDY_USAGE_CHECK(a.p_logits && a.q_logits && a.grad_p && a.grad_q && a.value, "sym_kl: null pointer argument");
  STURDY_USAGE_CHECK(a.grad_p != a.grad_q && a.grad_p != a.p_logits && a.grad_p != a.q_logits &&
                         a.grad_q != a.p_logits && a.grad_q != a.q_logits,
                     "sym_kl: gradients must not alias each other or the logits (3 passes read the logits)");
}

void host_adv_step_project(const StepArgs& a) {
  check_step_args(a);
  if (a.dtype == DType::kFloat32) step_typed<float>(a);
  else step_typed<uint16_t>(a);
}

void host_adv_init(const InitArgs& a) {
  check_init_args(a);
  if (a.dtype == DType::kFloat32) init_typed<float>(a);
  else init_typed<uint16_t>(a);
}

void host_sym_kl_forward_backward(const SymKLArgs& a) {
  check_sym_kl_args(a);
  if (a.dtype == DType::kFloat32) sym_kl_typed<float>(a);
  else sym_kl_typed<uint16_t>(a);
}

}  // namespace sturdy::kernels
