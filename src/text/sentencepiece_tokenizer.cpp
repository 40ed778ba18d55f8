// sentencepiece: load a .model file, and train one from in-memory sentences.
//
// Built as a plugin (libsturdy_sentencepiece.so) that sturdy_text loads with
// RTLD_LOCAL | RTLD_DEEPBIND: Debian's libsentencepiece carries its own copy of
// protobuf-lite and exports its symbols, which clash with the libprotobuf that
// LibTorch loads (the process crashes in static initialisation when both are
// linked). Loaded this way, each library keeps its own protobuf.
//
// Models trained here reserve pad=0 unk=1 bos=2 eos=3. Models from elsewhere
// usually have no pad piece (pad_id = -1); then pad_id() falls back to unk_id
// (every sentencepiece model has an unk piece, and padded positions are masked).
//
// Thread safety: SentencePieceProcessor::Encode/Decode are const and keep their
// working state per call, so one processor is shared by all loader threads;
// tests/unit/text_test.cpp checks this with 8 threads against a serial pass.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <limits>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <type_traits>
#include <unordered_map>

#include <unistd.h>

#include <fmt/format.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "sturdy/core/error.h"
#include "sturdy/core/printable.h"
#include "sturdy/core/rng.h"
#include "sturdy/text/tokenizer.h"

namespace sturdy {
namespace {

// sentencepiece encodes into std::vector<int>; ours is std::vector<int32_t>.
// They are the same type on every platform we build for, so no copy is needed.
static_assert(std::is_same_v<int, int32_t>, "sentencepiece ids are int; Sturdy ids are int32_t");

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& path) : path_(path) {
    sentencepiece::util::Status status;
    try {
      status = processor_.Load(path);
    } catch (const std::exception& e) {
      // libsentencepiece's double-array builder (darts_clone) throws on some damaged models
      // (an empty piece) instead of returning a status.
      throw UsageError(fmt::format("tokenizer.path: '{}' is not a sentencepiece model: {}", path, e.what()));
    }
    if (!status.ok()) {
      // The status may quote pieces of the (damaged) model, newlines included: keep one line.
      std::string reason = status.ToString();
      for (char& c : reason) {
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
      }
      throw UsageError(fmt::format("tokenizer.path: '{}' is not a sentencepiece model: {}", path, reason));
    }
    vocab_size_ = processor_.GetPieceSize();
    pad_id_ = processor_.pad_id() >= 0 ? processor_.pad_id() : processor_.unk_id();
    // Unigram models list n-best segmentations; BPE models refuse (a status, not an exception).
    std::vector<std::vector<int>> probe;
    can_sample_ = processor_.NBestEncode("ab", 2, &probe).ok();
  }

  std::string kind() const override { return choice_name(TokenizerKind::kSentencepiece); }
  int64_t vocab_size() const override { return vocab_size_; }
  int32_t pad_id() const override { return pad_id_; }
  int32_t bos_id() const override { return processor_.bos_id(); }
  int32_t eos_id() const override { return processor_.eos_id(); }

  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int32_t> ids;
    const auto status = processor_.Encode({text.data(), text.size()}, &ids);
    STURDY_CHECK(status.ok(), "sentencepiece encode with '{}': {}", path_, status.ToString());
    return ids;
  }

  bool samples_segmentations() const override { return can_sample_; }

  // sentencepiece's own SampleEncode draws from a per-thread generator, so its result would
  // depend on which loader thread met the example first. Instead: the n-best list (which
  // does not depend on any state), scored by the unigram log-probabilities of its pieces, and
  // one draw keyed by `key`, as SampleEncode does with nbest_size > 1.
  std::vector<int32_t> encode_sampled(std::string_view text, int64_t nbest, double alpha,
                                      uint64_t key) const override {
    if (nbest <= 1 || alpha <= 0) return encode(text);
    STURDY_USAGE_CHECK(can_sample_,
                       "augment.subword_alpha: '{}' cannot list alternative segmentations "
                       "(subword sampling needs a unigram model, this one is BPE)",
                       path_);
    std::vector<std::vector<int>> candidates;
    const auto status = processor_.NBestEncode({text.data(), text.size()}, static_cast<int>(nbest), &candidates);
    STURDY_CHECK(status.ok(), "sentencepiece n-best encode with '{}': {}", path_, printable(status.ToString()));
    if (candidates.size() <= 1) return candidates.empty() ? encode(text) : std::move(candidates[0]);
    std::vector<double> logw(candidates.size());
    double top = -std::numeric_limits<double>::infinity();
    for (size_t k = 0; k < candidates.size(); ++k) {
      double score = 0;
      for (const int id : candidates[k]) score += processor_.GetScore(id);
      logw[k] = alpha * score;
      top = std::max(top, logw[k]);
    }
    double total = 0;
    for (double& w : logw) total += (w = std::exp(w - top));
    double u = Rng(key).uniform() * total;
    for (size_t k = 0; k < candidates.size(); ++k) {
      u -= logw[k];
      if (u < 0) return std::move(candidates[k]);
    }
    return std::move(candidates.back());
  }

  // sentencepiece rejects ids outside the vocabulary as a whole; we decode the
  // valid runs and put U+FFFD for each invalid id (a model wider than the vocabulary).
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string text;
    std::vector<int> run;
    auto flush = [&] {
      if (run.empty()) return;
      std::string piece;
      const auto status = processor_.Decode(run, &piece);
      STURDY_CHECK(status.ok(), "sentencepiece decode with '{}': {}", path_, status.ToString());
      text += piece;
      run.clear();
    };
    bool all_valid = true;
    for (const int32_t id : ids) all_valid = all_valid && id >= 0 && id < vocab_size_;
    if (all_valid) {
      const auto status = processor_.Decode(ids, &text);
      STURDY_CHECK(status.ok(), "sentencepiece decode with '{}': {}", path_, status.ToString());
      return text;
    }
    for (const int32_t id : ids) {
      if (id >= 0 && id < vocab_size_) {
        run.push_back(id);
      } else {
        flush();
        text += kReplacement;
      }
    }
    flush();
    return text;
  }

 private:
  std::string path_;
  sentencepiece::SentencePieceProcessor processor_;
  int64_t vocab_size_ = 0;
  int32_t pad_id_ = 0;
  bool can_sample_ = false;
};

// Feeds the trainer the chosen sentences from memory (no temporary text file).
class IndexedSentenceIterator final : public sentencepiece::SentenceIterator {
 public:
  IndexedSentenceIterator(const std::vector<std::string>& texts, std::vector<int64_t> order)
      : texts_(texts), order_(std::move(order)) {}
  bool done() const override { return next_ >= order_.size(); }
  void Next() override { ++next_; }
  const std::string& value() const override { return texts_[order_[next_]]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& texts_;
  std::vector<int64_t> order_;
  size_t next_ = 0;
};

// "dir/t.model" -> "dir/t"; any other name is used whole as the stem.
std::string model_stem(const std::string& output_model) {
  const std::string suffix = ".model";
  if (output_model.size() > suffix.size() &&
      output_model.compare(output_model.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return output_model.substr(0, output_model.size() - suffix.size());
  }
  return output_model;
}

// Writes `bytes` to `path` atomically: a temporary file beside it, flushed and
// fsynced, then renamed over `path`. A failed write leaves no partial file.
void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string temp = fmt::format("{}.tmp.{}", path, ::getpid());
  std::FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) {
    const std::error_code ec(errno, std::generic_category());
    throw RuntimeError(fmt::format("cannot write '{}': {}", temp, ec.message()));
  }
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size() &&
                       std::fflush(file) == 0 && ::fsync(::fileno(file)) == 0;
  const int saved_errno = errno;
  const bool closed = std::fclose(file) == 0;
  std::error_code ec;
  if (written && closed) std::filesystem::rename(temp, path, ec);
  if (!written || !closed || ec) {
    std::remove(temp.c_str());
    const auto reason = ec ? ec.message() : std::error_code(saved_errno, std::generic_category()).message();
    throw RuntimeError(fmt::format("cannot write '{}': {}", path, reason));
  }
}

}  // namespace

}  // namespace sturdy

// Entry points of the plugin (see sentencepiece_plugin.h): C names for dlsym.
extern "C" sturdy::Tokenizer* sturdy_spm_load(const std::string& model_path) {
  return new sturdy::SentencePieceTokenizer(model_path);
}

extern "C" void sturdy_spm_train(const std::vector<std::string>& texts,
                                 const std::string& output_model,
                                 const sturdy::SentencePieceTrainOptions& options) {
  using namespace sturdy;
  STURDY_USAGE_CHECK(options.model_type == "unigram" || options.model_type == "bpe",
                     "--model-type: unknown '{}' (valid: unigram, bpe)", options.model_type);
  STURDY_USAGE_CHECK(options.vocab_size >= 8, "--vocab-size: {} is too small (at least 8)",
                     options.vocab_size);
  STURDY_USAGE_CHECK(options.max_sentences > 0, "--max-sentences: must be positive, got {}",
                     options.max_sentences);
  STURDY_USAGE_CHECK(options.character_coverage > 0.0 && options.character_coverage <= 1.0,
                     "character_coverage: must be in (0, 1], got {}", options.character_coverage);
  STURDY_USAGE_CHECK(options.num_threads >= 1, "num_threads: must be positive, got {}",
                     options.num_threads);
  // Empty strings teach nothing; sample among the others.
  std::vector<int64_t> non_empty;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (!texts[i].empty()) non_empty.push_back(static_cast<int64_t>(i));
  }
  STURDY_USAGE_CHECK(!non_empty.empty(), "sentencepiece training for '{}': no non-empty sentences",
                     output_model);
  std::vector<int64_t> chosen;
  for (const int64_t k : sample_sentence_indices(static_cast<int64_t>(non_empty.size()),
                                                 options.max_sentences, options.seed)) {
    chosen.push_back(non_empty[k]);
  }

  namespace fs = std::filesystem;
  const std::string stem = model_stem(output_model);
  const std::string vocab_path = stem + ".vocab";
  const fs::path parent = fs::path(output_model).parent_path();
  STURDY_USAGE_CHECK(parent.empty() || fs::is_directory(parent),
                     "--output: directory '{}' does not exist", parent.string());

  // The trainer returns the model in memory (model_prefix must then be empty),
  // so the model holds no path, two runs give identical bytes, and we write the
  // files atomically ourselves. The map form of Train() needs no quoting.
  const std::unordered_map<std::string, std::string> args = {
      {"model_prefix", ""},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"model_type", options.model_type},
      {"character_coverage", fmt::format("{}", options.character_coverage)},
      {"input_sentence_size", "0"},  // we sample (above): 0.1.97's sampler ignores the seed
      {"normalization_rule_name", options.normalization},
      {"byte_fallback", options.byte_fallback ? "true" : "false"},
      {"num_threads", std::to_string(options.num_threads)},
      {"max_sentence_length", "16384"},
      {"pad_id", "0"},
      {"unk_id", "1"},
      {"bos_id", "2"},
      {"eos_id", "3"},
      {"minloglevel", options.verbose ? "0" : "1"},
  };
  IndexedSentenceIterator sentences(texts, std::move(chosen));
  std::string model_bytes;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &sentences, &model_bytes);
  if (!status.ok()) {
    // Almost always the input: vocabulary too large for the corpus, bad rule name.
    throw UsageError(fmt::format("sentencepiece training for '{}' failed: {}", output_model,
                                 status.ToString()));
  }
  // The .vocab file (piece<TAB>score per line) is for people; nothing reads it back.
  sentencepiece::SentencePieceProcessor trained;
  const auto loaded = trained.LoadFromSerializedProto(model_bytes);
  STURDY_CHECK(loaded.ok(), "sentencepiece trained an unloadable model: {}", loaded.ToString());
  std::string vocab;
  for (int id = 0; id < trained.GetPieceSize(); ++id) {
    vocab += fmt::format("{}\t{}\n", trained.IdToPiece(id), trained.GetScore(id));
  }
  write_file_atomically(vocab_path, vocab);
  write_file_atomically(output_model, model_bytes);  // last: the .model appearing means complete
}
