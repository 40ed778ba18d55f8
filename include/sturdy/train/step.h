// The work of one optimizer step, in the order the trainer does it, shared by `train()` and
// the benchmarks (bench/), so that what a benchmark times is the trainer's step:
//
//   backward()   every micro-batch through the objective (forward + backward), gradients
//                scaled by `scale`; the gradient all-reduce may start only in the last
//                backward of the last micro-batch, bucket by bucket (overlap)
//   allreduce()  finishes the all-reduce (the buckets backward did not start)
//   clip()       global-norm clipping; returns the norm before clipping
//   update()     AdamW at `lr`, the periodic cross-rank parameter check, zero_grad
//   discard()    zero_grad without an update (a skipped step)
//
// The trainer puts its numerical guard and step vote between clip() and update().
// Without a GradSync (a single-process benchmark) there is nothing to all-reduce.
#pragma once

#include <cstdint>
#include <vector>

#include "sturdy/data/loader.h"
#include "sturdy/distributed/grad_sync.h"
#include "sturdy/model/named_parameter.h"
#include "sturdy/model/transformer.h"
#include "sturdy/robust/objective.h"
#include "sturdy/train/optimizer.h"

namespace sturdy {

class Stepper {
 public:
  // Borrows everything; `sync` may be null (one process, no all-reduce).
  Stepper(Transformer model, robust::Objective& objective, const std::vector<NamedParameter>& parameters,
          AdamW& optimizer, dist::GradSync* sync);

  struct Backward {
    double loss_sum = 0;  // Σ over this rank's examples of the loss (unscaled)
    int64_t tokens = 0;   // real tokens of the micro-batches
  };
  Backward backward(const std::vector<Batch>& micro_batches, double scale);
  void allreduce();
  double clip(double max_norm);
  void update(double lr, int64_t done);
  void discard();

 private:
  Transformer model_;
  robust::Objective& objective_;
  const std::vector<NamedParameter>& parameters_;
  AdamW& optimizer_;
  dist::GradSync* sync_;
};

}  // namespace sturdy
