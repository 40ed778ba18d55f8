// Preemption requests by signal.
//
// Cluster schedulers announce the end of a job with a signal: Slurm sends what
// `#SBATCH --signal=B:USR1@120` or `scancel --signal=...` names, and stops jobs with SIGTERM
// before SIGKILL. The handlers only set a flag (async-signal-safe); the trainer reads it at
// the next step boundary, all ranks agree (a max-reduction), write a checkpoint and exit 0.
// A second signal of the same kind while the flag is set falls back to the default action,
// so an impatient Ctrl-C-style repeat still ends a hung process.
#pragma once

namespace sturdy {

// Installs the SIGUSR1 and SIGTERM handlers (idempotent). Call after MPI is initialised,
// so these handlers replace any the MPI library installed.
void install_preemption_handlers();

// True once SIGUSR1 or SIGTERM arrived in this process.
bool preemption_requested();

// The number of the first signal that arrived (0 when none) and its name ("SIGUSR1",
// "SIGTERM"; "" when none), for the log line.
int preemption_signal();
const char* preemption_signal_name();

// Forgets a request (tests; a run that handled it).
void clear_preemption();

}  // namespace sturdy
