#!/usr/bin/env bash
# Evaluation throughput against training throughput on the same model and machine
# (docs/performance.md, "Evaluation throughput"): REPS times, interleaved, on 2 ranks:
#   train the README demo model (configs/demo/wordnet.yaml) -> train real tokens/s
#   sturdy eval --suite demo      -> text-pass tokens/s, wall time
#   sturdy eval --suite standard  -> text-pass tokens/s, wall time
# and prints one table with the ratios. Run it on a quiet machine (nothing else running):
# it prints the load average, the CPU and the BLAS core with the numbers.
# Usage: scripts/eval-throughput.sh [REPS] [OUTDIR]   (default 2, runs/eval-throughput)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-2}
OUT=${2:-runs/eval-throughput}
STURDY=${STURDY_BUILD_DIR:-build}/src/apps/sturdy
MPIRUN=(mpirun -np 2 --bind-to none)
if [ "$(id -u)" -eq 0 ]; then MPIRUN+=(--allow-run-as-root); fi
[ "$(nproc)" -lt 2 ] && MPIRUN+=(--oversubscribe)
export OMP_NUM_THREADS=1
mkdir -p data "$OUT"
if [ ! -f data/wordnet-train.h5 ] || [ ! -f data/wordnet-valid.h5 ]; then
  "$STURDY" prepare --format wordnet --input /usr/share/wordnet --output data/wordnet-train.h5 \
    --valid-output data/wordnet-valid.h5 --valid-fraction 0.1
fi
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(getconf _NPROCESSORS_ONLN) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for rep in $(seq 1 "$REPS"); do
  run="$OUT/run$rep"
  rm -rf "$run"
  t0=$SECONDS
  "${MPIRUN[@]}" "$STURDY" train --config configs/demo/wordnet.yaml --set "run.output_dir=$run" \
    > "$OUT/train$rep.log" 2>&1
  train_s=$((SECONDS - t0))
  for suite in demo standard; do
    t0=$SECONDS
    "${MPIRUN[@]}" "$STURDY" eval --checkpoint "$run" --suite "$suite" --output "$OUT/R-$suite-$rep.json" \
      > "$OUT/eval-$suite-$rep.log" 2>&1
    echo "rep $rep: train ${train_s} s, eval $suite $((SECONDS - t0)) s, load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
grep -h -m1 "BLAS core" "$OUT/train1.log" | sed 's/.*| \([^|]*\) | BLAS core/CPU: \1, BLAS core/'
/usr/bin/python3 - "$OUT" "$REPS" <<'EOF'
import json, sys
out, reps = sys.argv[1], int(sys.argv[2])
print("| rep | train tok/s | suite | eval text-pass tok/s | eval / train | sequences scored | through the model | eval wall s |")
print("|---|---|---|---|---|---|---|---|")
for rep in range(1, reps + 1):
    for suite in ("demo", "standard"):
        r = json.load(open(f"{out}/R-{suite}-{rep}.json"))
        c = r["cost"]
        t = c["eval_text_passes"]
        print(f"| {rep} | {c['train_tokens_per_second']:.0f} | {suite} | {t['tokens_per_second']:.0f} | "
              f"{t['tokens_per_second'] / c['train_tokens_per_second']:.2f}x | {t['sequences']} | "
              f"{t['forwarded_sequences']} | {c['eval_seconds']:.1f} |")
EOF
