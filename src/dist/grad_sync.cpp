// Flat-buffer gradient all-reduce over MPI (see grad_sync.h).
#include "sturdy/dist/grad_sync.h"

#include "sturdy/core/rng.h"

namespace sturdy::dist {
namespace {

int64_t total_numel(const std::vector<torch::Tensor>& ps) {
  int64_t n = 0;
  for (const auto& p : ps) n += p.numel();
  return n;
}

// MPI counts are int: reduce large buffers in pieces.
void allreduce_floats(float* data, int64_t n, MPI_Comm comm) {
  const int64_t kPiece = int64_t{1} << 28;
  for (int64_t off = 0; off < n; off += kPiece) {
    const int count = static_cast<int>(std::min(kPiece, n - off));
    STURDY_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data + off, count, MPI_FLOAT, MPI_SUM, comm));
  }
}

}  // namespace

GradSync::GradSync(const Context& ctx, std::vector<torch::Tensor> parameters)
    : ctx_(ctx), parameters_(std::move(parameters)) {
  for (const auto& p : parameters_) {
    STURDY_CHECK(p.scalar_type() == torch::kFloat32 && p.device().is_cpu(),
                 "the MPI gradient sync handles float32 CPU parameters only");
  }
  flat_ = torch::empty({total_numel(parameters_)}, torch::kFloat32);
}

void GradSync::broadcast_parameters() {
  if (ctx_.world_size() == 1) return;
  torch::NoGradGuard no_grad;
  int64_t off = 0;
  for (const auto& p : parameters_) {
    flat_.narrow(0, off, p.numel()).copy_(p.reshape({-1}));
    off += p.numel();
  }
  ctx_.broadcast(flat_.data_ptr<float>(), flat_.numel() * 4, 0);
  off = 0;
  for (auto& p : parameters_) {
    p.copy_(flat_.narrow(0, off, p.numel()).view(p.sizes()));
    off += p.numel();
  }
}

void GradSync::allreduce_gradients() {
  if (ctx_.world_size() == 1) return;
  torch::NoGradGuard no_grad;
  int64_t off = 0;
  for (const auto& p : parameters_) {
    auto slot = flat_.narrow(0, off, p.numel());
    if (p.grad().defined()) {
      slot.copy_(p.grad().reshape({-1}));
    } else {
      slot.zero_();
    }
    off += p.numel();
  }
  allreduce_floats(flat_.data_ptr<float>(), flat_.numel(), ctx_.world());
  off = 0;
  for (auto& p : parameters_) {
    auto slot = flat_.narrow(0, off, p.numel()).view(p.sizes());
    if (p.grad().defined()) {
      p.mutable_grad().copy_(slot);
    } else {
      p.mutable_grad() = slot.clone();
    }
    off += p.numel();
  }
}

uint64_t GradSync::parameter_hash() const {
  uint64_t h = 0;
  for (const auto& p : parameters_) {
    auto c = p.detach().contiguous();
    const auto* words = static_cast<const uint32_t*>(c.data_ptr());
    for (int64_t i = 0; i < c.numel(); ++i) h = mix64(h ^ words[i]);
  }
  return h;
}

}  // namespace sturdy::dist
