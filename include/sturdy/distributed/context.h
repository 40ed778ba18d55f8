// Process group: rank discovery and the MPI communicators, made once.
//
// Works under `mpirun` (Open MPI sets OMPI_COMM_WORLD_*), under `srun` (SLURM_PROCID,
// SLURM_LOCALID) and as a plain single process (MPI singleton). Builds the world
// communicator and a node-local one (MPI_Comm_split_type SHARED), like Horovod's
// MPI context. Every MPI status goes through STURDY_MPI_CHECK. With several ranks a
// collective watchdog (watchdog.h) runs from init() to finalize(); the Context's own
// collectives are watched too.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <string>

#include "sturdy/core/error.h"

// Turns a failed MPI call into a RuntimeError with file, line, rank and the MPI message.
#define STURDY_MPI_CHECK(call)                                                             \
  do {                                                                                     \
    int sturdy_mpi_rc_ = (call);                                                           \
    if (sturdy_mpi_rc_ != MPI_SUCCESS) ::sturdy::dist::throw_mpi_error(sturdy_mpi_rc_, #call, \
                                                                   __FILE__, __LINE__);    \
  } while (0)

namespace sturdy::dist {

class Watchdog;

[[noreturn]] void throw_mpi_error(int rc, const char* call, const char* file, int line);

// Where this process sits, as the launcher told it.
struct LaunchInfo {
  std::string launcher;  // "mpirun", "srun" or "single"
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_size = 1;
};

// Reads OMPI_COMM_WORLD_* / SLURM_* / PMI_* environment variables (no MPI calls).
LaunchInfo discover_launch();

class Context {
 public:
  // Initialises MPI (MPI_THREAD_MULTIPLE: the communication and watchdog threads call
  // MPI; FUNNELED when `thread_multiple` is false, which leaves the watchdog off), the
  // communicators, and the watchdog (timeout `kDefaultTimeoutS` until set_timeout).
  static Context& init(int* argc, char*** argv, bool thread_multiple = true);
  static constexpr double kDefaultTimeoutS = 300.0;
  // The initialised context; throws when init() was not called.
  static Context& get();
  static bool initialized();
  // Finalises MPI if this object initialised it.
  static void finalize();
  ~Context();

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  bool is_root() const { return rank_ == 0; }
  MPI_Comm world() const { return world_; }
  MPI_Comm local() const { return local_; }
  const LaunchInfo& launch() const { return launch_; }
  // The collective watchdog, or nullptr on one rank (or without MPI_THREAD_MULTIPLE).
  Watchdog* watchdog() const { return watchdog_.get(); }

  void barrier() const;
  // Sums over all ranks.
  double sum(double value) const;
  int64_t sum(int64_t value) const;
  double max(double value) const;
  // True on every rank when `flag` is true on any rank.
  bool any(bool flag) const;
  void broadcast(void* data, int64_t bytes, int root = 0) const;
  // Ends every rank of the job (watchdog abort hooks, then MPI_Abort) after printing
  // `message` on this rank.
  [[noreturn]] void abort(int exit_code, const std::string& message) const;

 private:
  Context();
  int rank_ = 0, world_size_ = 1, local_rank_ = 0, local_size_ = 1;
  MPI_Comm world_ = MPI_COMM_NULL, local_ = MPI_COMM_NULL;
  LaunchInfo launch_;
  bool owns_mpi_ = false;
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace sturdy::dist
