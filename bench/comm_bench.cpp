// Communication benchmark (see comm_bench.h).
#include "comm_bench.h"

#include <torch/torch.h>

#include <chrono>

#include "sturdy/core/error.h"
#include "sturdy/distributed/device.h"
#include "sturdy/distributed/grad_sync.h"
#include "sturdy/distributed/watchdog.h"

namespace sturdy::dist {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

torch::ScalarType torch_type(DType t) {
  switch (t) {
    case DType::kFloat64: return torch::kFloat64;
    case DType::kBFloat16: return torch::kBFloat16;
    case DType::kFloat16: return torch::kFloat16;
    default: return torch::kFloat32;
  }
}

torch::Device device_of(const CommBenchOptions& o) {
  return o.cuda_device >= 0 ? torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(o.cuda_device))
                            : torch::Device(torch::kCPU);
}

// The slowest rank's mean seconds per call of `fn` over `iters` calls, after `warmup`. On a
// CUDA device the clock starts and stops with the device idle (fn may only queue work).
template <class Fn>
double time_per_call(const Context& ctx, const torch::Device& device, int warmup, int iters, Fn&& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  synchronize(device);
  ctx.barrier();
  const auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) fn();
  synchronize(device);
  return ctx.max(seconds(t0) / iters);
}

// One in-place all-reduce of `buf` through `comm`. A CUDA buffer on the MPI backend goes
// through the pinned host buffer `host` (same size) and back, as GradSync stages it.
void allreduce_tensor(Communicator& comm, torch::Tensor& buf, torch::Tensor& host, DType dtype) {
  if (buf.is_cuda() && comm.backend() == Backend::kMpi) {
    host.copy_(buf);
    comm.allreduce(host.data_ptr(), host.numel(), dtype);
    buf.copy_(host);
    return;
  }
  comm.allreduce(buf.data_ptr(), buf.numel(), dtype);
}

// The host staging buffer allreduce_tensor needs for `buf` (undefined when none is needed).
torch::Tensor staging_for(const Communicator& comm, const torch::Tensor& buf) {
  if (!buf.is_cuda() || comm.backend() != Backend::kMpi) return {};
  return torch::empty({buf.numel()}, torch::TensorOptions().dtype(buf.scalar_type()).pinned_memory(true));
}

// Rank r contributes (r + 1) * (i % 13 + 1): the sum is exact in every float type.
torch::Tensor pattern(int64_t count, int rank, torch::ScalarType type) {
  auto base = torch::arange(count, torch::kInt64).remainder(13).add(1);
  return base.mul(rank + 1).to(type);
}

int64_t count_wrong(const torch::Tensor& got, int world) {
  auto expect = torch::arange(got.numel(), torch::kInt64).remainder(13).add(1).mul(world * (world + 1) / 2);
  return got.to(torch::kCPU).to(torch::kFloat64).ne(expect.to(torch::kFloat64)).sum().item<int64_t>();
}

}  // namespace

double bus_factor(int world_size) { return 2.0 * (world_size - 1) / std::max(1, world_size); }

std::vector<AllreduceRow> bench_allreduce(const Context& ctx, Communicator& comm, const CommBenchOptions& o) {
  std::vector<AllreduceRow> rows;
  const auto type = torch_type(o.dtype);
  const int64_t esize = dtype_size(o.dtype);
  const torch::Device device = device_of(o);
  for (int64_t bytes = std::max(o.min_bytes, esize); bytes <= o.max_bytes; bytes *= 2) {
    AllreduceRow r;
    r.count = bytes / esize;
    r.bytes = r.count * esize;
    auto buf = torch::ones({r.count}, torch::TensorOptions().dtype(type).device(device));
    auto host = staging_for(comm, buf);
    // Fewer iterations for the big sizes keep the whole sweep short.
    const int iters = bytes >= (int64_t{8} << 20) ? std::max(3, o.iters / 4) : o.iters;
    const double t = time_per_call(ctx, device, o.warmup, iters, [&] { allreduce_tensor(comm, buf, host, o.dtype); });
    r.time_us = t * 1e6;
    r.algbw_gbs = static_cast<double>(r.bytes) / t / 1e9;
    r.busbw_gbs = r.algbw_gbs * bus_factor(ctx.world_size());
    auto check = pattern(r.count, ctx.rank(), type).to(device);
    allreduce_tensor(comm, check, host, o.dtype);
    r.wrong = ctx.sum(count_wrong(check, ctx.world_size()));
    rows.push_back(r);
  }
  return rows;
}

std::vector<GradSyncRow> bench_grad_sync(const Context& ctx, const CommBenchOptions& o, Communicator* comm) {
  std::vector<GradSyncRow> rows;
  const torch::Device device = device_of(o);
  STURDY_CHECK(!device.is_cuda() || comm != nullptr, "bench_grad_sync on CUDA needs the backend's communicator");
  const int64_t kParamBytes = 256 * 1024;  // a model of 256 KB parameters
  for (int64_t bytes = int64_t{1} << 20; bytes <= o.max_bytes; bytes *= 4) {
    GradSyncRow r;
    r.bytes = bytes;
    std::vector<torch::Tensor> params;
    for (int64_t left = bytes; left > 0; left -= kParamBytes) {
      auto p = torch::zeros({std::min(left, kParamBytes) / 4}, torch::TensorOptions().dtype(torch::kFloat32).device(device))
                   .requires_grad_(true);
      p.mutable_grad() = pattern(p.numel(), ctx.rank(), torch::kFloat32).to(device);
      params.push_back(p);
    }
    GradSyncOptions so;
    so.backend = o.backend;
    so.bucket_mb = o.bucket_mb;
    so.overlap = false;
    GradSync sync(ctx, params, so);
    r.buckets = static_cast<int64_t>(sync.buckets().size());
    // The checked iteration first: one sum of the pattern.
    sync.allreduce_gradients();
    int64_t wrong = 0;
    for (const auto& p : params) wrong += count_wrong(p.grad(), ctx.world_size());
    r.wrong = ctx.sum(wrong);
    const int iters = std::max(3, o.iters / 4);
    const double ts = time_per_call(ctx, device, o.warmup, iters, [&] { sync.allreduce_gradients(); });
    auto flat = torch::ones({bytes / 4}, torch::TensorOptions().dtype(torch::kFloat32).device(device));
    double tr = 0;
    if (device.is_cuda()) {  // the backend's own all-reduce of the same bytes (staged for mpi)
      auto host = staging_for(*comm, flat);
      tr = time_per_call(ctx, device, o.warmup, iters, [&] { allreduce_tensor(*comm, flat, host, DType::kFloat32); });
    } else {
      tr = time_per_call(ctx, device, o.warmup, iters, [&] {
        Watchdog::Scope watch(ctx.watchdog(), "raw allreduce");
        STURDY_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, flat.data_ptr(), static_cast<int>(flat.numel()), MPI_FLOAT,
                                       MPI_SUM, ctx.world()));
      });
    }
    r.raw_us = tr * 1e6;
    r.sync_us = ts * 1e6;
    r.raw_busbw_gbs = static_cast<double>(bytes) / tr / 1e9 * bus_factor(ctx.world_size());
    r.sync_busbw_gbs = static_cast<double>(bytes) / ts / 1e9 * bus_factor(ctx.world_size());
    rows.push_back(r);
  }
  return rows;
}

OverlapResult bench_overlap(const Context& ctx, const CommBenchOptions& o) {
  torch::manual_seed(1);
  torch::nn::Sequential net;
  for (int64_t l = 0; l < o.layers; ++l) {
    net->push_back(torch::nn::Linear(o.dim, o.dim));
    net->push_back(torch::nn::Tanh());
  }
  const torch::Device device = device_of(o);
  net->to(device);
  auto params = net->parameters();
  auto x = torch::randn({o.batch, o.dim}).to(device);
  auto step = [&](GradSync* sync) {
    for (auto& p : params) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
    auto loss = net->forward(x).pow(2).mean();
    loss.backward();
    if (sync) sync->allreduce_gradients();
  };
  const int iters = std::max(3, o.iters / 2);
  OverlapResult r;
  for (const auto& p : params) r.grad_bytes += p.numel() * 4;
  r.compute_ms = 1e3 * time_per_call(ctx, device, 2, iters, [&] { step(nullptr); });
  GradSyncOptions so;
  so.backend = o.backend;
  so.bucket_mb = o.bucket_mb;
  so.first_bucket_mb = std::min(1.0, o.bucket_mb);
  {
    so.overlap = false;
    GradSync sync(ctx, params, so);
    r.no_overlap_ms = 1e3 * time_per_call(ctx, device, 2, iters, [&] { step(&sync); });
  }
  {
    so.overlap = true;
    GradSync sync(ctx, params, so);
    r.overlap_ms = 1e3 * time_per_call(ctx, device, 2, iters, [&] { step(&sync); });
    r.buckets = static_cast<int64_t>(sync.buckets().size());
    r.launched_in_backward = sync.launched_in_backward();
  }
  const double exposed_flat = r.no_overlap_ms - r.compute_ms;
  const double exposed_overlap = r.overlap_ms - r.compute_ms;
  r.hidden_share = exposed_flat > 0 ? 1.0 - exposed_overlap / exposed_flat : 0.0;
  return r;
}

}  // namespace sturdy::dist
