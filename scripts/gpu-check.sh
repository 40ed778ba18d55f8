#!/usr/bin/env bash
# One prepared command for the GPU machine (H200, PyTorch 2.11+cu130, no package registry):
#   1. unpacks the carried Debian packages (.deps/debs, from scripts/fetch-gpu-deps.sh) that
#      the machine lacks into .deps/prefix with dpkg -x,
#   2. configures against that prefix and PyTorch's LibTorch, builds the kernels and the
#      bandwidth bench first, then the GPU tests and `sturdy` (-j16),
#   3. runs bench_kernels (fused ops next to a cudaMemcpy of the same run), the kernel tests
#      (host emulation and GPU), and the 1-GPU training-step benchmark in PyTorch eager
#      (bench/pytorch_step.py; the Sturdy trainer's side when it has a CUDA device option),
#   4. writes everything to OUTDIR (SUMMARY.md first), each step under a time limit so the
#      whole run stays under 8 minutes.
# Without a GPU it stops after building the kernels and says so (exit 0: nothing failed).
# Usage: scripts/gpu-check.sh OUTDIR      env: JOBS (16), BUILD_DIR (build-gpu)
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
JOBS=${JOBS:-16}
BUILD=${BUILD_DIR:-build-gpu}
PREFIX=$ROOT/.deps/prefix
START=$SECONDS
exec > >(tee "$OUT/gpu-check.log") 2>&1

summary() { echo "$*" | tee -a "$OUT/SUMMARY.md" >/dev/null; echo "== $*"; }
# step NAME LIMIT_S CMD...: runs CMD under a time limit, output in OUT/NAME.log.
step() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  summary "- $name: rc $rc in $((SECONDS - t0)) s (limit $limit s; log $name.log)"
  return $rc
}

echo "# gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)" > "$OUT/SUMMARY.md"
summary "- git: $(git rev-parse --short HEAD 2>/dev/null) $(git status --porcelain 2>/dev/null | wc -l) uncommitted paths"

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
  echo "## os"; head -2 /etc/os-release; nproc
} > "$OUT/env.txt" 2>&1
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
summary "- GPUs: ${GPUS:-0}; python with torch: ${PYTHON:-none}; nvcc: $NVCC"

# --- 1. unpack the carried packages the machine lacks ---------------------------------
unpacked=0 skipped=0
if [ -d .deps/debs ]; then
  mkdir -p "$PREFIX"
  for deb in .deps/debs/*.deb; do
    pkg=$(basename "$deb" | cut -d_ -f1)
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      skipped=$((skipped + 1)); continue
    fi
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$deb" "$PREFIX"
    else (cd "$PREFIX" && ar p "$ROOT/$deb" "$(ar t "$ROOT/$deb" | grep '^data.tar')" | tar -x --auto-compress -f - 2>/dev/null \
            || ar p "$ROOT/$deb" data.tar.xz | tar -xJf -); fi
    unpacked=$((unpacked + 1))
  done
fi
summary "- packages: $unpacked unpacked into .deps/prefix, $skipped already installed"
LIB=$PREFIX/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$LIB:$LIB/hdf5/serial:$LIB/openmpi/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DSTURDY_CUDA=ON -DSTURDY_BUILD_BENCH=OFF
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

# --- 2. configure and build: kernels + bench first, then the tests and sturdy -------------
step configure 150 cmake -S . -B "$BUILD" -G Ninja "${cmake_args[@]}" || { summary "STOP: configure failed"; exit 1; }
grep -E "Sturdy (CUDA|NCCL)" "$OUT/configure.log" | sed 's/^-- /- /' >> "$OUT/SUMMARY.md"
step build_kernels 150 cmake --build "$BUILD" -j "$JOBS" --target sturdy_kernels bench_kernels \
  || { summary "STOP: the CUDA kernels do not build"; exit 1; }

if [ "${GPUS:-0}" -eq 0 ]; then
  summary "NO GPU: nvidia-smi lists no device; the kernels compiled (sm_90 + PTX); bench and GPU tests not run"
  step kernels_test_build 300 cmake --build "$BUILD" -j "$JOBS" --target kernels_test kernels_gpu_test \
    && step kernels_test 60 "$BUILD/tests/kernels_test" && step kernels_gpu_test_skips 60 "$BUILD/tests/kernels_gpu_test"
  summary "- total $((SECONDS - START)) s"
  exit 0
fi

# --- 3. measurements ---------------------------------------------------------------------
step bench_kernels 120 "$BUILD/src/kernels/bench_kernels" --min-mb 4 --max-mb 256 --csv "$OUT/bench_kernels.csv"
if [ -n "$PYTHON" ]; then
  for dt in bf16 fp32; do
    step "pytorch_step_$dt" 90 "$PYTHON" bench/pytorch_step.py --device cuda --dtype "$dt" --steps 30
    cat "$OUT/pytorch_step_$dt.log" | tail -1 >> "$OUT/pytorch_step.jsonl"
  done
fi
step build_tests 240 cmake --build "$BUILD" -j "$JOBS" --target kernels_test kernels_gpu_test sturdy \
  && {
    step kernels_gpu_test 120 "$BUILD/tests/kernels_gpu_test" --gtest_output="xml:$OUT/kernels_gpu_test.xml"
    step kernels_test 60 "$BUILD/tests/kernels_test" --gtest_output="xml:$OUT/kernels_test.xml"
    # The Sturdy side of the training-step comparison needs a trainer that takes a CUDA
    # device; scripts/sturdy-step.sh (owned by the trainer) runs it when it exists.
    if [ -x scripts/sturdy-step.sh ]; then
      step sturdy_step 120 scripts/sturdy-step.sh "$BUILD/src/apps/sturdy" "$OUT"
    else
      summary "- sturdy_step: pending (no scripts/sturdy-step.sh: the trainer has no CUDA device option yet)"
    fi
  }
summary "- total $((SECONDS - START)) s"
