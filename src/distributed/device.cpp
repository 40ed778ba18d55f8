// run.device (see device.h).
#include "sturdy/distributed/device.h"

#include <ATen/Context.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <fmt/format.h>

#include <cstdlib>

#include "sturdy/core/error.h"

#ifdef STURDY_HAVE_NCCL
#include <cuda_runtime_api.h>
#endif

namespace sturdy::dist {

int cuda_index_for_rank(int local_rank, int local_size, int visible_gpus, bool share) {
  STURDY_USAGE_CHECK(local_rank >= 0 && local_rank < local_size,
                     "local rank {} is outside the {} rank(s) of this node", local_rank, local_size);
  STURDY_USAGE_CHECK(visible_gpus > 0, "run.device: no CUDA device is visible to local rank {} (check "
                     "CUDA_VISIBLE_DEVICES and the driver, or set run.device: cpu)", local_rank);
  if (share) return local_rank % visible_gpus;
  STURDY_USAGE_CHECK(local_size <= visible_gpus,
                     "run.device: {} ranks run on this node but only {} GPU(s) are visible: start at most {} "
                     "rank(s) per node (mpirun --map-by ppr:{}:node, srun --ntasks-per-node={}), make more "
                     "GPUs visible (CUDA_VISIBLE_DEVICES), or share GPUs with dist.backend: mpi",
                     local_size, visible_gpus, visible_gpus, visible_gpus, visible_gpus);
  return local_rank;
}

bool cuda_usable() { return torch::cuda::is_available(); }

torch::Device select_device(const Choice<DeviceKind>& kind, const Choice<DistBackend>& backend, int local_rank,
                            int local_size) {
  switch (kind.value()) {
    case DeviceKind::kCpu: return torch::Device(torch::kCPU);
    case DeviceKind::kAuto:
      if (!cuda_usable()) return torch::Device(torch::kCPU);
      break;
    case DeviceKind::kCuda:
      STURDY_USAGE_CHECK(at::hasCUDA(), "run.device: cuda, but this LibTorch was built without CUDA (Debian's "
                         "libtorch-dev is CPU-only): build against PyTorch's CUDA LibTorch "
                         "(-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')) "
                         "or set run.device: cpu");
      break;
  }
  const int visible = static_cast<int>(torch::cuda::device_count());
  const bool share = backend.value() == DistBackend::kMpi;
  const int index = cuda_index_for_rank(local_rank, local_size, visible, share);
  // cuBLAS picks among reduction orders unless its workspace is fixed (CUDA's
  // reproducibility notes); must be set before the first cuBLAS handle.
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
  // Kernels with a deterministic variant use it (e.g. attention's backward, which LibTorch 2.x
  // otherwise runs with atomics); the rest only warn. Run-to-run identical GPU training is a
  // check of scripts/gpu-check.sh (tests/gpu/train_checks.py, determinism).
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
  const torch::Device device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->setDevice(device);
  return device;
}

std::string describe_device(const torch::Device& device) {
  if (!device.is_cuda()) return "cpu";
  const int index = device.has_index() ? device.index() : 0;
#ifdef STURDY_HAVE_NCCL
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) == cudaSuccess) {
    return fmt::format("cuda:{} ({}, {:.1f} GiB)", index, prop.name,
                       static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  }
#endif
  return fmt::format("cuda:{}", index);
}

void synchronize(const torch::Device& device) {
  if (!device.is_cuda()) return;
  c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->synchronizeStream(
      c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->getStream(device));
}

}  // namespace sturdy::dist
