// Tests for src/config: strict loading, closest-key hints, overrides, dump round trip.
#include <gtest/gtest.h>

#include "sturdy/config/config.h"
#include "sturdy/core/error.h"

namespace sturdy {
namespace {

std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    parse_config(yaml, "test.yaml", overrides);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsAndValues) {
  const Config c = parse_config("run: {name: x, seed: 7}\nmodel: {dim: 64, causal: true}\n", "t");
  EXPECT_EQ(c.run.name, "x");
  EXPECT_EQ(c.run.seed, 7u);
  EXPECT_EQ(c.model.dim, 64);
  EXPECT_TRUE(c.model.causal);
  EXPECT_EQ(c.model.layers, 2);  // default kept
}

TEST(Config, UnknownKeyNamesClosestValidKey) {
  const std::string e = error_of("optim:\n  learning_rat: 0.1\n  lr: 0.1\n");
  EXPECT_NE(e.find("test.yaml:2"), std::string::npos) << e;
  EXPECT_NE(e.find("optim.learning_rat"), std::string::npos) << e;
  const std::string e2 = error_of("optim: {lrr: 0.1}");
  EXPECT_NE(e2.find("did you mean 'optim.lr'"), std::string::npos) << e2;
  const std::string e3 = error_of("modle: {dim: 3}");
  EXPECT_NE(e3.find("did you mean 'model'"), std::string::npos) << e3;
}

TEST(Config, WrongTypeNamesKey) {
  const std::string e = error_of("data: {micro_batch: lots}");
  EXPECT_NE(e.find("data.micro_batch"), std::string::npos) << e;
  EXPECT_NE(e.find("lots"), std::string::npos) << e;
  EXPECT_NE(error_of("run: {seed: -1}").find("run.seed"), std::string::npos);
}

TEST(Config, ValidationNamesKey) {
  EXPECT_NE(error_of("optim: {lr: -1}").find("optim.lr"), std::string::npos);
  EXPECT_NE(error_of("data: {micro_batch: 3, global_batch: 8}").find("data.global_batch"),
            std::string::npos);
  EXPECT_NE(error_of("objective: {kind: magic}").find("objective.kind"), std::string::npos);
  EXPECT_NE(error_of("tokenizer: {kind: sentencepiece}").find("tokenizer.path"), std::string::npos);
}

TEST(Config, OverridesApplyAndAreChecked) {
  const Config c = parse_config("optim: {lr: 0.1}", "t", {"optim.lr=0.5", "model.causal=true",
                                                         "run.name=abc"});
  EXPECT_DOUBLE_EQ(c.optim.lr, 0.5);
  EXPECT_TRUE(c.model.causal);
  EXPECT_EQ(c.run.name, "abc");
  const std::string e = error_of("", {"optim.lrr=0.5"});
  EXPECT_NE(e.find("did you mean 'optim.lr'"), std::string::npos) << e;
  EXPECT_NE(error_of("", {"novalue"}).find("section.key=value"), std::string::npos);
}

TEST(Config, AugmentOps) {
  const Config c = parse_config(
      "augment: {probability: 0.5, ops: [{op: keyboard, rate: 0.1}, {op: swap, rate: 0.05}]}", "t");
  ASSERT_EQ(c.augment.ops.size(), 2u);
  EXPECT_EQ(c.augment.ops[1].op, "swap");
  EXPECT_DOUBLE_EQ(c.augment.ops[1].rate, 0.05);
  EXPECT_NE(error_of("augment: {ops: [{op: swap, rat: 0.1}]}").find("augment.ops[0]"), std::string::npos);
}

TEST(Config, SubwordSampling) {
  const std::string sp = "tokenizer: {kind: sentencepiece, path: t.model}\n";
  const Config c = parse_config(sp + "augment: {subword_alpha: 0.1, subword_nbest: 16}", "t");
  EXPECT_DOUBLE_EQ(c.augment.subword_alpha, 0.1);
  EXPECT_EQ(c.augment.subword_nbest, 16);
  EXPECT_EQ(parse_config("", "t").augment.subword_alpha, 0.0);  // off by default
  EXPECT_NE(error_of(sp + "augment: {subword_alpha: -0.1}").find("augment.subword_alpha"), std::string::npos);
  EXPECT_NE(error_of(sp + "augment: {subword_alpha: 0.1, subword_nbest: 1}").find("augment.subword_nbest"),
            std::string::npos);
  const std::string e = error_of("augment: {subword_alpha: 0.1}");  // bytes: one segmentation
  EXPECT_NE(e.find("augment.subword_alpha"), std::string::npos) << e;
  EXPECT_NE(e.find("sentencepiece"), std::string::npos) << e;
}

TEST(Config, DumpRoundTrips) {
  const Config c = parse_config("run: {name: rt, seed: 3}\noptim: {lr: 0.000123}\n"
                                "augment: {probability: 0.2, ops: [{op: ocr, rate: 0.3}]}", "t");
  const std::string dumped = dump_config(c);
  const Config back = parse_config(dumped, "dump");
  EXPECT_EQ(dump_config(back), dumped);
  EXPECT_EQ(back.run.name, "rt");
  EXPECT_DOUBLE_EQ(back.optim.lr, 0.000123);
  ASSERT_EQ(back.augment.ops.size(), 1u);
  EXPECT_EQ(back.augment.ops[0].op, "ocr");
  // Numbers are written in their shortest exact form, and read back bit for bit.
  const Config d = parse_config("augment: {subword_alpha: 0.1, ops: [{op: swap, rate: 0.09}]}\n"
                                "tokenizer: {kind: sentencepiece, path: t.model}\noptim: {lr: 1.0e-5}", "t");
  const std::string text = dump_config(d);
  EXPECT_NE(text.find("rate: 0.09}"), std::string::npos) << text;
  EXPECT_NE(text.find("subword_alpha: 0.1\n"), std::string::npos) << text;
  const Config e = parse_config(text, "dump");
  EXPECT_EQ(e.augment.ops[0].rate, 0.09);
  EXPECT_EQ(e.augment.subword_alpha, 0.1);
  EXPECT_EQ(e.optim.lr, 1.0e-5);
}

TEST(Config, SyntaxErrorHasLine) {
  const std::string e = error_of("run:\n  name: [unclosed\n");
  EXPECT_NE(e.find("test.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("syntax"), std::string::npos) << e;
}

}  // namespace
}  // namespace sturdy
