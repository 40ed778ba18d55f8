#!/usr/bin/env bash
# The docs/robustness.md "Language models" experiment (issue 9): stories260K fine-tuned on
# stories it generated itself, plainly (erm) and robustly (augment, consistency), each
# evaluated with `sturdy eval` (configs/eval/lm_typos.yaml) next to the base model.
#
#   scripts/stories-robust.sh [variant...]      (default: erm augment consistency; `all` = every
#                                                variant in configs/stories/variants.yaml)
#
# Environment: STURDY_BUILD_DIR (default build), STORIES_DIR (../shared/data/stories260k),
# TRAIN_BATCHES / DEV_BATCHES (batches of 128 generated stories; default 6 / 2), TAG (suffix
# of the run folders), SEED (run.seed).
set -euo pipefail
cd "$(dirname "$0")/.."
STURDY=${STURDY_BUILD_DIR:-build}/src/apps/sturdy
DATA=${STORIES_DIR:-../shared/data/stories260k}
MODEL=$DATA/stories260K.bin
TOK=$DATA/tok512.bin
BASE=configs/stories/base.yaml
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(erm augment consistency)
list=$(python3 scripts/variants.py configs/stories/variants.yaml "${wanted[@]}") || exit 2  # checks the names first
mapfile -t variants <<< "$list"
[ -f "$MODEL" ] && [ -f "$TOK" ] || { echo "stories-robust.sh: $MODEL or $TOK not found" >&2; exit 2; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out=data/stories
mkdir -p "$out"

# 1. Text from the model itself: top-p 0.9 at temperature 1, up to 160 new tokens from an
#    empty prompt, 128 stories per call (sample i of a call uses seed + i). Train and dev use
#    disjoint seeds.
gen() {  # gen NAME BATCHES FIRST_SEED
  local name=$1 batches=$2 seed=$3 parts=()
  for ((b = 0; b < batches; ++b)); do
    local part=$out/$name-part$b.txt
    [ -f "$part" ] || "$STURDY" generate --checkpoint "$MODEL" --tokenizer "$TOK" --samples 128 \
      --seed $((seed + 128 * b)) --max-new-tokens 160 --temperature 1 --top-p 0.9 --output "$part"
    parts+=("$part")
  done
  cat "${parts[@]}" > "$out/$name.txt"
  [ -f "$out/$name.h5" ] || "$STURDY" prepare --format text --input "$out/$name.txt" --output "$out/$name.h5"
}
gen train "${TRAIN_BATCHES:-6}" 100000
gen dev "${DEV_BATCHES:-2}" 900000

# 2. The base model, evaluated as it is (architecture from the .bin, data and tokenizer from
#    the erm variant's config).
[ -f runs/stories-base/R.json ] || "$STURDY" eval --checkpoint "$MODEL" --config "$BASE" --variant erm \
  --data "$out/dev.h5" --suite configs/eval/lm_typos.yaml --output runs/stories-base/R.json

# 3. Fine-tune and evaluate each variant.
TAG=${TAG:-}
for v in "${variants[@]}"; do
  run=runs/stories-$v$TAG
  rm -rf "$run"
  extra=(--set run.output_dir="$run" --set run.name="stories-$v$TAG")
  [ -n "${SEED:-}" ] && extra+=(--set run.seed="$SEED")
  "$STURDY" train --config "$BASE" --variant "$v" "${extra[@]}"
  "$STURDY" eval --checkpoint "$run" --data "$out/dev.h5" --suite configs/eval/lm_typos.yaml --output "$run/R.json"
done
