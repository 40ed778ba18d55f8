// objective.kind attack_augment: adversarial examples made during training by a cheap word
// search, one pass per micro-batch (docs/robustness.md, "Adversarial examples in training").
//
//   selection  example `id` of epoch `e` is attacked when u(run.seed, e, id) < objective.fraction
//              (a keyed draw: no rank, batch or position enters it);
//   ranking    the clean forward + backward (the CE term's own, which trains the model) leaves
//              g = ∂L/∂e on the embedding output; a word's score is Σ over its tokens of −g·e, the
//              first-order rise of the loss when its embeddings are removed (a gradient estimate of
//              the leave-one-out ranking of the search attacks); the words with candidates that the
//              model reads (not cut by data.max_length), best first, ties by position;
//   candidates perturb::WordEditor with objective.edit_ops / edit_draws, keyed by
//              (hash(seed, epoch), id, word index); stopwords and one-character words have none;
//   scoring    the top max(1, ⌊objective.max_word_share · words⌋) words: every candidate of every
//              one, and the clean texts, in ONE batched forward (inference mode, model in eval mode);
//              per word, the candidate that gives the label the lowest probability replaces the word
//              when that probability is below the clean text's. All kept replacements make the
//              adversarial text (they were scored one at a time, not together);
//   loss       scale · (Σ_all CE(x_i) + Σ_{attacked, changed} CE(x̃_i)): the clean examples and the
//              adversarial texts of the attacked examples that the search changed.
//
// Classifier head only (the search lowers the probability of the label).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sturdy/perturb/word_edits.h"
#include "sturdy/robust/objective.h"
#include "sturdy/text/tokenizer.h"

namespace sturdy::robust {

// Whether example `id` is attacked in `epoch`: Rng{seed, epoch, id, key}.uniform() < fraction.
bool attack_augment_selects(uint64_t seed, double fraction, int64_t epoch, int64_t id);

// What the search did to one attacked example of a micro-batch.
struct AttackedExample {
  int64_t row = 0;              // its row in the micro-batch
  int64_t id = 0;               // its example id
  std::string text;             // the adversarial text (the input text when nothing was replaced)
  std::vector<int64_t> ranked;  // the words searched (perturb::WordPieces indices), best first
  std::vector<int64_t> edited;  // the words replaced, ascending
  int64_t words = 0;            // words in the input text
  // The label's probability for the input text (eval mode), and the lowest one any single
  // candidate gave (clean_prob when none was lower); both 0 when the micro-batch had no
  // candidate at all (nothing was scored).
  double clean_prob = 0;
  double best_prob = 0;
};

class AttackAugment final : public Objective {
 public:
  // `tokenizer` encodes the edited texts as the loader does (without subword sampling).
  // UsageError naming objective.edit_ops for an op that cannot edit a word.
  AttackAugment(const Config& config, std::shared_ptr<const Tokenizer> tokenizer);
  std::string name() const override;
  MicroStepResult micro_step(Transformer& model, const Batch& batch, double scale,
                             const BeforeBackward& before_backward) override;

  // The search of the last micro_step, one entry per attacked example in row order.
  const std::vector<AttackedExample>& last_attack() const { return last_; }

 private:
  std::vector<AttackedExample> search(Transformer& model, const Batch& batch, const std::vector<int64_t>& rows,
                                      const torch::Tensor& embeddings, const torch::Tensor& grad) const;

  std::shared_ptr<const Tokenizer> tokenizer_;
  perturb::WordEditor editor_;
  uint64_t seed_;
  double fraction_, max_word_share_;
  int64_t max_length_;
  double flood_;  // objective.flood (0: off)
  std::vector<AttackedExample> last_;
};

}  // namespace sturdy::robust
