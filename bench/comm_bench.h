// `sturdy bench comm`: all-reduce measured the way nccl-tests does, the bucketed
// gradient sync against a raw MPI_Allreduce of the same bytes, and how much of the
// communication the backward overlap hides in a small data-parallel step.
//
// Times are the slowest rank's mean over the timed iterations (after warm-up);
// algbw = bytes / time, busbw = algbw * 2(n-1)/n. A separate checked iteration reduces
// exactly representable values and counts wrong elements, summed over ranks.
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
};

struct AllreduceRow {
  int64_t bytes = 0, count = 0;
  double time_us = 0, algbw_gbs = 0, busbw_gbs = 0;
  int64_t wrong = 0;
};

struct GradSyncRow {
  int64_t bytes = 0, buckets = 0;
  double raw_us = 0, raw_busbw_gbs = 0;    // one MPI_Allreduce of all bytes
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
std::vector<GradSyncRow> bench_grad_sync(const Context& ctx, const CommBenchOptions& o);
OverlapResult bench_overlap(const Context& ctx, const CommBenchOptions& o);

}  // namespace sturdy::dist
