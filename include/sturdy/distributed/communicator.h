// Communicators: the collectives the data-parallel engine needs, on raw buffers.
//
// Two backends behind one interface:
//   mpi  - CPU memory; a dedicated communication thread runs the MPI collectives in
//          submission order on its own communicator, so autograd hooks can hand over a
//          bucket and return at once (Open MPI with MPI_THREAD_MULTIPLE).
//   nccl - CUDA memory; ncclUniqueId broadcast over MPI, its own CUDA stream ordered
//          against the compute stream with events (no device-wide sync). Built only
//          with CUDA + NCCL (STURDY_HAVE_NCCL).
// `dist.backend: auto` picks nccl for CUDA tensors and mpi otherwise. Every collective
// is bracketed for the watchdog (watchdog.h). All ranks must submit the same
// collectives in the same order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "sturdy/config/choice.h"
#include "sturdy/distributed/context.h"

namespace sturdy::dist {

enum class DType { kFloat32, kFloat64, kBFloat16, kFloat16 };
int64_t dtype_size(DType t);
const char* dtype_name(DType t);

enum class Backend { kMpi, kNccl };
const char* backend_name(Backend b);
// dist.backend (auto | mpi | nccl) -> the backend for tensors on CUDA (`on_cuda`) or CPU. auto: nccl
// for CUDA tensors when this build has it, else mpi (which takes CUDA tensors staged through host
// memory, see GradSync). UsageError for a text that names no backend, or nccl for CPU tensors or
// in a build without NCCL.
Backend resolve_backend(const Choice<DistBackend>& backend, bool on_cuda);
// True when this build has the NCCL backend.
bool nccl_available();


// One outstanding collective.
class Work {
 public:
  virtual ~Work() = default;
  // MPI: blocks until the result is in the buffer (rethrows a communication error).
  // NCCL: makes the compute stream wait for the result (no host block).
  virtual void wait() = 0;
  // True once the collective has completed.
  virtual bool done() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual Backend backend() const = 0;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // Starts an in-place sum over all ranks of `count` elements at `data`.
  virtual std::shared_ptr<Work> allreduce_async(void* data, int64_t count, DType dtype) = 0;
  // Copies `count` elements at `data` from `root` to every rank (blocking).
  virtual void broadcast(void* data, int64_t count, DType dtype, int root) = 0;

  void allreduce(void* data, int64_t count, DType dtype) { allreduce_async(data, count, dtype)->wait(); }
};

// A communicator of backend `b` over ctx's ranks (collective: every rank calls it).
// `device` is the CUDA device for nccl (ignored for mpi).
std::unique_ptr<Communicator> make_communicator(const Context& ctx, Backend b, int device = -1);

}  // namespace sturdy::dist
