// Tokenizers: bytes, sentencepiece (train + load), llama2.c tok*.bin.
//
// All return int32 ids; ids 0..3 of the bytes tokenizer are special
// (pad, bos, eos, unk) and byte b is id b + 4.
//
// encode/decode are const and safe to call from several loader threads at once
// on one shared tokenizer (see docs/tokenizers.md for how this was checked).
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
  // Subword regularisation (Kudo, 2018): one segmentation of `text` drawn from its `nbest`
  // best, with P(s) proportional to exp(alpha * score(s)), the draw keyed by `key` alone (so
  // the same on any rank, thread or order). Decodes to the same text as encode(). Tokenizers
  // without alternative segmentations (bytes, llama2c) return encode(text). Throws UsageError
  // when the model cannot list segmentations (a sentencepiece BPE model).
  virtual std::vector<int32_t> encode_sampled(std::string_view text, int64_t nbest, double alpha,
                                              uint64_t key) const {
    (void)nbest, (void)alpha, (void)key;
    return encode(text);
  }
  // Whether encode_sampled can return anything but encode().
  virtual bool samples_segmentations() const { return false; }
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
};

// Builds the tokenizer the config names; throws UsageError naming tokenizer.kind/path.
std::unique_ptr<Tokenizer> make_tokenizer(const TokenizerConfig& config);

// The individual tokenizers (make_tokenizer dispatches to these).
// Loaders throw UsageError naming the file (and, for llama2c, the byte offset).
std::unique_ptr<Tokenizer> make_bytes_tokenizer();
std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& model_path);
std::unique_ptr<Tokenizer> load_llama2c_tokenizer(const std::string& tok_bin_path);

struct SentencePieceTrainOptions {
  int64_t vocab_size = 4000;
  std::string model_type = "unigram";  // unigram | bpe
  double character_coverage = 0.9995;
  int64_t max_sentences = 1000000;
  uint64_t seed = 1;
  // Additions beyond the first sketch (defaults keep the original behaviour):
  std::string normalization = "nmt_nfkc";  // sentencepiece rule: nmt_nfkc | nfkc | identity | ...
  bool byte_fallback = false;  // unknown characters become <0xXX> byte pieces instead of unk
  int num_threads = 4;         // fixed: the unigram EM result depends on the thread count
  bool verbose = false;        // show sentencepiece's training log
};

// Trains a sentencepiece model on `texts`, writing `output_model` (the .model file;
// a .vocab file beside it). Throws UsageError/RuntimeError with the reason.
// Deterministic for given texts and options (bit-identical .model files); the
// .model is written last and atomically, so its presence means training finished.
void train_sentencepiece(const std::vector<std::string>& texts, const std::string& output_model,
                         const SentencePieceTrainOptions& options);

// The sentences training uses when there are more than `max_sentences`: a uniform
// sample keyed by (seed, index), in ascending order (all of 0..count-1 otherwise).
// `sturdy tokenizer train` reads only these rows of the corpus.
std::vector<int64_t> sample_sentence_indices(int64_t count, int64_t max_sentences, uint64_t seed);

}  // namespace sturdy
