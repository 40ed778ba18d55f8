// Gradient synchronisation across data-parallel ranks.
//
// Every rank's gradients are summed with MPI_Allreduce over one flat buffer.
// The trainer scales the loss by 1/global_batch, so the sum over ranks is the
// gradient of the mean loss over the global batch: 2 ranks x b examples give the
// same update as 1 rank x 2b. (Bucketed, overlapped and NCCL sync: issue 5.)
#pragma once

#include <torch/torch.h>

#include <vector>

#include "sturdy/dist/context.h"

namespace sturdy::dist {

class GradSync {
 public:
  GradSync(const Context& ctx, std::vector<torch::Tensor> parameters);

  // Copies rank 0's parameter values to every rank.
  void broadcast_parameters();
  // Sums gradients over ranks in place (missing gradients count as zeros).
  void allreduce_gradients();
  // A hash of all parameter bytes, the same on every rank when they agree.
  uint64_t parameter_hash() const;

 private:
  const Context& ctx_;
  std::vector<torch::Tensor> parameters_;
  torch::Tensor flat_;  // staging buffer, float32, one element per parameter element
};

}  // namespace sturdy::dist
