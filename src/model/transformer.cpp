// Llama-style transformer (see include/sturdy/model/transformer.h and docs/model.md).
//
// Written for small models on few CPU cores: no dropout work when p = 0 or in eval mode and
// cheap dropout masks otherwise (DropoutMasks),
// no K/V head replication for grouped-query attention on the matmul path (query heads are
// grouped by their KV head instead), the softmax scale folded into the query's rotary
// tables, and the attention mask applied in place to the score tensor.
#include "sturdy/model/transformer.h"

#include <cmath>
#include <limits>
#include <utility>

#include <torch/version.h>

#include "sturdy/core/error.h"

namespace sturdy {
namespace {

// Added to the scores of masked keys. Large and negative but finite: a row whose keys are
// all masked (a sequence of padding) softmaxes to a uniform distribution instead of NaN.
constexpr double kMaskValue = -1e9;

// x (B,T,H,hd) -> x with each pair (x[2i], x[2i+1]) rotated by the angle whose cos/sin are
// cos/sin (T, hd/2) (llama2.c's interleaved convention). Returns a new contiguous tensor.
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t B = x.size(0), T = x.size(1), H = x.size(2), hd = x.size(3);
  const auto pairs = x.view({B, T, H, hd / 2, 2});
  const auto x0 = pairs.select(-1, 0), x1 = pairs.select(-1, 1);  // (B,T,H,hd/2)
  const auto c = cos.view({1, T, 1, hd / 2}), s = sin.view({1, T, 1, hd / 2});
  auto even = torch::addcmul(x0 * c, x1, s, -1.0);  // x0 cos - x1 sin
  auto odd = torch::addcmul(x1 * c, x0, s);         // x0 sin + x1 cos
  return torch::stack({even, odd}, -1).view({B, T, H, hd});
}

thread_local bool batch_invariant = false;

// lin(x) for x (..., D). In batch-invariant mode one matrix product per sequence (the last
// two dimensions of x; one row for 2-D x), so every sequence goes through the same BLAS
// call whatever else is in its batch: BLAS kernels round differently for different row
// counts (OpenBLAS's sgemm gives other last bits for row i of an M-row product than of an
// M'-row one). Inference mode writes each product into its slice; with autograd (the
// attacks' ascent steps) a batched product over the broadcast weight does the same.
torch::Tensor linear(const torch::nn::Linear& lin, const torch::Tensor& x) {
  if (!batch_invariant || x.dim() < 2) return const_cast<torch::nn::LinearImpl&>(*lin).forward(x);
  const auto& weight = lin->weight;  // (F, D)
  const int64_t in = x.size(-1), out_features = weight.size(0);
  const auto seqs = x.dim() == 2 ? x.unsqueeze(1) : x.reshape({-1, x.size(-2), in});  // (S, L, D)
  const int64_t S = seqs.size(0), L = seqs.size(1);
  torch::Tensor y;
  if (c10::InferenceMode::is_enabled() || !torch::GradMode::is_enabled()) {
    const auto xs = seqs.contiguous();
    const auto wt = weight.t();
    y = torch::empty({S, L, out_features}, x.options());
    for (int64_t s = 0; s < S; ++s) {
      auto slice = y.select(0, s);
      at::mm_out(slice, xs.select(0, s), wt);
    }
  } else {
    y = torch::bmm(seqs, weight.t().unsqueeze(0).expand({S, in, out_features}));
  }
  if (lin->bias.defined()) y = y + lin->bias;
  auto shape = x.sizes().vec();
  shape.back() = out_features;
  return y.view(shape);
}

// "[2, 7] Long" for messages.
std::string describe(const torch::Tensor& t) {
  return c10::str(t.sizes(), " ", t.scalar_type());
}

torch::nn::Linear linear(int64_t in, int64_t out, bool bias) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

}  // namespace

BatchInvariantGuard::BatchInvariantGuard() : previous_(batch_invariant) { batch_invariant = true; }
BatchInvariantGuard::~BatchInvariantGuard() { batch_invariant = previous_; }

void validate_model_config(const ModelConfig& c) {
  auto positive = [](int64_t value, const char* key, const char* hint) {
    STURDY_USAGE_CHECK(value > 0, "model.{} ({}) must be > 0{}", key, value, hint);
  };
  positive(c.vocab_size, "vocab_size", " (resolve it from the tokenizer before building the model)");
  positive(c.dim, "dim", "");
  positive(c.layers, "layers", "");
  positive(c.heads, "heads", "");
  positive(c.kv_heads, "kv_heads", "");
  positive(c.ffn, "ffn", "");
  positive(c.max_seq_len, "max_seq_len", "");
  STURDY_USAGE_CHECK(c.dim % c.heads == 0, "model.dim ({}) must be divisible by model.heads ({})",
                     c.dim, c.heads);
  STURDY_USAGE_CHECK(c.heads % c.kv_heads == 0,
                     "model.kv_heads ({}) must divide model.heads ({})", c.kv_heads, c.heads);
  STURDY_USAGE_CHECK((c.dim / c.heads) % 2 == 0,
                     "model.dim / model.heads ({} / {} = {}) must be even for rotary embeddings",
                     c.dim, c.heads, c.dim / c.heads);
  STURDY_USAGE_CHECK(c.dropout >= 0.0 && c.dropout < 1.0, "model.dropout ({}) must be in [0, 1)",
                     c.dropout);
  STURDY_USAGE_CHECK(c.rope_theta > 0.0, "model.rope_theta ({}) must be > 0", c.rope_theta);
  STURDY_USAGE_CHECK(c.norm_eps > 0.0, "model.norm_eps ({}) must be > 0", c.norm_eps);
  // A ModelConfig built in code may hold a text that names no head or pooling: value() throws
  // the UsageError naming model.head / model.pooling (a loaded config was parsed already).
  switch (c.head.value()) {
    case ModelHead::kClassifier:
      STURDY_USAGE_CHECK(c.num_classes > 0,
                         "model.num_classes ({}) must be > 0 for model.head 'classifier' (resolve it "
                         "from the training corpus before building the model)",
                         c.num_classes);
      static_cast<void>(c.pooling.value());
      break;
    case ModelHead::kLm: break;
  }
}

// --- DropoutMasks --------------------------------------------------------------------

torch::Tensor DropoutMasks::apply(size_t site, const torch::Tensor& x, bool training) {
  if (!training || p_ <= 0.0) return x;
  if (reuse_ && site < masks_.size() && masks_[site].defined()) {
    STURDY_CHECK(masks_[site].sizes() == x.sizes(),
                 "dropout mask reuse across different shapes: {} vs {}", describe(masks_[site]),
                 describe(x));
    return x * masks_[site];
  }
  // Four 16-bit uniforms per 64-bit draw; keep where u >= -32768 + round(p * 65536).
  const int64_t n = x.numel();
  const auto bits = torch::empty({(n + 3) / 4}, x.options().dtype(torch::kLong))
                        .random_(std::numeric_limits<int64_t>::min(), c10::optional<int64_t>(),
                                 c10::nullopt);
  const auto uniform16 = bits.view(torch::kShort).narrow(0, 0, n).view(x.sizes());
  const auto threshold = static_cast<int64_t>(-32768 + std::llround(p_ * 65536.0));
  const auto mask = uniform16.ge(threshold).to(x.scalar_type()).mul_(1.0 / (1.0 - p_));
  if (reuse_) {
    if (masks_.size() <= site) masks_.resize(site + 1);
    masks_[site] = mask;
  }
  return x * mask;
}

void DropoutMasks::set_reuse(bool reuse) {
  reuse_ = reuse;
  if (!reuse_) masks_.clear();
}

// --- RMSNorm -------------------------------------------------------------------------

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  // Reduced-precision inputs are normalized in float32, as in Llama.
  const auto xf = x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble
                      ? x
                      : x.to(torch::kFloat);
  const auto inv_rms = torch::rsqrt(xf.square().mean(-1, /*keepdim=*/true).add_(eps_));
  return (xf * inv_rms).to(x.scalar_type()) * weight;
}

// --- Attention -----------------------------------------------------------------------

AttentionImpl::AttentionImpl(const ModelConfig& c)
    : heads_(c.heads), kv_heads_(c.kv_heads), head_dim_(c.dim / c.heads) {
  wq = register_module("wq", linear(c.dim, heads_ * head_dim_, false));
  wk = register_module("wk", linear(c.dim, kv_heads_ * head_dim_, false));
  wv = register_module("wv", linear(c.dim, kv_heads_ * head_dim_, false));
  wo = register_module("wo", linear(heads_ * head_dim_, c.dim, false));
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                     const torch::Tensor& sin, const torch::Tensor& bias) {
  const int64_t B = x.size(0), T = x.size(1);
  const int64_t H = heads_, KV = kv_heads_, hd = head_dim_, rep = heads_ / kv_heads_;
  auto q = linear(wq, x).view({B, T, H, hd});
  auto k = apply_rope(linear(wk, x).view({B, T, KV, hd}), cos, sin);
  auto v = linear(wv, x).view({B, T, KV, hd});
#if TORCH_VERSION_MAJOR >= 2
  q = apply_rope(q, cos, sin).transpose(1, 2);  // (B,H,T,hd)
  if (rep > 1) {                                // fused kernels want one K/V head per query head
    k = k.unsqueeze(3).expand({B, T, KV, rep, hd}).reshape({B, T, H, hd});
    v = v.unsqueeze(3).expand({B, T, KV, rep, hd}).reshape({B, T, H, hd});
  }
  const auto y = at::scaled_dot_product_attention(q, k.transpose(1, 2), v.transpose(1, 2),
                                                  bias.select(1, 0), /*dropout_p=*/0.0,
                                                  /*is_causal=*/false);  // (B,H,T,hd)
  return linear(wo, y.transpose(1, 2).reshape({B, T, H * hd}));
#else
  // Query heads grouped by the KV head they read: (B,KV,rep*T,hd). Head h = g*rep + r uses
  // KV head g, like Llama's repeat_kv, without copying K/V rep times.
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  q = apply_rope(q, cos * scale, sin * scale);  // the rotation is linear: scale rides along
  const auto qg = q.view({B, T, KV, rep, hd}).permute({0, 2, 3, 1, 4}).reshape({B, KV, rep * T, hd});
  auto scores = torch::matmul(qg, k.permute({0, 2, 3, 1}));  // (B,KV,rep*T,T)
  scores.view({B, KV, rep, T, T}).add_(bias);                // bias (B,1,1,Tq|1,T)
  const auto probs = torch::softmax(scores, -1);
  const auto y = torch::matmul(probs, v.transpose(1, 2));  // (B,KV,rep*T,hd)
  return linear(wo, y.view({B, KV, rep, T, hd}).permute({0, 3, 1, 2, 4}).reshape({B, T, H * hd}));
#endif
}

// --- FeedForward ---------------------------------------------------------------------

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t hidden) {
  w1 = register_module("w1", linear(dim, hidden, false));
  w2 = register_module("w2", linear(hidden, dim, false));
  w3 = register_module("w3", linear(dim, hidden, false));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  // Out of place on purpose: an in-place mul_ on silu's output makes autograd save a copy of
  // that output for the gradient of w3 (one (B,T,ffn) clone per layer, ~2% of an ERM step).
  return linear(w2, torch::silu(linear(w1, x)) * linear(w3, x));
}

// --- Block ---------------------------------------------------------------------------

TransformerBlockImpl::TransformerBlockImpl(const ModelConfig& c,
                                           std::shared_ptr<DropoutMasks> dropout, size_t first_site)
    : dropout_(std::move(dropout)), first_site_(first_site) {
  attention = register_module("attention", Attention(c));
  feed_forward = register_module("feed_forward", FeedForward(c.dim, c.ffn));
  attention_norm = register_module("attention_norm", RMSNorm(c.dim, c.norm_eps));
  ffn_norm = register_module("ffn_norm", RMSNorm(c.dim, c.norm_eps));
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                            const torch::Tensor& sin, const torch::Tensor& bias) {
  const bool training = is_training();
  const auto attended = attention(attention_norm(x), cos, sin, bias);
  const auto h = x + dropout_->apply(first_site_, attended, training);
  return h + dropout_->apply(first_site_ + 1, feed_forward(ffn_norm(h)), training);
}

// --- Transformer ---------------------------------------------------------------------

TransformerImpl::TransformerImpl(const ModelConfig& config) : config_(config) {
  validate_model_config(config_);
  const auto& c = config_;
  dropout_ = std::make_shared<DropoutMasks>(c.dropout);
  tok_embeddings = register_module("tok_embeddings", torch::nn::Embedding(c.vocab_size, c.dim));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.layers; ++i) layers->push_back(TransformerBlock(c, dropout_, 1 + 2 * i));
  norm = register_module("norm", RMSNorm(c.dim, c.norm_eps));
  if (c.head == ModelHead::kLm) {
    output = register_module("output", linear(c.dim, c.vocab_size, false));
  } else {
    classifier = register_module("classifier", linear(c.dim, c.num_classes, true));
  }
  init_weights();

  // theta_i = rope_theta^(-2i/hd), angle(t, i) = t * theta_i; computed in double.
  const int64_t hd = c.dim / c.heads;
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  const auto inv_freq = torch::pow(c.rope_theta, -torch::arange(0, hd, 2, opts) / hd);  // (hd/2)
  const auto angles = torch::outer(torch::arange(c.max_seq_len, opts), inv_freq);     // (Tmax,hd/2)
  rope_cos_ = torch::cos(angles).to(torch::kFloat);
  rope_sin_ = torch::sin(angles).to(torch::kFloat);
}

void TransformerImpl::init_weights() {
  torch::NoGradGuard no_grad;
  for (auto& item : named_parameters()) {
    const auto& name = item.key();
    auto& p = item.value();
    const bool is_norm = name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0;
    if (is_norm) {
      p.fill_(1.0);
    } else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      p.zero_();
    } else {
      p.normal_(0.0, 0.02);
    }
  }
}

int64_t TransformerImpl::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

void TransformerImpl::rope_tables_for(const torch::Tensor& like, int64_t seq_len,
                                      torch::Tensor& cos, torch::Tensor& sin) {
  if (!cached_cos_.defined() || cached_cos_.device() != like.device() ||
      cached_cos_.scalar_type() != like.scalar_type()) {
    if (c10::InferenceMode::is_enabled()) {
      // A copy made under inference mode could not be saved for a later backward: not cached.
      cos = rope_cos_.to(like.device(), like.scalar_type()).narrow(0, 0, seq_len);
      sin = rope_sin_.to(like.device(), like.scalar_type()).narrow(0, 0, seq_len);
      return;
    }
    cached_cos_ = rope_cos_.to(like.device(), like.scalar_type());
    cached_sin_ = rope_sin_.to(like.device(), like.scalar_type());
  }
  cos = cached_cos_.narrow(0, 0, seq_len);
  sin = cached_sin_.narrow(0, 0, seq_len);
}

torch::Tensor TransformerImpl::embed(const torch::Tensor& ids) {
  STURDY_CHECK(ids.dim() == 2 && ids.scalar_type() == torch::kLong,
               "ids must be (B,T) int64, got {}", describe(ids));
  return tok_embeddings(ids);
}

TransformerImpl::BlockInputs TransformerImpl::block_inputs(const torch::Tensor& embeddings, const torch::Tensor& mask,
                                                          const char* what) {
  STURDY_CHECK(embeddings.dim() == 3 && embeddings.size(2) == config_.dim,
               "{} must be (B,T,{}) floating, got {}", what, config_.dim, describe(embeddings));
  const int64_t B = embeddings.size(0), T = embeddings.size(1);
  STURDY_CHECK(mask.scalar_type() == torch::kBool && mask.dim() == 2 && mask.size(0) == B &&
                   mask.size(1) == T,
               "mask must be (B,T) = ({},{}) bool, got {}", B, T, describe(mask));
  STURDY_USAGE_CHECK(T <= config_.max_seq_len,
                     "sequence length {} exceeds model.max_seq_len ({}); raise model.max_seq_len "
                     "or lower data.max_length", T, config_.max_seq_len);
  torch::Tensor cos, sin;
  rope_tables_for(embeddings, T, cos, sin);

  // Additive attention bias (B,1,1,Tq|1,T): 0 where a query may read a key, kMaskValue else.
  auto allowed = mask.view({B, 1, 1, 1, T});
  if (config_.causal) {
    const auto lower = torch::ones({T, T}, mask.options()).tril();
    allowed = allowed.logical_and(lower.view({1, 1, 1, T, T}));
  }
  const auto bias = torch::zeros(allowed.sizes(), embeddings.options())
                        .masked_fill_(allowed.logical_not(), kMaskValue);
  return {cos, sin, bias};
}

torch::Tensor TransformerImpl::run_blocks(torch::Tensor x, const BlockInputs& in, int64_t first, int64_t last) {
  for (int64_t i = first; i < last; ++i) {
    x = (*layers)[static_cast<size_t>(i)]->as<TransformerBlock>()->forward(x, in.cos, in.sin, in.bias);
    ++block_forwards_;
  }
  return x;
}

torch::Tensor TransformerImpl::encode(const torch::Tensor& embeddings, const torch::Tensor& mask) {
  return upper(embeddings, mask, 0);
}

torch::Tensor TransformerImpl::lower(const torch::Tensor& embeddings, const torch::Tensor& mask, int64_t layer) {
  STURDY_CHECK(layer >= 0 && layer <= config_.layers, "perturbation site {} outside 0..{} (model.layers)", layer,
               config_.layers);
  if (layer == 0) return embeddings;
  const BlockInputs in = block_inputs(embeddings, mask, "embeddings");
  return run_blocks(dropout_->apply(0, embeddings, is_training()), in, 0, layer);
}

torch::Tensor TransformerImpl::upper(const torch::Tensor& site, const torch::Tensor& mask, int64_t layer) {
  STURDY_CHECK(layer >= 0 && layer <= config_.layers, "perturbation site {} outside 0..{} (model.layers)", layer,
               config_.layers);
  const BlockInputs in = block_inputs(site, mask, layer == 0 ? "embeddings" : "block outputs");
  auto x = layer == 0 ? dropout_->apply(0, site, is_training()) : site;
  return norm(run_blocks(x, in, layer, config_.layers));
}

torch::Tensor TransformerImpl::head(const torch::Tensor& hidden, const torch::Tensor& mask) {
  if (config_.head == ModelHead::kLm) return linear(output, hidden);  // (B,T,V)
  const int64_t B = hidden.size(0), T = hidden.size(1);
  torch::Tensor pooled;  // (B,D)
  const Pooling pooling = config_.pooling.value();
  switch (pooling) {
    case Pooling::kMean: {
      // Masked mean as one batched matmul: (B,1,T) @ (B,T,D). All-padding rows pool to 0.
      const auto weights = mask.to(hidden.scalar_type()).unsqueeze(1);
      const auto count = weights.sum(-1).clamp_min(1.0);  // (B,1)
      pooled = torch::bmm(weights, hidden).squeeze(1) / count;
      break;
    }
    case Pooling::kFirst:
    case Pooling::kLast: {
      // first: first real token; last: last real token (any padding side). All padding -> 0.
      const auto positions = torch::arange(T, mask.options().dtype(torch::kLong));
      const auto index = pooling == Pooling::kFirst ? mask.to(torch::kLong).argmax(1)
                                                    : (mask.to(torch::kLong) * positions).amax(1);
      pooled = hidden.gather(1, index.view({B, 1, 1}).expand({B, 1, hidden.size(2)})).squeeze(1);
      break;
    }
  }
  return linear(classifier, pooled);  // (B,C)
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& ids, const torch::Tensor& mask) {
  return head(encode(embed(ids), mask), mask);
}

}  // namespace sturdy
