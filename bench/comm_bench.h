// `sturdy bench comm`: all-reduce measured the way nccl-tests does, the bucketed
// gradient sync against a raw MPI_Allreduce of the same bytes, and how much of the
// communication the backward overlap hides in a small data-parallel step.
//
// Times are the slowest rank's mean over the timed iterations (after warm-up);
// algbw = bytes / time, busbw = algbw * 2(n-1)/n. A separate checked iteration reduces
// exactly representable values and counts wrong elements, summed over ranks.
//
// With `cuda_device` >= 0 (`sturdy bench comm --device cuda`) every buffer, gradient and
// the overlap step's network live on that GPU and the clock is read only after the device
// has finished (dist::synchronize). `backend` nccl reduces them on the GPU; mpi reduces
// pinned host copies (device -> host, MPI, host -> device each call), as GradSync does for
// CUDA gradients on the MPI backend - so the all-reduce rows include those copies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sturdy/distributed/communicator.h"

namespace sturdy::dist {

struct CommBenchOptions {
  int64_t min_bytes = 8;
  int64_t max_bytes = int64_t{64} << 20;
  int warmup = 5;
  int iters = 20;
  DType dtype = DType::kFloat32;
  double bucket_mb = 25.0;
  // Overlap step: a stack of `layers` dim x dim linear layers on `batch` rows.
  int64_t layers = 8, dim = 1024, batch = 64;
  int cuda_device = -1;                     // >= 0: buffers on this CUDA device
  DistBackend backend = DistBackend::kMpi;  // gradient sync and overlap (mpi or nccl, resolved)
};

struct AllreduceRow {
  int64_t bytes = 0, count = 0;
  double time_us = 0, algbw_gbs = 0, busbw_gbs = 0;
  int64_t wrong = 0;
};

struct GradSyncRow {
  int64_t bytes = 0, buckets = 0;
  double raw_us = 0, raw_busbw_gbs = 0;    // one MPI_Allreduce of all bytes (CUDA: one all-reduce of the backend)
  double sync_us = 0, sync_busbw_gbs = 0;  // GradSync::allreduce_gradients (pack, buckets, unpack)
  int64_t wrong = 0;
};

struct OverlapResult {
  double compute_ms = 0;     // forward + backward, no sync
  double no_overlap_ms = 0;  // + bucketed sync after backward
  double overlap_ms = 0;     // + bucketed sync started from backward hooks
  double hidden_share = 0;   // 1 - (overlap - compute) / (no_overlap - compute)
  int64_t grad_bytes = 0, buckets = 0, launched_in_backward = 0;
};

double bus_factor(int world_size);  // 2(n-1)/n
std::vector<AllreduceRow> bench_allreduce(const Context& ctx, Communicator& comm, const CommBenchOptions& o);
// `comm` (the backend's communicator) makes the raw reference on CUDA; on the CPU the raw
// reference is MPI_Allreduce itself and `comm` is not used.
std::vector<GradSyncRow> bench_grad_sync(const Context& ctx, const CommBenchOptions& o, Communicator* comm = nullptr);
OverlapResult bench_overlap(const Context& ctx, const CommBenchOptions& o);

}  // namespace sturdy::dist
