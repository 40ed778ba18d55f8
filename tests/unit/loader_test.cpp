// The training loader's tokenization under subword sampling (augment.subword_alpha): every
// row decodes to its text, the segmentation is a function of (seed, epoch, example id, view)
// only — the same on 1 or 2 ranks and with 1 or 3 worker threads — and it does vary with the
// epoch and between the training text and the consistency view; with the LM head it re-segments
// the prompt only, never the scored continuation.
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>

#include <gtest/gtest.h>

#include "sturdy/core/error.h"
#include "sturdy/data/corpus.h"
#include "sturdy/data/loader.h"
#include "sturdy/data/sampler.h"
#include "sturdy/text/tokenizer.h"
#include "sturdy/train/trainer.h"

namespace fs = std::filesystem;

namespace sturdy {
namespace {

constexpr int64_t kExamples = 64, kGlobal = 16;

class LoaderSubwordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sturdy_loader_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // Sentences over a small lexicon of syllable words: a 120-piece unigram model then has
    // several segmentations for most words.
    static const char* kSyllables[] = {"the", "mo", "vie", "ka", "ri", "lo", "ve", "an", "dul", "ing",
                                       "er", "pla", "ted", "sto", "ry", "fun", "ny", "bo", "re", "di"};
    std::mt19937 rng(5);
    std::vector<std::string> lexicon;
    for (int w = 0; w < 300; ++w) {
      std::string word;
      for (size_t k = 2 + rng() % 3; k > 0; --k) word += kSyllables[rng() % std::size(kSyllables)];
      lexicon.push_back(word);
    }
    std::vector<std::string> sentences;
    for (int i = 0; i < 2000; ++i) {
      std::string s;
      for (size_t w = 0, n = 4 + rng() % 8; w < n; ++w) s += (w ? " " : "") + lexicon[std::min(rng() % 300, rng() % 300)];
      sentences.push_back(s);
    }
    SentencePieceTrainOptions options;
    options.vocab_size = 120;
    options.character_coverage = 1.0;
    train_sentencepiece(sentences, path("t.model"), options);
    tokenizer_ = std::shared_ptr<const Tokenizer>(load_sentencepiece_tokenizer(path("t.model")));
    CorpusWriter writer(path("c.h5"), {"neg", "pos"}, "loader_test", "");
    for (int64_t i = 0; i < kExamples; ++i) {
      texts_[1000 + i] = sentences[i];
      writer.add(sentences[i], static_cast<int32_t>(i % 2), 1000 + i);
    }
    writer.finish();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // (epoch, example id, view) -> token row, over `steps` steps read by every rank of `world`.
  std::map<std::tuple<int64_t, int64_t, int>, std::vector<int32_t>> rows(int world, int64_t workers,
                                                                          SubwordSampling subword,
                                                                          int64_t steps) const {
    auto sampler = std::make_shared<const GlobalSampler>(kExamples, kGlobal, 7);
    std::map<std::tuple<int64_t, int64_t, int>, std::vector<int32_t>> out;
    for (int rank = 0; rank < world; ++rank) {
      LoaderOptions o;
      o.micro_batch = kGlobal / world;
      o.max_length = 512;  // no truncation: every row must decode to its whole text
      o.workers = workers;
      o.rank = rank;
      o.world = world;
      o.subword = subword;
      // An identity view: any difference between the views is the segmentation's.
      Loader loader(path("c.h5"), tokenizer_, sampler, o, nullptr,
                    [](std::string_view text, uint64_t, uint64_t) { return std::string(text); });
      loader.start(0);
      for (int64_t s = 0; s < steps; ++s) {
        const Batch batch = loader.next();
        for (const Batch* b : {&batch, static_cast<const Batch*>(batch.perturbed.get())}) {
          const int view = b == &batch ? 0 : 1;
          for (size_t i = 0; i < b->example_ids.size(); ++i) {
            std::vector<int32_t> row;
            for (int64_t t = 0; t < b->ids.size(1); ++t) {
              if (b->mask[i][t].item<bool>()) row.push_back(static_cast<int32_t>(b->ids[i][t].item<int64_t>()));
            }
            out[{batch.epoch, b->example_ids[i], view}] = row;
          }
        }
      }
    }
    return out;
  }

  fs::path dir_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  std::map<int64_t, std::string> texts_;
};

TEST_F(LoaderSubwordTest, SegmentationIsKeyedByExampleNotRankOrThread) {
  ASSERT_TRUE(tokenizer_->samples_segmentations());
  // A flat distribution (small alpha): this model keeps its frequent words whole, and with a
  // larger alpha their best segmentation would win most draws.
  const SubwordSampling subword{0.02, 32, 11};
  const int64_t steps = 2 * kExamples / kGlobal;  // two epochs
  const auto one = rows(1, 1, subword, steps);
  ASSERT_EQ(one.size(), static_cast<size_t>(2 * kExamples * 2));
  EXPECT_EQ(rows(2, 1, subword, steps), one) << "2 ranks segment differently from 1";
  EXPECT_EQ(rows(1, 3, subword, steps), one) << "3 loader threads segment differently from 1";

  int sampled = 0, across_epochs = 0, across_views = 0;
  for (const auto& [key, row] : one) {
    const auto& [epoch, id, view] = key;
    const std::string& text = texts_.at(id);
    EXPECT_EQ(tokenizer_->decode(row), text) << "example " << id;
    sampled += row != tokenizer_->encode(text);
    if (epoch == 0) across_epochs += row != one.at({1, id, view});
    if (view == 0) across_views += row != one.at({epoch, id, 1});
  }
  // Most rows differ from the best segmentation, and draws differ between epochs and views.
  EXPECT_GT(sampled, static_cast<int>(one.size()) / 2);
  EXPECT_GT(across_epochs, kExamples);        // of 2 * 64 (example, view) pairs
  EXPECT_GT(across_views, kExamples);         // of 2 * 64 (epoch, example) pairs

  // Off (the default): every row is the tokenizer's encode().
  for (const auto& [key, row] : rows(1, 1, SubwordSampling{}, 4)) {
    EXPECT_EQ(row, tokenizer_->encode(texts_.at(std::get<1>(key))));
  }
}

// A BPE model lists one segmentation: `sturdy train` refuses subword sampling with it in
// resolve_config, before the run folder is touched.
TEST_F(LoaderSubwordTest, TrainingRefusesSamplingWithABpeModel) {
  SentencePieceTrainOptions options;
  options.vocab_size = 120;
  options.model_type = "bpe";
  options.character_coverage = 1.0;
  std::vector<std::string> texts;
  for (const auto& [id, text] : texts_) texts.push_back(text);
  for (int copy = 0; copy < 4; ++copy) texts.insert(texts.end(), texts.begin(), texts.begin() + kExamples);
  train_sentencepiece(texts, path("bpe.model"), options);
  Config c;
  c.data.train = path("c.h5");
  c.tokenizer = {"sentencepiece", path("bpe.model")};
  c.augment.subword_alpha = 0.1;
  try {
    resolve_config(c);
    ADD_FAILURE() << "expected a UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("augment.subword_alpha"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bpe.model"), std::string::npos) << e.what();
  }
  c.tokenizer.path = path("t.model");  // the unigram model is accepted
  EXPECT_EQ(resolve_config(c).augment.subword_alpha, 0.1);
}

// LM batches: sampling segments the (perturbable) prompt; the scored continuation is the same
// tokens as without sampling, so every view scores the same targets.
TEST_F(LoaderSubwordTest, LmSamplingLeavesTheScoredContinuationAlone) {
  auto sampler = std::make_shared<const GlobalSampler>(kExamples, kGlobal, 7);
  auto batches = [&](SubwordSampling subword) {
    LoaderOptions o;
    o.micro_batch = kGlobal;
    o.max_length = 512;
    o.lm = true;
    o.subword = subword;
    Loader loader(path("c.h5"), tokenizer_, sampler, o);
    loader.start(0);
    std::vector<Batch> out;
    for (int64_t s = 0; s < kExamples / kGlobal; ++s) out.push_back(loader.next());
    return out;
  };
  const auto plain = batches({}), sampled = batches({0.02, 32, 11});
  int prompts_resegmented = 0;
  for (size_t s = 0; s < plain.size(); ++s) {
    ASSERT_EQ(plain[s].example_ids, sampled[s].example_ids);
    for (size_t i = 0; i < plain[s].example_ids.size(); ++i) {
      std::vector<int64_t> targets_plain, targets_sampled, prompt_sampled, prompt_plain;
      auto split = [](const Batch& b, size_t row, std::vector<int64_t>& prompt, std::vector<int64_t>& targets) {
        bool scored = false;
        for (int64_t t = 0; t < b.ids.size(1); ++t) {
          if (!b.mask[row][t].item<bool>()) break;
          const int64_t label = b.labels[row][t].item<int64_t>();
          if (label != kIgnoreLabel) {
            targets.push_back(label);
            scored = true;
          }
          if (!scored) prompt.push_back(b.ids[row][t].item<int64_t>());
        }
      };
      split(plain[s], i, prompt_plain, targets_plain);
      split(sampled[s], i, prompt_sampled, targets_sampled);
      EXPECT_EQ(targets_plain, targets_sampled) << "example " << plain[s].example_ids[i];
      prompts_resegmented += prompt_plain != prompt_sampled;
    }
  }
  EXPECT_GT(prompts_resegmented, kExamples / 4);  // prompts are short: about half change
}

}  // namespace
}  // namespace sturdy
