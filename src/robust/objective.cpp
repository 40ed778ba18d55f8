// The robust objectives (see objective.h and docs/robustness.md for the formulas,
// defaults and costs).
#include "sturdy/robust/objective.h"

#include <cmath>

#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#include "sturdy/robust/attack_augment.h"
#include "sturdy/robust/autocast.h"

namespace sturdy::robust {
namespace {

namespace F = torch::nn::functional;

torch::Tensor logits_with_delta(Transformer& model, const torch::Tensor& embeddings,
                                const torch::Tensor& delta, const Batch& batch) {
  return model->head(model->encode(embeddings + delta, batch.mask), batch.mask);
}

// objective.epsilon, or objective.epsilon_relative when that is set (then in units of each
// example's activation norm at the site, see Site).
double epsilon_of(const ObjectiveConfig& c) { return c.epsilon_relative > 0 ? c.epsilon_relative : c.epsilon; }

AdvBall ball_from(const ObjectiveConfig& c, AdvScope scope = AdvScope::kExample) {
  AdvBall ball;
  ball.norm = c.norm.value();
  ball.scope = scope;
  ball.epsilon = epsilon_of(c);
  return ball;
}

// Where δ is added (objective.layer; docs/robustness.md, "Perturbing a hidden layer").
//   layer 0: the embedding output. fresh() looks the embeddings up again for every forward,
//            so each backward reaches tok_embeddings, exactly as the objectives did before
//            layers existed (same ops, bitwise the same gradients); finish() does nothing.
//   layer L: the blocks below L run once, here. fresh() returns one detached leaf holding
//            their output; every backward through the upper blocks accumulates ∂/∂(site)
//            in it, and finish() pushes that sum through the lower blocks in one backward
//            (by linearity the gradient of running them once per backward).
// With objective.epsilon_relative > 0 (`relative`), δ is measured in units of each example's
// activation norm s_i at the site (Frobenius for l2 balls, RMS for linf): logits(x, δ) adds
// s_i·δ_i, so a ball of radius epsilon_relative is that share of the example's norm, and
// step sizes and initial magnitudes are in the same units.
class Site {
 public:
  Site(Transformer& model, const Batch& batch, int64_t layer, bool relative = false, AdvNorm norm = AdvNorm::kL2)
      : model_(model), batch_(batch), layer_(layer) {
    if (layer_ > 0) {
      out_ = model_->lower(model_->embed(batch_.ids), batch_.mask, layer_);
      leaf_ = out_.detach().requires_grad_(true);
    }
    if (relative) {
      torch::NoGradGuard no_grad;
      const auto x = layer_ > 0 ? leaf_.detach() : model_->embed(batch_.ids);
      const auto m = batch_.mask.unsqueeze(-1).to(x.dtype());
      auto norms = (x * m).square().sum({1, 2}).sqrt();  // (B) Frobenius
      if (norm == AdvNorm::kLinf) {
        norms = norms / (batch_.mask.sum(1).to(x.dtype()).clamp_min(1.0) * static_cast<double>(x.size(2))).sqrt();
      }
      scale_ = norms.clamp_min(1e-12).view({-1, 1, 1});
    }
  }
  // The activation to perturb (see above).
  torch::Tensor fresh() { return layer_ > 0 ? leaf_ : model_->embed(batch_.ids); }
  torch::Tensor logits(const torch::Tensor& x) {
    return model_->head(model_->upper(x, batch_.mask, layer_), batch_.mask);
  }
  torch::Tensor logits(const torch::Tensor& x, const torch::Tensor& delta) {
    return logits(x + (scale_.defined() ? delta * scale_ : delta));
  }
  // Clean and perturbed rows as one batch of 2B through the upper part: {f(x), f(x + z)}.
  std::pair<torch::Tensor, torch::Tensor> logits_pair(const torch::Tensor& x, const torch::Tensor& z) {
    const auto mask = torch::cat({batch_.mask, batch_.mask}, 0);
    auto both = model_->head(model_->upper(torch::cat({x, x + z}, 0), mask, layer_), mask);
    const int64_t b = x.size(0);
    return {both.narrow(0, 0, b), both.narrow(0, b, b)};
  }
  // Layer L: the lower blocks' backward, once, with everything the objective accumulated.
  void finish(const BeforeBackward& before_backward) {
    if (layer_ == 0 || !leaf_.grad().defined()) return;
    before_backward(true);
    out_.backward(leaf_.grad());
  }

 private:
  Transformer& model_;
  const Batch& batch_;
  int64_t layer_;
  torch::Tensor out_, leaf_, scale_;
};

// erm and augment: CE(x) (augment's perturbation happened in the loader).
class Erm final : public Objective {
 public:
  Erm(ObjectiveKind kind, double flood) : kind_(kind), flood_(flood) {}
  std::string name() const override { return choice_name(kind_); }
  MicroStepResult micro_step(Transformer& model, const Batch& batch, double scale,
                             const BeforeBackward& before_backward) override {
    auto loss = ce_term(model->forward(batch.ids, batch.mask), batch.labels, flood_);
    before_backward(true);
    (loss.objective * scale).backward();
    return {loss.plain.item<double>(), loss.objective.item<double>()};
  }

 private:
  ObjectiveKind kind_;
  double flood_;
};

// Pads two batches to one length and stacks them: one forward of 2B instead of two of B.
std::pair<torch::Tensor, torch::Tensor> stack_views(const Batch& a, const Batch& b) {
  const int64_t t = std::max(a.ids.size(1), b.ids.size(1));
  auto pad_ids = [t](const torch::Tensor& x) { return F::pad(x, F::PadFuncOptions({0, t - x.size(1)})); };
  auto ids = torch::cat({pad_ids(a.ids), pad_ids(b.ids)}, 0);
  auto mask = torch::cat({pad_ids(a.mask.to(torch::kInt64)), pad_ids(b.mask.to(torch::kInt64))}, 0).to(torch::kBool);
  return {ids, mask};
}

// consistency: CE(x) + λ·symKL(f(x), f(x̃)), x̃ the perturbed view from the loader.
// With fraction f < 1 only the examples whose keyed draw u(seed, epoch, id) < f also run
// their perturbed view (forward of (1 + f)·B rows instead of 2B); the KL term sums over
// those. The choice depends on the example id only, never on ranks or micro-batching.
class Consistency final : public Objective {
 public:
  Consistency(double lambda, double fraction, uint64_t seed, double flood)
      : lambda_(lambda), fraction_(fraction), seed_(seed), flood_(flood) {}
  std::string name() const override { return choice_name(ObjectiveKind::kConsistency); }
  bool needs_perturbed_view() const override { return true; }
  MicroStepResult micro_step(Transformer& model, const Batch& batch, double scale,
                             const BeforeBackward& before_backward) override {
    STURDY_CHECK(batch.perturbed != nullptr, "consistency needs batches with a perturbed view");
    const int64_t b = batch.ids.size(0);
    Batch noisy_rows;
    const Batch* view = batch.perturbed.get();
    torch::Tensor rows;
    if (fraction_ < 1.0) {
      std::vector<int64_t> keep;
      for (int64_t i = 0; i < b; ++i) {
        const uint64_t h = hash_key({seed_, kConsistencyRows, static_cast<uint64_t>(batch.epoch),
                                     static_cast<uint64_t>(batch.example_ids[static_cast<size_t>(i)])});
        if (static_cast<double>(h >> 11) * 0x1.0p-53 < fraction_) keep.push_back(i);
      }
      rows = torch::tensor(keep, torch::kInt64).to(view->ids.device());
      noisy_rows.ids = view->ids.index_select(0, rows);
      noisy_rows.mask = view->mask.index_select(0, rows);
      if (view->labels.dim() == 2) noisy_rows.labels = view->labels.index_select(0, rows);
      view = &noisy_rows;
    }
    const int64_t n = view->ids.size(0);
    if (n == 0) {  // no example drew a perturbed view in this micro-batch: plain CE
      auto ce = ce_term(model->forward(batch.ids, batch.mask), batch.labels, flood_);
      before_backward(true);
      (ce.objective * scale).backward();
      return {ce.plain.item<double>(), ce.objective.item<double>()};
    }
    auto [ids, mask] = stack_views(batch, *view);
    auto logits = model->forward(ids, mask);
    auto clean = logits.narrow(0, 0, b);
    auto noisy = logits.narrow(0, b, n);
    auto ce = ce_term(clean, batch.labels, flood_);
    auto paired = rows.defined() ? clean.index_select(0, rows) : clean;
    // Classifier: Σ over rows; LM: over aligned continuation positions, each example weighted as in CE.
    auto paired_labels = !batch.labels.defined() || batch.labels.dim() < 2 ? batch.labels
                         : rows.defined() ? batch.labels.index_select(0, rows) : batch.labels;
    auto kl = sym_kl_sum(paired, paired_labels, noisy, view->labels);
    before_backward(true);
    ((ce.objective + lambda_ * kl) * scale).backward();
    return {ce.plain.item<double>(), ce.objective.item<double>() + lambda_ * kl.item<double>()};
  }

 private:
  static constexpr uint64_t kConsistencyRows = 0x636f6e73;  // "cons"
  double lambda_, fraction_;
  uint64_t seed_;
  double flood_;
};

// fgm: CE(x) + CE(x + ε·g/‖g‖), g = ∂CE/∂x per example (l2) or sign(g) (linf), x the site.
class Fgm final : public Objective {
 public:
  explicit Fgm(const ObjectiveConfig& c) : c_(c), ball_(ball_from(c)) {}
  std::string name() const override { return choice_name(ObjectiveKind::kFgm); }
  MicroStepResult micro_step(Transformer& model, const Batch& batch, double scale,
                             const BeforeBackward& before_backward) override {
    Site site(model, batch, c_.layer, c_.epsilon_relative > 0, ball_.norm);
    auto x = site.fresh();
    if (c_.layer == 0) x.retain_grad();
    auto clean = ce_term(site.logits(x), batch.labels, c_.flood);
    before_backward(false);
    (clean.objective * scale).backward();
    // The clean backward left ∂(scale·CE)/∂x in x.grad(); its direction is what matters.
    auto delta = adv_step_project(torch::zeros_like(x), x.grad(), batch.mask, ball_, ball_.epsilon);
    auto adv = ce_term(site.logits(site.fresh(), delta), batch.labels, c_.flood);
    before_backward(true);
    (adv.objective * scale).backward();
    site.finish(before_backward);
    return {clean.plain.item<double>(), adv.objective.item<double>()};
  }

 private:
  ObjectiveConfig c_;
  AdvBall ball_;
};

// pgd: K ascent steps δ ← Π_ε(δ + α·ĝ) from a random start, each computing only ∂L/∂δ
// (autograd::grad: no parameter gradients, and at layer L only through the blocks above
// it); then descent on CE(x + δ).
class Pgd final : public Objective {
 public:
  Pgd(const ObjectiveConfig& c, uint64_t seed) : c_(c), ball_(ball_from(c)), seed_(seed) {}
  std::string name() const override { return choice_name(ObjectiveKind::kPgd); }
  MicroStepResult micro_step(Transformer& model, const Batch& batch, double scale,
                             const BeforeBackward& before_backward) override {
    Site site(model, batch, c_.layer, c_.epsilon_relative > 0, ball_.norm);
    auto x = site.fresh();
    auto x_fixed = x.detach();
    AdvInit init{AdvInitKind::kUniform, c_.init > 0 ? c_.init : ball_.epsilon};
    auto delta = adv_init(x_fixed, batch.mask, ball_, init, batch.example_ids, seed_, delta_stream(batch, kPgdStart));
    for (int64_t k = 0; k < c_.steps; ++k) {
      delta.requires_grad_(true);
      auto loss = ce_term(site.logits(x_fixed, delta), batch.labels, c_.flood).objective;
      auto g = torch::autograd::grad({loss}, {delta})[0];
      delta = adv_step_project(delta.detach(), g, batch.mask, ball_, c_.step_size);
    }
    auto adv = ce_term(site.logits(x, delta), batch.labels, c_.flood);
    before_backward(true);
    (adv.objective * scale).backward();
    site.finish(before_backward);
    return {adv.plain.item<double>(), adv.objective.item<double>()};
  }

 private:
  ObjectiveConfig c_;
  AdvBall ball_;
  uint64_t seed_;
};

// freeat: every pass over a batch updates θ (trainer) and δ (here, from the same backward);
// the batch is replayed m times and δ is kept across batches (cropped/zero-padded to the
// next batch's shape). Step: δ ← Π_ε(δ + ε·ĝ) (Shafahi et al. use α = ε, linf).
// δ is this rank's state between steps: checkpointed as "delta" (B,T,D) float32.
class FreeAt final : public Objective {
 public:
  explicit FreeAt(const ObjectiveConfig& c) : c_(c), ball_(ball_from(c)) {}
  std::string name() const override { return choice_name(ObjectiveKind::kFreeAt); }
  int64_t replays() const override { return c_.replays; }
  bool keeps_state() const override { return true; }
  std::vector<NamedParameter> state() const override {
    // Before the first batch there is no δ; a 1x1x1 zero acts the same in fit() (which pads
    // with zeros), and keeps the checkpoint's set of names fixed.
    auto delta = delta_.defined() ? delta_.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone()
                                  : torch::zeros({1, 1, 1}, torch::kFloat32);
    return {{"delta", delta}};
  }
  void load_state(const std::vector<NamedParameter>& state) override {
    for (const auto& [name, tensor] : state) {
      if (name != "delta") continue;
      if (tensor.dim() != 3) {
        throw UsageError(fmt::format("freeat state 'delta' has {} dimensions, expected 3 (batch, tokens, dim)",
                                     tensor.dim()));
      }
      delta_ = tensor.detach().clone();
      return;
    }
    throw UsageError("freeat state has no 'delta'");
  }
  MicroStepResult micro_step(Transformer& model, const Batch& batch, double scale,
                             const BeforeBackward& before_backward) override {
    Site site(model, batch, c_.layer, c_.epsilon_relative > 0, ball_.norm);
    auto x = site.fresh();
    auto delta = fit(x, batch.mask).requires_grad_(true);
    auto loss = ce_term(site.logits(x, delta), batch.labels, c_.flood);
    before_backward(true);
    (loss.objective * scale).backward();
    const double step = c_.step_size > 0 ? c_.step_size : ball_.epsilon;
    delta_ = adv_step_project(delta.detach(), delta.grad(), batch.mask, ball_, step);
    site.finish(before_backward);
    return {loss.plain.item<double>(), loss.objective.item<double>()};
  }

 private:
  torch::Tensor fit(const torch::Tensor& e, const torch::Tensor& mask) {
    auto out = torch::zeros_like(e);
    if (delta_.defined()) {
      const int64_t b = std::min(out.size(0), delta_.size(0));
      const int64_t t = std::min(out.size(1), delta_.size(1));
      out.narrow(0, 0, b).narrow(1, 0, t).copy_(delta_.narrow(0, 0, b).narrow(1, 0, t));
      out.mul_(mask.unsqueeze(-1).to(out.dtype()));
    }
    return out;
  }

  ObjectiveConfig c_;
  AdvBall ball_;
  torch::Tensor delta_;
};

// freelb: K steps; each backward accumulates θ-grads of L/K; δ ← Π_ε(δ + α·g/‖g‖_F)
// per example; δ₀ ~ U(-1, 1)·init/√(L_i·d); dropout masks reused across the K steps.
// At layer L the blocks below it run once and their backward once (Site::finish).
class FreeLb final : public Objective {
 public:
  FreeLb(const ObjectiveConfig& c, uint64_t seed) : c_(c), ball_(ball_from(c)), seed_(seed) {}
  std::string name() const override { return choice_name(ObjectiveKind::kFreeLb); }
  MicroStepResult micro_step(Transformer& model, const Batch& batch, double scale,
                             const BeforeBackward& before_backward) override {
    const int64_t k_steps = c_.steps;
    model->reuse_dropout_masks(true);
    double first = 0, last = 0;
    try {
      Site site(model, batch, c_.layer, c_.epsilon_relative > 0, ball_.norm);
      auto delta = init(site.fresh().detach(), batch);
      for (int64_t k = 0; k < k_steps; ++k) {
        // Layer 0: the embedding is recomputed each step so its gradient reaches
        // tok_embeddings K times, as in the reference implementation.
        auto x = site.fresh();
        delta.requires_grad_(true);
        auto loss = ce_term(site.logits(x, delta), batch.labels, c_.flood);
        before_backward(k + 1 == k_steps);
        (loss.objective * (scale / static_cast<double>(k_steps))).backward();
        if (k == 0) first = loss.plain.item<double>();
        last = loss.objective.item<double>();
        if (k + 1 < k_steps) delta = adv_step_project(delta.detach(), delta.grad(), batch.mask, ball_, c_.step_size);
      }
      site.finish(before_backward);
    } catch (...) {
      model->reuse_dropout_masks(false);
      throw;
    }
    model->reuse_dropout_masks(false);
    return {first, last};
  }

 private:
  torch::Tensor init(const torch::Tensor& e, const Batch& batch) {
    if (c_.init <= 0) return torch::zeros_like(e);
    AdvBall unit{AdvNorm::kLinf, AdvScope::kExample, 1.0};
    auto u = adv_init(e, batch.mask, unit, AdvInit{AdvInitKind::kUniform, 1.0}, batch.example_ids, seed_,
                      delta_stream(batch, kFreeLbStart));
    auto lengths = batch.mask.sum(1).to(e.dtype()).clamp_min(1.0);  // (B)
    auto mag = c_.init / torch::sqrt(lengths * static_cast<double>(e.size(2)));
    return adv_project(u * mag.view({-1, 1, 1}), batch.mask, ball_);
  }

  ObjectiveConfig c_;
  AdvBall ball_;
  uint64_t seed_;
};

// smart: CE(x) + λ·symKL(f(x), f(x+δ)); δ₀ ~ N(0, σ²), one ascent step on symKL with an
// ∞-norm step per token, δ ← Π_ε(δ + η·g/‖g‖_∞).
class Smart final : public Objective {
 public:
  Smart(const ObjectiveConfig& c, uint64_t seed) : c_(c), seed_(seed) {}
  std::string name() const override { return choice_name(ObjectiveKind::kSmart); }
  MicroStepResult micro_step(Transformer& model, const Batch& batch, double scale,
                             const BeforeBackward& before_backward) override {
    const double sigma = c_.init > 0 ? c_.init : 1e-5;
    const double eta = c_.step_size;
    Site site(model, batch, c_.layer, c_.epsilon_relative > 0, AdvNorm::kLinf);
    auto x = site.fresh();
    auto clean_logits = site.logits(x);
    auto ce = ce_term(clean_logits, batch.labels, c_.flood);
    // Ascent: only ∂KL/∂δ, against the clean prediction held fixed.
    AdvBall none{AdvNorm::kLinf, AdvScope::kToken, 0.0};
    auto delta = adv_init(x.detach(), batch.mask, none, AdvInit{AdvInitKind::kNormal, sigma}, batch.example_ids,
                          seed_, delta_stream(batch, kSmartStart));
    delta.requires_grad_(true);
    auto adv_ascent = site.logits(x.detach(), delta);
    auto kl_ascent = clean_logits.dim() == 2 ? sym_kl(adv_ascent, clean_logits.detach())
                                             : sym_kl_sum(adv_ascent, batch.labels, clean_logits.detach(), batch.labels);
    auto g = torch::autograd::grad({kl_ascent}, {delta})[0];
    {
      torch::NoGradGuard no_grad;
      auto gmax = g.abs().amax(-1, true).clamp_min(1e-12);  // ‖g‖_∞ per token
      delta = (delta.detach() + eta * g / gmax) * batch.mask.unsqueeze(-1).to(g.dtype());
      const double eps = epsilon_of(c_);
      if (eps > 0) delta = adv_project(delta, batch.mask, AdvBall{AdvNorm::kLinf, AdvScope::kToken, eps});
    }
    auto adv_logits = site.logits(x, delta);
    auto kl = sym_kl_sum(clean_logits, batch.labels, adv_logits, batch.labels);
    before_backward(true);
    ((ce.objective + c_.lambda * kl) * scale).backward();
    site.finish(before_backward);
    return {ce.plain.item<double>(), ce.objective.item<double>() + c_.lambda * kl.item<double>()};
  }

 private:
  ObjectiveConfig c_;
  uint64_t seed_;
};

// r3f (Aghajanyan et al., ICLR 2021): CE(x) + λ·symKL(f(x), f(x + z)) with z per element
// N(0, σ²) (objective.noise normal) or U(-σ, σ) (uniform) at the site, no ascent step. z is
// keyed by (seed, example id, step, micro-batch) like every δ₀; the clean and noisy rows
// go through the blocks above the site as one batch of 2B, the gradient flows through both.
class R3f final : public Objective {
 public:
  R3f(const ObjectiveConfig& c, uint64_t seed) : c_(c), seed_(seed) {}
  std::string name() const override { return choice_name(ObjectiveKind::kR3f); }
  MicroStepResult micro_step(Transformer& model, const Batch& batch, double scale,
                             const BeforeBackward& before_backward) override {
    Site site(model, batch, c_.layer);
    auto x = site.fresh();
    auto z = noise(x.detach(), batch);
    auto [clean_logits, noisy_logits] = site.logits_pair(x, z);
    auto ce = ce_term(clean_logits, batch.labels, c_.flood);
    auto kl = sym_kl_sum(clean_logits, batch.labels, noisy_logits, batch.labels);
    before_backward(true);
    ((ce.objective + c_.lambda * kl) * scale).backward();
    site.finish(before_backward);
    return {ce.plain.item<double>(), ce.objective.item<double>() + c_.lambda * kl.item<double>()};
  }

 private:
  torch::Tensor noise(const torch::Tensor& x, const Batch& batch) const {
    torch::NoGradGuard no_grad;
    const AdvBall open{AdvNorm::kLinf, AdvScope::kExample, 0.0};  // no projection
    // U(-1, 1) per element at real tokens, 0 at padding (the keyed start of robust/adversarial.h).
    auto u = adv_init(x, batch.mask, open, AdvInit{AdvInitKind::kUniform, 1.0}, batch.example_ids, seed_,
                      delta_stream(batch, kR3fStart));
    if (c_.noise == NoiseKind::kUniform) return u * c_.sigma;
    // Box-Muller from two independent uniform draws.
    auto v = adv_init(x, batch.mask, open, AdvInit{AdvInitKind::kUniform, 1.0}, batch.example_ids, seed_,
                      delta_stream(batch, kR3fSecond));
    auto u1 = ((u + 1.0) * 0.5).clamp_min(1e-12), u2 = (v + 1.0) * 0.5;
    auto z = (-2.0 * u1.log()).sqrt() * torch::cos(2.0 * M_PI * u2);
    return z * batch.mask.unsqueeze(-1).to(z.dtype()) * c_.sigma;
  }

  ObjectiveConfig c_;
  uint64_t seed_;
};

}  // namespace

namespace {
// Losses are float32 even when the logits come out of a bf16 autocast region.
torch::Tensor loss_precision(const torch::Tensor& logits) {
  return logits.element_size() < 4 ? logits.to(torch::kFloat32) : logits;
}

// LM: the logits' first labels.size(1) positions (a stacked forward may have padded them
// longer), and each scored position's weight 1/(scored positions of its example), (B, T).
std::pair<torch::Tensor, torch::Tensor> lm_rows(const torch::Tensor& logits, const torch::Tensor& labels) {
  STURDY_CHECK(labels.dim() == 2 && logits.size(0) == labels.size(0) && logits.size(1) >= labels.size(1),
               "LM logits ({} dims, {} x {}) do not match labels ({} dims, {} x {})", logits.dim(), logits.size(0),
               logits.size(1), labels.dim(), labels.size(0), labels.dim() > 1 ? labels.size(1) : 0);
  auto scored = labels.ne(kIgnoreLabel);
  auto counts = scored.sum(1, true).clamp_min(1);
  auto l = loss_precision(logits).narrow(1, 0, labels.size(1));
  return {l, scored.to(l.scalar_type()) / counts.to(l.scalar_type())};
}
}  // namespace

torch::Tensor cross_entropy_sum(const torch::Tensor& logits, const torch::Tensor& labels) {
  if (logits.dim() == 2) {
    return F::cross_entropy(loss_precision(logits), labels, F::CrossEntropyFuncOptions().reduction(torch::kSum));
  }
  auto [l, weight] = lm_rows(logits, labels);
  auto per_token = F::cross_entropy(l.flatten(0, 1), labels.flatten(),
                                    F::CrossEntropyFuncOptions().reduction(torch::kNone).ignore_index(kIgnoreLabel));
  return (per_token.view(labels.sizes()) * weight).sum();
}

torch::Tensor cross_entropy_per_example(const torch::Tensor& logits, const torch::Tensor& labels) {
  if (logits.dim() == 2) {
    return F::cross_entropy(loss_precision(logits), labels, F::CrossEntropyFuncOptions().reduction(torch::kNone));
  }
  auto [l, weight] = lm_rows(logits, labels);
  auto per_token = F::cross_entropy(l.flatten(0, 1), labels.flatten(),
                                    F::CrossEntropyFuncOptions().reduction(torch::kNone).ignore_index(kIgnoreLabel));
  return (per_token.view(labels.sizes()) * weight).sum(1);
}

torch::Tensor flooded_sum(const torch::Tensor& per_example, double flood) {
  return ((per_example - flood).abs() + flood).sum();
}

CeTerm ce_term(const torch::Tensor& logits, const torch::Tensor& labels, double flood) {
  if (flood <= 0) {
    auto s = cross_entropy_sum(logits, labels);
    return {s, s};
  }
  auto per = cross_entropy_per_example(logits, labels);
  return {flooded_sum(per, flood), per.sum()};
}

torch::Tensor sym_kl_sum(const torch::Tensor& p_logits, const torch::Tensor& p_labels, const torch::Tensor& q_logits,
                         const torch::Tensor& q_labels) {
  if (p_logits.dim() == 2) return sym_kl(p_logits, q_logits) * static_cast<double>(p_logits.size(0));
  auto [p, p_weight] = lm_rows(p_logits, p_labels);
  auto [q, q_weight] = lm_rows(q_logits, q_labels);
  // Scored positions in row-major order: example by example, continuation token by token,
  // the same sequence in both views (the continuation does not depend on the prompt).
  auto p_at = p_labels.ne(kIgnoreLabel).flatten().nonzero().squeeze(1);
  auto q_at = q_labels.ne(kIgnoreLabel).flatten().nonzero().squeeze(1);
  STURDY_CHECK(p_at.numel() == q_at.numel(), "sym_kl_sum: {} scored positions against {}", p_at.numel(), q_at.numel());
  auto lp = torch::log_softmax(p.flatten(0, 1).index_select(0, p_at), -1);
  auto lq = torch::log_softmax(q.flatten(0, 1).index_select(0, q_at), -1);
  auto per_row = ((lp.exp() - lq.exp()) * (lp - lq)).sum(-1);  // KL(p‖q) + KL(q‖p)
  return (per_row * p_weight.flatten().index_select(0, p_at)).sum();
}

namespace {
// precision.dtype: bf16 — any objective's micro-step (its forwards and backwards) under a
// bf16 autocast guard on the batch's device; parameters and optimizer stay float32.
class Bf16Autocast final : public Objective {
 public:
  explicit Bf16Autocast(std::unique_ptr<Objective> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  MicroStepResult micro_step(Transformer& model, const Batch& batch, double scale,
                             const BeforeBackward& before_backward) override {
    AutocastGuard guard(batch.ids.device().type(), torch::kBFloat16);
    return inner_->micro_step(model, batch, scale, before_backward);
  }
  int64_t replays() const override { return inner_->replays(); }
  bool needs_perturbed_view() const override { return inner_->needs_perturbed_view(); }
  bool keeps_state() const override { return inner_->keeps_state(); }
  std::vector<NamedParameter> state() const override { return inner_->state(); }
  void load_state(const std::vector<NamedParameter>& state) override { inner_->load_state(state); }

 private:
  std::unique_ptr<Objective> inner_;
};

std::unique_ptr<Objective> make_fp32_objective(const Config& config, std::shared_ptr<const Tokenizer> tokenizer);
}  // namespace

std::unique_ptr<Objective> make_objective(const Config& config, std::shared_ptr<const Tokenizer> tokenizer) {
  auto objective = make_fp32_objective(config, std::move(tokenizer));
  switch (config.precision.dtype.value()) {
    case Precision::kFp32: return objective;
    case Precision::kBf16: return std::make_unique<Bf16Autocast>(std::move(objective));
  }
  throw RuntimeError("make_objective: precision.dtype out of range");
}

namespace {

std::unique_ptr<Objective> make_fp32_objective(const Config& config, std::shared_ptr<const Tokenizer> tokenizer) {
  const auto& c = config.objective;
  const uint64_t seed = config.run.seed;
  auto check_fraction = [&c] {
    if (!(c.fraction > 0.0 && c.fraction <= 1.0)) {
      throw UsageError(fmt::format("objective.fraction must be in (0, 1] (got {})", c.fraction));
    }
  };
  switch (c.kind.value()) {
    case ObjectiveKind::kErm: return std::make_unique<Erm>(ObjectiveKind::kErm, c.flood);
    case ObjectiveKind::kAugment:
      if (config.augment.probability <= 0) {
        throw UsageError("objective.kind augment needs augment.probability > 0 and a recipe or ops");
      }
      return std::make_unique<Erm>(ObjectiveKind::kAugment, c.flood);
    case ObjectiveKind::kConsistency:
      if (config.augment.recipe.empty() && config.augment.ops.empty()) {
        throw UsageError("objective.kind consistency needs augment.recipe or augment.ops (the perturbed view)");
      }
      check_fraction();
      return std::make_unique<Consistency>(c.lambda, c.fraction, seed, c.flood);
    case ObjectiveKind::kFgm: return std::make_unique<Fgm>(c);
    case ObjectiveKind::kPgd: return std::make_unique<Pgd>(c, seed);
    case ObjectiveKind::kFreeAt: return std::make_unique<FreeAt>(c);
    case ObjectiveKind::kFreeLb: return std::make_unique<FreeLb>(c, seed);
    case ObjectiveKind::kSmart: return std::make_unique<Smart>(c, seed);
    case ObjectiveKind::kR3f: return std::make_unique<R3f>(c, seed);
    case ObjectiveKind::kAttackAugment:
      check_fraction();
      if (config.model.head != ModelHead::kClassifier) {
        throw UsageError(fmt::format("objective.kind attack_augment needs model.head classifier (got {})", config.model.head));
      }
      if (tokenizer == nullptr) tokenizer = make_tokenizer(config.tokenizer);
      return std::make_unique<AttackAugment>(config, std::move(tokenizer));
  }
  throw RuntimeError("make_objective: objective.kind out of range");
}
}  // namespace

}  // namespace sturdy::robust
