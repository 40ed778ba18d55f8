// Robust objectives behind one interface: the trainer calls micro_step() for each
// micro-batch and never knows which method runs (docs/robustness.md).
//
// Every objective accumulates parameter gradients of   scale · Σ_examples loss_i
// into .grad (the trainer passes scale = 1/global_batch, so the sum over micro-steps
// and ranks is the gradient of the mean loss), and works on perturbed text as well:
// the loader's augmentation runs before it. δ lives on the embedding output, or on the
// output of block L (objective.layer; the blocks below it then run once per micro-step);
// padded positions are masked by the adversarial ops (robust/adversarial.h).
//
// State across steps: every objective's randomness is keyed by (seed, example id, step,
// micro-batch), so only FreeAT keeps something from one batch to the next (its δ). That
// state() goes into the checkpoint (objective.h5, one entry per rank) and load_state()
// puts it back, so a FreeAT resume is as exact as the others'.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "sturdy/config/config.h"
#include "sturdy/data/loader.h"
#include "sturdy/model/named_parameter.h"
#include "sturdy/model/transformer.h"
#include "sturdy/robust/adversarial.h"

namespace sturdy::robust {

struct MicroStepResult {
  double loss_sum = 0;         // Σ clean cross-entropy over the micro-batch (for logging)
  double robust_loss_sum = 0;  // Σ of the objective's own loss (adversarial CE, CE + λ·KL, ...)
};

// Called right before each backward() an objective runs, with last = true for its final
// backward of the micro-batch: the gradient sync may start all-reduces only then.
using BeforeBackward = std::function<void(bool last)>;

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::string name() const = 0;
  // Forward/backward for one micro-batch, accumulating scale-weighted parameter gradients.
  virtual MicroStepResult micro_step(Transformer& model, const Batch& batch, double scale,
                                     const BeforeBackward& before_backward) = 0;
  // Optimizer steps taken on each batch (FreeAT replays a batch m times); 1 otherwise.
  virtual int64_t replays() const { return 1; }
  // True when batches must carry a perturbed view (Batch::perturbed), e.g. consistency.
  virtual bool needs_perturbed_view() const { return false; }
  // True when the objective keeps tensors from one micro-step to the next (FreeAT's δ): a
  // checkpoint must then hold state() to resume exactly.
  virtual bool keeps_state() const { return false; }
  // This rank's state between steps as named float32 CPU tensors (empty unless keeps_state()).
  virtual std::vector<NamedParameter> state() const { return {}; }
  // Restores what state() returned (the same names; shapes as saved). UsageError when a name
  // is missing or a tensor has the wrong rank.
  virtual void load_state(const std::vector<NamedParameter>& state) { (void)state; }
};

// The objective objective.kind names, with its parameters; UsageError naming the key when
// a parameter is out of range or the method needs something the config lacks. `tokenizer`:
// the loader's, for an objective that re-encodes texts (attack_augment); when null, one is
// made from config.tokenizer if needed.
std::unique_ptr<Objective> make_objective(const Config& config, std::shared_ptr<const Tokenizer> tokenizer = nullptr);

// The key stream of δ's randomness for one batch and use (kPgdStart, kFreeLbStart,
// kSmartStart): with (seed, example id) it makes δ₀ independent of ranks and order.
inline constexpr uint64_t kPgdStart = 1, kFreeLbStart = 2, kSmartStart = 3, kR3fStart = 4, kR3fSecond = 5;
inline uint64_t delta_stream(const Batch& batch, uint64_t use) {
  return (static_cast<uint64_t>(batch.step) << 8) ^ (static_cast<uint64_t>(batch.micro) << 4) ^ use;
}

// Σ_i CE(logits_i, label_i) (sum reduction) — the loss every objective starts from.
// Classifier: logits (B, C), labels (B). LM: logits (B, T', V) with T' >= T and labels (B, T)
// from make_lm_batch; example i's loss is the mean CE over its scored continuation tokens
// (0 when it has none), so the sum over examples keeps the scale · Σ_examples contract.
torch::Tensor cross_entropy_sum(const torch::Tensor& logits, const torch::Tensor& labels);

// CE per example (B): the terms cross_entropy_sum adds up.
torch::Tensor cross_entropy_per_example(const torch::Tensor& logits, const torch::Tensor& labels);

// Flooding per example (objective.flood = b > 0): Σ_i |loss_i − b| + b. Below the level the
// gradient of an example's loss changes sign (Ishida et al. 2020 flood the batch mean; per
// example, as iFlood, it does not depend on how a global batch is split over ranks and
// micro-batches).
torch::Tensor flooded_sum(const torch::Tensor& per_example, double flood);

// A CE term of an objective: `objective` goes into the backward (flooded_sum when flood > 0),
// `plain` is Σ CE for the log. Without flooding both are cross_entropy_sum, op for op.
struct CeTerm {
  torch::Tensor objective, plain;
};
CeTerm ce_term(const torch::Tensor& logits, const torch::Tensor& labels, double flood);

// Σ_examples symKL between two predictions of the same examples. Classifier: sym_kl · B.
// LM: over the scored continuation positions of each view (which align, see make_lm_batch),
// every example's tokens weighted 1/(its scored tokens) as in cross_entropy_sum.
torch::Tensor sym_kl_sum(const torch::Tensor& p_logits, const torch::Tensor& p_labels, const torch::Tensor& q_logits,
                         const torch::Tensor& q_labels);

}  // namespace sturdy::robust
