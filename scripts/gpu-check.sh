#!/usr/bin/env bash
# One prepared command for the GPU machine (H200, PyTorch 2.11+cu130, no package registry):
#   1. unpacks the carried Debian packages (.deps/debs, from scripts/fetch-gpu-deps.sh) that
#      the machine lacks into .deps/prefix with dpkg -x,
#   2. configures against that prefix and PyTorch's LibTorch (CUDA), builds the kernels and
#      bench_kernels first (bench/CMakeLists.txt: $BUILD/bench/bench_kernels, needs
#      STURDY_BUILD_BENCH=ON), then `sturdy`, kernels_test and kernels_gpu_test at nice 19 in the
#      background while bench_kernels measures (its timings are CUDA events on the device),
#   3. runs, in order of importance: the kernel tests (GPU, then host emulation), the trainer's
#      GPU checks (tests/gpu/train_checks.py: CPU vs GPU, determinism, resume, checkpoint on the
#      CPU, bf16, 2 ranks sharing the GPU), the training-step comparison with eager PyTorch
#      (scripts/gpu-step-compare.sh), and `sturdy bench comm --device cuda` on 1 rank and on 2
#      ranks sharing the GPU over MPI (when an mpirun is found),
#   4. writes everything to OUTDIR (SUMMARY.md first), each step under its own time limit, cut to
#      what is left of the whole budget (GPU_CHECK_BUDGET, 465 s), so the run stays under 8
#      minutes; a step with too little time left is recorded as SKIPPED.
# Without a GPU it stops after building the kernels and running their host tests, and says so
# (exit 0: nothing failed). Exit 1 when configure or a build fails, else 0; read SUMMARY.md.
# Usage: scripts/gpu-check.sh OUTDIR      env: JOBS (16), BUILD_DIR (build-gpu), GPU_CHECK_BUDGET (465)
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
OUT=$(mkdir -p "$1" && cd "$1" && pwd) || { echo "$0: cannot create $1" >&2; exit 2; }
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
JOBS=${JOBS:-16}
BUILD=${BUILD_DIR:-build-gpu}
BUDGET=${GPU_CHECK_BUDGET:-465}
PREFIX=$ROOT/.deps/prefix
START=$SECONDS
exec > >(tee "$OUT/gpu-check.log") 2>&1

summary() { echo "$*" >> "$OUT/SUMMARY.md"; echo "== $*"; }
left() { echo $((BUDGET - (SECONDS - START))); }
# step NAME LIMIT_S CMD...: runs CMD under min(LIMIT_S, budget left - 5 s), output in OUT/NAME.log.
step() {
  local name=$1 limit=$2; shift 2
  local avail=$(( $(left) - 5 ))
  if [ "$avail" -lt 15 ]; then
    summary "- $name: SKIPPED (time budget spent: $((SECONDS - START)) s of $BUDGET s)"
    return 125
  fi
  [ "$limit" -gt "$avail" ] && limit=$avail
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local verdict=ok
  [ $rc -ne 0 ] && verdict=FAILED
  [ $rc -eq 124 ] && verdict="TIMED OUT"
  [ $rc -eq 77 ] && verdict=skipped
  summary "- $name: $verdict (rc $rc) in $((SECONDS - t0)) s (limit $limit s; log $name.log)"
  return $rc
}

{
  echo "# gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  echo
  echo "- git: $(git rev-parse --short HEAD 2>/dev/null) $(git status --porcelain 2>/dev/null | wc -l) uncommitted paths"
} > "$OUT/SUMMARY.md"

# --- environment ----------------------------------------------------------------------
PYTHON=""
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then PYTHON=$(command -v "$p"); break; fi
done
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
{
  echo "## nvidia-smi"; nvidia-smi 2>&1 | head -20
  echo "## nvcc"; "$NVCC" --version 2>&1 | tail -2
  echo "## c++"; c++ --version 2>&1 | head -1
  echo "## cmake / ninja"; cmake --version | head -1; ninja --version
  echo "## python: $PYTHON"
  [ -n "$PYTHON" ] && "$PYTHON" -c 'import torch;print(torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.utils.cmake_prefix_path)'
  [ -n "$PYTHON" ] && "$PYTHON" -c 'import h5py;print("h5py", h5py.__version__)'
  echo "## os"; head -2 /etc/os-release; nproc
} > "$OUT/env.txt" 2>&1
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
GPUS=${GPUS:-0}
summary "- GPUs: $GPUS; python with torch: ${PYTHON:-none}; nvcc: $NVCC"

# --- 1. unpack the carried packages the machine lacks ---------------------------------
unpacked=0 skipped=0
if [ -d .deps/debs ]; then
  mkdir -p "$PREFIX"
  for deb in .deps/debs/*.deb; do
    [ -e "$deb" ] || continue
    pkg=$(basename "$deb" | cut -d_ -f1)
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      skipped=$((skipped + 1)); continue
    fi
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$deb" "$PREFIX"
    else  # no dpkg: the .deb is an ar archive whose data.tar.* holds the files
      member=$(ar t "$deb" | grep '^data\.tar')
      case $member in
        *.xz) z=-J ;; *.zst) z=--zstd ;; *.gz) z=-z ;; *) z="" ;;
      esac
      (cd "$PREFIX" && ar p "$ROOT/$deb" "$member" | tar -x ${z:+"$z"} -f -)
    fi
    unpacked=$((unpacked + 1))
  done
fi
summary "- packages: $unpacked unpacked into .deps/prefix, $skipped already installed"
LIB=$PREFIX/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$LIB:$LIB/hdf5/serial:$LIB/openmpi/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# STURDY_BUILD_BENCH=ON: bench_kernels is defined after bench/CMakeLists.txt's BENCH check.
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DSTURDY_CUDA=ON -DSTURDY_BUILD_BENCH=ON -DSTURDY_BUILD_TESTS=ON
            "-DCMAKE_CUDA_COMPILER=$NVCC"
            "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$LIB -Wl,-rpath-link,$LIB/hdf5/serial -Wl,-rpath-link,$LIB/openmpi/lib")
prefix_path="$PREFIX/usr;$LIB/cmake"
if [ -n "$PYTHON" ]; then
  prefix_path="$prefix_path;$("$PYTHON" -c 'import torch;print(torch.utils.cmake_prefix_path)')"
  cmake_args+=("-DSTURDY_PYTHON=$PYTHON")
fi
cmake_args+=("-DCMAKE_PREFIX_PATH=$prefix_path")
# Wrappers (mpicc, h5cc) in the prefix point at /usr: give FindMPI/FindHDF5 the files instead.
if [ -f "$LIB/libmpi.so" ]; then
  cmake_args+=(-DMPI_SKIP_COMPILER_WRAPPER=ON "-DMPI_C_HEADER_DIR=$LIB/openmpi/include" -DMPI_C_LIB_NAMES=mpi
               "-DMPI_mpi_LIBRARY=$LIB/libmpi.so")
  export OPAL_PREFIX=$PREFIX/usr OPAL_LIBDIR=$LIB/openmpi/lib OPAL_PKGDATADIR=$PREFIX/usr/share/openmpi
fi
if [ -f "$LIB/hdf5/serial/libhdf5.so" ]; then
  cmake_args+=("-DHDF5_C_INCLUDE_DIR=$PREFIX/usr/include/hdf5/serial" "-DHDF5_C_LIBRARY_hdf5=$LIB/hdf5/serial/libhdf5.so"
               -DHDF5_C_COMPILER_EXECUTABLE=HDF5_C_COMPILER_EXECUTABLE-NOTFOUND)
fi
if [ -f "$LIB/pkgconfig/sentencepiece.pc" ]; then
  export PKG_CONFIG_PATH=$LIB/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH} PKG_CONFIG_SYSROOT_DIR=$PREFIX
fi
command -v pkg-config >/dev/null || [ ! -x "$PREFIX/usr/bin/pkgconf" ] || cmake_args+=("-DPKG_CONFIG_EXECUTABLE=$PREFIX/usr/bin/pkgconf")
# mpirun: the machine's, else the carried Open MPI (dpkg -x makes no /usr/bin/mpirun alternative).
MPIRUN=$(command -v mpirun || true)
for m in "$PREFIX/usr/bin/mpirun" "$PREFIX/usr/bin/mpirun.openmpi" "$PREFIX/usr/bin/orterun"; do
  [ -n "$MPIRUN" ] && break
  [ -x "$m" ] && MPIRUN=$m
done
[ -n "$MPIRUN" ] && export STURDY_MPIRUN=$MPIRUN  # tests/gpu/train_checks.py
summary "- mpirun: ${MPIRUN:-none}"

# --- 2. configure and build: kernels + bench first, then sturdy and the tests -------------
STURDY=$BUILD/src/apps/sturdy
step configure 150 cmake -S . -B "$BUILD" -G Ninja "${cmake_args[@]}" || { summary "STOP: configure failed"; exit 1; }
grep -E "Sturdy (CUDA|NCCL)|Found Torch|Caffe2: CUDA" "$OUT/configure.log" | sed 's/^-- /- configure: /' >> "$OUT/SUMMARY.md"
step build_kernels 150 cmake --build "$BUILD" -j "$JOBS" --target sturdy_kernels bench_kernels \
  || { summary "STOP: the CUDA kernels do not build"; exit 1; }

if [ "$GPUS" -eq 0 ]; then
  summary "NO GPU: nvidia-smi lists no device; the kernels compiled (sm_90 + PTX); bench and GPU tests not run"
  step kernels_test_build 300 cmake --build "$BUILD" -j "$JOBS" --target kernels_test kernels_gpu_test \
    && step kernels_test 60 "$BUILD/tests/kernels_test" && step kernels_gpu_test_skips 60 "$BUILD/tests/kernels_gpu_test"
  summary "- total $((SECONDS - START)) s"
  exit 0
fi

# sturdy + the kernel tests build at nice 19 while bench_kernels measures in the foreground.
# Everything after needs it: it may use all but 30 s of what is left (later steps then get cut).
build_limit=$(( $(left) - 30 ))
[ "$build_limit" -lt 30 ] && build_limit=30
t_build=$SECONDS
timeout --kill-after=10 "$build_limit" nice -n 19 cmake --build "$BUILD" -j "$JOBS" --target sturdy kernels_test kernels_gpu_test \
  > "$OUT/build_sturdy.log" 2>&1 &
build_pid=$!
step bench_kernels 90 "$BUILD/bench/bench_kernels" --min-mb 4 --max-mb 256 --csv "$OUT/bench_kernels.csv"
summary "  (bench_kernels ran while the build ran at nice 19 on the CPU cores; its times are CUDA events)"
wait "$build_pid"
build_rc=$?
summary "- build_sturdy: rc $build_rc in $((SECONDS - t_build)) s (limit $build_limit s; log build_sturdy.log)"
[ "$build_rc" -eq 0 ] || { summary "STOP: sturdy / the kernel tests do not build (tail of build_sturdy.log above)"; \
                           tail -30 "$OUT/build_sturdy.log"; summary "- total $((SECONDS - START)) s"; exit 1; }

# --- 3. checks and measurements, most important first ----------------------------------------
# CPU threads per process (model initialisation, the loader); the GPU does the rest.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
step kernels_gpu_test 90 "$BUILD/tests/kernels_gpu_test" --gtest_output="xml:$OUT/kernels_gpu_test.xml"
step kernels_test 60 "$BUILD/tests/kernels_test" --gtest_output="xml:$OUT/kernels_test.xml"
TRAIN_PY=${PYTHON:-python3}
# Its runs and checkpoints stay in the build folder; the summary and the run logs come back.
step train_checks 200 "$TRAIN_PY" tests/gpu/train_checks.py "$BUILD" --out "$BUILD/gpu-train-checks"
mkdir -p "$OUT/train_checks"
cp "$BUILD/gpu-train-checks/train_checks.json" "$OUT/" 2>/dev/null
cp -r "$BUILD/gpu-train-checks/logs" "$OUT/train_checks/" 2>/dev/null
grep '^== .*: \(PASSED\|FAILED\|SKIPPED\)' "$OUT/train_checks.log" 2>/dev/null | sed 's/^== /  - /' | cut -c1-300 >> "$OUT/SUMMARY.md"
if [ -n "$PYTHON" ]; then
  step step_compare 150 env PYTHON="$PYTHON" scripts/gpu-step-compare.sh "$BUILD" "$OUT/step_compare"
  cp "$OUT/step_compare/step_compare.md" "$OUT/step_compare/step_compare.json" "$OUT/" 2>/dev/null || true
  grep '^step-compare:' "$OUT/step_compare.log" 2>/dev/null | sed 's/^/  - /' >> "$OUT/SUMMARY.md"
else
  summary "- step_compare: SKIPPED (no python3 with torch for bench/pytorch_step.py)"
fi
step bench_comm_1rank 45 "$STURDY" bench comm --device cuda --max-bytes 64M
if [ -n "$MPIRUN" ]; then
  backend=mpi
  [ "$GPUS" -ge 2 ] && backend=nccl
  allow=()
  [ "$(id -u)" -eq 0 ] && allow=(--allow-run-as-root)
  step "bench_comm_2ranks_$backend" 75 "$MPIRUN" ${allow[@]+"${allow[@]}"} -np 2 --oversubscribe --bind-to none \
    "$STURDY" bench comm --device cuda --backend "$backend" --max-bytes 64M
else
  summary "- bench_comm_2ranks: SKIPPED (no mpirun)"
fi
summary "- total $((SECONDS - START)) s (budget $BUDGET s)"
