// AdamW with decoupled weight decay, and the learning-rate schedule.
//
// Our own AdamW (same update as torch.optim.AdamW) so the checkpoint holds
// exactly the state we name: per parameter exp_avg, exp_avg_sq and the step.
// Weight decay applies to matrices only (dim >= 2); norms and biases are not decayed.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "sturdy/config/config.h"
#include "sturdy/model/named_parameter.h"

namespace sturdy {

class AdamW {
 public:
  AdamW(std::vector<NamedParameter> parameters, const OptimConfig& config);

  // One update with learning rate `lr`; parameters without a gradient are skipped.
  void step(double lr);
  void zero_grad();
  int64_t step_count() const { return step_; }

  // State for checkpoints: name -> tensor ("<param>.exp_avg", "<param>.exp_avg_sq").
  std::vector<NamedParameter> state() const;
  void load_state(const std::vector<NamedParameter>& state, int64_t step);
  const std::vector<NamedParameter>& parameters() const { return parameters_; }

 private:
  std::vector<NamedParameter> parameters_;
  std::vector<torch::Tensor> exp_avg_, exp_avg_sq_;
  std::vector<bool> decay_;
  OptimConfig config_;
  int64_t step_ = 0;
};

// Learning rate at optimizer step `step` (0-based) of `total_steps`:
// linear warmup over optim.warmup (a share when < 1, else a step count), then
// linear decay to 0, cosine decay, or constant.
double learning_rate(const OptimConfig& config, int64_t step, int64_t total_steps);

// Scales gradients so their global L2 norm is at most max_norm; returns the norm before clipping.
double clip_grad_norm(const std::vector<NamedParameter>& parameters, double max_norm);

}  // namespace sturdy
