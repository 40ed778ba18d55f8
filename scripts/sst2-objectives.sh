#!/usr/bin/env bash
# The docs/robustness.md experiment: train ERM and each robust objective on SST-2 with the
# same model, data and step budget (configs/sst2/*.yaml), evaluate each on SST-2 dev with
# configs/eval/robustness.yaml, and render the comparison with `sturdy report`.
# Usage: scripts/sst2-objectives.sh [objective...]   (default: all)
# Environment: STEPS (optimizer steps, default 1000), EPOCHS (optim.epochs, default the config's:
# STEPS is capped at EPOCHS epochs), SEED (run.seed, default the config's),
# TAG (suffix of the run folder, e.g. TAG=-e1 writes runs/sst2-erm-e1), STURDY_BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
STURDY=${STURDY_BUILD_DIR:-build}/src/apps/sturdy
SST2=${SST2_DIR:-../shared/data/sst2}
mkdir -p data
[ -f data/sst2-train.h5 ] || "$STURDY" prepare --input "$SST2/train.tsv" --output data/sst2-train.h5
[ -f data/sst2-dev.h5 ] || "$STURDY" prepare --input "$SST2/dev.tsv" --output data/sst2-dev.h5
# A subword tokenizer learns SST-2 far faster than bytes in this budget, and a typo still
# changes the segmentation (the tokenizer is trained on clean training text only).
[ -f data/sst2-sp4k.model ] || "$STURDY" tokenizer train --corpus data/sst2-train.h5 --vocab-size 4000 \
  --output data/sst2-sp4k.model
COMMON=(--set tokenizer.kind=sentencepiece --set tokenizer.path=data/sst2-sp4k.model
        --set data.max_length=64 --set optim.max_steps=${STEPS:-1000} --set checkpoint.every_steps=0)
objectives=("$@")
[ ${#objectives[@]} -gt 0 ] || objectives=(erm augment consistency fgm pgd freeat freelb smart)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
TAG=${TAG:-}
for o in "${objectives[@]}"; do
  run="runs/sst2-$o$TAG"
  rm -rf "$run"
  extra=(--set run.output_dir="$run" --set run.name="sst2-$o$TAG")
  [ -n "${SEED:-}" ] && extra+=(--set run.seed="$SEED")
  [ -n "${EPOCHS:-}" ] && extra+=(--set optim.epochs="$EPOCHS")
  # FreeAT replays each batch: half the batches give the same number of optimizer steps.
  [ "$o" = freeat ] && extra+=(--set optim.max_steps=$(( ${STEPS:-1000} / 2 )))
  "$STURDY" train --config "configs/sst2/$o.yaml" "${COMMON[@]}" "${extra[@]}"
  "$STURDY" eval --checkpoint "$run" --suite configs/eval/robustness.yaml --output "$run/R.json"
done
[ -z "$TAG" ] || exit 0  # tagged runs are summarised by scripts/sst2-summary.py
results=()
for o in erm augment augment3 augment3all consistency consistency3 consistency3h fgm pgd freeat freelb smart; do
  [ -f "runs/sst2-$o/R.json" ] && results+=("runs/sst2-$o/R.json")
done
"$STURDY" report "${results[@]}" --output docs/reports/sst2-objectives
