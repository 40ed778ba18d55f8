#!/usr/bin/env bash
# Installs missing Debian packages, then configures and builds Sturdy in build/.
# Usage: scripts/build.sh [extra cmake -D options...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${STURDY_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
fi
# Two jobs keep peak memory and the 2-core CI machine in check; override with STURDY_JOBS.
# STURDY_TARGETS limits the build (the demo needs only `sturdy`).
targets=()
for t in ${STURDY_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "${STURDY_JOBS:-2}" "${targets[@]}"
