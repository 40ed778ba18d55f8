// GPU tests of src/kernels/: each CUDA kernel against the LibTorch CPU reference of
// robust/adversarial.h (and the starts against the host emulation, which shares their RNG)
// on fresh random inputs copied to the device, outputs poisoned (all bits set: NaN in fp32
// and bf16) before every run; odd sizes, masks, multi-chunk examples, unaligned pointers
// (the scalar path), fp32 and bf16, run-to-run determinism. Every test skips when
// cudaGetDeviceCount reports no device, so the binary passes on CPU-only machines.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <limits>
#include <memory>

#include <torch/torch.h>

#include "sturdy/core/error.h"
#include "sturdy/kernels/adv_kernels.h"
#include "sturdy/robust/adversarial.h"

namespace sturdy::kernels {
namespace {

using robust::AdvBall;
using robust::AdvNorm;
using robust::AdvScope;

#define SKIP_WITHOUT_GPU() \
  if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount = 0)"

struct CudaFree {
  void operator()(void* p) const { cudaFree(p); }
};
// A device copy of a contiguous CPU tensor, `offset_elems` elements into its allocation
// (offset 1 makes the pointer unaligned and forces the kernels' scalar path).
struct DeviceCopy {
  std::unique_ptr<void, CudaFree> mem;
  void* ptr = nullptr;
  size_t bytes = 0;
  DeviceCopy(const torch::Tensor& host, int offset_elems = 0) {
    const auto c = host.contiguous();
    bytes = c.numel() * c.element_size();
    void* p = nullptr;
    STURDY_CUDA_CHECK(cudaMalloc(&p, bytes + offset_elems * c.element_size() + 16));
    mem.reset(p);
    ptr = static_cast<char*>(p) + offset_elems * c.element_size();
    STURDY_CUDA_CHECK(cudaMemcpy(ptr, c.data_ptr(), bytes, cudaMemcpyHostToDevice));
  }
  void poison() { STURDY_CUDA_CHECK(cudaMemset(ptr, 0xff, bytes)); }
  torch::Tensor to_host(const torch::Tensor& like) const {
    auto out = torch::empty_like(like).contiguous();
    STURDY_CUDA_CHECK(cudaDeviceSynchronize());
    STURDY_CUDA_CHECK(cudaMemcpy(out.data_ptr(), ptr, bytes, cudaMemcpyDeviceToHost));
    return out;
  }
};
struct Workspace {
  std::unique_ptr<void, CudaFree> mem;
  size_t bytes;
  explicit Workspace(size_t n) : bytes(n) {
    void* p = nullptr;
    if (n > 0) STURDY_CUDA_CHECK(cudaMalloc(&p, n));
    mem.reset(p);
  }
};

DType dtype_of(const torch::Tensor& t) { return t.scalar_type() == torch::kFloat32 ? DType::kFloat32 : DType::kBFloat16; }
double tolerance(DType t) { return t == DType::kFloat32 ? 1e-5 : 1e-2; }
double rel_error(const torch::Tensor& out, const torch::Tensor& ref) {
  auto o = out.to(torch::kFloat64), r = ref.to(torch::kFloat64);
  const double err = (o - r).abs().max().item<double>();
  return std::isnan(err) ? std::numeric_limits<double>::infinity()
                         : err / std::max(r.abs().max().item<double>(), 1e-30);
}

std::vector<AdvBall> all_balls() {
  std::vector<AdvBall> balls;
  for (auto norm : {AdvNorm::kL2, AdvNorm::kLinf})
    for (auto scope : {AdvScope::kExample, AdvScope::kToken})
      for (double eps : {0.3, 0.0}) balls.push_back({norm, scope, eps});
  return balls;
}

torch::Tensor ragged_mask(int64_t B, int64_t T) {
  auto mask = torch::zeros({B, T}, torch::kBool);
  for (int64_t b = 0; b < B; ++b) mask[b].narrow(0, 0, b == 1 ? 0 : T - (b * 7) % T).fill_(true);
  return mask;
}

TEST(KernelsGpu, StepMatchesReference) {
  SKIP_WITHOUT_GPU();
  torch::manual_seed(21);
  // Odd sizes; (3, 300, 1024) spans several chunks per example.
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{3, 7, 8}, {5, 9, 13}, {4, 17, 64}, {3, 300, 1024}}) {
    const auto mask = ragged_mask(shape[0], shape[1]);
    for (auto type : {torch::kFloat32, torch::kBFloat16})
      for (int offset : {0, 1})
        for (const auto& ball : all_balls()) {
          auto delta = (torch::randn(shape) * 0.4).to(type), grad = (torch::randn(shape) * 3).to(type);
          DeviceCopy d(delta, offset), g(grad, offset), m(mask), out(delta, offset);
          StepArgs a;
          a.delta = d.ptr, a.grad = g.ptr, a.mask = static_cast<const uint8_t*>(m.ptr), a.out = out.ptr;
          a.batch = shape[0], a.len = shape[1], a.dim = shape[2], a.dtype = dtype_of(delta);
          a.norm = ball.norm == AdvNorm::kL2 ? StepNorm::kL2 : StepNorm::kLinf;
          a.scope = ball.scope == AdvScope::kExample ? StepScope::kExample : StepScope::kToken;
          a.epsilon = static_cast<float>(ball.epsilon), a.alpha = 0.1f;
          Workspace ws(adv_step_project_workspace_bytes(a));
          out.poison();
          adv_step_project(a, ws.mem.get(), ws.bytes, nullptr);
          const auto got = out.to_host(delta);
          const auto ref = robust::adv_step_project(delta, grad, mask, ball, 0.1);
          const auto what = fmt::format("{} {} eps {} {} {} offset {}", robust::adv_norm_name(ball.norm),
                                        robust::adv_scope_name(ball.scope), ball.epsilon, c10::str(delta.sizes()),
                                        dtype_name(a.dtype), offset);
          EXPECT_LE(rel_error(got, ref), tolerance(a.dtype)) << what;
          // Determinism: a second run gives the same bits.
          out.poison();
          adv_step_project(a, ws.mem.get(), ws.bytes, nullptr);
          EXPECT_TRUE(torch::equal(out.to_host(delta), got)) << what;
          // Projection alone, in place (out = δ).
          a.grad = nullptr, a.out = d.ptr;
          adv_step_project(a, ws.mem.get(), ws.bytes, nullptr);
          EXPECT_LE(rel_error(d.to_host(delta), robust::adv_project(delta, mask, ball)), tolerance(a.dtype)) << what;
        }
  }
}

TEST(KernelsGpu, InitMatchesHostEmulationAndStaysInTheBall) {
  SKIP_WITHOUT_GPU();
  const int64_t B = 6, T = 37, D = 130;
  const auto mask = ragged_mask(B, T);
  const auto ids = torch::tensor(std::vector<int64_t>{5, 3, 9, 12, 0, 77});
  DeviceCopy m(mask), id(ids);
  for (auto type : {torch::kFloat32, torch::kBFloat16})
    for (auto norm : {StepNorm::kL2, StepNorm::kLinf})
      for (auto scope : {StepScope::kExample, StepScope::kToken})
        for (auto kind : {InitKind::kUniform, InitKind::kNormal}) {
          auto like = torch::zeros({B, T, D}, torch::TensorOptions().dtype(type));
          DeviceCopy out(like);
          InitArgs a;
          a.mask = static_cast<const uint8_t*>(m.ptr), a.example_ids = static_cast<const int64_t*>(id.ptr), a.out = out.ptr;
          a.batch = B, a.len = T, a.dim = D, a.dtype = dtype_of(like), a.norm = norm, a.scope = scope, a.kind = kind;
          a.radius = 0.4f, a.seed = 1234, a.stream = 2;
          Workspace ws(adv_init_workspace_bytes(a));
          out.poison();
          adv_init(a, ws.mem.get(), ws.bytes, nullptr);
          const auto got = out.to_host(like);
          auto ref = like.clone();
          InitArgs h = a;
          h.mask = reinterpret_cast<const uint8_t*>(mask.data_ptr<bool>()), h.example_ids = ids.data_ptr<int64_t>();
          h.out = ref.data_ptr();
          host_adv_init(h);
          // Same Philox draws; the device may contract a*b+c into FMAs, hence a tolerance.
          EXPECT_LE(rel_error(got, ref), tolerance(a.dtype)) << static_cast<int>(norm) << static_cast<int>(scope)
                                                             << static_cast<int>(kind) << dtype_name(a.dtype);
          const auto n = robust::adv_group_norm(got.to(torch::kFloat32), mask,
                                                norm == StepNorm::kL2 ? AdvNorm::kL2 : AdvNorm::kLinf,
                                                scope == StepScope::kExample ? AdvScope::kExample : AdvScope::kToken);
          EXPECT_LE(n.max().item<double>(), 0.4 * (1 + (type == torch::kFloat32 ? 1e-6 : 1e-2)));
        }
}

TEST(KernelsGpu, SymKLMatchesReference) {
  SKIP_WITHOUT_GPU();
  torch::manual_seed(22);
  for (auto type : {torch::kFloat32, torch::kBFloat16})
    for (auto [rows, classes] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {32, 2}, {7, 33}, {5, 4099}, {64, 32000}}) {
      auto p = (torch::randn({rows, classes}) * 3).to(type);
      auto q = (p.to(torch::kFloat32) + torch::randn({rows, classes})).to(type);
      DeviceCopy dp(p), dq(q), gp(p), gq(q), value(torch::zeros({1}));
      SymKLArgs a;
      a.p_logits = dp.ptr, a.q_logits = dq.ptr, a.grad_p = gp.ptr, a.grad_q = gq.ptr;
      a.value = static_cast<float*>(value.ptr), a.rows = rows, a.classes = classes, a.dtype = dtype_of(p);
      Workspace ws(sym_kl_workspace_bytes(a));
      gp.poison(), gq.poison(), value.poison();
      sym_kl_forward_backward(a, ws.mem.get(), ws.bytes, nullptr);
      const auto ref = robust::sym_kl_forward_backward(p, q);
      const auto what = fmt::format("{}x{} {}", rows, classes, dtype_name(a.dtype));
      const double v = value.to_host(torch::zeros({1})).item<double>(), rv = ref.value.item<double>();
      EXPECT_LE(std::fabs(v - rv), 1e-5 * std::max(std::fabs(rv), 1e-6)) << what;
      EXPECT_LE(rel_error(gp.to_host(p), ref.grad_p), tolerance(a.dtype)) << what;
      EXPECT_LE(rel_error(gq.to_host(q), ref.grad_q), tolerance(a.dtype)) << what;
    }
}

TEST(KernelsGpu, LauncherRejectsASmallWorkspace) {
  SKIP_WITHOUT_GPU();
  auto delta = torch::randn({2, 5, 8});
  DeviceCopy d(delta), out(delta);
  StepArgs a;
  a.delta = d.ptr, a.out = out.ptr, a.batch = 2, a.len = 5, a.dim = 8, a.epsilon = 1.f;
  ASSERT_GT(adv_step_project_workspace_bytes(a), 0u);
  EXPECT_THROW(adv_step_project(a, nullptr, 0, nullptr), UsageError);
}

}  // namespace
}  // namespace sturdy::kernels
