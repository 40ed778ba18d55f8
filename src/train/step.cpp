// One optimizer step's parts (see step.h).
#include "sturdy/train/step.h"

namespace sturdy {

Stepper::Stepper(Transformer model, robust::Objective& objective, const std::vector<NamedParameter>& parameters,
                 AdamW& optimizer, dist::GradSync* sync)
    : model_(std::move(model)), objective_(objective), parameters_(parameters), optimizer_(optimizer), sync_(sync) {}

Stepper::Backward Stepper::backward(const std::vector<Batch>& micro_batches, double scale) {
  Backward out;
  const size_t n = micro_batches.size();
  for (size_t micro = 0; micro < n; ++micro) {
    // The all-reduce may start only in the last backward of the last micro-step.
    const bool final_micro = micro + 1 == n;
    const auto r = objective_.micro_step(model_, micro_batches[micro], scale, [&](bool last) {
      if (sync_ != nullptr) sync_->set_sync(final_micro && last);
    });
    out.loss_sum += r.loss_sum;
    out.tokens += micro_batches[micro].tokens;
  }
  return out;
}

void Stepper::allreduce() {
  if (sync_ != nullptr) sync_->allreduce_gradients();
}

double Stepper::clip(double max_norm) { return clip_grad_norm(parameters_, max_norm); }

void Stepper::update(double lr, int64_t done) {
  optimizer_.step(lr);
  if (sync_ != nullptr) sync_->maybe_check_parameters(done);  // every rank agrees, or fail naming the parameter
  optimizer_.zero_grad();
}

void Stepper::discard() { optimizer_.zero_grad(); }

}  // namespace sturdy
