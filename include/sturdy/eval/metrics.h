// Robustness metrics on per-example predictions (definitions: docs/evaluation.md).
#pragma once

#include <cstdint>
#include <vector>

namespace sturdy::eval {

// Per-example classifier outputs, in corpus order.
struct Predictions {
  std::vector<int32_t> labels;
  std::vector<int32_t> predicted;
  std::vector<double> confidence;  // probability of the predicted class
};

// Share of examples predicted correctly.
double accuracy(const Predictions& p);
// Expected calibration error over `bins` equal-width confidence bins:
// sum over bins of |bin| / N * |accuracy(bin) - mean confidence(bin)|. Confidence 1.0 goes to the last bin.
double expected_calibration_error(const Predictions& p, int bins = 15);
// Share of examples predicted wrong with confidence >= threshold.
double severe_error_rate(const Predictions& p, double threshold = 0.9);
// Share of the most frequent label (the majority-class baseline).
double majority_share(const std::vector<int32_t>& labels);

// Over K perturbed draws of the same examples:
// worst_case_accuracy = share correct on the clean input and on all K draws;
// flip_rate = share of (example, draw) pairs whose prediction differs from the clean one;
// mean_accuracy = mean over draws of the accuracy of that draw.
struct DrawMetrics {
  double mean_accuracy = 0;
  double worst_case_accuracy = 0;
  double flip_rate = 0;
};
DrawMetrics draw_metrics(const Predictions& clean, const std::vector<Predictions>& draws);

// An embedding attack: `attacked` holds, per example, the prediction under attack (for an
// example wrong before the attack, its clean prediction: it is not attacked).
// accuracy_under_attack = share correct under attack;
// attack_success_rate = (examples correct on clean input and wrong under attack) /
//                       (examples correct on clean input); 0 when none was correct.
struct AttackMetrics {
  double accuracy_under_attack = 0;
  double attack_success_rate = 0;
  int64_t attacked = 0;   // examples correct before the attack
  int64_t successes = 0;  // of those, wrong after it
};
AttackMetrics attack_metrics(const Predictions& clean, const std::vector<int32_t>& attacked);

// Language-model scores of one evaluation pass, per example in corpus order: the summed
// negative log-likelihood (nats) of the scored continuation tokens, their count, and the
// argmax of the next-token distribution after the prompt (-1 = example not scored).
struct LmScores {
  std::vector<double> nll;
  std::vector<int64_t> tokens;
  std::vector<int32_t> next_token;
};
// exp(sum nll / sum tokens) over one or more passes (token-weighted, pooled); 0 tokens -> NaN.
double perplexity(const std::vector<LmScores>& passes);
// Share of (example, draw) pairs, over scored examples, whose next-token argmax under the
// perturbed prompt equals the one under the clean prompt.
double top1_agreement(const LmScores& clean, const std::vector<LmScores>& draws);
// Share of scored examples whose argmax agrees with the clean one on all draws.
double worst_case_top1_agreement(const LmScores& clean, const std::vector<LmScores>& draws);

}  // namespace sturdy::eval
