// The training loop: wires config, data, model, objective, gradient sync,
// optimizer and checkpoints. It never names a model's internals.
#pragma once

#include <string>

#include "sturdy/config/config.h"
#include "sturdy/distributed/context.h"

namespace sturdy {

struct TrainSummary {
  int64_t steps = 0;             // optimizer steps taken in this run
  int64_t final_step = 0;        // global step reached
  double seconds = 0;
  double tokens_per_second = 0;  // real (non-pad) tokens over all ranks
  double final_loss = 0;
  int64_t skipped_steps = 0;     // steps whose update the numerical guard skipped (guard.*)
  std::string checkpoint;        // the last checkpoint written
};

// Runs training on every rank of `ctx`. Rank 0 writes the resolved config, metrics
// and checkpoints under run.output_dir.
TrainSummary train(const Config& config, const dist::Context& ctx);

// Fills model.vocab_size / model.num_classes from the tokenizer and the training
// corpus when they are 0, and checks them when set.
Config resolve_config(const Config& config);

}  // namespace sturdy
