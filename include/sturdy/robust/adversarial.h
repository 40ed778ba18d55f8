// Adversarial-step ops on the embedding output: the shared building blocks of the robust
// objectives (fgm, pgd, freeat, freelb, smart) and of the embedding attacks in `sturdy eval`.
//
// δ has the shape of the embeddings (B,T,D); mask (B,T) bool marks real tokens. Every op
// keeps δ exactly zero at padded positions. The "group" a norm is taken over is either one
// example (all real tokens, T_i×D numbers: the Frobenius norm FreeLB uses) or one token
// (D numbers). These are CPU reference implementations in plain LibTorch ops (they also
// run on CUDA tensors); fused CUDA kernels will sit behind the same functions.
//
//   adv_init          δ₀ uniform in, or normal then projected into, the ball of radius r
//   adv_step_project  ĝ = g/‖g‖₂ (l2) or sign(g) (linf);  δ ← Π_ε(δ + α·ĝ);  δ[pad] = 0
//   sym_kl            mean over rows of KL(p‖q) + KL(q‖p), p = softmax(a), q = softmax(b)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "sturdy/config/choice.h"

namespace sturdy::robust {

using ::sturdy::AdvNorm;  // objective.norm's enum (config/choice.h): l2 | linf
enum class AdvScope { kExample, kToken };  // what one norm is taken over
enum class AdvInitKind { kZero, kUniform, kNormal };

}  // namespace sturdy::robust

namespace sturdy {
template <>
struct ChoiceTable<robust::AdvScope> {
  static constexpr const char* key = "scope";
  static constexpr ChoiceName<robust::AdvScope> names[] = {
      {robust::AdvScope::kExample, "example"},
      {robust::AdvScope::kToken, "token"},
  };
};
template <>
struct ChoiceTable<robust::AdvInitKind> {
  static constexpr const char* key = "init";
  static constexpr ChoiceName<robust::AdvInitKind> names[] = {
      {robust::AdvInitKind::kZero, "zero"},
      {robust::AdvInitKind::kUniform, "uniform"},
      {robust::AdvInitKind::kNormal, "normal"},
  };
};
}  // namespace sturdy

namespace sturdy::robust {

// The names of the tables (choice.h): "l2" | "linf"; "example" | "token"; "zero" | "uniform" |
// "normal". UsageError naming `origin`, the names and the closest otherwise.
AdvNorm parse_adv_norm(const std::string& name, const std::string& origin);
AdvScope parse_adv_scope(const std::string& name, const std::string& origin);
AdvInitKind parse_adv_init(const std::string& name, const std::string& origin);
const char* adv_norm_name(AdvNorm norm);
const char* adv_scope_name(AdvScope scope);

// The constraint set: the ε-ball of `norm` around 0, one ball per group of `scope`.
// epsilon <= 0 means no constraint (FreeLB's adv_max_norm = 0).
struct AdvBall {
  AdvNorm norm = AdvNorm::kL2;
  AdvScope scope = AdvScope::kExample;
  double epsilon = 0.5;
};

// Random start. magnitude r is clipped to ε when the ball is bounded.
//   uniform, linf: every element ~ U(-r, r)                     (uniform in the linf ball)
//   uniform, l2:   r·u^(1/n)·z/‖z‖, z ~ N(0, I_n), u ~ U(0, 1)  (uniform in the l2 ball;
//                  n = numbers in the group: T_i·D per example or D per token)
//   normal, l2:    N(0, r²/n) per element (E‖δ‖² = r²), then projected onto the r-ball
//   normal, linf:  N(0, r²) per element, then clamped to [-r, r]
//   zero (or r = 0): δ = 0
struct AdvInit {
  AdvInitKind kind = AdvInitKind::kZero;
  double magnitude = 0.0;
};

// δ₀ (B,T,D) with the dtype/device of `embeddings`, zero at padding, no grad.
// Randomness from `generator` (a CPU torch::Generator; draws are made on the CPU in
// float64 and moved, so CPU and CUDA runs get the same start).
torch::Tensor adv_init(const torch::Tensor& embeddings, const torch::Tensor& mask, const AdvBall& ball,
                       const AdvInit& init, torch::Generator generator);
// The same with counter-based keying, independent of batch composition, padding, rank and
// order: example i's noise is drawn from a CPU generator seeded with
// hash_key({seed, example_ids[i], stream}), as a (T_i, D) block in float64.
torch::Tensor adv_init(const torch::Tensor& embeddings, const torch::Tensor& mask, const AdvBall& ball,
                       const AdvInit& init, const std::vector<int64_t>& example_ids, uint64_t seed,
                       uint64_t stream);

// One ascent step: returns δ' = Π(δ + step_size·ĝ) with g masked to real tokens first.
//   l2:   ĝ = g / max(‖g‖₂, 1e-12), the norm over the group of ball.scope
//   linf: ĝ = sign(g) (the same for either scope)
//   Π:    l2: δ·min(1, ε/‖δ‖₂) per group; linf: clamp(δ, -ε, ε); none when ε <= 0
// Padded positions of δ' are exactly 0. No autograd history (computed under NoGradGuard).
torch::Tensor adv_step_project(const torch::Tensor& delta, const torch::Tensor& grad,
                               const torch::Tensor& mask, const AdvBall& ball, double step_size);
// Π alone (used for the random start and by objectives that step differently).
torch::Tensor adv_project(const torch::Tensor& delta, const torch::Tensor& mask, const AdvBall& ball);
// The per-group norms of x (B,T,D) over real tokens: (B) for kExample, (B,T) for kToken.
torch::Tensor adv_group_norm(const torch::Tensor& x, const torch::Tensor& mask, AdvNorm norm,
                             AdvScope scope);

// Symmetric KL between the softmaxes of two logit tensors (..., C), averaged over all
// leading positions (the batch):
//   S = mean_rows Σ_c (p_c − q_c)(log p_c − log q_c) = KL(p‖q) + KL(q‖p).
// Differentiable in both arguments; the backward is the closed form
//   ∂S/∂a = p ⊙ (d − Σ_c p_c d_c) + (p − q),   ∂S/∂b = q ⊙ (Σ_c q_c d_c − d) + (q − p),
//   d = log p − log q, each divided by the number of rows.
// Computed in float32 or wider; the result has the promoted input dtype.
torch::Tensor sym_kl(const torch::Tensor& p_logits, const torch::Tensor& q_logits);

// The value and both gradients of sym_kl without autograd (the fused-kernel contract).
struct SymKL {
  torch::Tensor value;   // scalar
  torch::Tensor grad_p;  // ∂S/∂p_logits, shape of p_logits
  torch::Tensor grad_q;  // ∂S/∂q_logits
};
SymKL sym_kl_forward_backward(const torch::Tensor& p_logits, const torch::Tensor& q_logits);

}  // namespace sturdy::robust
