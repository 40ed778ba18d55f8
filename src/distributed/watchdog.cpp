// Collective watchdog (see watchdog.h).
#include "sturdy/distributed/watchdog.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "sturdy/core/printable.h"

namespace sturdy::dist {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kTagBeat = 7;

// What a rank tells rank 0 on every tick.
struct Beat {
  int64_t started = 0;   // highest sequence number begun
  int64_t finished = 0;  // highest sequence number finished
  int64_t oldest = 0;    // oldest unfinished sequence number (0 when idle)
  int64_t stuck_ms = 0;  // how long the oldest unfinished one has been running
};

std::string rank_list(const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (i == 8 && ranks.size() > 10) return out + fmt::format(", ... ({} in all)", ranks.size());
    out += (i ? ", " : "") + std::to_string(ranks[i]);
  }
  return out;
}

}  // namespace

Watchdog::Watchdog(MPI_Comm world, double timeout_s) : timeout_s_(timeout_s) {
  MPI_Comm_dup(world, &comm_);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  thread_ = std::thread([this] { run(); });
}

Watchdog::~Watchdog() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void Watchdog::set_timeout(double seconds) { timeout_s_ = seconds; }

uint64_t Watchdog::begin(const char* what) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t seq = ++started_;
  in_flight_.push_back({seq, what, Clock::now()});
  return seq;
}

void Watchdog::end(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find_if(in_flight_.begin(), in_flight_.end(), [&](const InFlight& f) { return f.seq == seq; });
  if (it != in_flight_.end()) in_flight_.erase(it);
  finished_ = std::max(finished_, seq);
}

uint64_t Watchdog::finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finished_;
}

double Watchdog::stuck_seconds(uint64_t* seq, const char** what) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (in_flight_.empty()) {
    *seq = 0;
    *what = "";
    return 0.0;
  }
  const auto& f = in_flight_.front();
  *seq = f.seq;
  *what = f.what;
  return std::chrono::duration<double>(Clock::now() - f.since).count();
}

int Watchdog::add_poller(std::function<void()> poll) {
  std::lock_guard<std::mutex> lock(mu_);
  pollers_.emplace_back(++next_id_, std::move(poll));
  return next_id_;
}

int Watchdog::add_abort_hook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  abort_hooks_.emplace_back(++next_id_, std::move(hook));
  return next_id_;
}

void Watchdog::remove(int id) {
  std::lock_guard<std::mutex> poll_lock(poll_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto* list : {&pollers_, &abort_hooks_}) {
    list->erase(std::remove_if(list->begin(), list->end(), [&](const auto& e) { return e.first == id; }),
                list->end());
  }
}

void Watchdog::run_abort_hooks() {
  if (hooks_ran_.exchange(true)) return;
  std::vector<std::pair<int, std::function<void()>>> hooks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hooks = abort_hooks_;
  }
  for (auto& h : hooks) h.second();
}

void Watchdog::abort_job(const std::string& message) {
  run_abort_hooks();
  std::fprintf(stderr, "[sturdy r%d] watchdog: aborting the job: %s\n", rank_, one_line(message).c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 3);
  std::_Exit(3);
}

// Ticks a few times per timeout period: polls, then reports (members) or judges (rank 0).
void Watchdog::run() {
  std::vector<Beat> beats(rank_ == 0 ? size_ : 0);
  std::vector<Clock::time_point> heard(beats.size(), Clock::now());
  Beat incoming, outgoing;
  MPI_Request recv = MPI_REQUEST_NULL, send = MPI_REQUEST_NULL;
  if (rank_ == 0 && size_ > 1) {
    MPI_Irecv(&incoming, sizeof(Beat), MPI_BYTE, MPI_ANY_SOURCE, kTagBeat, comm_, &recv);
  }
  auto next = Clock::now();
  while (!stop_) {
    const double timeout = timeout_s_.load();
    const double period = std::clamp(timeout / 5.0, 0.05, 2.0);
    next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(period));
    while (!stop_ && Clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (stop_) break;

    {
      std::lock_guard<std::mutex> poll_lock(poll_mu_);
      std::vector<std::pair<int, std::function<void()>>> pollers;
      {
        std::lock_guard<std::mutex> lock(mu_);
        pollers = pollers_;
      }
      for (auto& p : pollers) p.second();
    }

    uint64_t oldest = 0;
    const char* what = "";
    const double stuck = stuck_seconds(&oldest, &what);
    Beat mine;
    mine.started = static_cast<int64_t>(started());
    mine.finished = static_cast<int64_t>(finished());
    mine.oldest = static_cast<int64_t>(oldest);
    mine.stuck_ms = static_cast<int64_t>(stuck * 1e3);

    if (rank_ != 0) {
      int sent = 1;
      if (send != MPI_REQUEST_NULL) MPI_Test(&send, &sent, MPI_STATUS_IGNORE);
      if (sent) {
        outgoing = mine;
        MPI_Isend(&outgoing, sizeof(Beat), MPI_BYTE, 0, kTagBeat, comm_, &send);
      }
      // Rank 0 judges first; without its verdict, give up on our own a little later.
      const double grace = std::max(5.0, 3 * period);
      if (stuck > timeout + grace) {
        abort_job(fmt::format("collective #{} ({}) has not finished within {:.0f} s on rank {} and rank 0 "
                              "gave no verdict (dist.timeout_s = {:.0f}); a rank is stuck, dead or the "
                              "network is down",
                              oldest, what, stuck, rank_, timeout));
      }
      continue;
    }

    // Rank 0: collect every beat that arrived, then look for a collective past its timeout.
    const auto now = Clock::now();
    for (int flag = 1; flag && size_ > 1;) {
      MPI_Status st;
      MPI_Test(&recv, &flag, &st);
      if (!flag) break;
      beats[st.MPI_SOURCE] = incoming;
      heard[st.MPI_SOURCE] = now;
      MPI_Irecv(&incoming, sizeof(Beat), MPI_BYTE, MPI_ANY_SOURCE, kTagBeat, comm_, &recv);
    }
    beats[0] = mine;
    heard[0] = now;
    std::vector<int> stuck_ranks;
    int64_t target = 0;
    for (int r = 0; r < size_; ++r) {
      if (beats[r].stuck_ms > timeout * 1e3) {
        stuck_ranks.push_back(r);
        target = target == 0 ? beats[r].oldest : std::min(target, beats[r].oldest);
      }
    }
    if (stuck_ranks.empty()) continue;
    std::vector<int> missing;
    std::string detail;
    for (int r = 0; r < size_; ++r) {
      const double silent = std::chrono::duration<double>(now - heard[r]).count();
      if (beats[r].started < target || silent > std::max(10.0, 5 * period)) {
        missing.push_back(r);
        if (detail.size() < 400) {
          detail += fmt::format("; rank {} is at collective #{} ({}, last heard {:.1f} s ago)", r,
                                beats[r].started,
                                beats[r].started > beats[r].finished ? "inside it" : "between collectives",
                                silent);
        }
      }
    }
    const std::string label = beats[0].oldest == target ? fmt::format(" ({})", what) : "";
    if (missing.empty()) {
      abort_job(fmt::format("collective #{}{} did not finish within {:.0f} s (dist.timeout_s); every rank "
                            "joined it, so the network or MPI/NCCL progress is stuck; waiting: rank(s) {}",
                            target, label, timeout, rank_list(stuck_ranks)));
    }
    abort_job(fmt::format("collective #{}{} did not finish within {:.0f} s (dist.timeout_s): rank(s) {} "
                          "did not join it{}; waiting in it: rank(s) {}",
                          target, label, timeout, rank_list(missing), detail, rank_list(stuck_ranks)));
  }
  // Shutdown: withdraw the pending receive; a heartbeat still in flight is tiny and eager.
  if (recv != MPI_REQUEST_NULL) {
    MPI_Cancel(&recv);
    MPI_Wait(&recv, MPI_STATUS_IGNORE);
  }
  if (send != MPI_REQUEST_NULL) {
    int done = 0;
    MPI_Test(&send, &done, MPI_STATUS_IGNORE);
    if (!done) {
      MPI_Cancel(&send);
      MPI_Wait(&send, MPI_STATUS_IGNORE);
    }
  }
}

}  // namespace sturdy::dist
