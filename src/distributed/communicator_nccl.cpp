// The NCCL backend (see communicator.h): built only with CUDA and NCCL.
//
// Rank 0 makes the ncclUniqueId and broadcasts it over MPI; each rank drives the GPU of
// its local rank. Collectives run on the communicator's own stream: it waits on an event
// recorded on the compute stream, and Work::wait() makes the compute stream wait on the
// collective's completion event - the host never blocks and nothing syncs the device.
// The watchdog polls the completion events and ncclCommGetAsyncError; on a timeout or an
// asynchronous NCCL error it calls ncclCommAbort before MPI_Abort.
#include <cuda_runtime.h>
#include <nccl.h>

#include <deque>
#include <mutex>

#include "sturdy/distributed/communicator.h"
#include "sturdy/distributed/device.h"
#include "sturdy/distributed/watchdog.h"

#define STURDY_CUDA_CHECK(call)                                                                   \
  do {                                                                                            \
    cudaError_t sturdy_cuda_rc_ = (call);                                                         \
    if (sturdy_cuda_rc_ != cudaSuccess) {                                                         \
      throw ::sturdy::RuntimeError(fmt::format("{}:{}: {} failed: {} (check the driver and "      \
                                               "CUDA_VISIBLE_DEVICES)", __FILE__, __LINE__, #call, \
                                               cudaGetErrorString(sturdy_cuda_rc_)));             \
    }                                                                                             \
  } while (0)

#define STURDY_NCCL_CHECK(call)                                                                   \
  do {                                                                                            \
    ncclResult_t sturdy_nccl_rc_ = (call);                                                        \
    if (sturdy_nccl_rc_ != ncclSuccess) {                                                         \
      throw ::sturdy::RuntimeError(fmt::format("{}:{}: {} failed: {} (rerun with NCCL_DEBUG=WARN " \
                                               "for details)", __FILE__, __LINE__, #call,          \
                                               ncclGetErrorString(sturdy_nccl_rc_)));             \
    }                                                                                             \
  } while (0)

namespace sturdy::dist {
namespace {

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::kFloat32: return ncclFloat32;
    case DType::kFloat64: return ncclFloat64;
    case DType::kBFloat16: return ncclBfloat16;
    case DType::kFloat16: return ncclFloat16;
  }
  return ncclFloat32;
}

// RAII CUDA event (timing off: it only orders streams).
struct Event {
  cudaEvent_t e = nullptr;
  Event() { STURDY_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming)); }
  ~Event() { cudaEventDestroy(e); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

class NcclWork final : public Work {
 public:
  NcclWork(cudaStream_t compute) : compute_(compute) {}
  void wait() override { STURDY_CUDA_CHECK(cudaStreamWaitEvent(compute_, done_.e, 0)); }
  bool done() override { return cudaEventQuery(done_.e) == cudaSuccess; }
  cudaEvent_t event() const { return done_.e; }

 private:
  cudaStream_t compute_;
  Event done_;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const Context& ctx, int device) : ctx_(ctx), device_(device) {
    int visible = 0;
    STURDY_CUDA_CHECK(cudaGetDeviceCount(&visible));
    if (device_ < 0) device_ = cuda_index_for_rank(ctx.local_rank(), ctx.local_size(), visible, /*share=*/false);
    STURDY_CUDA_CHECK(cudaSetDevice(device_));
    ncclUniqueId id;
    if (ctx.is_root()) STURDY_NCCL_CHECK(ncclGetUniqueId(&id));
    ctx.broadcast(&id, sizeof(id), 0);
    STURDY_NCCL_CHECK(ncclCommInitRank(&comm_, ctx.world_size(), id, ctx.rank()));
    STURDY_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    if (Watchdog* w = ctx.watchdog()) {
      ncclComm_t comm = comm_;
      hook_ids_[0] = w->add_abort_hook([comm] { ncclCommAbort(comm); });
      hook_ids_[1] = w->add_poller([this, w] { poll(w); });
    }
  }
  ~NcclCommunicator() override {
    if (Watchdog* w = ctx_.watchdog()) {
      w->remove(hook_ids_[0]);
      w->remove(hook_ids_[1]);
    }
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);  // the stream only, at teardown
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  Backend backend() const override { return Backend::kNccl; }
  int rank() const override { return ctx_.rank(); }
  int world_size() const override { return ctx_.world_size(); }

  // The stream compute runs on (LibTorch's current stream); the legacy default stream
  // unless set.
  void set_compute_stream(cudaStream_t s) { compute_ = s; }

  std::shared_ptr<Work> allreduce_async(void* data, int64_t count, DType dtype) override {
    auto work = std::make_shared<NcclWork>(compute_);
    STURDY_CUDA_CHECK(cudaEventRecord(ready_.e, compute_));
    STURDY_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_.e, 0));
    const uint64_t seq = ctx_.watchdog() ? ctx_.watchdog()->begin("nccl allreduce") : 0;
    STURDY_NCCL_CHECK(ncclAllReduce(data, data, static_cast<size_t>(count), nccl_type(dtype), ncclSum, comm_, stream_));
    STURDY_CUDA_CHECK(cudaEventRecord(work->event(), stream_));
    track(seq, work);
    return work;
  }

  void broadcast(void* data, int64_t count, DType dtype, int root) override {
    auto work = std::make_shared<NcclWork>(compute_);
    STURDY_CUDA_CHECK(cudaEventRecord(ready_.e, compute_));
    STURDY_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_.e, 0));
    const uint64_t seq = ctx_.watchdog() ? ctx_.watchdog()->begin("nccl broadcast") : 0;
    STURDY_NCCL_CHECK(ncclBroadcast(data, data, static_cast<size_t>(count), nccl_type(dtype), root, comm_, stream_));
    STURDY_CUDA_CHECK(cudaEventRecord(work->event(), stream_));
    track(seq, work);
    work->wait();
  }

 private:
  void track(uint64_t seq, const std::shared_ptr<NcclWork>& work) {
    if (seq == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.push_back({seq, work});
  }

  // Watchdog thread: retire finished collectives, surface asynchronous NCCL errors.
  void poll(Watchdog* w) {
    std::lock_guard<std::mutex> lock(mu_);
    while (!in_flight_.empty() && in_flight_.front().second->done()) {
      w->end(in_flight_.front().first);
      in_flight_.pop_front();
    }
    ncclResult_t async = ncclSuccess;
    if (ncclCommGetAsyncError(comm_, &async) == ncclSuccess && async != ncclSuccess) {
      w->abort_job(fmt::format("rank {}: NCCL reported an asynchronous error: {} (rerun with NCCL_DEBUG=WARN)",
                               ctx_.rank(), ncclGetErrorString(async)));
    }
  }

  const Context& ctx_;
  int device_ = -1;
  int hook_ids_[2] = {0, 0};
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaStream_t compute_ = nullptr;  // legacy default stream
  Event ready_;
  std::mutex mu_;
  std::deque<std::pair<uint64_t, std::shared_ptr<NcclWork>>> in_flight_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const Context& ctx, int device) {
  return std::make_unique<NcclCommunicator>(ctx, device);
}

}  // namespace sturdy::dist
