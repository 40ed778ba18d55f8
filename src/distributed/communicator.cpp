// The communicator interface and its MPI backend (see communicator.h).
#include "sturdy/distributed/communicator.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "sturdy/distributed/watchdog.h"

namespace sturdy::dist {

int64_t dtype_size(DType t) {
  switch (t) {
    case DType::kFloat32: return 4;
    case DType::kFloat64: return 8;
    case DType::kBFloat16:
    case DType::kFloat16: return 2;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat16: return "float16";
  }
  return "?";
}

const char* backend_name(Backend b) {
  return choice_name(b == Backend::kNccl ? DistBackend::kNccl : DistBackend::kMpi);
}

Backend resolve_backend(const Choice<DistBackend>& backend, bool on_cuda) {
  switch (backend.value()) {
    case DistBackend::kAuto: return on_cuda && nccl_available() ? Backend::kNccl : Backend::kMpi;
    case DistBackend::kMpi: return Backend::kMpi;  // CUDA tensors: GradSync stages them through pinned host memory
    case DistBackend::kNccl:
      STURDY_USAGE_CHECK(on_cuda, "dist.backend: nccl needs CUDA tensors (run.device: cuda); use mpi (or auto) on CPU");
      STURDY_USAGE_CHECK(nccl_available(), "dist.backend: nccl, but this build has no NCCL backend (nvcc, nccl.h "
                         "and libnccl were not all found at configure time); use mpi (or auto)");
      return Backend::kNccl;
  }
  throw RuntimeError("resolve_backend: dist.backend out of range");
}

namespace {

MPI_Datatype mpi_type(DType t) {
  switch (t) {
    case DType::kFloat32: return MPI_FLOAT;
    case DType::kFloat64: return MPI_DOUBLE;
    default:
      throw UsageError(fmt::format("the MPI backend reduces float32 and float64, not {}", dtype_name(t)));
  }
}

// Completion of one queued MPI collective.
class MpiWork final : public Work {
 public:
  void wait() override {
    // Small buckets finish within microseconds: poll (yielding the CPU) for a short
    // while before sleeping, which saves a futex wake-up per bucket.
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    while (!flag_.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < until) {
      std::this_thread::yield();
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    if (error_) std::rethrow_exception(error_);
  }
  bool done() override {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  void complete(std::exception_ptr error) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      error_ = error;
    }
    flag_.store(true, std::memory_order_release);
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<bool> flag_{false};  // done_, readable without the lock
  std::exception_ptr error_;
};

// MPI on a dedicated thread: collectives run one at a time in submission order on a
// duplicate of the world communicator (so they never match the Context's own).
class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const Context& ctx) : ctx_(ctx) {
    STURDY_MPI_CHECK(MPI_Comm_dup(ctx.world(), &comm_));
    thread_ = std::thread([this] { loop(); });
  }
  ~MpiCommunicator() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    MPI_Comm_free(&comm_);
  }

  Backend backend() const override { return Backend::kMpi; }
  int rank() const override { return ctx_.rank(); }
  int world_size() const override { return ctx_.world_size(); }

  std::shared_ptr<Work> allreduce_async(void* data, int64_t count, DType dtype) override {
    const MPI_Datatype type = mpi_type(dtype);
    auto work = std::make_shared<MpiWork>();
    if (count == 0 || ctx_.world_size() == 1) {
      work->complete(nullptr);
      return work;
    }
    MPI_Comm comm = comm_;
    Watchdog* watchdog = ctx_.watchdog();
    submit(work, [=] {
      Watchdog::Scope watch(watchdog, "allreduce");
      // MPI counts are int: reduce large buffers in pieces.
      const int64_t piece = int64_t{1} << 28;
      auto* bytes = static_cast<char*>(data);
      for (int64_t off = 0; off < count; off += piece) {
        const int n = static_cast<int>(std::min(piece, count - off));
        STURDY_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, bytes + off * dtype_size(dtype), n, type, MPI_SUM, comm));
      }
    });
    return work;
  }

  void broadcast(void* data, int64_t count, DType dtype, int root) override {
    auto work = std::make_shared<MpiWork>();
    MPI_Comm comm = comm_;
    Watchdog* watchdog = ctx_.watchdog();
    const int64_t bytes = count * dtype_size(dtype);
    submit(work, [=] {
      Watchdog::Scope watch(watchdog, "broadcast");
      const int64_t piece = int64_t{1} << 30;
      auto* p = static_cast<char*>(data);
      for (int64_t off = 0; off < bytes; off += piece) {
        const int n = static_cast<int>(std::min(piece, bytes - off));
        STURDY_MPI_CHECK(MPI_Bcast(p + off, n, MPI_BYTE, root, comm));
      }
    });
    work->wait();
  }

 private:
  struct Job {
    std::shared_ptr<MpiWork> work;
    std::function<void()> run;
  };

  void submit(std::shared_ptr<MpiWork> work, std::function<void()> run) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back({std::move(work), std::move(run)});
    }
    cv_.notify_one();
  }

  void loop() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stop_ and drained
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      std::exception_ptr error;
      try {
        job.run();
      } catch (...) {
        error = std::current_exception();
      }
      job.work->complete(error);
    }
  }

  const Context& ctx_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

#ifdef STURDY_HAVE_NCCL
std::unique_ptr<Communicator> make_nccl_communicator(const Context& ctx, int device);  // communicator_nccl.cpp
bool nccl_available() { return true; }
#else
bool nccl_available() { return false; }
#endif

std::unique_ptr<Communicator> make_communicator(const Context& ctx, Backend b, int device) {
  if (b == Backend::kMpi) return std::make_unique<MpiCommunicator>(ctx);
#ifdef STURDY_HAVE_NCCL
  return make_nccl_communicator(ctx, device);
#else
  (void)device;
  throw UsageError("dist.backend: this build of Sturdy has no NCCL backend (configure with CUDA and NCCL)");
#endif
}

}  // namespace sturdy::dist
