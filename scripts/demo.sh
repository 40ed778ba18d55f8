#!/usr/bin/env bash
# The main job, end to end: WordNet glosses -> HDF5 corpus -> train on 2 MPI ranks ->
# robustness evaluation (the `demo` suite) -> report (Markdown + PNG).
# Prints clean accuracy, accuracy under the `typos` recipe and the worst case over mixed
# noise, where the report is, and how long each step took. Extra arguments go to
# `sturdy train` (e.g. --set optim.epochs=1). The full protocol on the same model:
#   mpirun -np 2 build/src/apps/sturdy eval --checkpoint runs/wordnet-demo --suite standard
set -euo pipefail
cd "$(dirname "$0")/.."
STURDY_TARGETS=sturdy bash scripts/build.sh
STURDY=${STURDY_BUILD_DIR:-build}/src/apps/sturdy
RUN=runs/wordnet-demo
MPIRUN=(mpirun -np 2 --bind-to none)
if [ "$(id -u)" -eq 0 ]; then MPIRUN+=(--allow-run-as-root); fi
[ "$(nproc)" -lt 2 ] && MPIRUN+=(--oversubscribe)
# One thread per rank: 2 ranks on the 2-core reference machine.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

timings=()
step() {  # step NAME COMMAND...: runs it and records its wall time
  local name=$1 t0=$SECONDS
  shift
  "$@"
  timings+=("$(printf '%-8s %4d s' "$name" $((SECONDS - t0)))")
}
demo_t0=$SECONDS

mkdir -p data
if [ ! -f data/wordnet-train.h5 ] || [ ! -f data/wordnet-valid.h5 ]; then
  step prepare "$STURDY" prepare --format wordnet --input /usr/share/wordnet --output data/wordnet-train.h5 \
    --valid-output data/wordnet-valid.h5 --valid-fraction 0.1
fi
"$STURDY" inspect data/wordnet-train.h5
step train "${MPIRUN[@]}" "$STURDY" train --config configs/demo/wordnet.yaml "$@"
# Progress goes to stderr; the summary lines (stdout) are kept for the end.
step eval "${MPIRUN[@]}" "$STURDY" eval --checkpoint "$RUN" --suite demo --output "$RUN/R.json" \
  > "$RUN/eval-summary.txt"
step report "$STURDY" report "$RUN/R.json" --output "$RUN/report"

echo
echo "== Sturdy demo: $RUN =="
grep -E '^(clean accuracy|accuracy under typos|worst case)' "$RUN/eval-summary.txt"
echo "report: $RUN/report/report.md (plots: $(cd "$RUN/report" && ls -- *.png 2>/dev/null | tr '\n' ' '))"
echo "full protocol: ${MPIRUN[*]} $STURDY eval --checkpoint $RUN --suite standard --output $RUN/R-standard.json"
printf '%s\n' "${timings[@]}"
echo "demo steps: $((SECONDS - demo_t0)) s after the build"
