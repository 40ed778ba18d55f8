// Adversarial-step ops, CPU reference (see adversarial.h for the formulas).
#include "sturdy/robust/adversarial.h"

#include <cmath>

#include "sturdy/config/config.h"
#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#ifdef STURDY_HAVE_CUDA_KERNELS
#include "sturdy/robust/adversarial_cuda.h"  // CUDA tensors go to the fused kernels (docs/kernels.md)
#endif

namespace sturdy::robust {
namespace {

constexpr double kTinyNorm = 1e-12;

void check_shapes(const torch::Tensor& x, const torch::Tensor& mask, const char* what) {
  STURDY_CHECK(x.dim() == 3, "{} must be (B,T,D), got {} dims", what, x.dim());
  STURDY_CHECK(mask.dim() == 2 && mask.size(0) == x.size(0) && mask.size(1) == x.size(1),
               "mask must be (B,T) = ({},{}), got {}", x.size(0), x.size(1), c10::str(mask.sizes()));
}

// (B,T,1) 0/1 in x's dtype.
torch::Tensor token_mask(const torch::Tensor& mask, const torch::Tensor& like) {
  return mask.to(like.device(), like.scalar_type()).unsqueeze(-1);
}

// Broadcastable per-group factor: (B) -> (B,1,1); (B,T) -> (B,T,1).
torch::Tensor per_group(const torch::Tensor& v, AdvScope scope) {
  return scope == AdvScope::kExample ? v.view({-1, 1, 1}) : v.unsqueeze(-1);
}

// Numbers per group: T_i·D per example (B) or D per token (B,T), in float64.
torch::Tensor group_size(const torch::Tensor& mask, int64_t dim, AdvScope scope) {
  auto m = mask.to(torch::kFloat64);
  if (scope == AdvScope::kExample) return m.sum(1).clamp_min(1.0) * static_cast<double>(dim);
  return torch::full_like(m, static_cast<double>(dim));
}

// δ₀ from raw draws (CPU float64): z (B,T,D) are U(0,1) for uniform-linf and N(0,1)
// otherwise; u (B,T) are U(0,1) (per-example groups use u[:,0]).
torch::Tensor init_from_draws(const torch::Tensor& z, const torch::Tensor& u, const torch::Tensor& mask,
                              const AdvBall& ball, double r) {
  auto m = mask.to(torch::kCPU);
  auto mf = token_mask(m, z);
  const int64_t dim = z.size(2);
  if (ball.norm == AdvNorm::kLinf) return z.mul(2).sub(1).mul(r).mul(mf);
  auto zm = z * mf;
  auto n = group_size(m, dim, ball.scope);
  auto uu = ball.scope == AdvScope::kExample ? u.select(1, 0) : u;
  auto norms = adv_group_norm(zm, m, AdvNorm::kL2, ball.scope).clamp_min(kTinyNorm);
  auto radius = uu.pow(n.reciprocal()) * r;  // uniform radius in an n-ball
  return zm * per_group(radius / norms, ball.scope);
}

torch::Tensor normal_init(const torch::Tensor& z, const torch::Tensor& mask, const AdvBall& ball, double r) {
  auto m = mask.to(torch::kCPU);
  auto mf = token_mask(m, z);
  AdvBall radius_ball{ball.norm, ball.scope, r};
  if (ball.norm == AdvNorm::kLinf) return adv_project(z * r * mf, m, radius_ball);
  auto n = group_size(m, z.size(2), ball.scope);
  auto sigma = per_group(n.rsqrt() * r, ball.scope);
  return adv_project(z * sigma * mf, m, radius_ball);
}

double init_radius(const AdvBall& ball, const AdvInit& init) {
  STURDY_USAGE_CHECK(init.magnitude >= 0, "adversarial init magnitude must be >= 0, got {}", init.magnitude);
  return ball.epsilon > 0 ? std::min(init.magnitude, ball.epsilon) : init.magnitude;
}

torch::Tensor finish_init(const torch::Tensor& z, const torch::Tensor& u, const torch::Tensor& embeddings,
                          const torch::Tensor& mask, const AdvBall& ball, const AdvInit& init, double r) {
  torch::Tensor d = init.kind == AdvInitKind::kUniform ? init_from_draws(z, u, mask, ball, r)
                                                       : normal_init(z, mask, ball, r);
  return d.to(embeddings.device(), embeddings.scalar_type());
}

}  // namespace

AdvNorm parse_adv_norm(const std::string& name, const std::string& origin) { return parse_choice<AdvNorm>(name, origin); }
AdvScope parse_adv_scope(const std::string& name, const std::string& origin) {
  return parse_choice<AdvScope>(name, origin);
}
AdvInitKind parse_adv_init(const std::string& name, const std::string& origin) {
  return parse_choice<AdvInitKind>(name, origin);
}
const char* adv_norm_name(AdvNorm norm) { return choice_name(norm); }
const char* adv_scope_name(AdvScope scope) { return choice_name(scope); }

torch::Tensor adv_group_norm(const torch::Tensor& x, const torch::Tensor& mask, AdvNorm norm,
                             AdvScope scope) {
  check_shapes(x, mask, "x");
  auto xm = x * token_mask(mask, x);
  if (norm == AdvNorm::kL2) {
    auto sq = xm.square().sum(-1);  // (B,T)
    return scope == AdvScope::kExample ? sq.sum(1).sqrt() : sq.sqrt();
  }
  auto a = xm.abs().amax(-1);  // (B,T)
  return scope == AdvScope::kExample ? a.amax(1) : a;
}

torch::Tensor adv_project(const torch::Tensor& delta, const torch::Tensor& mask, const AdvBall& ball) {
#ifdef STURDY_HAVE_CUDA_KERNELS
  if (kernels::handles(delta)) return kernels::cuda_adv_project(delta, mask, ball);
#endif
  torch::NoGradGuard no_grad;
  check_shapes(delta, mask, "delta");
  auto mf = token_mask(mask, delta);
  if (ball.epsilon <= 0) return delta * mf;
  if (ball.norm == AdvNorm::kLinf) return delta.clamp(-ball.epsilon, ball.epsilon) * mf;
  auto norms = adv_group_norm(delta, mask, AdvNorm::kL2, ball.scope);
  auto scale = (ball.epsilon / norms.clamp_min(kTinyNorm)).clamp_max(1.0);
  return delta * per_group(scale, ball.scope) * mf;
}

torch::Tensor adv_step_project(const torch::Tensor& delta, const torch::Tensor& grad,
                               const torch::Tensor& mask, const AdvBall& ball, double step_size) {
#ifdef STURDY_HAVE_CUDA_KERNELS
  if (kernels::handles(delta)) return kernels::cuda_adv_step_project(delta, grad, mask, ball, step_size);
#endif
  torch::NoGradGuard no_grad;
  check_shapes(delta, mask, "delta");
  STURDY_CHECK(grad.sizes() == delta.sizes(), "grad {} and delta {} differ in shape", c10::str(grad.sizes()),
               c10::str(delta.sizes()));
  auto g = grad.to(delta.scalar_type()) * token_mask(mask, delta);
  torch::Tensor direction;
  if (ball.norm == AdvNorm::kLinf) {
    direction = g.sign();
  } else {
    auto norms = adv_group_norm(g, mask, AdvNorm::kL2, ball.scope).clamp_min(kTinyNorm);
    direction = g / per_group(norms, ball.scope);
  }
  return adv_project(delta.detach() + step_size * direction, mask, ball);
}

torch::Tensor adv_init(const torch::Tensor& embeddings, const torch::Tensor& mask, const AdvBall& ball,
                       const AdvInit& init, torch::Generator generator) {
  torch::NoGradGuard no_grad;
  check_shapes(embeddings, mask, "embeddings");
  const double r = init_radius(ball, init);
  if (init.kind == AdvInitKind::kZero || r == 0) return torch::zeros_like(embeddings);
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const auto sizes = embeddings.sizes();
  const bool uniform_elems = init.kind == AdvInitKind::kUniform && ball.norm == AdvNorm::kLinf;
  auto z = uniform_elems ? torch::rand(sizes, generator, opts) : torch::randn(sizes, generator, opts);
  auto u = torch::rand({sizes[0], sizes[1]}, generator, opts);
  return finish_init(z, u, embeddings, mask, ball, init, r);
}

torch::Tensor adv_init(const torch::Tensor& embeddings, const torch::Tensor& mask, const AdvBall& ball,
                       const AdvInit& init, const std::vector<int64_t>& example_ids, uint64_t seed,
                       uint64_t stream) {
#ifdef STURDY_HAVE_CUDA_KERNELS
  // On the GPU: one kernel keyed the same way (Philox per (seed, example id, stream, position)),
  // instead of this float64 CPU loop and a copy to the device.
  if (kernels::handles(embeddings)) {
    return kernels::cuda_adv_init(embeddings, mask, ball, init, example_ids, seed, stream);
  }
#endif
  torch::NoGradGuard no_grad;
  check_shapes(embeddings, mask, "embeddings");
  STURDY_CHECK(static_cast<int64_t>(example_ids.size()) == embeddings.size(0),
               "{} example ids for a batch of {}", example_ids.size(), embeddings.size(0));
  const double r = init_radius(ball, init);
  if (init.kind == AdvInitKind::kZero || r == 0) return torch::zeros_like(embeddings);
  const int64_t batch = embeddings.size(0), len = embeddings.size(1), dim = embeddings.size(2);
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const bool uniform_elems = init.kind == AdvInitKind::kUniform && ball.norm == AdvNorm::kLinf;
  auto z = torch::zeros({batch, len, dim}, opts);
  auto u = torch::ones({batch, len}, opts);
  auto m = mask.to(torch::kCPU);
  for (int64_t i = 0; i < batch; ++i) {
    auto real = m[i].nonzero().squeeze(1);  // positions of real tokens, in order
    const int64_t n = real.size(0);
    if (n == 0) continue;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(
        hash_key({seed, static_cast<uint64_t>(example_ids[i]), stream}));
    auto zi = uniform_elems ? torch::rand({n, dim}, gen, opts) : torch::randn({n, dim}, gen, opts);
    auto ui = torch::rand({n}, gen, opts);
    z[i].index_copy_(0, real, zi);
    u[i].index_copy_(0, real, ui);
  }
  return finish_init(z, u, embeddings, mask, ball, init, r);
}

SymKL sym_kl_forward_backward(const torch::Tensor& p_logits, const torch::Tensor& q_logits) {
#ifdef STURDY_HAVE_CUDA_KERNELS
  if (kernels::handles(p_logits, q_logits)) return kernels::cuda_sym_kl_forward_backward(p_logits, q_logits);
#endif
  torch::NoGradGuard no_grad;
  STURDY_CHECK(p_logits.sizes() == q_logits.sizes(), "sym_kl: shapes {} and {} differ", c10::str(p_logits.sizes()),
               c10::str(q_logits.sizes()));
  STURDY_CHECK(p_logits.dim() >= 1 && p_logits.numel() > 0, "sym_kl: empty logits");
  const auto type = at::promote_types(at::promote_types(p_logits.scalar_type(), q_logits.scalar_type()),
                                      torch::kFloat32);
  const double rows = static_cast<double>(p_logits.numel() / p_logits.size(-1));
  auto log_p = torch::log_softmax(p_logits.to(type), -1);
  auto log_q = torch::log_softmax(q_logits.to(type), -1);
  auto p = log_p.exp(), q = log_q.exp();
  auto d = log_p - log_q;
  SymKL out;
  out.value = ((p - q) * d).sum() / rows;
  out.grad_p = ((p * (d - (p * d).sum(-1, true)) + (p - q)) / rows).to(p_logits.scalar_type());
  out.grad_q = ((q * ((q * d).sum(-1, true) - d) + (q - p)) / rows).to(q_logits.scalar_type());
  return out;
}

namespace {
// sym_kl as an autograd node whose backward is the closed form (no graph through softmax).
struct SymKLFunction : torch::autograd::Function<SymKLFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& p_logits,
                               const torch::Tensor& q_logits) {
    SymKL r = sym_kl_forward_backward(p_logits, q_logits);
    ctx->save_for_backward({r.grad_p, r.grad_q});
    return r.value;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto& g = grad_out[0];
    return {saved[0] * g.to(saved[0].scalar_type()), saved[1] * g.to(saved[1].scalar_type())};
  }
};
}  // namespace

torch::Tensor sym_kl(const torch::Tensor& p_logits, const torch::Tensor& q_logits) {
  return SymKLFunction::apply(p_logits, q_logits);
}

}  // namespace sturdy::robust
