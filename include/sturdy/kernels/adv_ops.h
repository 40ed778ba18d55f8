// The adversarial-step ops on raw pointers: argument structs shared by the CUDA launchers
// (adv_kernels.h) and the host emulation declared here, which runs the kernels' per-group
// algorithm (the same sums, the same order of operations, the same adv_math.h functions)
// in plain C++ loops so CI checks it against the LibTorch reference without a GPU.
//
// Layout: δ, g, out (B,T,D) contiguous row-major in `dtype`; mask (B,T) bytes, 1 = real
// token (nullptr = all real); logits (R,C) contiguous. No torch or CUDA headers here.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sturdy/kernels/adv_math.h"

namespace sturdy::kernels {

// out = Π_ε(δ + α·ĝ) with padded positions of out exactly 0 (adversarial.h's
// adv_step_project). grad == nullptr (or alpha == 0) gives the projection alone
// (adv_project). out may alias delta.
struct StepArgs {
  const void* delta = nullptr;   // (B,T,D)
  const void* grad = nullptr;    // (B,T,D) or nullptr
  const uint8_t* mask = nullptr; // (B,T) or nullptr
  void* out = nullptr;           // (B,T,D)
  int64_t batch = 0, len = 0, dim = 0;
  DType dtype = DType::kFloat32;
  StepNorm norm = StepNorm::kL2;
  StepScope scope = StepScope::kExample;
  float epsilon = 0.f;  // <= 0: unbounded
  float alpha = 0.f;    // step size
};

// δ₀ inside the ball of radius `radius` (already min(magnitude, ε)), zero at padding.
// Example b's draws are keyed by (seed, example_ids[b], stream) and the element's position
// (t, d): Philox4x32-10, see adv_math.h. Not bitwise equal to the CPU reference's torch
// generator; the distribution is the one adversarial.h documents.
struct InitArgs {
  const uint8_t* mask = nullptr;        // (B,T) or nullptr
  const int64_t* example_ids = nullptr; // (B)
  void* out = nullptr;                  // (B,T,D)
  int64_t batch = 0, len = 0, dim = 0;
  DType dtype = DType::kFloat32;
  StepNorm norm = StepNorm::kL2;
  StepScope scope = StepScope::kExample;
  InitKind kind = InitKind::kUniform;
  float radius = 0.f;
  uint64_t seed = 0, stream = 0;
};

// S = mean over rows of Σ_c (p−q)(log p − log q) and its closed-form gradients.
struct SymKLArgs {
  const void* p_logits = nullptr;  // (R,C)
  const void* q_logits = nullptr;  // (R,C)
  void* grad_p = nullptr;          // (R,C), dtype of the logits
  void* grad_q = nullptr;          // (R,C)
  float* value = nullptr;          // scalar, float32
  int64_t rows = 0, classes = 0;
  DType dtype = DType::kFloat32;
};

// ggml-style argument checks (null pointers, sizes, aliasing); throw sturdy::UsageError
// naming the op and the bad argument. Alignment is not required: unaligned tensors take
// the scalar path on the device.
void check_step_args(const StepArgs& a);
void check_init_args(const InitArgs& a);
void check_sym_kl_args(const SymKLArgs& a);

// Host emulation of the kernels (host pointers, same arguments).
void host_adv_step_project(const StepArgs& a);
void host_adv_init(const InitArgs& a);
void host_sym_kl_forward_backward(const SymKLArgs& a);

inline size_t dtype_size(DType t) { return t == DType::kFloat32 ? 4 : 2; }
const char* dtype_name(DType t);

}  // namespace sturdy::kernels
