#!/usr/bin/env bash
# Trains on one node with N ranks under mpirun, each through launch/sturdy-rank.sh.
#
#   launch/local.sh N CONFIG [--variant NAME] [--set key=value ...] [other `sturdy train` options]
#   launch/local.sh 4 configs/sst2/base.yaml --variant erm
#
# STURDY_BIN names the binary (default: build/src/apps/sturdy of this checkout, else `sturdy`
# on PATH). MPIRUN_ARGS adds mpirun options. Ranks beyond the core count are allowed
# (--oversubscribe); binding is left to sturdy-rank.sh (--bind-to none). SIGUSR1 to this
# script reaches every rank (mpirun forwards it): they checkpoint and exit 0. With at least as
# many ranks as cores, waiting ranks yield the CPU (mpi_yield_when_idle).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 N CONFIG [--variant NAME] [--set section.key=value ...]" >&2
  exit 2
fi
n=$1 config=$2
shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${STURDY_BIN:-$here/../build/src/apps/sturdy}
[ -x "$bin" ] || bin=$(command -v sturdy || true)
[ -n "$bin" ] || { echo "local.sh: no sturdy binary (set STURDY_BIN)" >&2; exit 2; }

args=(-np "$n" --bind-to none)
[ "$n" -gt "$(nproc --all)" ] && args+=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && args+=(--allow-run-as-root)
# When ranks share cores, a rank waiting in a collective must yield its core to the rank
# still computing (Open MPI polls by default); docs/performance.md measured 10-25 % on 2 cores.
[ "$n" -ge "$(nproc --all)" ] && args+=(--mca mpi_yield_when_idle 1)
# shellcheck disable=SC2086
exec mpirun "${args[@]}" ${MPIRUN_ARGS:-} "$here/sturdy-rank.sh" "$bin" train --config "$config" "$@"
