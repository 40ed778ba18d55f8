// MPI process group (see context.h).
#include "sturdy/distributed/context.h"

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "sturdy/core/printable.h"
#include "sturdy/distributed/watchdog.h"

namespace sturdy::dist {
namespace {

std::unique_ptr<Context>& instance() {
  static std::unique_ptr<Context> ctx;
  return ctx;
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return (end != nullptr && *end == '\0') ? static_cast<int>(x) : fallback;
}

}  // namespace

void throw_mpi_error(int rc, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  int rank = -1, initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw RuntimeError(fmt::format("{}:{}: rank {}: {} failed: {} (check that every rank runs the "
                                 "same command and that the network between nodes works)",
                                 file, line, rank, call, std::string(text, len)));
}

LaunchInfo discover_launch() {
  LaunchInfo info;
  if (std::getenv("OMPI_COMM_WORLD_RANK") != nullptr) {
    info.launcher = "mpirun";
    info.rank = env_int("OMPI_COMM_WORLD_RANK", 0);
    info.world_size = env_int("OMPI_COMM_WORLD_SIZE", 1);
    info.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0);
    info.local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  } else if (std::getenv("SLURM_PROCID") != nullptr && std::getenv("SLURM_STEP_ID") != nullptr) {
    info.launcher = "srun";
    info.rank = env_int("SLURM_PROCID", 0);
    info.world_size = env_int("SLURM_NTASKS", 1);
    info.local_rank = env_int("SLURM_LOCALID", 0);
    info.local_size = env_int("SLURM_NTASKS_PER_NODE", 1);
  } else {
    info.launcher = "single";
  }
  return info;
}

Context::Context() = default;
Context::~Context() = default;

Context& Context::init(int* argc, char*** argv, bool thread_multiple) {
  auto& ctx = instance();
  if (ctx) return *ctx;
  ctx.reset(new Context());
  ctx->launch_ = discover_launch();
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    const int wanted = thread_multiple ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED;
    int provided = 0;
    STURDY_MPI_CHECK(MPI_Init_thread(argc, argv, wanted, &provided));
    ctx->owns_mpi_ = true;
    if (provided < wanted) {
      throw RuntimeError(fmt::format("MPI provides thread level {} but Sturdy needs {}; use an "
                                     "MPI built with thread support",
                                     provided, wanted));
    }
  }
  // Errors come back as return codes so STURDY_MPI_CHECK can name the call and rank.
  STURDY_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  STURDY_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &ctx->world_));
  STURDY_MPI_CHECK(MPI_Comm_rank(ctx->world_, &ctx->rank_));
  STURDY_MPI_CHECK(MPI_Comm_size(ctx->world_, &ctx->world_size_));
  STURDY_MPI_CHECK(
      MPI_Comm_split_type(ctx->world_, MPI_COMM_TYPE_SHARED, ctx->rank_, MPI_INFO_NULL, &ctx->local_));
  STURDY_MPI_CHECK(MPI_Comm_rank(ctx->local_, &ctx->local_rank_));
  STURDY_MPI_CHECK(MPI_Comm_size(ctx->local_, &ctx->local_size_));
  int level = 0;
  MPI_Query_thread(&level);
  if (ctx->world_size_ > 1 && level >= MPI_THREAD_MULTIPLE) {
    ctx->watchdog_ = std::make_unique<Watchdog>(ctx->world_, kDefaultTimeoutS);
  }
  return *ctx;
}

Context& Context::get() {
  auto& ctx = instance();
  if (!ctx) throw RuntimeError("dist::Context::get() before dist::Context::init()");
  return *ctx;
}

bool Context::initialized() { return instance() != nullptr; }

void Context::finalize() {
  auto& ctx = instance();
  if (!ctx) return;
  ctx->watchdog_.reset();  // joins its thread before the communicators go
  if (ctx->local_ != MPI_COMM_NULL) MPI_Comm_free(&ctx->local_);
  if (ctx->world_ != MPI_COMM_NULL) MPI_Comm_free(&ctx->world_);
  const bool owns = ctx->owns_mpi_;
  ctx.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns && !finalized) MPI_Finalize();
}

void Context::barrier() const {
  Watchdog::Scope watch(watchdog_.get(), "barrier");
  STURDY_MPI_CHECK(MPI_Barrier(world_));
}

double Context::sum(double value) const {
  double out = 0;
  Watchdog::Scope watch(watchdog_.get(), "sum");
  STURDY_MPI_CHECK(MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, MPI_SUM, world_));
  return out;
}

int64_t Context::sum(int64_t value) const {
  int64_t out = 0;
  Watchdog::Scope watch(watchdog_.get(), "sum");
  STURDY_MPI_CHECK(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_SUM, world_));
  return out;
}

double Context::max(double value) const {
  double out = 0;
  Watchdog::Scope watch(watchdog_.get(), "max");
  STURDY_MPI_CHECK(MPI_Allreduce(&value, &out, 1, MPI_DOUBLE, MPI_MAX, world_));
  return out;
}

bool Context::any(bool flag) const {
  int in = flag ? 1 : 0, out = 0;
  Watchdog::Scope watch(watchdog_.get(), "any");
  STURDY_MPI_CHECK(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, world_));
  return out != 0;
}

void Context::broadcast(void* data, int64_t bytes, int root) const {
  auto* p = static_cast<char*>(data);
  // MPI counts are int: send large buffers in 1 GiB pieces.
  const int64_t kPiece = int64_t{1} << 30;
  Watchdog::Scope watch(watchdog_.get(), "broadcast");
  for (int64_t off = 0; off < bytes; off += kPiece) {
    const int n = static_cast<int>(std::min(kPiece, bytes - off));
    STURDY_MPI_CHECK(MPI_Bcast(p + off, n, MPI_BYTE, root, world_));
  }
}

void Context::abort(int exit_code, const std::string& message) const {
  if (watchdog_) watchdog_->run_abort_hooks();
  std::fprintf(stderr, "[sturdy r%d] aborting the job: %s\n", rank_, one_line(message).c_str());
  std::fflush(stderr);
  MPI_Abort(world_ != MPI_COMM_NULL ? world_ : MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

}  // namespace sturdy::dist
