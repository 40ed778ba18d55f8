#!/usr/bin/env bash
# The body of the sbatch templates (they exec this, so it runs as the batch shell and receives
# `--signal=B:USR1@120`). Launches `sturdy train` on every task of the allocation through
# launch/sturdy-rank.sh, forwards SIGUSR1/SIGTERM to the ranks, and after a SIGUSR1 that made the
# ranks checkpoint and exit 0 requeues the job (`scontrol requeue`); the requeued job runs the
# same command, which resumes from the checkpoint (checkpoint.resume: auto).
#
# Environment:
#   STURDY_CONFIG    the run configuration (required)
#   STURDY_VARIANT   a variant of it (variants.yaml beside STURDY_CONFIG; default: none)
#   STURDY_BIN       the sturdy binary (default: $STURDY_HOME/build/src/apps/sturdy)
#   STURDY_HOME      the checkout with launch/ (default: $SLURM_SUBMIT_DIR)
#   STURDY_LAUNCHER  srun (default: srun --mpi=$STURDY_SRUN_MPI, pmix unless set) or mpirun
#   STURDY_REQUEUE   1 (default): requeue after a preemption signal; 0: just stop
# Arguments are passed to `sturdy train` (e.g. --set run.output_dir=runs/x).
set -uo pipefail

home=${STURDY_HOME:-${SLURM_SUBMIT_DIR:-$(pwd)}}
bin=${STURDY_BIN:-$home/build/src/apps/sturdy}
: "${STURDY_CONFIG:?set STURDY_CONFIG to the run configuration (sbatch --export=ALL,STURDY_CONFIG=...)}"
launcher=${STURDY_LAUNCHER:-srun}

echo "sturdy-job: job ${SLURM_JOB_ID:-?} restart ${SLURM_RESTART_COUNT:-0} on ${SLURM_JOB_NODELIST:-$(hostname -s)}:" \
     "${SLURM_NTASKS:-1} task(s), launcher $launcher, $(date -Is)"

case $launcher in
  srun)
    cmd=(srun --mpi="${STURDY_SRUN_MPI:-pmix}" --kill-on-bad-exit=1) ;;  # Slurm's binding, if any, is kept
  mpirun)
    # Open MPI reads the Slurm allocation itself (nodes, tasks per node).
    cmd=(mpirun --bind-to none)
    [ "$(id -u)" -eq 0 ] && cmd+=(--allow-run-as-root) ;;
  *) echo "sturdy-job: STURDY_LAUNCHER must be srun or mpirun, not '$launcher'" >&2; exit 2 ;;
esac
cmd+=("$home/launch/sturdy-rank.sh" "$bin" train --config "$STURDY_CONFIG")
[ -n "${STURDY_VARIANT:-}" ] && cmd+=(--variant "$STURDY_VARIANT")
cmd+=("$@")

preempt_signal=""
forward() {  # srun and mpirun both forward SIGUSR1 to every rank; SIGTERM is sent as SIGUSR1
  preempt_signal=$1          # because mpirun turns SIGTERM into killing the job.
  echo "sturdy-job: got SIG$1 at $(date -Is); asking the ranks to checkpoint and stop" >&2
  [ -n "${pid:-}" ] && kill -USR1 "$pid" 2>/dev/null
}
trap 'forward USR1' USR1
trap 'forward TERM' TERM

"${cmd[@]}" &
pid=$!
# `wait` returns early when a trapped signal arrives: wait again until the launcher is gone.
while true; do
  wait "$pid"
  rc=$?
  kill -0 "$pid" 2>/dev/null || break
done
echo "sturdy-job: launcher exited with $rc at $(date -Is)"

if [ "$preempt_signal" = USR1 ] && [ "$rc" -eq 0 ] && [ "${STURDY_REQUEUE:-1}" = 1 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
  echo "sturdy-job: requeueing job $SLURM_JOB_ID; it resumes from the checkpoint just written"
  scontrol requeue "$SLURM_JOB_ID"
fi
exit "$rc"
