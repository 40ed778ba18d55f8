// Collective watchdog: a failed or stuck rank must never leave a job hanging.
//
// Every collective a rank runs (gradient buckets, broadcasts, the Context's small
// reductions) is bracketed by begin()/end() and gets the next sequence number; all
// ranks run the same collectives in the same order, so the numbers line up. A
// watchdog thread on every rank sends (started, finished, stuck-for) to rank 0 a few
// times per timeout period over its own communicator. When a collective has not
// finished within the timeout, rank 0 names the ranks that never joined it (their
// started number is lower) and aborts the job; a non-root rank that hears no verdict
// aborts on its own a little later (like Horovod's stall inspector). Abort hooks run
// first (ncclCommAbort), then MPI_Abort.
#pragma once

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sturdy::dist {

class Watchdog {
 public:
  // Duplicates `world` for its heartbeats (collective: every rank constructs it).
  Watchdog(MPI_Comm world, double timeout_s);
  ~Watchdog();  // stops the thread; call before MPI_Finalize
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void set_timeout(double seconds);
  double timeout() const { return timeout_s_.load(); }

  // Marks the start of the next collective; returns its sequence number. `what` must
  // outlive the collective (a string literal).
  uint64_t begin(const char* what);
  // Marks collective `seq` finished (any order; for asynchronous backends).
  void end(uint64_t seq);

  // RAII bracket for one blocking collective.
  class Scope {
   public:
    Scope(Watchdog* w, const char* what) : w_(w), seq_(w ? w->begin(what) : 0) {}
    ~Scope() {
      if (w_) w_->end(seq_);
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Watchdog* w_;
    uint64_t seq_;
  };

  // Called by the watchdog thread on every tick (e.g. to poll CUDA events and NCCL errors).
  // Returns an id for remove().
  int add_poller(std::function<void()> poll);
  // Runs before MPI_Abort when the job is aborted (e.g. ncclCommAbort). Returns an id.
  int add_abort_hook(std::function<void()> hook);
  // Unregisters a poller or abort hook (waits for a running poll to finish).
  void remove(int id);
  // Runs the abort hooks once (from Context::abort too).
  void run_abort_hooks();
  // Runs the abort hooks, prints `message` and ends every rank (MPI_Abort).
  [[noreturn]] void abort_job(const std::string& message);

  // Sequence numbers, for tests and messages.
  uint64_t started() const { return started_.load(); }
  uint64_t finished() const;

 private:
  struct InFlight {
    uint64_t seq;
    const char* what;
    std::chrono::steady_clock::time_point since;
  };
  // Oldest unfinished collective: seconds in flight (0 when idle) and its label.
  double stuck_seconds(uint64_t* seq, const char** what) const;
  void run();

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::atomic<double> timeout_s_;
  std::atomic<uint64_t> started_{0};
  mutable std::mutex mu_;
  std::deque<InFlight> in_flight_;
  uint64_t finished_ = 0;  // highest finished seq
  std::mutex poll_mu_;  // held while pollers run, so remove() never races a poll
  int next_id_ = 0;
  std::vector<std::pair<int, std::function<void()>>> pollers_, abort_hooks_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> hooks_ran_{false};
  std::thread thread_;
};

}  // namespace sturdy::dist
