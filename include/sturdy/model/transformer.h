// The Llama-style transformer: token embedding -> N pre-norm blocks (RMSNorm, rotary
// multi-head attention with grouped KV heads, SwiGLU FFN) -> final RMSNorm -> head.
//
// The forward pass is split at the embedding output so robust objectives can add a
// perturbation there:  forward(ids, mask) == head(encode(embed(ids) + delta, mask), mask).
// Registered module names are the checkpoint keys and follow llama2.c / Meta Llama
// (`tok_embeddings.weight`, `layers.{i}.attention.wq.weight`, ...; see docs/model.md), so
// those weights import directly. RoPE uses the llama2.c interleaved pairing: the pairs
// (x[2i], x[2i+1]) of each head are rotated by angle t * theta^(-2i / head_dim).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "sturdy/config/config.h"

namespace sturdy {

// While alive, forwards on this thread compute every linear layer with one matrix product
// per sequence instead of one for the whole batch, so a sequence's outputs are bitwise the
// same in any batch of sequences of its length (the other ops already treat rows apart).
// `sturdy eval` uses it so that its results do not depend on batch size or world size.
class BatchInvariantGuard {
 public:
  BatchInvariantGuard();
  ~BatchInvariantGuard();
  BatchInvariantGuard(const BatchInvariantGuard&) = delete;
  BatchInvariantGuard& operator=(const BatchInvariantGuard&) = delete;

 private:
  bool previous_;
};

// Throws UsageError naming the offending model.* key (e.g. "model.dim (100) must be
// divisible by model.heads (3)"). Called by the Transformer constructor.
void validate_model_config(const ModelConfig& config);

// Dropout of the embedding and residual branches, shared by the blocks of one model.
// A mask costs one 64-bit draw per four elements (16-bit uniforms, so p is rounded to a
// multiple of 1/65536): about 2x cheaper than torch::dropout's bernoulli_ on CPU. With
// reuse on (FreeLB: the same masks for every ascent step of one batch), each site keeps the
// mask of its first draw until reuse is turned off. Identity when p = 0 or not training.
class DropoutMasks {
 public:
  explicit DropoutMasks(double p) : p_(p) {}
  // x with site `site`'s mask applied (inverted dropout: kept values scaled by 1/(1-p)).
  torch::Tensor apply(size_t site, const torch::Tensor& x, bool training);
  void set_reuse(bool reuse);
  bool reuse() const { return reuse_; }
  double p() const { return p_; }

 private:
  double p_;
  bool reuse_ = false;
  std::vector<torch::Tensor> masks_;  // by site, kept while reuse_ is on
};

// x * rsqrt(mean(x^2) + eps) * weight over the last dimension. One parameter: `weight`.
struct RMSNormImpl : torch::nn::Module {
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // (..., D) -> (..., D)

  torch::Tensor weight;
  double eps_;
};
TORCH_MODULE(RMSNorm);

// Attention with rotary positions and grouped KV heads (head h reads KV head h / (H / KV)).
// Parameters: wq (H*hd, D), wk (KV*hd, D), wv (KV*hd, D), wo (D, H*hd), no biases.
struct AttentionImpl : torch::nn::Module {
  explicit AttentionImpl(const ModelConfig& config);
  // x (B,T,D); cos/sin (T, hd/2) rotary tables; bias (B,1,1,Tq|1,T) additive mask where
  // 0 = may attend and a large negative value = masked (never -inf, so a fully masked row
  // stays finite). Returns (B,T,D).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& bias);

  int64_t heads_, kv_heads_, head_dim_;
  torch::nn::Linear wq{nullptr}, wk{nullptr}, wv{nullptr}, wo{nullptr};
};
TORCH_MODULE(Attention);

// SwiGLU: w2(silu(w1 x) * w3 x), no biases. w1/w3: (ffn, D) gate/up, w2: (D, ffn) down.
struct FeedForwardImpl : torch::nn::Module {
  FeedForwardImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);  // (B,T,D) -> (B,T,D)

  torch::nn::Linear w1{nullptr}, w2{nullptr}, w3{nullptr};
};
TORCH_MODULE(FeedForward);

// h = x + drop(attention(attention_norm(x)));  out = h + drop(feed_forward(ffn_norm(h))).
// Dropout sites: first_site (attention branch) and first_site + 1 (FFN branch).
struct TransformerBlockImpl : torch::nn::Module {
  TransformerBlockImpl(const ModelConfig& config, std::shared_ptr<DropoutMasks> dropout,
                       size_t first_site);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& bias);

  std::shared_ptr<DropoutMasks> dropout_;
  size_t first_site_;
  Attention attention{nullptr};
  FeedForward feed_forward{nullptr};
  RMSNorm attention_norm{nullptr}, ffn_norm{nullptr};
};
TORCH_MODULE(TransformerBlock);

struct TransformerImpl : torch::nn::Module {
  // Validates the config (validate_model_config); vocab_size and, for the classifier head,
  // num_classes must already be resolved (> 0). Initializes weights (see init_weights).
  explicit TransformerImpl(const ModelConfig& config);

  // ids (B,T) int64 -> token embeddings (B,T,D). No dropout here: a perturbation added to
  // this output goes through the embedding dropout in encode(), like the embedding itself.
  torch::Tensor embed(const torch::Tensor& ids);
  // embeddings (B,T,D), mask (B,T) bool (true = real token) -> hidden (B,T,D) after the
  // final norm. Attention never reads padded keys; causal configs also hide later keys.
  torch::Tensor encode(const torch::Tensor& embeddings, const torch::Tensor& mask);
  // Perturbation sites (objective.layer): site 0 is the embedding output (before the input
  // dropout), site L >= 1 the output of block L (1 <= L <= layers). lower(e, mask, L) runs
  // what lies below site L and returns the activation there (e itself for L = 0);
  // upper(x, mask, L) runs the rest up to the final norm. upper(lower(e, m, L), m, L) is
  // encode(e, m), op for op (encode is upper(e, m, 0)).
  torch::Tensor lower(const torch::Tensor& embeddings, const torch::Tensor& mask, int64_t layer);
  torch::Tensor upper(const torch::Tensor& site, const torch::Tensor& mask, int64_t layer);
  // Transformer blocks forwarded since construction: a counter for tests (an objective at
  // layer L runs the blocks below L once per micro-step).
  int64_t block_forwards() const { return block_forwards_; }
  // classifier: pooled (config.pooling over real tokens) -> logits (B,C);
  // lm: logits (B,T,V) for every position (mask unused).
  torch::Tensor head(const torch::Tensor& hidden, const torch::Tensor& mask);
  // head(encode(embed(ids), mask), mask).
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask);

  // Linear and embedding weights ~ N(0, 0.02^2), biases 0, norm weights 1.
  void init_weights();
  // While on, every forward in training mode reuses the dropout masks drawn by the first
  // one (same batch shape required); turning it off forgets them. For FreeLB-style loops.
  void reuse_dropout_masks(bool reuse) { dropout_->set_reuse(reuse); }

  const ModelConfig& config() const { return config_; }
  int64_t num_parameters() const;
  // Where the parameters live (the token embedding's device).
  torch::Device device() const { return tok_embeddings->weight.device(); }

  ModelConfig config_;
  torch::nn::Embedding tok_embeddings{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  torch::nn::Linear output{nullptr};      // lm head (vocab, D), no bias
  torch::nn::Linear classifier{nullptr};  // classifier head (C, D) + bias

 private:
  std::shared_ptr<DropoutMasks> dropout_;  // sites: 0 embeddings, 1 + 2i / 2 + 2i block i
  // Rotary tables (max_seq_len, hd/2) in float32 on the CPU, and a copy cached on the
  // device/dtype last used. Deliberately not registered: they are derived from the config,
  // not state, so they stay out of checkpoints and parameter lists.
  torch::Tensor rope_cos_, rope_sin_, cached_cos_, cached_sin_;
  void rope_tables_for(const torch::Tensor& like, int64_t seq_len, torch::Tensor& cos,
                       torch::Tensor& sin);
  // What every block of one forward reads: rotary tables and the additive attention bias.
  struct BlockInputs {
    torch::Tensor cos, sin, bias;
  };
  BlockInputs block_inputs(const torch::Tensor& x, const torch::Tensor& mask, const char* what);
  // Blocks [first, last) on x.
  torch::Tensor run_blocks(torch::Tensor x, const BlockInputs& in, int64_t first, int64_t last);
  int64_t block_forwards_ = 0;
};
TORCH_MODULE(Transformer);

}  // namespace sturdy
