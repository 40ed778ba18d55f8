#!/usr/bin/env bash
# Stops the Slurm started by start.sh (same STATE_DIR): slurmd, slurmctld, munged, by the PIDs
# they recorded; jobs still running are cancelled first. Removes STATE_DIR with --clean.
set -uo pipefail

STATE_DIR=${1:-${STURDY_SLURM_STATE:-/tmp/sturdy-local-slurm}}
clean=${2:-}
export SLURM_CONF="$STATE_DIR/slurm.conf"
[ -f "$SLURM_CONF" ] && scancel --full --quiet --user="$(id -un)" 2>/dev/null
stop_pid_file() {  # SIGTERM, then SIGKILL after 10 s
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
}
stop_pid_file "$STATE_DIR/slurmd.pid"
stop_pid_file "$STATE_DIR/slurmctld.pid"
stop_pid_file "$STATE_DIR/munge/munged.pid"
if [ "$clean" = "--clean" ]; then rm -rf "$STATE_DIR"; fi
exit 0
