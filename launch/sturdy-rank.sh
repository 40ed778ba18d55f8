#!/usr/bin/env bash
# Per-rank wrapper: sets threads, CPU binding and the GPU of one rank, then execs the command.
#
#   mpirun -np 4 launch/sturdy-rank.sh sturdy train --config run.yaml
#   srun --mpi=pmix launch/sturdy-rank.sh sturdy train --config run.yaml
#
# Local rank / ranks per node come from OMPI_COMM_WORLD_LOCAL_RANK/_SIZE (mpirun) or
# SLURM_LOCALID + SLURM_NTASKS_PER_NODE / SLURM_STEP_TASKS_PER_NODE (srun).
#
# Threads: when the launcher already bound the rank (srun --cpu-bind, mpirun --bind-to core:
#   this process may use fewer CPUs than the node has), OMP_NUM_THREADS = the CPUs it may use.
#   Otherwise cores-of-the-node / ranks-per-node, and with STURDY_BIND=1 (the default) the rank
#   is pinned to its own contiguous slice of cores with taskset, so ranks do not migrate onto
#   each other's cores. An OMP_NUM_THREADS set by the user is kept.
# GPU: left to the code: local rank r drives visible GPU r (src/distributed/communicator.cpp checks
#   ranks per node <= visible GPUs). So every rank must see all of the node's GPUs: allocate
#   with --gpus-per-node, not --gpus-per-task / --gpu-bind=single (those leave one GPU per task
#   and the ranks > 0 fail). A warning says so when it looks like that. Contiguous core slices
#   in local-rank order match the usual GPU/NUMA layout (GPUs 0..k-1 on the first socket).
# STURDY_RANK_VERBOSE=1 prints the decision of every rank on stderr.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

first_count() {  # "4(x2),3" -> 4 (SLURM_*_TASKS_PER_NODE format)
  local v=${1%%,*}
  echo "${v%%(*}"
}

if [ -n "${OMPI_COMM_WORLD_LOCAL_RANK:-}" ]; then
  local_rank=$OMPI_COMM_WORLD_LOCAL_RANK
  local_size=${OMPI_COMM_WORLD_LOCAL_SIZE:-1}
elif [ -n "${SLURM_LOCALID:-}" ]; then
  local_rank=$SLURM_LOCALID
  local_size=${SLURM_NTASKS_PER_NODE:-$(first_count "${SLURM_STEP_TASKS_PER_NODE:-${SLURM_TASKS_PER_NODE:-1}}")}
else
  local_rank=${LOCAL_RANK:-0}
  local_size=${LOCAL_SIZE:-1}
fi
[ "$local_size" -ge 1 ] 2>/dev/null || local_size=1

node_cpus=$(nproc --all)
allowed_cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # the affinity mask the launcher set
bind=()
if [ "$allowed_cpus" -lt "$node_cpus" ]; then
  threads=$allowed_cpus                     # already bound by the launcher
else
  threads=$(( node_cpus / local_size ))
  [ "$threads" -ge 1 ] || threads=1
  if [ "${STURDY_BIND:-1}" = 1 ] && [ $(( node_cpus / local_size )) -ge 1 ] && command -v taskset >/dev/null; then
    first=$(( local_rank * threads ))
    bind=(taskset -c "$first-$(( first + threads - 1 ))")
  fi
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$threads}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-$OMP_NUM_THREADS}
export MKL_NUM_THREADS=${MKL_NUM_THREADS:-$OMP_NUM_THREADS}

if [ -n "${CUDA_VISIBLE_DEVICES:-}" ] && [ "${CUDA_VISIBLE_DEVICES//,/}" = "$CUDA_VISIBLE_DEVICES" ] \
   && [ "$local_size" -gt 1 ] && [ "$local_rank" -eq 0 ]; then
  echo "sturdy-rank: each rank sees one GPU (CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES) but $local_size ranks" \
       "share this node; Sturdy picks the GPU by local rank: allocate with --gpus-per-node instead" >&2
fi

if [ "${STURDY_RANK_VERBOSE:-0}" = 1 ]; then
  echo "sturdy-rank: host $(hostname -s) local rank $local_rank/$local_size: OMP_NUM_THREADS=$OMP_NUM_THREADS" \
       "bind='${bind[*]:-none}' CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-unset}" >&2
fi
exec "${bind[@]}" "$@"
