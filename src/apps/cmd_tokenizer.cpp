// `sturdy tokenizer train`: HDF5 corpus -> sentencepiece .model (+ .vocab).
//
// Reads only the sampled rows (at most --max-sentences, chosen by a seeded hash
// of the row index), trains in memory and writes the model atomically.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "sturdy/core/error.h"
#include "sturdy/data/corpus.h"
#include "sturdy/text/tokenizer.h"

namespace sturdy::apps {
namespace {

struct TrainArgs {
  std::string corpus;
  std::string output;
  SentencePieceTrainOptions options;
};

void run_train(const TrainArgs& args) {
  const auto& o = args.options;
  STURDY_USAGE_CHECK(o.model_type == "unigram" || o.model_type == "bpe",
                     "--model-type: unknown '{}' (valid: unigram, bpe)", o.model_type);
  STURDY_USAGE_CHECK(o.vocab_size >= 8, "--vocab-size: {} is too small (at least 8)", o.vocab_size);
  STURDY_USAGE_CHECK(o.max_sentences > 0, "--max-sentences: must be positive, got {}", o.max_sentences);

  const auto start = std::chrono::steady_clock::now();
  CorpusReader reader(args.corpus);
  const std::vector<int64_t> rows = sample_sentence_indices(reader.size(), o.max_sentences, o.seed);
  std::vector<std::string> texts;
  texts.reserve(rows.size());
  constexpr size_t kChunk = 8192;  // rows per read: bounded memory for the index list
  for (size_t begin = 0; begin < rows.size(); begin += kChunk) {
    const std::vector<int64_t> chunk(rows.begin() + begin,
                                     rows.begin() + std::min(rows.size(), begin + kChunk));
    for (auto& example : reader.read(chunk)) texts.push_back(std::move(example.text));
  }
  STURDY_USAGE_CHECK(!texts.empty(), "--corpus: '{}' has no examples", args.corpus);

  train_sentencepiece(texts, args.output, o);
  const auto tokenizer = load_sentencepiece_tokenizer(args.output);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: sentencepiece %s, vocabulary %lld, trained on %zu of %lld examples in %.1f s\n",
              args.output.c_str(), o.model_type.c_str(),
              static_cast<long long>(tokenizer->vocab_size()), texts.size(),
              static_cast<long long>(reader.size()), seconds);
}

}  // namespace

void register_tokenizer(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand("tokenizer", "Tokenizer tools");
  cmd->require_subcommand(1);
  auto* train = cmd->add_subcommand("train", "Train a sentencepiece tokenizer on an HDF5 corpus");
  auto args = std::make_shared<TrainArgs>();
  auto& o = args->options;
  train->add_option("--corpus", args->corpus, "HDF5 corpus (sturdy prepare)")->required();
  train->add_option("--vocab-size", o.vocab_size, "Vocabulary size, special pieces included")->required();
  train->add_option("--output", args->output, "Output model T.model (T.vocab is written beside it)")
      ->required();
  train->add_option("--model-type", o.model_type, "unigram | bpe")->capture_default_str();
  train->add_option("--max-sentences", o.max_sentences,
                    "Train on a seeded sample of at most this many examples")
      ->capture_default_str();
  train->add_option("--character-coverage", o.character_coverage,
                    "Share of characters covered by the vocabulary (rest: unk or bytes)")
      ->capture_default_str();
  train->add_option("--normalization", o.normalization,
                    "sentencepiece normalization rule: nmt_nfkc | nfkc | identity | ...")
      ->capture_default_str();
  train->add_flag("--byte-fallback", o.byte_fallback,
                  "Spell unknown characters as <0xXX> byte pieces instead of unk");
  train->add_option("--seed", o.seed, "Seed of the sentence sample")->capture_default_str();
  train->add_option("--threads", o.num_threads,
                    "Trainer threads (the unigram result depends on this number)")
      ->capture_default_str();
  train->add_flag("--verbose", o.verbose, "Show sentencepiece's training log");
  train->callback([args, exit_code] {
    run_train(*args);
    *exit_code = 0;
  });
}

}  // namespace sturdy::apps
