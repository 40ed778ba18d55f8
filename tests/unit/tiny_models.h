// Tiny models shared by the tests of the evaluator, the gate and the objectives: the config of
// the eval and gate tests' model, and a hand-built classifier whose decision hinges on one byte
// (the search attacks' test in eval_test and the attack_augment objective's in objective_test).
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "sturdy/data/loader.h"
#include "sturdy/model/transformer.h"
#include "sturdy/text/tokenizer.h"

namespace sturdy {

// Width 16, one block of 2 heads, ffn 32, no dropout, two classes, 64 positions; causal for the
// LM head.
inline ModelConfig tiny_model_config(int64_t vocab_size, const std::string& head) {
  ModelConfig c;
  c.vocab_size = vocab_size;
  c.dim = 16;
  c.layers = 1;
  c.heads = 2;
  c.kv_heads = 2;
  c.ffn = 32;
  c.dropout = 0.0;
  c.head = head;
  c.causal = head == "lm";
  c.num_classes = 2;
  c.max_seq_len = 64;
  return c;
}

// The whitespace-separated words of `s` (to compare a text before and after a search).
inline std::vector<std::string> words_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// A classifier that answers "pos" (class 1) exactly when its input holds the byte 'q': every
// block's weights are zero (a block is then the identity), every byte embeds to (-0.005, 1, 0...)
// except 'q' at (1, 1, 0...), and the head reads coordinate 0 of the mean-pooled normalised
// embeddings. One 'q' outweighs any number of other bytes, so the decision hinges on the one word
// that holds it. A large `norm_eps` makes the final RMSNorm almost linear (x / √eps), so that
// the gradient times the embedding sees the 'q' (with a small one the norm is scale-invariant
// per position and that product is zero everywhere). Returned in eval mode.
inline Transformer q_detector(const Tokenizer& tokenizer, double norm_eps = 1e-5) {
  ModelConfig c = tiny_model_config(tokenizer.vocab_size(), "classifier");
  c.pooling = "mean";
  c.norm_eps = norm_eps;
  Transformer m(c);
  torch::NoGradGuard no_grad;
  for (auto& item : m->named_parameters(true)) {
    const std::string& name = item.key();
    const bool norm = name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0;
    item.value().fill_(norm ? 1.0 : 0.0);
  }
  auto params = m->named_parameters(true);
  auto emb = params["tok_embeddings.weight"];
  emb.select(1, 0).fill_(-0.005);
  emb.select(1, 1).fill_(1.0);
  const auto q = tokenizer.encode("q");
  EXPECT_EQ(q.size(), 1u);
  emb[q[0]][0] = 1.0;
  auto head = params["classifier.weight"];
  head[1][0] = 1.0;
  head[0][0] = -1.0;
  m->eval();
  return m;
}

// A learnable toy task for the objectives' tests: class 0 sentences mention fruit, class 1
// sentences mention motion; n rows, example ids step·n + i, drawn from (seed + step).
inline Batch toy_batch(const Tokenizer& tok, int64_t step, uint64_t seed, int n = 16) {
  std::mt19937 rng(static_cast<uint32_t>(seed + step));
  const char* fruit[] = {"apple", "pear", "plum", "fig"};
  const char* motion[] = {"run", "jump", "swim", "walk"};
  const char* filler[] = {"the", "a", "very", "some", "with"};
  std::vector<std::string> texts;
  std::vector<int32_t> labels;
  for (int i = 0; i < n; ++i) {
    const int label = static_cast<int>(rng() % 2);
    texts.push_back(std::string(filler[rng() % 5]) + " " + (label ? motion[rng() % 4] : fruit[rng() % 4]) + " " +
                    filler[rng() % 5]);
    labels.push_back(label);
  }
  Batch b = make_batch(tok, texts, labels, 32);
  b.step = step;
  for (int i = 0; i < n; ++i) b.example_ids.push_back(step * n + i);
  return b;
}

}  // namespace sturdy
