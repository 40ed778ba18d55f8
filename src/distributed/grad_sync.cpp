// Bucketed, overlapped gradient sync (see grad_sync.h).
#include "sturdy/distributed/grad_sync.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "sturdy/core/rng.h"
#include "sturdy/distributed/watchdog.h"

namespace sturdy::dist {
namespace {

DType dist_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return DType::kFloat32;
    case torch::kFloat64: return DType::kFloat64;
    case torch::kBFloat16: return DType::kBFloat16;
    case torch::kFloat16: return DType::kFloat16;
    default:
      throw UsageError(fmt::format("gradient sync: unsupported parameter dtype {}", c10::toString(t)));
  }
}

// Hash of a tensor's bytes (32-bit words, then the tail bytes).
uint64_t hash_tensor(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU).contiguous();
  const auto* bytes = static_cast<const unsigned char*>(c.data_ptr());
  const int64_t n = c.numel() * static_cast<int64_t>(c.element_size());
  uint64_t h = mix64(static_cast<uint64_t>(n));
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32_t w;
    std::memcpy(&w, bytes + i, 4);
    h = mix64(h ^ w);
  }
  for (; i < n; ++i) h = mix64(h ^ bytes[i]);
  return h;
}

// Elementwise max over ranks of `v` (on the world communicator, watched).
void allreduce_max(const Context& ctx, std::vector<uint64_t>& v, const char* what) {
  Watchdog::Scope watch(ctx.watchdog(), what);
  STURDY_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_UINT64_T, MPI_MAX,
                                 ctx.world()));
}

// Test-only fault injection, STURDY_TEST_FAULT=RANK:KIND:STEP with KIND throw | hang:
// rank RANK throws / hangs when it reaches the gradient sync of step STEP (1-based).
void maybe_inject_fault(int rank, int64_t step) {
  const char* spec = std::getenv("STURDY_TEST_FAULT");
  if (spec == nullptr) return;
  int fault_rank = -1;
  long fault_step = -1;
  char kind[16] = {0};
  if (std::sscanf(spec, "%d:%15[a-z]:%ld", &fault_rank, kind, &fault_step) != 3) return;
  if (fault_rank != rank || fault_step != step) return;
  if (std::string(kind) == "throw") {
    throw RuntimeError(fmt::format("rank {}: injected fault at step {} (STURDY_TEST_FAULT)", rank, step));
  }
  if (std::string(kind) == "hang") {
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

GradSyncOptions GradSyncOptions::from(const DistConfig& c) {
  GradSyncOptions o;
  o.backend = c.backend;
  o.bucket_mb = c.bucket_mb;
  o.first_bucket_mb = std::min(1.0, c.bucket_mb);
  o.overlap = c.overlap;
  o.timeout_s = c.timeout_s;
  o.check_every = c.check_every;
  return o;
}

int64_t Bucket::bytes() const { return numel * static_cast<int64_t>(c10::elementSize(dtype)); }

std::vector<Bucket> assign_buckets(const std::vector<torch::Tensor>& parameters, double first_bucket_mb,
                                   double bucket_mb) {
  STURDY_USAGE_CHECK(bucket_mb > 0 && first_bucket_mb > 0, "dist.bucket_mb must be positive (got {})", bucket_mb);
  std::vector<Bucket> out;
  Bucket cur;
  auto cap = [&] { return (out.empty() ? first_bucket_mb : bucket_mb) * 1024.0 * 1024.0; };
  // Reverse registration order: the last layers' gradients are ready first.
  for (int64_t i = static_cast<int64_t>(parameters.size()) - 1; i >= 0; --i) {
    const auto& p = parameters[i];
    if (!p.requires_grad()) continue;
    const double pbytes = static_cast<double>(p.numel()) * static_cast<double>(p.element_size());
    const bool fits = cur.params.empty() ||
                      (p.scalar_type() == cur.dtype && static_cast<double>(cur.bytes()) + pbytes <= cap());
    if (!fits) {
      out.push_back(std::move(cur));
      cur = Bucket();
    }
    if (cur.params.empty()) cur.dtype = p.scalar_type();
    cur.params.push_back(i);
    cur.numel += p.numel();
  }
  if (!cur.params.empty()) out.push_back(std::move(cur));
  return out;
}

// A post-hook on one parameter's gradient accumulator.
struct GradSync::Hook {
  std::shared_ptr<torch::autograd::Node> accumulator;
  uintptr_t key = 0;
};

GradSync::GradSync(const Context& ctx, std::vector<torch::Tensor> parameters, GradSyncOptions options,
                   std::vector<std::string> names)
    : ctx_(ctx), parameters_(std::move(parameters)), names_(std::move(names)), options_(std::move(options)) {
  const bool on_cuda = !parameters_.empty() && parameters_.front().is_cuda();
  for (const auto& p : parameters_) {
    STURDY_CHECK(p.device() == parameters_.front().device(), "gradient sync: parameters on several devices");
    dist_dtype(p.scalar_type());
  }
  backend_ = resolve_backend(options_.backend, on_cuda);
  if (ctx_.watchdog() != nullptr) ctx_.watchdog()->set_timeout(options_.timeout_s);
  buckets_ = assign_buckets(parameters_, options_.first_bucket_mb, options_.bucket_mb);
  bucket_of_.assign(parameters_.size(), -1);
  offset_in_bucket_.assign(parameters_.size(), 0);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    int64_t off = 0;
    for (int64_t i : buckets_[b].params) {
      bucket_of_[i] = static_cast<int64_t>(b);
      offset_in_bucket_[i] = off;
      off += parameters_[i].numel();
    }
  }
  if (ctx_.world_size() == 1) return;

  // Every rank must build the same buckets, or the all-reduces would mix parameters.
  uint64_t layout = mix64(buckets_.size());
  for (const auto& b : buckets_) {
    layout = mix64(layout ^ mix64(static_cast<uint64_t>(b.numel) * 31 + static_cast<uint64_t>(b.dtype)));
    for (int64_t i : b.params) layout = mix64(layout ^ static_cast<uint64_t>(i));
  }
  std::vector<uint64_t> v = {layout, ~layout};
  allreduce_max(ctx_, v, "bucket layout check");
  if (v[0] != ~v[1]) {
    throw UsageError(fmt::format("rank {}: the gradient buckets differ between ranks ({} buckets, {} parameters "
                                 "here): every rank must build the same model with the same dist.bucket_mb",
                                 ctx_.rank(), buckets_.size(), parameters_.size()));
  }

  comm_ = make_communicator(ctx_, backend_, on_cuda ? parameters_.front().device().index() : -1);
  // The MPI backend reduces host memory: CUDA buckets go through pinned host buffers
  // (copied out at launch, back after the wait).
  staged_ = options_.stage_through_host || (on_cuda && backend_ == Backend::kMpi);
  // Gradients live in the bucket buffers (DDP's gradient_as_bucket_view): backward
  // accumulates into the views in place, so a bucket is reduced where it lies, with no
  // copy in or out. Parameters without a gradient get zeros, as the sum would give them.
  torch::NoGradGuard no_grad;
  for (const auto& b : buckets_) {
    flat_.push_back(torch::empty({b.numel}, parameters_.front().options().dtype(b.dtype).requires_grad(false)));
    if (staged_) {
      host_.push_back(torch::empty({b.numel}, torch::TensorOptions().dtype(b.dtype).pinned_memory(on_cuda)));
    }
  }
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (bucket_of_[i] < 0) continue;
    auto& p = parameters_[i];
    auto view = slot_of(static_cast<int64_t>(i));
    if (p.grad().defined()) {
      view.copy_(p.grad());
    } else {
      view.zero_();
    }
    p.mutable_grad() = view;
  }
  ready_.assign(parameters_.size(), 0);
  pending_.resize(buckets_.size());
  for (size_t b = 0; b < buckets_.size(); ++b) pending_[b] = static_cast<int64_t>(buckets_[b].params.size());
  work_.resize(buckets_.size());

  if (options_.overlap) {
    for (size_t i = 0; i < parameters_.size(); ++i) {
      if (bucket_of_[i] < 0) continue;
      auto hook = std::make_unique<Hook>();
      hook->accumulator = torch::autograd::impl::grad_accumulator(parameters_[i]);
      const auto index = static_cast<int64_t>(i);
      hook->key = hook->accumulator->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
          [this, index](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
            on_gradient_ready(index);
            return outputs;
          }));
      hooks_.push_back(std::move(hook));
    }
  }
}

GradSync::~GradSync() {
  for (auto& h : hooks_) h->accumulator->del_post_hook(h->key);
  // Outstanding collectives must finish before their buffers go.
  for (auto& w : work_) {
    if (w) {
      try {
        w->wait();
      } catch (...) {
      }
    }
  }
}

std::string GradSync::name_of(int64_t param) const {
  if (param < static_cast<int64_t>(names_.size())) return names_[param];
  return fmt::format("parameter #{}", param);
}

void GradSync::broadcast_parameters() {
  if (ctx_.world_size() == 1) return;
  torch::NoGradGuard no_grad;
  for (auto& p : parameters_) {
    auto c = staged_ ? p.detach().to(torch::kCPU).contiguous().clone() : p.detach().contiguous();
    comm_->broadcast(c.data_ptr(), c.numel(), dist_dtype(c.scalar_type()), 0);
    if (c.data_ptr() != p.data_ptr()) p.copy_(c);
  }
}

void GradSync::set_sync(bool enabled) { sync_enabled_ = enabled; }

void GradSync::on_gradient_ready(int64_t param) {
  if (!sync_enabled_) return;
  const int64_t b = bucket_of_[param];
  if (b < 0) return;
  if (ready_[param]) {
    // Another backward in the same step: harmless until the bucket has left.
    if (b < next_launch_) {
      throw RuntimeError(fmt::format(
          "rank {}: '{}' got another gradient after its bucket's all-reduce started; with dist.overlap "
          "only the last backward of a step may run with sync on (GradSync::set_sync(false) before the others)",
          ctx_.rank(), name_of(param)));
    }
    return;
  }
  ready_[param] = 1;
  if (--pending_[b] == 0) launch_ready_buckets();
}

void GradSync::launch_ready_buckets() {
  const auto n = static_cast<int64_t>(buckets_.size());
  while (next_launch_ < n && pending_[next_launch_] == 0) {
    launch(next_launch_++);
    ++round_launched_in_backward_;
  }
}

torch::Tensor GradSync::slot_of(int64_t param) const {
  const auto& p = parameters_[param];
  return flat_[bucket_of_[param]].narrow(0, offset_in_bucket_[param], p.numel()).view(p.sizes());
}

void GradSync::launch(int64_t b) {
  torch::NoGradGuard no_grad;
  const Bucket& bucket = buckets_[b];
  for (int64_t i : bucket.params) {
    // Normally .grad is still the bucket view and there is nothing to do. Someone may
    // have replaced it (set to None, or an out-of-place accumulation under create_graph):
    // then its values are copied in, and the view is put back after the reduction.
    const auto& g = parameters_[i].grad();
    auto slot = slot_of(i);
    if (!g.defined()) {
      slot.zero_();
    } else if (g.data_ptr() != slot.data_ptr()) {
      slot.copy_(g);
      ++copied_in_;
    }
  }
  if (staged_) {
    host_[b].copy_(flat_[b]);  // waits for the device's gradient; the collective runs on host memory
    work_[b] = comm_->allreduce_async(host_[b].data_ptr(), bucket.numel, dist_dtype(bucket.dtype));
  } else {
    work_[b] = comm_->allreduce_async(flat_[b].data_ptr(), bucket.numel, dist_dtype(bucket.dtype));
  }
}

void GradSync::allreduce_gradients() {
  ++finish_calls_;
  maybe_inject_fault(ctx_.rank(), finish_calls_);
  if (ctx_.world_size() == 1) return;
  torch::NoGradGuard no_grad;
  const auto n = static_cast<int64_t>(buckets_.size());
  while (next_launch_ < n) launch(next_launch_++);
  for (int64_t b = 0; b < n; ++b) {
    work_[b]->wait();
    work_[b].reset();
    if (staged_) flat_[b].copy_(host_[b]);
    for (int64_t i : buckets_[b].params) {
      auto& p = parameters_[i];
      auto slot = slot_of(i);
      if (!p.grad().defined() || p.grad().data_ptr() != slot.data_ptr()) p.mutable_grad() = slot;
    }
  }
  // Ready for the next step.
  launched_in_backward_ = round_launched_in_backward_;
  round_launched_in_backward_ = 0;
  next_launch_ = 0;
  std::fill(ready_.begin(), ready_.end(), 0);
  for (int64_t b = 0; b < n; ++b) pending_[b] = static_cast<int64_t>(buckets_[b].params.size());
}

uint64_t GradSync::parameter_hash() const {
  uint64_t h = 0;
  for (const auto& p : parameters_) h = mix64(h ^ hash_tensor(p));
  return h;
}

void GradSync::check_parameters_agree(int64_t step) {
  if (ctx_.world_size() == 1) return;
  const size_t n = parameters_.size();
  std::vector<uint64_t> v(2 * n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = hash_tensor(parameters_[i]);
    v[n + i] = ~v[i];
  }
  const std::vector<uint64_t> mine(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n));
  allreduce_max(ctx_, v, "parameter agreement check");
  for (size_t i = 0; i < n; ++i) {
    const uint64_t hi = v[i], lo = ~v[n + i];
    if (hi != lo) {
      throw RuntimeError(fmt::format(
          "step {}: parameters differ across ranks, first at '{}' (hash here {:016x}, min {:016x}, max {:016x}); "
          "the ranks diverged: look for rank-dependent code, nondeterministic kernels or a corrupted all-reduce",
          step, name_of(static_cast<int64_t>(i)), mine[i], lo, hi));
    }
  }
}

void GradSync::maybe_check_parameters(int64_t step) {
  if (options_.check_every > 0 && step % options_.check_every == 0) check_parameters_agree(step);
}

}  // namespace sturdy::dist
