// Routing of robust/adversarial.h's ops to the CUDA kernels for CUDA tensors. The glue
// (src/robust/adversarial_cuda.cpp) is compiled only with a CUDA-enabled LibTorch, which defines
// STURDY_HAVE_CUDA_KERNELS; without it `handles` is always false and nothing else exists.
//
// In robust/adversarial.cpp, at the top of each op:
//   #ifdef STURDY_HAVE_CUDA_KERNELS
//   if (kernels::handles(delta)) return kernels::cuda_adv_step_project(delta, grad, mask, ball, step_size);
//   #endif
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "sturdy/robust/adversarial.h"

namespace sturdy::kernels {

#ifdef STURDY_HAVE_CUDA_KERNELS
// A CUDA tensor of float32 or bfloat16 (the kernels' dtypes); other tensors keep the
// LibTorch reference. For sym_kl both logits must pass and share the dtype.
bool handles(const torch::Tensor& x);
bool handles(const torch::Tensor& a, const torch::Tensor& b);

// Same contracts as the robust:: functions of the same names (results on x's device and
// stream, no autograd history). Any layout is accepted (made contiguous first).
torch::Tensor cuda_adv_step_project(const torch::Tensor& delta, const torch::Tensor& grad, const torch::Tensor& mask,
                                    const robust::AdvBall& ball, double step_size);
torch::Tensor cuda_adv_project(const torch::Tensor& delta, const torch::Tensor& mask, const robust::AdvBall& ball);
// The keyed start: Philox keyed by (seed, example id, stream, position); same distribution
// as the CPU reference, different numbers (docs/kernels.md).
torch::Tensor cuda_adv_init(const torch::Tensor& embeddings, const torch::Tensor& mask, const robust::AdvBall& ball,
                            const robust::AdvInit& init, const std::vector<int64_t>& example_ids, uint64_t seed,
                            uint64_t stream);
robust::SymKL cuda_sym_kl_forward_backward(const torch::Tensor& p_logits, const torch::Tensor& q_logits);
#else
inline bool handles(const torch::Tensor&) { return false; }
inline bool handles(const torch::Tensor&, const torch::Tensor&) { return false; }
#endif

}  // namespace sturdy::kernels
