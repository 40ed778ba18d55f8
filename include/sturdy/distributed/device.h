// The device a rank trains and evaluates on (run.device), chosen once per process.
//
//   cpu  - the CPU.
//   cuda - visible GPU number <local rank> (docs/cluster.md, "GPUs"). More ranks on a node
//          than visible GPUs is a UsageError, except with dist.backend: mpi, where ranks
//          share GPUs round-robin (the MPI backend stages CUDA gradients through pinned
//          host memory; NCCL refuses two ranks on one GPU). A LibTorch built without CUDA,
//          or no visible GPU, is a UsageError naming run.device.
//   auto - cuda when LibTorch has CUDA and a GPU is visible, else cpu.
// Choosing CUDA makes that GPU the current device, sets CUBLAS_WORKSPACE_CONFIG (unless the
// user set it) and turns on LibTorch's deterministic algorithms (warn-only), so that a GPU run
// gives the same results from run to run.
#pragma once

#include <torch/torch.h>

#include <string>

#include "sturdy/config/choice.h"

namespace sturdy::dist {

// The CUDA device index of `local_rank` among `local_size` ranks on a node that sees
// `visible_gpus` GPUs: the local rank itself, or local_rank % visible_gpus when `share`.
// UsageError when no GPU is visible, or when local_size > visible_gpus without `share`.
int cuda_index_for_rank(int local_rank, int local_size, int visible_gpus, bool share);

// True when this LibTorch was built with CUDA and sees at least one GPU.
bool cuda_usable();

// The device for run.device = `kind` on this rank (see the top of this file). `backend` is
// dist.backend (GPU sharing is allowed only with mpi).
torch::Device select_device(const Choice<DeviceKind>& kind, const Choice<DistBackend>& backend, int local_rank,
                            int local_size);

// "cpu" or "cuda:0 (NVIDIA H200, 139.8 GiB)" for logs and JSON.
std::string describe_device(const torch::Device& device);

// Waits for the device's queued work (a no-op on the CPU): for timings.
void synchronize(const torch::Device& device);

}  // namespace sturdy::dist
