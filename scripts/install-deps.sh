#!/usr/bin/env bash
# Installs every Debian package that Sturdy's build, tests and demo need.
# Idempotent: packages already present are skipped, and apt-get update runs
# only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake libssl-dev ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  libhdf5-dev
  libyaml-cpp-dev libfmt-dev libspdlog-dev libcli11-dev nlohmann-json3-dev
  libsentencepiece-dev sentencepiece
  wordnet-base wordnet-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-torch python3-h5py python3-numpy python3-matplotlib python3-yaml
  clang libclang-rt-14-dev
  slurm-wlm munge
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
