// AdamW, schedule and clipping (see optimizer.h).
#include "sturdy/train/optimizer.h"

#include <cmath>

#include "sturdy/core/error.h"

namespace sturdy {

AdamW::AdamW(std::vector<NamedParameter> parameters, const OptimConfig& config)
    : parameters_(std::move(parameters)), config_(config) {
  for (const auto& p : parameters_) {
    exp_avg_.push_back(torch::zeros_like(p.tensor));
    exp_avg_sq_.push_back(torch::zeros_like(p.tensor));
    decay_.push_back(p.tensor.dim() >= 2);
  }
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  ++step_;
  const double b1 = config_.beta1, b2 = config_.beta2;
  const double bias1 = 1.0 - std::pow(b1, static_cast<double>(step_));
  const double bias2 = 1.0 - std::pow(b2, static_cast<double>(step_));
  const double step_size = lr / bias1;
  const double bias2_sqrt = std::sqrt(bias2);
  for (size_t i = 0; i < parameters_.size(); ++i) {
    auto& p = parameters_[i].tensor;
    const auto& g = p.grad();
    if (!g.defined()) continue;
    if (decay_[i] && config_.weight_decay > 0) p.mul_(1.0 - lr * config_.weight_decay);
    exp_avg_[i].mul_(b1).add_(g, 1.0 - b1);
    exp_avg_sq_[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
    auto denom = (exp_avg_sq_[i].sqrt() / bias2_sqrt).add_(config_.eps);
    p.addcdiv_(exp_avg_[i], denom, -step_size);
  }
}

void AdamW::zero_grad() {
  for (auto& p : parameters_) {
    if (p.tensor.grad().defined()) p.tensor.mutable_grad().zero_();
  }
}

std::vector<NamedParameter> AdamW::state() const {
  std::vector<NamedParameter> out;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    out.push_back({parameters_[i].name + ".exp_avg", exp_avg_[i]});
    out.push_back({parameters_[i].name + ".exp_avg_sq", exp_avg_sq_[i]});
  }
  return out;
}

void AdamW::load_state(const std::vector<NamedParameter>& state, int64_t step) {
  torch::NoGradGuard no_grad;
  STURDY_CHECK(state.size() == 2 * parameters_.size(), "optimizer state has {} tensors, expected {}",
               state.size(), 2 * parameters_.size());
  for (size_t i = 0; i < parameters_.size(); ++i) {
    exp_avg_[i].copy_(state[2 * i].tensor);
    exp_avg_sq_[i].copy_(state[2 * i + 1].tensor);
  }
  step_ = step;
}

double learning_rate(const OptimConfig& c, int64_t step, int64_t total_steps) {
  const double warmup = c.warmup < 1.0 ? c.warmup * static_cast<double>(total_steps) : c.warmup;
  const double s = static_cast<double>(step) + 1.0;
  if (warmup > 0 && s <= warmup) return c.lr * s / warmup;
  const double span = std::max(1.0, static_cast<double>(total_steps) - warmup);
  const double progress = std::min(1.0, std::max(0.0, (s - warmup) / span));
  switch (c.schedule.value()) {
    case LrSchedule::kLinear: return c.lr * (1.0 - progress);
    case LrSchedule::kConstant: return c.lr;
    case LrSchedule::kCosine: return c.lr * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  throw RuntimeError("learning_rate: optim.schedule out of range");
}

double clip_grad_norm(const std::vector<NamedParameter>& parameters, double max_norm) {
  torch::NoGradGuard no_grad;
  double total = 0;
  if (!parameters.empty() && parameters.front().tensor.is_cuda()) {
    // On a GPU: the per-parameter norms stay on the device; one copy to the host, not one each.
    std::vector<torch::Tensor> norms;
    for (const auto& p : parameters) {
      if (p.tensor.grad().defined()) norms.push_back(p.tensor.grad().norm().to(torch::kFloat64));
    }
    if (!norms.empty()) total = torch::stack(norms).square().sum().sqrt().item<double>();
  } else {
    for (const auto& p : parameters) {
      if (p.tensor.grad().defined()) {
        const double n = p.tensor.grad().norm().item<double>();
        total += n * n;
      }
    }
    total = std::sqrt(total);
  }
  if (max_norm > 0 && total > max_norm) {
    const double scale = max_norm / (total + 1e-6);
    for (const auto& p : parameters) {
      if (p.tensor.grad().defined()) p.tensor.grad().mul_(scale);
    }
  }
  return total;
}

}  // namespace sturdy
