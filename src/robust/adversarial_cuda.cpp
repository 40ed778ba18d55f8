// Torch glue of the adversarial kernels (adversarial_cuda.h): contiguous inputs, outputs and
// workspace from the caching allocator, the current stream of the tensor's device.
// Compiled only against a CUDA-enabled LibTorch (src/robust/CMakeLists.txt).
#include "sturdy/robust/adversarial_cuda.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "sturdy/core/error.h"
#include "sturdy/kernels/adv_kernels.h"

namespace sturdy::kernels {
namespace {

DType dtype_of(const torch::Tensor& x) { return x.scalar_type() == torch::kFloat32 ? DType::kFloat32 : DType::kBFloat16; }

StepNorm to_norm(robust::AdvNorm n) { return n == robust::AdvNorm::kL2 ? StepNorm::kL2 : StepNorm::kLinf; }
StepScope to_scope(robust::AdvScope s) { return s == robust::AdvScope::kExample ? StepScope::kExample : StepScope::kToken; }

cudaStream_t current_stream(const torch::Tensor& x) { return at::cuda::getCurrentCUDAStream(x.device().index()).stream(); }

torch::Tensor workspace(size_t bytes, const torch::Tensor& like) {
  return torch::empty({static_cast<int64_t>(std::max<size_t>(bytes, 1))},
                      torch::TensorOptions().dtype(torch::kUInt8).device(like.device()));
}

// (B,T) mask as contiguous bytes on x's device.
torch::Tensor device_mask(const torch::Tensor& mask, const torch::Tensor& x) {
  STURDY_CHECK(mask.dim() == 2 && mask.size(0) == x.size(0) && mask.size(1) == x.size(1),
               "mask must be (B,T) = ({},{}), got {}", x.size(0), x.size(1), c10::str(mask.sizes()));
  return mask.to(x.device(), torch::kBool).contiguous();
}

torch::Tensor step(const torch::Tensor& delta_in, const torch::Tensor* grad_in, const torch::Tensor& mask_in,
                   const robust::AdvBall& ball, double step_size) {
  torch::NoGradGuard no_grad;
  STURDY_CHECK(delta_in.dim() == 3, "delta must be (B,T,D), got {} dims", delta_in.dim());
  const c10::cuda::CUDAGuard guard(delta_in.device());
  auto delta = delta_in.detach().contiguous();
  auto mask = device_mask(mask_in, delta);
  torch::Tensor grad;
  if (grad_in) {
    STURDY_CHECK(grad_in->sizes() == delta.sizes(), "grad {} and delta {} differ in shape", c10::str(grad_in->sizes()),
                 c10::str(delta.sizes()));
    grad = grad_in->detach().to(delta.device(), delta.scalar_type()).contiguous();
  }
  auto out = torch::empty_like(delta, torch::MemoryFormat::Contiguous);
  StepArgs a;
  a.delta = delta.data_ptr(), a.grad = grad_in ? grad.data_ptr() : nullptr;
  a.mask = reinterpret_cast<const uint8_t*>(mask.data_ptr<bool>()), a.out = out.data_ptr();
  a.batch = delta.size(0), a.len = delta.size(1), a.dim = delta.size(2), a.dtype = dtype_of(delta);
  a.norm = to_norm(ball.norm), a.scope = to_scope(ball.scope);
  a.epsilon = static_cast<float>(ball.epsilon), a.alpha = static_cast<float>(step_size);
  const size_t bytes = adv_step_project_workspace_bytes(a);
  auto ws = workspace(bytes, delta);
  adv_step_project(a, ws.data_ptr(), bytes, current_stream(delta));
  return out;
}

}  // namespace

bool handles(const torch::Tensor& x) {
  return x.defined() && x.is_cuda() && (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kBFloat16);
}
bool handles(const torch::Tensor& a, const torch::Tensor& b) {
  return handles(a) && handles(b) && a.scalar_type() == b.scalar_type() && a.device() == b.device();
}

torch::Tensor cuda_adv_step_project(const torch::Tensor& delta, const torch::Tensor& grad, const torch::Tensor& mask,
                                    const robust::AdvBall& ball, double step_size) {
  return step(delta, &grad, mask, ball, step_size);
}

torch::Tensor cuda_adv_project(const torch::Tensor& delta, const torch::Tensor& mask, const robust::AdvBall& ball) {
  return step(delta, nullptr, mask, ball, 0.0);
}

torch::Tensor cuda_adv_init(const torch::Tensor& embeddings, const torch::Tensor& mask_in, const robust::AdvBall& ball,
                            const robust::AdvInit& init, const std::vector<int64_t>& example_ids, uint64_t seed,
                            uint64_t stream) {
  torch::NoGradGuard no_grad;
  STURDY_CHECK(embeddings.dim() == 3, "embeddings must be (B,T,D), got {} dims", embeddings.dim());
  STURDY_CHECK(static_cast<int64_t>(example_ids.size()) == embeddings.size(0), "{} example ids for a batch of {}",
               example_ids.size(), embeddings.size(0));
  STURDY_USAGE_CHECK(init.magnitude >= 0, "adversarial init magnitude must be >= 0, got {}", init.magnitude);
  const double r = ball.epsilon > 0 ? std::min(init.magnitude, ball.epsilon) : init.magnitude;
  const c10::cuda::CUDAGuard guard(embeddings.device());
  auto out = torch::zeros(embeddings.sizes(), embeddings.options().memory_format(torch::MemoryFormat::Contiguous));
  if (init.kind == robust::AdvInitKind::kZero || r == 0) return out;
  auto mask = device_mask(mask_in, embeddings);
  auto ids = torch::tensor(example_ids, torch::TensorOptions().dtype(torch::kInt64)).to(embeddings.device());
  InitArgs a;
  a.mask = reinterpret_cast<const uint8_t*>(mask.data_ptr<bool>()), a.example_ids = ids.data_ptr<int64_t>();
  a.out = out.data_ptr(), a.batch = out.size(0), a.len = out.size(1), a.dim = out.size(2), a.dtype = dtype_of(out);
  a.norm = to_norm(ball.norm), a.scope = to_scope(ball.scope);
  a.kind = init.kind == robust::AdvInitKind::kUniform ? InitKind::kUniform : InitKind::kNormal;
  a.radius = static_cast<float>(r), a.seed = seed, a.stream = stream;
  const size_t bytes = adv_init_workspace_bytes(a);
  auto ws = workspace(bytes, out);
  adv_init(a, ws.data_ptr(), bytes, current_stream(out));
  return out;
}

robust::SymKL cuda_sym_kl_forward_backward(const torch::Tensor& p_in, const torch::Tensor& q_in) {
  torch::NoGradGuard no_grad;
  STURDY_CHECK(p_in.sizes() == q_in.sizes(), "sym_kl: shapes {} and {} differ", c10::str(p_in.sizes()),
               c10::str(q_in.sizes()));
  STURDY_CHECK(p_in.dim() >= 1 && p_in.numel() > 0, "sym_kl: empty logits");
  const c10::cuda::CUDAGuard guard(p_in.device());
  auto p = p_in.detach().contiguous(), q = q_in.detach().contiguous();
  robust::SymKL r;
  r.grad_p = torch::empty_like(p, torch::MemoryFormat::Contiguous);
  r.grad_q = torch::empty_like(q, torch::MemoryFormat::Contiguous);
  r.value = torch::empty({}, p.options().dtype(torch::kFloat32));
  SymKLArgs a;
  a.p_logits = p.data_ptr(), a.q_logits = q.data_ptr(), a.grad_p = r.grad_p.data_ptr(), a.grad_q = r.grad_q.data_ptr();
  a.value = r.value.data_ptr<float>(), a.rows = p.numel() / p.size(-1), a.classes = p.size(-1), a.dtype = dtype_of(p);
  const size_t bytes = sym_kl_workspace_bytes(a);
  auto ws = workspace(bytes, p);
  sym_kl_forward_backward(a, ws.data_ptr(), bytes, current_stream(p));
  return r;
}

}  // namespace sturdy::kernels
