// Signal handlers that only record a preemption request (see signals.h).
#include "sturdy/train/signals.h"

#include <csignal>

namespace sturdy {
namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_preemption_signal(int signo) {
  if (g_signal == signo) {
    // Asked twice: the step boundary never came (a hang). Die the default way.
    std::signal(signo, SIG_DFL);
    std::raise(signo);
    return;
  }
  if (g_signal == 0) g_signal = signo;
}

}  // namespace

void install_preemption_handlers() {
  struct sigaction action {};
  action.sa_handler = on_preemption_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a blocking read or MPI call continues after the handler
  sigaction(SIGUSR1, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool preemption_requested() { return g_signal != 0; }

int preemption_signal() { return static_cast<int>(g_signal); }

const char* preemption_signal_name() {
  switch (g_signal) {
    case SIGUSR1: return "SIGUSR1";
    case SIGTERM: return "SIGTERM";
    default: return "";
  }
}

void clear_preemption() { g_signal = 0; }

}  // namespace sturdy
