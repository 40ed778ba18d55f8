// Tests for src/model: shapes, masking (padding, causal, all-padding rows), grouped KV heads,
// checkpoint names, gradients, dropout modes and config validation.
// Numerical agreement with an independent implementation: tests/python/model_crosscheck.py.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include <torch/torch.h>

#include "sturdy/core/error.h"
#include "sturdy/model/transformer.h"

namespace sturdy {
namespace {

ModelConfig small_config(const std::string& head = "classifier") {
  ModelConfig c;
  c.vocab_size = 50;
  c.dim = 32;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 4;
  c.ffn = 64;
  c.dropout = 0.0;
  c.head = head;
  c.num_classes = 3;
  c.max_seq_len = 32;
  return c;
}

// Random ids (B,T) and a right-padded mask with the given real lengths.
std::pair<torch::Tensor, torch::Tensor> batch(const std::vector<int64_t>& lengths, int64_t T,
                                              int64_t vocab) {
  const auto B = static_cast<int64_t>(lengths.size());
  auto ids = torch::randint(vocab, {B, T}, torch::kLong);
  auto mask = torch::zeros({B, T}, torch::kBool);
  for (int64_t b = 0; b < B; ++b) mask[b].narrow(0, 0, lengths[b]).fill_(true);
  return {ids, mask};
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

std::string usage_error_of(const ModelConfig& c) {
  try {
    Transformer model(c);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no UsageError)";
}

TEST(Model, OutputShapesForBothHeads) {
  torch::manual_seed(1);
  auto [ids, mask] = batch({5, 3}, 6, 50);
  Transformer classifier(small_config("classifier"));
  EXPECT_EQ(classifier->embed(ids).sizes(), (std::vector<int64_t>{2, 6, 32}));
  EXPECT_EQ(classifier->encode(classifier->embed(ids), mask).sizes(),
            (std::vector<int64_t>{2, 6, 32}));
  EXPECT_EQ(classifier(ids, mask).sizes(), (std::vector<int64_t>{2, 3}));
  Transformer lm(small_config("lm"));
  EXPECT_EQ(lm(ids, mask).sizes(), (std::vector<int64_t>{2, 6, 50}));
}

TEST(Model, ForwardIsHeadOfEncodeOfEmbed) {
  torch::manual_seed(2);
  Transformer model(small_config());
  model->eval();
  auto [ids, mask] = batch({4, 2}, 4, 50);
  const auto split = model->head(model->encode(model->embed(ids), mask), mask);
  EXPECT_EQ(max_abs_diff(split, model(ids, mask)), 0.0);
}

TEST(Model, ParameterNamesAreLlamaCheckpointKeys) {
  auto names_of = [](const Transformer& m) {
    std::set<std::string> names;
    for (const auto& p : m->named_parameters()) names.insert(p.key());
    return names;
  };
  std::set<std::string> common{"tok_embeddings.weight", "norm.weight"};
  for (int i = 0; i < 2; ++i) {
    const std::string l = "layers." + std::to_string(i) + ".";
    for (const char* w : {"wq", "wk", "wv", "wo"}) common.insert(l + "attention." + w + ".weight");
    for (const char* w : {"w1", "w2", "w3"}) common.insert(l + "feed_forward." + w + ".weight");
    common.insert(l + "attention_norm.weight");
    common.insert(l + "ffn_norm.weight");
  }
  auto lm_names = common;
  lm_names.insert("output.weight");
  auto classifier_names = common;
  classifier_names.insert("classifier.weight");
  classifier_names.insert("classifier.bias");
  Transformer lm(small_config("lm")), classifier(small_config("classifier"));
  EXPECT_EQ(names_of(lm), lm_names);
  EXPECT_EQ(names_of(classifier), classifier_names);
  // Rotary tables are derived, not state: no buffers end up in checkpoints.
  EXPECT_TRUE(lm->named_buffers().is_empty());
}

TEST(Model, NumParametersAndInit) {
  torch::manual_seed(3);
  auto c = small_config("classifier");
  c.vocab_size = 1000;
  c.kv_heads = 2;
  Transformer model(c);
  const int64_t D = 32, hd = 8, F = 64;
  const int64_t per_layer = D * D + 2 * (2 * hd) * D + D * D + 3 * D * F + 2 * D;
  EXPECT_EQ(model->num_parameters(), 1000 * D + 2 * per_layer + D + 3 * D + 3);
  EXPECT_EQ(model->norm->weight.min().item<float>(), 1.0f);
  EXPECT_EQ(model->classifier->bias.abs().max().item<float>(), 0.0f);
  EXPECT_NEAR(model->tok_embeddings->weight.std().item<double>(), 0.02, 0.001);
  EXPECT_NEAR(model->tok_embeddings->weight.mean().item<double>(), 0.0, 0.001);
}

TEST(Model, ClassifierIgnoresAppendedPadding) {
  for (const char* pooling : {"mean", "last", "first"}) {
    for (bool causal : {false, true}) {
      torch::manual_seed(4);
      auto c = small_config("classifier");
      c.pooling = pooling;
      c.causal = causal;
      Transformer model(c);
      model->eval();
      auto [ids, mask] = batch({5, 2, 4}, 5, 50);
      const auto logits = model(ids, mask);
      // Append 4 columns of padding with arbitrary token ids.
      const auto ids_padded = torch::cat({ids, torch::randint(50, {3, 4}, torch::kLong)}, 1);
      const auto mask_padded = torch::cat({mask, torch::zeros({3, 4}, torch::kBool)}, 1);
      // Also scramble the ids under the existing padding.
      ids_padded[1].narrow(0, 2, 7).random_(50);
      EXPECT_LT(max_abs_diff(model(ids_padded, mask_padded), logits), 1e-5)
          << "pooling " << pooling << " causal " << causal;
    }
  }
}

TEST(Model, CausalLogitsDoNotSeeLaterTokens) {
  torch::manual_seed(5);
  auto c = small_config("lm");
  c.causal = true;
  Transformer model(c);
  model->eval();
  auto [ids, mask] = batch({8, 8}, 8, 50);
  const auto logits = model(ids, mask);
  auto changed = ids.clone();
  changed.narrow(1, 4, 4).copy_((changed.narrow(1, 4, 4) + 7) % 50);
  const auto logits_changed = model(changed, mask);
  EXPECT_LT(max_abs_diff(logits.narrow(1, 0, 4), logits_changed.narrow(1, 0, 4)), 1e-6);
  EXPECT_GT(max_abs_diff(logits.narrow(1, 4, 4), logits_changed.narrow(1, 4, 4)), 1e-4);

  // The same change reaches earlier positions when attention is bidirectional.
  c.causal = false;
  torch::manual_seed(5);
  Transformer bidirectional(c);
  bidirectional->eval();
  EXPECT_GT(max_abs_diff(bidirectional(ids, mask).narrow(1, 0, 4),
                         bidirectional(changed, mask).narrow(1, 0, 4)),
            1e-4);
}

TEST(Model, GroupedKvHeadsEqualMhaWithRepeatedKvWeights) {
  torch::manual_seed(6);
  for (bool causal : {false, true}) {
    auto gqa_config = small_config("lm");
    gqa_config.kv_heads = 2;
    gqa_config.causal = causal;
    auto mha_config = gqa_config;
    mha_config.kv_heads = 4;
    Transformer gqa(gqa_config), mha(mha_config);
    gqa->eval();
    mha->eval();
    EXPECT_EQ(gqa->named_parameters()["layers.0.attention.wk.weight"].sizes(),
              (std::vector<int64_t>{2 * 8, 32}));
    // Query head h reads KV head h / 2: repeat each KV head's rows twice.
    {
      torch::NoGradGuard no_grad;
      auto mha_params = mha->named_parameters();
      for (const auto& p : gqa->named_parameters()) {
        auto value = p.value();
        const auto& name = p.key();
        if (name.find("attention.wk") != std::string::npos ||
            name.find("attention.wv") != std::string::npos) {
          value = value.view({2, 1, 8, 32}).expand({2, 2, 8, 32}).reshape({32, 32});
        }
        mha_params[name].copy_(value);
      }
    }
    auto [ids, mask] = batch({6, 3}, 6, 50);
    EXPECT_LT(max_abs_diff(gqa(ids, mask), mha(ids, mask)), 1e-5) << "causal " << causal;
  }
}

TEST(Model, GradientsReachEveryParameterAndTheEmbeddingOutput) {
  for (const char* head : {"classifier", "lm"}) {
    torch::manual_seed(7);
    auto c = small_config(head);
    c.dropout = 0.1;
    c.kv_heads = 2;
    Transformer model(c);
    model->train();
    auto [ids, mask] = batch({6, 4}, 6, 50);
    auto delta = torch::zeros({2, 6, 32}, torch::requires_grad());
    const auto out = model->head(model->encode(model->embed(ids) + delta, mask), mask);
    out.square().sum().backward();
    for (const auto& p : model->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << head << " " << p.key();
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
      EXPECT_GT(p.value().grad().abs().max().item<double>(), 0.0) << head << " " << p.key();
    }
    ASSERT_TRUE(delta.grad().defined());
    // Padded positions of the classifier's input do not influence its output.
    EXPECT_GT(delta.grad()[1].narrow(0, 0, 4).abs().max().item<double>(), 0.0);
    if (std::string(head) == "classifier") {
      EXPECT_EQ(delta.grad()[1].narrow(0, 4, 2).abs().max().item<double>(), 0.0);
    }
  }
}

TEST(Model, AllPaddingRowsAreFinite) {
  for (const char* head : {"classifier", "lm"}) {
    for (const char* pooling : {"mean", "last", "first"}) {
      for (bool causal : {false, true}) {
        torch::manual_seed(8);
        auto c = small_config(head);
        c.pooling = pooling;
        c.causal = causal;
        c.kv_heads = 2;
        Transformer model(c);
        auto [ids, mask] = batch({5, 0}, 5, 50);
        const auto out = model(ids, mask);
        EXPECT_TRUE(torch::isfinite(out).all().item<bool>()) << head << pooling << causal;
        out.sum().backward();
        for (const auto& p : model->parameters()) {
          EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>()) << head << pooling << causal;
        }
        if (std::string(head) == "lm") break;  // pooling is unused by the LM head
      }
    }
  }
}

TEST(Model, DropoutFollowsModeAndProbability) {
  torch::manual_seed(9);
  auto c = small_config("lm");
  c.dropout = 0.2;
  Transformer model(c);
  auto [ids, mask] = batch({6, 6}, 6, 50);
  model->train();
  EXPECT_GT(max_abs_diff(model(ids, mask), model(ids, mask)), 1e-4);
  model->eval();
  const auto eval_out = model(ids, mask);
  EXPECT_EQ(max_abs_diff(eval_out, model(ids, mask)), 0.0);

  // p = 0 in training mode is the eval computation.
  c.dropout = 0.0;
  torch::manual_seed(9);
  Transformer no_dropout(c);
  no_dropout->train();
  EXPECT_LT(max_abs_diff(no_dropout(ids, mask), eval_out), 1e-6);
}

TEST(Model, DropoutMasksDropAtRateAndCanBeReused) {
  torch::manual_seed(10);
  DropoutMasks dropout(0.25);
  const auto ones = torch::ones({200, 500});
  const auto dropped = dropout.apply(0, ones, /*training=*/true);
  EXPECT_NEAR(dropped.eq(0).to(torch::kFloat).mean().item<double>(), 0.25, 0.005);
  EXPECT_NEAR(dropped.mean().item<double>(), 1.0, 0.01);  // inverted dropout keeps the mean
  EXPECT_EQ(max_abs_diff(dropout.apply(0, ones, /*training=*/false), ones), 0.0);

  auto c = small_config("classifier");
  c.dropout = 0.3;
  Transformer model(c);
  model->train();
  auto [ids, mask] = batch({6, 6}, 6, 50);
  model->reuse_dropout_masks(true);
  const auto first = model(ids, mask);
  EXPECT_EQ(max_abs_diff(model(ids, mask), first), 0.0);
  model->reuse_dropout_masks(false);
  EXPECT_GT(max_abs_diff(model(ids, mask), first), 1e-4);
}

TEST(Model, ConfigErrorsNameTheKey) {
  auto c = small_config();
  c.dim = 100;
  c.heads = 3;
  EXPECT_NE(usage_error_of(c).find("model.dim (100) must be divisible by model.heads (3)"),
            std::string::npos)
      << usage_error_of(c);
  c = small_config();
  c.kv_heads = 3;
  EXPECT_NE(usage_error_of(c).find("model.kv_heads (3)"), std::string::npos) << usage_error_of(c);
  c = small_config();
  c.vocab_size = 0;
  EXPECT_NE(usage_error_of(c).find("model.vocab_size"), std::string::npos) << usage_error_of(c);
  c = small_config("classifier");
  c.num_classes = 0;
  EXPECT_NE(usage_error_of(c).find("model.num_classes"), std::string::npos) << usage_error_of(c);
  c = small_config("lm");
  c.num_classes = 0;  // not needed by the LM head
  EXPECT_EQ(usage_error_of(c), "(no UsageError)");
  c = small_config();
  c.head = "regression";
  EXPECT_NE(usage_error_of(c).find("model.head"), std::string::npos) << usage_error_of(c);
  c = small_config();
  c.pooling = "max";
  EXPECT_NE(usage_error_of(c).find("model.pooling"), std::string::npos) << usage_error_of(c);
  c = small_config();
  c.dim = 36;  // head_dim 9: odd, no rotary pairs
  EXPECT_NE(usage_error_of(c).find("model.dim / model.heads"), std::string::npos)
      << usage_error_of(c);
  c = small_config();
  c.dropout = 1.0;
  EXPECT_NE(usage_error_of(c).find("model.dropout"), std::string::npos) << usage_error_of(c);

  Transformer model(small_config());
  auto [ids, mask] = batch({33}, 33, 50);
  try {
    model(ids, mask);
    ADD_FAILURE() << "a sequence longer than max_seq_len was accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("model.max_seq_len (32)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sturdy
