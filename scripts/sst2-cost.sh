#!/usr/bin/env bash
# Training cost of SST-2 configurations against ERM (docs/robustness.md, "Subword sampling"):
# interleaved short `sturdy train` runs, so load changes hit every configuration alike. Prints,
# per run, the training seconds, real tokens per step and the loader's CPU share (data %).
# Usage: scripts/sst2-cost.sh [variant...]   (variants of configs/sst2/variants.yaml; default: erm
#        augment3all-d0 augment3all-d0-sw augment3p75-d0-sw; `all` = every variant)
# Environment: STEPS (default 300), ROUNDS (default 2), STURDY_BUILD_DIR, OUT (default /tmp/sturdy-cost).
# Needs data/sst2-train.h5 and data/sst2-sp4k.model (scripts/sst2-objectives.sh makes them).
set -euo pipefail
cd "$(dirname "$0")/.."
STURDY=${STURDY_BUILD_DIR:-build}/src/apps/sturdy
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(erm augment3all-d0 augment3all-d0-sw augment3p75-d0-sw)
list=$(python3 scripts/variants.py configs/sst2/variants.yaml "${wanted[@]}") || exit 2
mapfile -t configs <<< "$list"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out=${OUT:-/tmp/sturdy-cost}
mkdir -p "$out"
uptime
printf '%-22s %5s %9s %10s %6s\n' variant round seconds tok/step data
for round in $(seq 1 "${ROUNDS:-2}"); do
  for c in "${configs[@]}"; do
    d="$out/$c-$round"
    rm -rf "$d"
    "$STURDY" train --config configs/sst2/base.yaml --variant "$c" --set optim.max_steps="${STEPS:-300}" \
      --set checkpoint.every_steps=0 --set run.output_dir="$d" --set log.every_steps="${STEPS:-300}" > "$d.log" 2>&1
    python3 - "$d" "$c" "$round" <<'PY'
import json, sys
d, c, rnd = sys.argv[1:]
s = json.load(open(f"{d}/train_summary.json"))
m = [json.loads(l) for l in open(f"{d}/metrics.jsonl")][-1]
print(f"{c:22} {rnd:>5} {s['train_seconds']:9.2f} {s['train_seconds'] * s['train_tokens_per_second'] / s['steps']:10.1f}"
      f" {100 * m.get('data_cpu_share', 0):5.1f}%")
PY
  done
done
uptime
