#!/usr/bin/env bash
# Builds Sturdy (installing missing Debian packages) and runs every test through ctest.
# Extra arguments go to ctest (e.g. -R config).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir "${STURDY_BUILD_DIR:-build}" --output-on-failure -j "${STURDY_JOBS:-2}" "$@"
