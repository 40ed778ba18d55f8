// `sturdy bench comm|...`: built-in benchmarks. Each benchmark is one add_*_bench
// function adding one subcommand to `sturdy bench`; run under mpirun for several ranks.
#include <cstdio>

#include "bench_local.h"
#include "commands.h"
#include "run_setup.h"
#include "sturdy/core/machine.h"
#include "sturdy/dist/bench_comm.h"

namespace sturdy::apps {
namespace {

// `sturdy bench comm`: all-reduce sweep (nccl-tests columns), gradient sync vs raw
// MPI_Allreduce, and the share of communication hidden by the backward overlap.
void add_comm_bench(CLI::App& bench, int* exit_code) {
  auto* cmd = bench.add_subcommand("comm", "All-reduce bandwidth, bucketed gradient sync and overlap (mpirun -np N)");
  auto o = std::make_shared<dist::CommBenchOptions>();
  auto backend = std::make_shared<std::string>("auto");
  auto dtype = std::make_shared<std::string>("float32");
  auto skip_sync = std::make_shared<bool>(false);
  auto skip_overlap = std::make_shared<bool>(false);
  cmd->add_option("--min-bytes", o->min_bytes, "Smallest message (bytes; 1K, 1M suffixes)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--max-bytes", o->max_bytes, "Largest message (bytes; 64M by default)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--warmup", o->warmup, "Untimed iterations per size");
  cmd->add_option("--iters", o->iters, "Timed iterations per size (a quarter from 8 MB up)");
  cmd->add_option("--dtype", *dtype, "float32 | float64")->check(CLI::IsMember({"float32", "float64"}));
  cmd->add_option("--backend", *backend, "auto | mpi | nccl (as dist.backend)");
  cmd->add_option("--bucket-mb", o->bucket_mb, "Gradient bucket size (as dist.bucket_mb)");
  cmd->add_option("--layers", o->layers, "Overlap step: linear layers");
  cmd->add_option("--dim", o->dim, "Overlap step: layer width");
  cmd->add_option("--batch", o->batch, "Overlap step: rows per rank");
  cmd->add_flag("--no-grad-sync", *skip_sync, "Skip the gradient-sync comparison");
  cmd->add_flag("--no-overlap", *skip_overlap, "Skip the overlap measurement");
  cmd->callback([=] {
    o->dtype = *dtype == "float64" ? dist::DType::kFloat64 : dist::DType::kFloat32;
    dist::Context& ctx = start_distributed("bench comm", false);
    const dist::Backend b = dist::resolve_backend(*backend, /*on_cuda=*/false);
    auto comm = dist::make_communicator(ctx, b);
    const bool root = ctx.is_root();
    if (root) {
      const std::string core = blas_core_name();
      std::printf("# sturdy bench comm | %d rank(s), backend %s, %s | %s | BLAS core %s\n", ctx.world_size(),
                  dist::backend_name(b), dist::dtype_name(o->dtype), cpu_model().c_str(),
                  core.empty() ? "n/a" : core.c_str());
      std::printf("# all-reduce (sum, in place): time = slowest rank's mean; busbw = algbw * 2(n-1)/n\n");
      std::printf("%12s %12s %8s %11s %11s %11s %7s\n", "size(B)", "count", "type", "time(us)", "algbw(GB/s)",
                  "busbw(GB/s)", "#wrong");
    }
    int64_t wrong = 0;
    for (const auto& r : dist::bench_allreduce(ctx, *comm, *o)) {
      wrong += r.wrong;
      if (root) {
        std::printf("%12lld %12lld %8s %11.1f %11.3f %11.3f %7lld\n", static_cast<long long>(r.bytes),
                    static_cast<long long>(r.count), dist::dtype_name(o->dtype), r.time_us, r.algbw_gbs,
                    r.busbw_gbs, static_cast<long long>(r.wrong));
        std::fflush(stdout);
      }
    }
    if (!*skip_sync) {
      if (root) {
        std::printf("\n# gradient sync (bucket_mb %.0f, first bucket 1 MB, 256 KB parameters) vs one raw "
                    "MPI_Allreduce of the same bytes\n", o->bucket_mb);
        std::printf("%12s %8s %11s %11s %11s %11s %8s %7s\n", "size(B)", "buckets", "raw(us)", "raw busbw",
                    "sync(us)", "sync busbw", "sync/raw", "#wrong");
      }
      for (const auto& r : dist::bench_grad_sync(ctx, *o)) {
        wrong += r.wrong;
        if (root) {
          std::printf("%12lld %8lld %11.1f %11.3f %11.1f %11.3f %7.0f%% %7lld\n", static_cast<long long>(r.bytes),
                      static_cast<long long>(r.buckets), r.raw_us, r.raw_busbw_gbs, r.sync_us, r.sync_busbw_gbs,
                      100.0 * r.sync_busbw_gbs / r.raw_busbw_gbs, static_cast<long long>(r.wrong));
          std::fflush(stdout);
        }
      }
    }
    if (!*skip_overlap && ctx.world_size() > 1) {
      const auto r = dist::bench_overlap(ctx, *o);
      if (root) {
        std::printf("\n# overlap: %lld x Linear(%lld, %lld) + tanh, batch %lld per rank, %.1f MB of gradients in "
                    "%lld buckets (%lld started during backward)\n",
                    static_cast<long long>(o->layers), static_cast<long long>(o->dim),
                    static_cast<long long>(o->dim), static_cast<long long>(o->batch), r.grad_bytes / 1048576.0,
                    static_cast<long long>(r.buckets), static_cast<long long>(r.launched_in_backward));
        std::printf("compute only %.1f ms | sync after backward %.1f ms | overlapped sync %.1f ms | hidden "
                    "share of communication %.0f%%\n",
                    r.compute_ms, r.no_overlap_ms, r.overlap_ms, 100.0 * r.hidden_share);
      }
    }
    if (wrong != 0) throw RuntimeError(fmt::format("bench comm: {} wrong values in the checked iterations", wrong));
    *exit_code = 0;
  });
}

}  // namespace

void register_bench(CLI::App& root, int* exit_code) {
  auto* bench = root.add_subcommand("bench", "Built-in benchmarks (run under mpirun for several ranks)");
  bench->require_subcommand(1);
  add_comm_bench(*bench, exit_code);
  add_local_benches(*bench, exit_code);
}

}  // namespace sturdy::apps
