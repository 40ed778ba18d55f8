#!/usr/bin/env bash
# Several seeds of several SST-2 variants (configs/sst2/base.yaml + configs/sst2/variants.yaml),
# each trained on one rank and evaluated on SST-2 dev with configs/eval/robust-search.yaml (typos
# x1/x3, mild_mix worst-case@5, both search attacks), JOBS runs at a time; then the table of means
# and standard errors over seeds (scripts/sst2-table.py). docs/robustness.md gives the tables this
# wrote and the exact command.
# Usage: scripts/sst2-seeds.sh VARIANT...
# Environment: SEEDS (default "1 2 3"), STEPS (optimizer steps, default 1000; FreeAT's batches are
# halved by its variant), EPOCHS (optim.epochs), JOBS (parallel runs, default 2, one thread each),
# TAG (suffix of every run folder), STURDY_BUILD_DIR, SST2_DIR. Runs go to runs/sst2-VARIANT[TAG]-sSEED;
# a run whose R.json exists is kept (delete the folder to redo it).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 VARIANT..." >&2; exit 2; }
list=$(python3 scripts/variants.py configs/sst2/variants.yaml "$@") || exit 2  # checks the names first
mapfile -t variants <<< "$list"
source scripts/sst2-data.sh  # STURDY, SST2; data/sst2-{train,dev}.h5 and base.yaml's tokenizer
export OMP_NUM_THREADS=1
SEEDS=${SEEDS:-1 2 3}
JOBS=${JOBS:-2}
TAG=${TAG:-}
one() {  # VARIANT SEED
  local v=$1 s=$2 run="runs/sst2-$1$TAG-s$2"
  [ -f "$run/R.json" ] && return 0
  rm -rf "$run"
  local extra=(--set optim.max_steps="${STEPS:-1000}")
  [ "$v" = freeat ] && extra=(--set optim.max_steps=$(( ${STEPS:-1000} / 2 )))
  [ -n "${EPOCHS:-}" ] && extra+=(--set optim.epochs="$EPOCHS")
  "$STURDY" train --config configs/sst2/base.yaml --variant "$v" "${extra[@]}" --set checkpoint.every_steps=0 \
    --set run.seed="$s" --set run.output_dir="$run" --set run.name="sst2-$v$TAG-s$s" > "$run.train.log" 2>&1 \
    || { echo "FAILED: train $run (log $run.train.log)" >&2; return 1; }
  "$STURDY" eval --checkpoint "$run" --suite configs/eval/robust-search.yaml --output "$run/R.json" \
    > "$run.eval.log" 2>&1 || { echo "FAILED: eval $run (log $run.eval.log)" >&2; return 1; }
  echo "done $run"
}
mkdir -p runs
pids=() failed=0
for s in $SEEDS; do
  for v in "${variants[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || failed=1; done
    one "$v" "$s" &
  done
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
runs=()
for v in "${variants[@]}"; do for s in $SEEDS; do runs+=("runs/sst2-$v$TAG-s$s"); done; done
python3 scripts/sst2-table.py "${runs[@]}"
exit $failed
