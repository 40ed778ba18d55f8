// Tokenizers: bytes, sentencepiece (train + load), llama2.c tok*.bin.
//
// All return int32 ids; ids 0..3 of the bytes tokenizer are special
// (pad, bos, eos, unk) and byte b is id b + 4.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sturdy/config/config.h"

namespace sturdy {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string kind() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int32_t pad_id() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when the tokenizer has none
  virtual int32_t eos_id() const = 0;  // -1 when the tokenizer has none
  // Encodes text (no bos/eos added).
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
};

// Builds the tokenizer the config names; throws UsageError naming tokenizer.kind/path.
std::unique_ptr<Tokenizer> make_tokenizer(const TokenizerConfig& config);

struct SentencePieceTrainOptions {
  int64_t vocab_size = 4000;
  std::string model_type = "unigram";  // unigram | bpe
  double character_coverage = 0.9995;
  int64_t max_sentences = 1000000;
  uint64_t seed = 1;
};

// Trains a sentencepiece model on `texts`, writing `output_model` (the .model file;
// a .vocab file beside it). Throws UsageError/RuntimeError with the reason.
void train_sentencepiece(const std::vector<std::string>& texts, const std::string& output_model,
                         const SentencePieceTrainOptions& options);

}  // namespace sturdy
