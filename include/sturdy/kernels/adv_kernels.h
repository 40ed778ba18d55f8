// CUDA launchers of the adversarial-step kernels (src/kernels/adv_kernels.cu): raw device
// pointers and a stream, arguments as in adv_ops.h (checked first, ggml style), no torch.
// Built only when nvcc is found (STURDY_HAVE_CUDA_KERNELS).
//
//   size_t ws = adv_step_project_workspace_bytes(args);   // scratch for per-chunk sums
//   adv_step_project(args, ws_ptr, ws, stream);           // async on `stream`
#pragma once

#include <cstddef>
#include <string>

#include <cuda_runtime_api.h>

#include "sturdy/kernels/adv_ops.h"

// CUDA_CHECK(call): throws sturdy::RuntimeError naming the file, line, the call, CUDA's
// message and a hint for the usual causes.
#define STURDY_CUDA_CHECK(call) ::sturdy::kernels::cuda_check((call), #call, __FILE__, __LINE__)

namespace sturdy::kernels {

void cuda_check(cudaError_t status, const char* what, const char* file, int line);

// Device-side scratch each op needs for the given arguments (0 = none; pass nullptr).
// Sized for the current device (its multiprocessor count sets the chunking).
size_t adv_step_project_workspace_bytes(const StepArgs& a);
size_t adv_init_workspace_bytes(const InitArgs& a);
size_t sym_kl_workspace_bytes(const SymKLArgs& a);

// Enqueue the op on `stream`. Throw UsageError on bad arguments (including a workspace
// smaller than asked for) and RuntimeError on a failed launch. Pointers are device pointers
// (InitArgs::example_ids too).
void adv_step_project(const StepArgs& a, void* workspace, size_t workspace_bytes, cudaStream_t stream);
void adv_init(const InitArgs& a, void* workspace, size_t workspace_bytes, cudaStream_t stream);
void sym_kl_forward_backward(const SymKLArgs& a, void* workspace, size_t workspace_bytes, cudaStream_t stream);

// Number of CUDA devices; 0 (never an exception) when there is no driver or device.
int cuda_device_count();


}  // namespace sturdy::kernels
