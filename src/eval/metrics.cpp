// Robustness metrics (see metrics.h).
#include "sturdy/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "sturdy/core/error.h"

namespace sturdy::eval {

double accuracy(const Predictions& p) {
  if (p.labels.empty()) return 0.0;
  int64_t correct = 0;
  for (size_t i = 0; i < p.labels.size(); ++i) correct += p.predicted[i] == p.labels[i];
  return static_cast<double>(correct) / static_cast<double>(p.labels.size());
}

double expected_calibration_error(const Predictions& p, int bins) {
  STURDY_CHECK(bins > 0, "bins must be > 0");
  const size_t n = p.labels.size();
  if (n == 0) return 0.0;
  std::vector<double> conf_sum(bins, 0.0);
  std::vector<int64_t> correct(bins, 0), count(bins, 0);
  for (size_t i = 0; i < n; ++i) {
    const double c = p.confidence[i];
    int b = static_cast<int>(std::floor(c * bins));
    b = std::clamp(b, 0, bins - 1);
    conf_sum[b] += c;
    correct[b] += p.predicted[i] == p.labels[i];
    count[b] += 1;
  }
  double ece = 0;
  for (int b = 0; b < bins; ++b) {
    if (count[b] == 0) continue;
    const double acc = static_cast<double>(correct[b]) / count[b];
    const double conf = conf_sum[b] / count[b];
    ece += static_cast<double>(count[b]) / static_cast<double>(n) * std::fabs(acc - conf);
  }
  return ece;
}

double severe_error_rate(const Predictions& p, double threshold) {
  if (p.labels.empty()) return 0.0;
  int64_t severe = 0;
  for (size_t i = 0; i < p.labels.size(); ++i) {
    severe += p.predicted[i] != p.labels[i] && p.confidence[i] >= threshold;
  }
  return static_cast<double>(severe) / static_cast<double>(p.labels.size());
}

double majority_share(const std::vector<int32_t>& labels) {
  if (labels.empty()) return 0.0;
  std::map<int32_t, int64_t> counts;
  int64_t best = 0;
  for (int32_t l : labels) best = std::max(best, ++counts[l]);
  return static_cast<double>(best) / static_cast<double>(labels.size());
}

DrawMetrics draw_metrics(const Predictions& clean, const std::vector<Predictions>& draws) {
  DrawMetrics m;
  const size_t n = clean.labels.size();
  if (n == 0 || draws.empty()) return m;
  int64_t worst_correct = 0, flips = 0;
  double acc_sum = 0;
  for (const auto& d : draws) {
    STURDY_CHECK(d.predicted.size() == n, "draw has {} predictions, expected {}", d.predicted.size(), n);
    acc_sum += accuracy(d);
  }
  for (size_t i = 0; i < n; ++i) {
    bool all = clean.predicted[i] == clean.labels[i];
    for (const auto& d : draws) {
      all = all && d.predicted[i] == d.labels[i];
      flips += d.predicted[i] != clean.predicted[i];
    }
    worst_correct += all;
  }
  m.mean_accuracy = acc_sum / static_cast<double>(draws.size());
  m.worst_case_accuracy = static_cast<double>(worst_correct) / static_cast<double>(n);
  m.flip_rate = static_cast<double>(flips) / static_cast<double>(n * draws.size());
  return m;
}

AttackMetrics attack_metrics(const Predictions& clean, const std::vector<int32_t>& attacked) {
  const size_t n = clean.labels.size();
  STURDY_CHECK(attacked.size() == n, "{} attacked predictions for {} examples", attacked.size(), n);
  AttackMetrics m;
  if (n == 0) return m;
  int64_t correct = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool before = clean.predicted[i] == clean.labels[i];
    const bool after = attacked[i] == clean.labels[i];
    correct += after;
    m.attacked += before;
    m.successes += before && !after;
  }
  m.accuracy_under_attack = static_cast<double>(correct) / static_cast<double>(n);
  m.attack_success_rate = m.attacked == 0 ? 0.0 : static_cast<double>(m.successes) / static_cast<double>(m.attacked);
  return m;
}

double perplexity(const std::vector<LmScores>& passes) {
  double nll = 0;
  int64_t tokens = 0;
  for (const auto& p : passes) {
    STURDY_CHECK(p.nll.size() == p.tokens.size(), "nll and token counts differ in length");
    for (size_t i = 0; i < p.nll.size(); ++i) {
      nll += p.nll[i];
      tokens += p.tokens[i];
    }
  }
  if (tokens == 0) return std::nan("");
  return std::exp(nll / static_cast<double>(tokens));
}

namespace {
// Counts (agreeing pairs, pairs, examples agreeing on all draws, scored examples).
struct Agreement {
  int64_t agree = 0, pairs = 0, all_agree = 0, scored = 0;
};
Agreement count_agreement(const LmScores& clean, const std::vector<LmScores>& draws) {
  Agreement a;
  const size_t n = clean.next_token.size();
  for (const auto& d : draws) {
    STURDY_CHECK(d.next_token.size() == n, "draw has {} examples, expected {}", d.next_token.size(), n);
  }
  for (size_t i = 0; i < n; ++i) {
    if (clean.next_token[i] < 0) continue;
    ++a.scored;
    bool all = true;
    for (const auto& d : draws) {
      const bool same = d.next_token[i] == clean.next_token[i];
      a.agree += same;
      all = all && same;
      ++a.pairs;
    }
    a.all_agree += all;
  }
  return a;
}
}  // namespace

double top1_agreement(const LmScores& clean, const std::vector<LmScores>& draws) {
  const Agreement a = count_agreement(clean, draws);
  return a.pairs == 0 ? 0.0 : static_cast<double>(a.agree) / static_cast<double>(a.pairs);
}

double worst_case_top1_agreement(const LmScores& clean, const std::vector<LmScores>& draws) {
  const Agreement a = count_agreement(clean, draws);
  return a.scored == 0 ? 0.0 : static_cast<double>(a.all_agree) / static_cast<double>(a.scored);
}

}  // namespace sturdy::eval
