// Tokenizers: bytes, sentencepiece (train + load), llama2.c tok*.bin, make_tokenizer.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <unistd.h>

#include <sentencepiece_trainer.h>

#include "sturdy/core/error.h"
#include "sturdy/text/tokenizer.h"
#include "shared_data.h"

namespace fs = std::filesystem;
using sturdy::Tokenizer;
using sturdy::UsageError;

namespace {

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            (std::string("sturdy_text_") + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Message of the UsageError `fn` throws ("" and a test failure when none is thrown).
template <typename Fn>
std::string usage_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a UsageError";
  return "";
}

// Deterministic sentences over ~500 pseudo-words built from syllables: enough
// structure (and distinct pieces) for sentencepiece to learn a few hundred pieces.
std::vector<std::string> synthetic_sentences(size_t count, uint32_t seed) {
  static const char* kSyllables[] = {"the", "mo", "vie", "ka", "ri", "lo", "ve", "an", "dul",
                                     "ing", "er", "pla", "ted", "sto", "ry", "fun", "ny", "bo",
                                     "re", "di", "ct", "or", "mu", "sic", "en", "a", "is", "not"};
  std::mt19937 words_rng(12345);  // the same lexicon for every seed
  std::vector<std::string> lexicon;
  for (int w = 0; w < 500; ++w) {
    std::string word;
    for (size_t k = 1 + words_rng() % 3; k > 0; --k) word += kSyllables[words_rng() % std::size(kSyllables)];
    lexicon.push_back(word);
  }
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) {
    std::string s;
    for (size_t w = 0, n = 3 + rng() % 12; w < n; ++w) {
      if (w) s += ' ';
      // Skewed word frequencies, like natural text.
      s += lexicon[std::min(rng() % lexicon.size(), rng() % lexicon.size())];
    }
    out.push_back(s);
  }
  return out;
}

// Runs `tok` over `texts` from 8 threads at once and checks every result against
// a single-threaded pass.
void expect_thread_safe(const Tokenizer& tok, const std::vector<std::string>& texts) {
  std::vector<std::vector<int32_t>> expected;
  for (const auto& t : texts) expected.push_back(tok.encode(t));
  std::vector<int> mismatches(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = t; i < texts.size() + t; ++i) {
          const size_t k = i % texts.size();
          const auto ids = tok.encode(texts[k]);
          if (ids != expected[k] || tok.decode(ids) != tok.decode(expected[k])) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

// ---------------------------------------------------------------- bytes

TEST(BytesTokenizer, IdsAreBytesShiftedPastFourSpecials) {
  const auto tok = sturdy::make_bytes_tokenizer();
  EXPECT_EQ(tok->kind(), "bytes");
  EXPECT_EQ(tok->vocab_size(), 260);
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->encode("Ab"), (std::vector<int32_t>{'A' + 4, 'b' + 4}));
  EXPECT_EQ(tok->encode("\xC3\xA9"), (std::vector<int32_t>{0xC3 + 4, 0xA9 + 4}));  // é
  EXPECT_EQ(tok->encode(std::string("\0\xFF", 2)), (std::vector<int32_t>{4, 259}));
  EXPECT_TRUE(tok->encode("").empty());
}

TEST(BytesTokenizer, DecodeInvertsEncodeOnArbitraryBytes) {
  const auto tok = sturdy::make_bytes_tokenizer();
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::string s(rng() % 64, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xFF);  // invalid UTF-8 included
    EXPECT_EQ(tok->decode(tok->encode(s)), s);
  }
}

TEST(BytesTokenizer, DecodeDropsPadBosEosAndMarksUnknownIds) {
  const auto tok = sturdy::make_bytes_tokenizer();
  EXPECT_EQ(tok->decode({1, 'h' + 4, 'i' + 4, 2, 0, 0}), "hi");
  EXPECT_EQ(tok->decode({'a' + 4, 3, 260, -5, 'b' + 4}), "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b");
}

TEST(BytesTokenizer, ThreadSafe) {
  expect_thread_safe(*sturdy::make_bytes_tokenizer(), synthetic_sentences(200, 3));
}

// ---------------------------------------------------------------- make_tokenizer

TEST(MakeTokenizer, BuildsBytes) {
  sturdy::TokenizerConfig config;
  config.kind = "bytes";
  EXPECT_EQ(sturdy::make_tokenizer(config)->kind(), "bytes");
}

TEST(MakeTokenizer, UnknownKindNamesKeyAndValidKinds) {
  sturdy::TokenizerConfig config;
  config.kind = "wordpiece";
  const auto message = usage_error_of([&] { sturdy::make_tokenizer(config); });
  EXPECT_NE(message.find("tokenizer.kind"), std::string::npos) << message;
  EXPECT_NE(message.find("wordpiece"), std::string::npos) << message;
  EXPECT_NE(message.find("bytes, sentencepiece, llama2c"), std::string::npos) << message;
}

TEST(MakeTokenizer, MissingOrEmptyPathNamesKey) {
  for (const std::string kind : {"sentencepiece", "llama2c"}) {
    sturdy::TokenizerConfig config;
    config.kind = kind;
    auto message = usage_error_of([&] { sturdy::make_tokenizer(config); });
    EXPECT_NE(message.find("tokenizer.path"), std::string::npos) << message;
    config.path = "/nonexistent/dir/t.model";
    message = usage_error_of([&] { sturdy::make_tokenizer(config); });
    EXPECT_NE(message.find("tokenizer.path"), std::string::npos) << message;
    EXPECT_NE(message.find("/nonexistent/dir/t.model"), std::string::npos) << message;
  }
}

TEST(MakeTokenizer, GarbageSentencePieceModelIsUsageError) {
  TempDir dir;
  const auto path = dir.file("garbage.model");
  std::ofstream(path) << "this is not a protobuf";
  sturdy::TokenizerConfig config{"sentencepiece", path};
  const auto message = usage_error_of([&] { sturdy::make_tokenizer(config); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

// ---------------------------------------------------------------- llama2c

struct TokEntry {
  std::string piece;
  float score;
};

void write_tok_bin(const std::string& path, const std::vector<TokEntry>& entries) {
  std::ofstream out(path, std::ios::binary);
  int32_t max_len = 1;
  for (const auto& e : entries) max_len = std::max<int32_t>(max_len, static_cast<int32_t>(e.piece.size()));
  out.write(reinterpret_cast<const char*>(&max_len), 4);
  for (const auto& e : entries) {
    const auto len = static_cast<int32_t>(e.piece.size());
    out.write(reinterpret_cast<const char*>(&e.score), 4);
    out.write(reinterpret_cast<const char*>(&len), 4);
    out.write(e.piece.data(), len);
  }
}

// Reads a tok.bin back and encodes like llama2.c's run.c encode(): rescans for the
// best pair after every merge. The reference the heap-based encoder must match.
struct ReferenceLlama2c {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::unordered_map<std::string, int> lookup;

  explicit ReferenceLlama2c(const std::string& path) {
    const std::string data = read_all(path);
    size_t off = 4;
    while (off < data.size()) {
      float score;
      int32_t len;
      std::memcpy(&score, data.data() + off, 4);
      std::memcpy(&len, data.data() + off + 4, 4);
      pieces.emplace_back(data.data() + off + 8, len);
      scores.push_back(score);
      off += 8 + len;
    }
    for (size_t i = 0; i < pieces.size(); ++i) lookup.emplace(pieces[i], static_cast<int>(i));
  }
  int find(const std::string& s) const {
    auto it = lookup.find(s);
    return it == lookup.end() ? -1 : it->second;
  }
  std::vector<int32_t> encode(const std::string& text) const {
    std::vector<int32_t> t;
    if (text.empty()) return t;
    const std::string all = " " + text;
    for (size_t i = 0; i < all.size();) {
      size_t n = 1;
      const auto c = static_cast<unsigned char>(all[i]);
      if (c >= 0xF0) n = 4; else if (c >= 0xE0) n = 3; else if (c >= 0xC0) n = 2;
      n = std::min(n, all.size() - i);
      const int id = find(all.substr(i, n));
      if (id >= 0) {
        t.push_back(id);
      } else {
        for (size_t k = 0; k < n; ++k) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "<0x%02X>", static_cast<unsigned char>(all[i + k]));
          const int b = find(buf);
          t.push_back(b >= 0 ? b : 0);
        }
      }
      i += n;
    }
    while (true) {
      float best = -1e10f;
      int best_id = -1, best_i = -1;
      for (size_t i = 0; i + 1 < t.size(); ++i) {
        const int id = find(pieces[t[i]] + pieces[t[i + 1]]);
        if (id >= 0 && scores[id] > best) {
          best = scores[id];
          best_id = id;
          best_i = static_cast<int>(i);
        }
      }
      if (best_i < 0) break;
      t[best_i] = best_id;
      t.erase(t.begin() + best_i + 1);
    }
    return t;
  }
};

// unk, bos, eos, 256 byte pieces, then characters and merges (scores favour longer pieces).
std::vector<TokEntry> tiny_vocab() {
  std::vector<TokEntry> v = {{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    v.push_back({buf, 0});
  }
  for (const char* c : {" ", "a", "b", "c", "d"}) v.push_back({c, -10});
  v.push_back({"\xC3\xA9", -10});  // é is a character piece; other non-ASCII uses bytes
  v.push_back({" a", -1});
  v.push_back({"ab", -2});
  v.push_back({"bc", -2});  // ties with "ab": the leftmost pair wins
  v.push_back({" ab", -3});
  v.push_back({"abc", -4});
  v.push_back({"cd", -5});
  v.push_back({"dd", -6});
  return v;
}

TEST(Llama2cTokenizer, TinyVocabularyMergesByScore) {
  TempDir dir;
  const auto path = dir.file("tok.bin");
  const auto vocab = tiny_vocab();
  write_tok_bin(path, vocab);
  const auto tok = sturdy::load_llama2c_tokenizer(path);
  auto id_of = [&](const std::string& piece) {
    for (size_t i = 0; i < vocab.size(); ++i) if (vocab[i].piece == piece) return static_cast<int32_t>(i);
    return int32_t{-1};
  };
  EXPECT_EQ(tok->kind(), "llama2c");
  EXPECT_EQ(tok->vocab_size(), static_cast<int64_t>(vocab.size()));
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  // " abc": " a" (-1) first; then "bc" (-2) beats " a"+"b" = " ab" (-3).
  EXPECT_EQ(tok->encode("abc"), (std::vector<int32_t>{id_of(" a"), id_of("bc")}));
  // " cabc": "ab"/"bc" tie at -2, leftmost "ab" wins, then "abc".
  EXPECT_EQ(tok->encode("cabc"), (std::vector<int32_t>{id_of(" "), id_of("c"), id_of("abc")}));
  // é is a piece; ü is not, so it falls back to its bytes.
  EXPECT_EQ(tok->encode("\xC3\xA9\xC3\xBC"),
            (std::vector<int32_t>{id_of(" "), id_of("\xC3\xA9"), id_of("<0xC3>"), id_of("<0xBC>")}));
  EXPECT_TRUE(tok->encode("").empty());
  EXPECT_EQ(tok->decode(tok->encode("abc")), "abc");
  EXPECT_EQ(tok->decode({1, id_of(" ab"), id_of("c"), 2}), "abc");           // space dropped after bos
  EXPECT_EQ(tok->decode({id_of("c"), id_of(" ab")}), "c ab");                // kept mid-text
  EXPECT_EQ(tok->decode({id_of("<0xC3>"), id_of("<0xBC>")}), "\xC3\xBC");    // raw bytes
  EXPECT_EQ(tok->decode({id_of("a"), 0, 100000}), "a\xEF\xBF\xBD\xEF\xBF\xBD");  // unk, out of range
}

TEST(Llama2cTokenizer, MatchesReferenceEncoderAndRoundTrips) {
  TempDir dir;
  const auto path = dir.file("tok.bin");
  write_tok_bin(path, tiny_vocab());
  const auto tok = sturdy::load_llama2c_tokenizer(path);
  const ReferenceLlama2c reference(path);
  std::mt19937 rng(11);
  const std::vector<std::string> alphabet = {"a", "b", "c", "d", " ", "\xC3\xA9", "\xC3\xBC", "x", "\n"};
  for (int trial = 0; trial < 500; ++trial) {
    std::string s;
    for (size_t n = rng() % 24; n > 0; --n) s += alphabet[rng() % alphabet.size()];
    const auto ids = tok->encode(s);
    ASSERT_EQ(ids, reference.encode(s)) << "text: '" << s << "'";
    EXPECT_EQ(tok->decode(ids), s);
  }
}

TEST(Llama2cTokenizer, WithoutBytePiecesUnknownCharactersAreUnk) {
  TempDir dir;
  const auto path = dir.file("tok.bin");
  write_tok_bin(path, {{"<unk>", 0}, {"<s>", 0}, {"</s>", 0}, {" ", -1}, {"a", -1}});
  const auto tok = sturdy::load_llama2c_tokenizer(path);
  EXPECT_EQ(tok->encode("a\xC3\xBC"), (std::vector<int32_t>{3, 4, 0, 0}));
}

TEST(Llama2cTokenizer, CorruptFilesNameFileAndOffset) {
  TempDir dir;
  const auto good = dir.file("good.bin");
  write_tok_bin(good, tiny_vocab());
  const std::string data = read_all(good);
  auto write = [&](const std::string& name, const std::string& bytes) {
    const auto p = dir.file(name);
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  };
  struct Case {
    std::string name, bytes, expect;
  };
  std::string huge_length = data.substr(0, 4);
  const float score = 0;
  const int32_t len = 1 << 30;  // claims 1 GiB: must be rejected before allocating
  huge_length.append(reinterpret_cast<const char*>(&score), 4).append(reinterpret_cast<const char*>(&len), 4);
  std::string negative = huge_length;
  const int32_t minus = -3;
  std::memcpy(&negative[8], &minus, 4);
  std::string nan_score = data;
  const float nan = std::nanf("");
  std::memcpy(&nan_score[4], &nan, 4);
  const std::vector<Case> cases = {
      {"empty.bin", "", "at byte 0"},
      {"short.bin", data.substr(0, 2), "at byte 0"},
      {"huge.bin", huge_length, "at byte 8"},
      {"negative.bin", negative, "at byte 8"},
      {"cut.bin", data.substr(0, data.size() - 2), "bytes remain"},
      {"cut_header.bin", data.substr(0, 4 + 8 + 5 + 6), "truncated token length"},
      {"nan.bin", nan_score, "NaN score at byte 4"},
      {"two_tokens.bin", data.substr(0, 4 + 8 + 5 + 8 + 5), "need at least"},
  };
  for (const auto& c : cases) {
    const auto path = write(c.name, c.bytes);
    const auto message = usage_error_of([&] { sturdy::load_llama2c_tokenizer(path); });
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(c.expect), std::string::npos) << c.name << ": " << message;
  }
}

TEST(Llama2cTokenizer, Stories260kTok512) {
  const std::string path = shared_data_dir() + "/stories260k/tok512.bin";
  if (!fs::exists(path)) GTEST_SKIP() << path << " not present (optional shared data; STURDY_SHARED_DATA)";
  sturdy::TokenizerConfig config{"llama2c", path};
  const auto tok = sturdy::make_tokenizer(config);
  EXPECT_EQ(tok->vocab_size(), 512);
  const ReferenceLlama2c reference(path);
  for (const std::string text : {"Once upon a time", "Once upon a time, there was a little girl named Lily.",
                                 "She said: \"Héllo wörld!\" 123\n", "  two leading spaces", "日本"}) {
    const auto ids = tok->encode(text);
    EXPECT_EQ(ids, reference.encode(text)) << text;
    EXPECT_EQ(tok->decode(ids), text);
    EXPECT_EQ(tok->decode([&] { auto v = ids; v.insert(v.begin(), 1); return v; }()), text);
  }
  const auto once = tok->encode("Once upon a time");
  EXPECT_LT(once.size(), 10u);  // merged well below the 17 characters
  EXPECT_EQ(reference.pieces[once[0]][0], ' ');  // the dummy prefix merged into the first word
  expect_thread_safe(*tok, synthetic_sentences(100, 5));
}

// ---------------------------------------------------------------- sentencepiece

sturdy::SentencePieceTrainOptions small_options(const std::string& type = "unigram") {
  sturdy::SentencePieceTrainOptions options;
  options.vocab_size = 120;
  options.model_type = type;
  options.character_coverage = 1.0;
  return options;
}

TEST(SentencePiece, TrainsWithReservedIdsAndRoundTrips) {
  TempDir dir;
  const auto texts = synthetic_sentences(3000, 1);
  for (const std::string type : {"unigram", "bpe"}) {
    const auto model = dir.file(type + ".model");
    sturdy::train_sentencepiece(texts, model, small_options(type));
    ASSERT_TRUE(fs::exists(model));
    EXPECT_TRUE(fs::exists(dir.file(type + ".vocab")));
    const auto tok = sturdy::make_tokenizer({"sentencepiece", model});
    EXPECT_EQ(tok->kind(), "sentencepiece");
    EXPECT_EQ(tok->vocab_size(), 120);
    EXPECT_EQ(tok->pad_id(), 0);
    EXPECT_EQ(tok->bos_id(), 2);
    EXPECT_EQ(tok->eos_id(), 3);
    for (size_t i = 0; i < 50; ++i) {
      const auto ids = tok->encode(texts[i]);
      EXPECT_LT(ids.size(), texts[i].size());  // pieces longer than one character were learned
      for (const int32_t id : ids) EXPECT_GE(id, 4);
      EXPECT_EQ(tok->decode(ids), texts[i]);
    }
    // Unseen characters are unk (id 1) without byte fallback; out-of-range ids show as U+FFFD.
    EXPECT_EQ(tok->encode("\xE2\x98\x83").back(), 1);
    EXPECT_EQ(tok->decode({tok->encode("the")[0], 100000}), "the\xEF\xBF\xBD");
    EXPECT_EQ(tok->decode({2, tok->encode("the")[0], 3, 0}), "the");
  }
  // Only the outputs remain: no temporary files.
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
    ++files;
  }
  EXPECT_EQ(files, 4u);
}

TEST(SentencePiece, TrainingIsBitIdenticalAcrossRuns) {
  TempDir dir;
  const auto texts = synthetic_sentences(3000, 2);
  auto options = small_options();
  options.max_sentences = 1000;  // sampling is seeded too
  const auto model = dir.file("t.model"), vocab = dir.file("t.vocab");
  sturdy::train_sentencepiece(texts, model, options);
  const std::string first_model = read_all(model), first_vocab = read_all(vocab);
  sturdy::train_sentencepiece(texts, model, options);  // replaces the files in place
  // Compare sizes and equality without printing 100 KB of protobuf on failure.
  EXPECT_EQ(read_all(model).size(), first_model.size());
  EXPECT_TRUE(read_all(model) == first_model);
  EXPECT_TRUE(read_all(vocab) == first_vocab);
  EXPECT_EQ(first_model.find(dir.path().string()), std::string::npos) << "a path leaked into the model";
  options.seed = 2;
  sturdy::train_sentencepiece(texts, model, options);
  EXPECT_FALSE(read_all(model) == first_model) << "the seed should change the 1000-sentence sample";
}

TEST(SentencePiece, ByteFallbackKeepsUnseenCharacters) {
  TempDir dir;
  auto options = small_options();
  options.vocab_size = 400;
  options.byte_fallback = true;
  const auto model = dir.file("bf.model");
  sturdy::train_sentencepiece(synthetic_sentences(3000, 4), model, options);
  const auto tok = sturdy::load_sentencepiece_tokenizer(model);
  const std::string text = "the \xE2\x98\x83 movie";
  const auto ids = tok->encode(text);
  for (const int32_t id : ids) EXPECT_NE(id, 1) << "unk";
  EXPECT_EQ(tok->decode(ids), text);
}

TEST(SentencePiece, BadInputsAreUsageErrorsAndLeaveNoFiles) {
  TempDir dir;
  const auto texts = synthetic_sentences(200, 3);
  auto options = small_options();
  options.model_type = "wordpiece";
  EXPECT_NE(usage_error_of([&] { sturdy::train_sentencepiece(texts, dir.file("x.model"), options); })
                .find("unigram, bpe"),
            std::string::npos);
  options = small_options();
  options.vocab_size = 50000;  // far more than this corpus has pieces
  const auto message =
      usage_error_of([&] { sturdy::train_sentencepiece(texts, dir.file("x.model"), options); });
  EXPECT_NE(message.find("x.model"), std::string::npos) << message;
  EXPECT_NE(usage_error_of([&] { sturdy::train_sentencepiece({"", ""}, dir.file("x.model"), small_options()); })
                .find("no non-empty"),
            std::string::npos);
  EXPECT_NE(usage_error_of([&] {
              sturdy::train_sentencepiece(texts, dir.file("missing/x.model"), small_options());
            }).find("does not exist"),
            std::string::npos);
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(SentencePiece, ForeignModelWithoutPadFallsBackToUnk) {
  TempDir dir;
  const auto texts = synthetic_sentences(2000, 6);
  // A model trained with sentencepiece's defaults: unk=0 bos=1 eos=2, no pad piece.
  struct Iterator : sentencepiece::SentenceIterator {
    const std::vector<std::string>& texts;
    size_t i = 0;
    explicit Iterator(const std::vector<std::string>& t) : texts(t) {}
    bool done() const override { return i >= texts.size(); }
    void Next() override { ++i; }
    const std::string& value() const override { return texts[i]; }
    sentencepiece::util::Status status() const override { return {}; }
  } iterator(texts);
  const auto prefix = dir.file("foreign");
  ASSERT_TRUE(sentencepiece::SentencePieceTrainer::Train(
                  {{"model_prefix", prefix}, {"vocab_size", "100"}, {"minloglevel", "2"}}, &iterator)
                  .ok());
  const auto tok = sturdy::load_sentencepiece_tokenizer(prefix + ".model");
  EXPECT_EQ(tok->pad_id(), 0);  // the unk id
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
}

TEST(SentencePiece, SampleIndicesAreSeededSortedAndUnique) {
  EXPECT_EQ(sturdy::sample_sentence_indices(5, 10, 1), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  const auto a = sturdy::sample_sentence_indices(1000, 100, 1);
  ASSERT_EQ(a.size(), 100u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::adjacent_find(a.begin(), a.end()), a.end());
  EXPECT_GE(a.front(), 0);
  EXPECT_LT(a.back(), 1000);
  EXPECT_EQ(a, sturdy::sample_sentence_indices(1000, 100, 1));
  EXPECT_NE(a, sturdy::sample_sentence_indices(1000, 100, 2));
  EXPECT_LT(a.front(), 100);  // spread over the corpus, not the first rows only
  EXPECT_GT(a.back(), 900);
}

TEST(SentencePiece, ThreadSafe) {
  TempDir dir;
  const auto texts = synthetic_sentences(3000, 8);
  for (const std::string type : {"unigram", "bpe"}) {
    const auto model = dir.file(type + ".model");
    sturdy::train_sentencepiece(texts, model, small_options(type));
    expect_thread_safe(*sturdy::load_sentencepiece_tokenizer(model),
                       std::vector<std::string>(texts.begin(), texts.begin() + 300));
  }
}

// Subword regularisation: a keyed draw among the n-best segmentations.
TEST(SentencePiece, SampledSegmentationsAreKeyedAndDecodeToTheText) {
  TempDir dir;
  const auto texts = synthetic_sentences(3000, 9);
  const auto model = dir.file("u.model");
  sturdy::train_sentencepiece(texts, model, small_options());
  const auto tok = sturdy::load_sentencepiece_tokenizer(model);
  ASSERT_TRUE(tok->samples_segmentations());
  size_t distinct_total = 0, best_at_low = 0, best_at_high = 0;
  const size_t n = 60, keys = 40;
  for (size_t i = 0; i < n; ++i) {
    const auto best = tok->encode(texts[i]);
    std::set<std::vector<int32_t>> distinct;
    for (uint64_t key = 0; key < keys; ++key) {
      const auto ids = tok->encode_sampled(texts[i], 32, 0.1, key);
      ASSERT_EQ(tok->decode(ids), texts[i]) << "text " << i << " key " << key;
      EXPECT_EQ(ids, tok->encode_sampled(texts[i], 32, 0.1, key)) << "same key, another draw";
      distinct.insert(ids);
      best_at_low += ids == best;
      best_at_high += tok->encode_sampled(texts[i], 32, 1.0, key) == best;
    }
    distinct_total += distinct.size();
    // A very sharp distribution keeps the best (Viterbi) segmentation; off means encode().
    EXPECT_EQ(tok->encode_sampled(texts[i], 32, 1000.0, 1), best);
    EXPECT_EQ(tok->encode_sampled(texts[i], 32, 0.0, 1), best);
    EXPECT_EQ(tok->encode_sampled(texts[i], 1, 0.1, 1), best);
  }
  EXPECT_GT(distinct_total, 3 * n) << "keys should reach several segmentations per text";
  // A larger alpha concentrates the draws on the best segmentation.
  EXPECT_LT(best_at_low, best_at_high);
  EXPECT_GT(best_at_high, n * keys / 10);

  // The draw depends on the key alone: 8 threads in any order agree with a serial pass.
  std::vector<std::vector<int32_t>> serial;
  for (size_t i = 0; i < 200; ++i) serial.push_back(tok->encode_sampled(texts[i], 32, 0.1, i * 7));
  std::vector<int> mismatches(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (size_t j = 0; j < serial.size(); ++j) {
        const size_t i = (j * 13 + t * 29) % serial.size();
        mismatches[t] += tok->encode_sampled(texts[i], 32, 0.1, i * 7) != serial[i];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(SentencePiece, SamplingNeedsAUnigramModel) {
  TempDir dir;
  const auto model = dir.file("b.model");
  sturdy::train_sentencepiece(synthetic_sentences(3000, 10), model, small_options("bpe"));
  const auto tok = sturdy::load_sentencepiece_tokenizer(model);
  EXPECT_FALSE(tok->samples_segmentations());
  EXPECT_EQ(tok->encode_sampled("the movie", 32, 0.0, 1), tok->encode("the movie"));  // off: fine
  const auto message = usage_error_of([&] { tok->encode_sampled("the movie", 32, 0.1, 1); });
  EXPECT_NE(message.find("augment.subword_alpha"), std::string::npos) << message;
  EXPECT_NE(message.find(model), std::string::npos) << message;
  // Tokenizers with one segmentation per text return it.
  const auto bytes = sturdy::make_bytes_tokenizer();
  EXPECT_FALSE(bytes->samples_segmentations());
  EXPECT_EQ(bytes->encode_sampled("abc", 32, 0.5, 3), bytes->encode("abc"));
}

}  // namespace
