#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz and runs them.
#
#   scripts/fuzz.sh [TARGET...] [libFuzzer options]
#   scripts/fuzz.sh perturb -runs=1000000        # 10^6 inputs
#   scripts/fuzz.sh perturb -max_total_time=60   # one minute
#   scripts/fuzz.sh                              # every target, -runs=100000
#   scripts/fuzz.sh -max_total_time=20           # every target for 20 s (CI)
#
# Targets are tests/fuzz/<name>_fuzz.cpp. Each run starts from tests/fuzz/corpus/<name>
# when that folder exists and keeps new inputs in build-fuzz/corpus/<name>. A crash leaves
# its input in build-fuzz/ (crash-*) and makes the script exit non-zero.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${STURDY_FUZZ_BUILD:-$root/build-fuzz}"
jobs="${STURDY_FUZZ_JOBS:-2}"

targets=()
opts=()
for a in "$@"; do
  if [[ "$a" == -* ]]; then opts+=("$a"); else targets+=("$a"); fi
done
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/tests/fuzz/*_fuzz.cpp; do targets+=("$(basename "$f" _fuzz.cpp)"); done
fi
if [ ${#opts[@]} -eq 0 ]; then opts=(-runs=100000); fi

extra=()
if ! grep -q "tests/fuzz" "$root/CMakeLists.txt"; then
  extra+=("-DCMAKE_PROJECT_INCLUDE=$root/tests/fuzz/standalone.cmake")
fi
sanitize="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSTURDY_FUZZ=ON -DSTURDY_TORCH=OFF -DSTURDY_CUDA=OFF -DSTURDY_BUILD_TESTS=OFF -DSTURDY_BUILD_BENCH=OFF \
  -DCMAKE_C_FLAGS="$sanitize" -DCMAKE_CXX_FLAGS="$sanitize" "${extra[@]}" >/dev/null

status=0
for t in "${targets[@]}"; do
  cmake --build "$build" -j"$jobs" --target "${t}_fuzz"
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  seeds=()
  if [ -d "$root/tests/fuzz/corpus/$t" ]; then seeds+=("$root/tests/fuzz/corpus/$t"); fi
  echo "fuzz.sh: running ${t}_fuzz ${opts[*]}"
  # Inputs the targets write to files go to a private folder under TMPDIR (tmpfs when there is one).
  scratch="${TMPDIR:-$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)}"
  (cd "$build" && TMPDIR="$scratch" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     LSAN_OPTIONS="suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0" \
     "./tests/fuzz/${t}_fuzz" -print_final_stats=1 "${opts[@]}" "$corpus" "${seeds[@]}") || status=$?
done
exit $status
