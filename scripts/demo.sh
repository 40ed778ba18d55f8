#!/usr/bin/env bash
# The main job, end to end: WordNet glosses -> HDF5 corpus -> train on 2 MPI ranks -> eval.
# Prints the clean accuracy next to the majority-class baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
STURDY_TARGETS=sturdy bash scripts/build.sh
STURDY=${STURDY_BUILD_DIR:-build}/src/apps/sturdy
mkdir -p data
if [ ! -f data/wordnet-train.h5 ] || [ ! -f data/wordnet-valid.h5 ]; then
  "$STURDY" prepare --format wordnet --input /usr/share/wordnet --output data/wordnet-train.h5 \
    --valid-output data/wordnet-valid.h5 --valid-fraction 0.1
fi
"$STURDY" inspect data/wordnet-train.h5
MPIRUN=(mpirun -np 2 --bind-to none)
if [ "$(id -u)" -eq 0 ]; then MPIRUN+=(--allow-run-as-root); fi
[ "$(nproc)" -lt 2 ] && MPIRUN+=(--oversubscribe)
# One thread per rank: 2 ranks on the 2-core reference machine.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "${MPIRUN[@]}" "$STURDY" train --config configs/demo/wordnet.yaml "$@"
"${MPIRUN[@]}" "$STURDY" eval --checkpoint runs/wordnet-demo --output runs/wordnet-demo/R.json
