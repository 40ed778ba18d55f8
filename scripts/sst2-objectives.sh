#!/usr/bin/env bash
# The docs/robustness.md experiment: train ERM and each robust objective on SST-2 with the
# same model, data and step budget (configs/sst2/base.yaml + a variant of
# configs/sst2/variants.yaml), evaluate each on SST-2 dev with configs/eval/robustness.yaml, and
# render the comparison with `sturdy report` (every variant of variants.yaml that has an R.json).
# Usage: scripts/sst2-objectives.sh [variant...]   (default: the eight objectives, erm augment
#        consistency fgm pgd freeat freelb smart; `all` = every variant in variants.yaml)
# Environment: STEPS (optimizer steps, default 1000), EPOCHS (optim.epochs, default the config's:
# STEPS is capped at EPOCHS epochs), SEED (run.seed, default the config's),
# TAG (suffix of the run folder, e.g. TAG=-e1 writes runs/sst2-erm-e1), STURDY_BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=configs/sst2/base.yaml
VARIANTS=configs/sst2/variants.yaml
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(erm augment consistency fgm pgd freeat freelb smart)
list=$(python3 scripts/variants.py "$VARIANTS" "${wanted[@]}") || exit 2  # checks the names first
mapfile -t objectives <<< "$list"
source scripts/sst2-data.sh  # STURDY, SST2; data/sst2-{train,dev}.h5 and base.yaml's tokenizer
COMMON=(--set optim.max_steps=${STEPS:-1000} --set checkpoint.every_steps=0)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
TAG=${TAG:-}
for o in "${objectives[@]}"; do
  run="runs/sst2-$o$TAG"
  rm -rf "$run"
  extra=(--set run.output_dir="$run" --set run.name="sst2-$o$TAG")
  [ -n "${SEED:-}" ] && extra+=(--set run.seed="$SEED")
  [ -n "${EPOCHS:-}" ] && extra+=(--set optim.epochs="$EPOCHS")
  # FreeAT replays each batch: half the batches give the same number of optimizer steps (as the
  # variant's optim.max_steps: 500 does for the base's 1000).
  [ "$o" = freeat ] && extra+=(--set optim.max_steps=$(( ${STEPS:-1000} / 2 )))
  "$STURDY" train --config "$BASE" --variant "$o" "${COMMON[@]}" "${extra[@]}"
  "$STURDY" eval --checkpoint "$run" --suite configs/eval/robustness.yaml --output "$run/R.json"
done
[ -z "$TAG" ] || exit 0  # tagged runs are summarised by scripts/sst2-summary.py
results=()
while read -r o; do
  [ -f "runs/sst2-$o/R.json" ] && results+=("runs/sst2-$o/R.json")
done < <(python3 scripts/variants.py "$VARIANTS")
"$STURDY" report "${results[@]}" --output docs/reports/sst2-objectives
