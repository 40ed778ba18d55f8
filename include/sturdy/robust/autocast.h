// bf16 autocast (`precision.dtype: bf16`), like torch.autocast.
//
// Inside the guard, matrix products and other ops on LibTorch's lower-precision list run
// in bfloat16 on the parameters' device, while parameters, optimizer state, gradients of
// the parameters, δ and every loss stay float32 (losses are computed from logits cast
// to float32). The guard nests like torch.autocast: the cast-weight cache is cleared when
// the outermost guard closes, so weights updated by the optimizer are re-cast on the next
// micro-step. Works with LibTorch 1.13 (set_cpu_enabled / set_enabled) and 2.x
// (set_autocast_enabled(device, ...)).
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace sturdy::robust {

class AutocastGuard {
 public:
  // enabled = false makes the guard a no-op.
  AutocastGuard(c10::DeviceType device, c10::ScalarType dtype, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType device_;
  bool enabled_ = false;
  bool prev_enabled_ = false;
  c10::ScalarType prev_dtype_ = c10::ScalarType::Float;
};

// Whether autocast is on for `device` in this thread.
bool autocast_enabled(c10::DeviceType device);

}  // namespace sturdy::robust
