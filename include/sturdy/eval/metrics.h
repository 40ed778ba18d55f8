// Robustness metrics on per-example predictions (definitions exactly as DESIGN.md).
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

}  // namespace sturdy::eval
