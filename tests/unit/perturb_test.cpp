// Perturbation engine: each op on small known inputs, rate 0 is the identity, determinism
// across threads and orders, valid UTF-8 out for any input, measured rates near `rate`.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#include "sturdy/core/utf8.h"
#include "sturdy/perturb/perturber.h"
#include "sturdy/perturb/text.h"
#include "sturdy/perturb/word_edits.h"

namespace sturdy::perturb {
namespace {

std::shared_ptr<const Lexicons> lex() {
  static const auto l = Lexicons::builtin();
  return l;
}

bool have_wordnet() {
  try {
    lex()->wordnet();
    return true;
  } catch (const UsageError&) {
    return false;
  }
}

Perturber one(const std::string& op, double rate) { return Perturber({{op, rate}}, lex()); }

std::string run(const std::string& op, double rate, const std::string& text, uint64_t id = 0, uint64_t view = 0) {
  return one(op, rate).apply(text, 1, 0, id, view);
}

std::vector<std::string> split(const std::string& s, char sep = ' ') {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

std::u32string u32(const std::string& s) { return utf8::decode(s); }

// Word segmentation -------------------------------------------------------------------------

TEST(PerturbText, SegmentsWordsWithInternalApostrophes) {
  const std::u32string t = u32("Don't stop, naïve 42 'quoted' rock’n’roll!! -- ...");
  std::vector<WordSpan> words;
  segment_words(t, words);
  std::vector<std::string> got;
  for (const auto& w : words) got.push_back(utf8::encode(t.substr(w.begin, w.end - w.begin)));
  EXPECT_EQ(got, (std::vector<std::string>{"Don't", "stop", "naïve", "42", "quoted", "rock’n’roll"}));
}

TEST(PerturbText, CaseMappingAndShapes) {
  EXPECT_EQ(to_upper(U'é'), U'É');
  EXPECT_EQ(to_lower(U'Ж'), U'ж');
  EXPECT_EQ(to_upper(U'ß'), U'ß');  // no single-code-point upper case: left alone
  EXPECT_EQ(case_shape(u32("hello")), CaseShape::kLower);
  EXPECT_EQ(case_shape(u32("Hello")), CaseShape::kTitle);
  EXPECT_EQ(case_shape(u32("HELLO")), CaseShape::kUpper);
  EXPECT_EQ(case_shape(u32("hELLo")), CaseShape::kMixed);
  EXPECT_EQ(case_shape(u32("42")), CaseShape::kNoCase);
}

// Each op on known inputs -------------------------------------------------------------------

TEST(PerturbOps, NamesCoverDesign) {
  const auto& names = op_names();
  for (const char* op : {"keyboard", "swap", "delete", "insert", "substitute", "ocr", "homoglyph", "invisible",
                         "case", "space", "punct", "misspell", "synonym", "word_drop", "word_swap",
                         "word_repeat", "distractor"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), op), names.end()) << op;
  }
}

TEST(PerturbOps, KeyboardReplacesOneLetterWithANeighbour) {
  for (uint64_t id = 0; id < 50; ++id) {
    const std::string out = run("keyboard", 1.0, "cat", id);
    ASSERT_EQ(out.size(), 3u);
    int diffs = 0;
    for (size_t i = 0; i < 3; ++i) {
      if (out[i] == "cat"[i]) continue;
      ++diffs;
      const std::u32string* n = lex()->keyboard().find(static_cast<char32_t>("cat"[i]));
      ASSERT_NE(n, nullptr);
      EXPECT_NE(n->find(static_cast<char32_t>(out[i])), std::u32string::npos) << out;
    }
    EXPECT_EQ(diffs, 1) << out;
  }
  EXPECT_EQ(run("keyboard", 1.0, "CAT").size(), 3u);
  const std::string upper = run("keyboard", 1.0, "CAT");
  EXPECT_TRUE(std::all_of(upper.begin(), upper.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; })) << upper;
}

TEST(PerturbOps, SwapTransposesDifferentNeighbours) {
  EXPECT_EQ(run("swap", 1.0, "ab cd"), "ba dc");
  EXPECT_EQ(run("swap", 1.0, "aa"), "aa");  // nothing to swap: not eligible
  for (uint64_t id = 0; id < 20; ++id) {
    const std::string out = run("swap", 1.0, "word", id);
    EXPECT_NE(out, "word");
    std::string a = out, b = "word";
    std::sort(a.begin(), a.end()), std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b);
  }
}

TEST(PerturbOps, DeleteRemovesOneCharacterButNeverAWholeWord) {
  EXPECT_EQ(run("delete", 1.0, "a I"), "a I");
  const std::string out = run("delete", 1.0, "ab");
  EXPECT_TRUE(out == "a" || out == "b") << out;
  EXPECT_EQ(run("delete", 1.0, "hello").size(), 4u);
}

TEST(PerturbOps, InsertAddsOneCharacter) {
  for (uint64_t id = 0; id < 20; ++id) {
    const std::u32string out = u32(run("insert", 1.0, "cat", id));
    ASSERT_EQ(out.size(), 4u);
    bool found = false;
    for (size_t i = 0; i < 4; ++i) found |= out.substr(0, i) + out.substr(i + 1) == U"cat";
    EXPECT_TRUE(found) << utf8::encode(out);
  }
}

TEST(PerturbOps, SubstituteChangesOneLetterOrDigit) {
  for (uint64_t id = 0; id < 20; ++id) {
    const std::string out = run("substitute", 1.0, "Ab7", id);
    ASSERT_EQ(out.size(), 3u);
    int diffs = 0;
    for (size_t i = 0; i < 3; ++i) diffs += out[i] != "Ab7"[i];
    EXPECT_EQ(diffs, 1) << out;
    EXPECT_TRUE(out[0] >= 'A' && out[0] <= 'Z') << out;  // case kept
    EXPECT_TRUE(out[2] >= '0' && out[2] <= '9') << out;  // digit for digit
  }
}

TEST(PerturbOps, OcrAppliesOneConfusion) {
  std::set<std::string> seen;
  for (uint64_t id = 0; id < 200; ++id) seen.insert(run("ocr", 1.0, "modern", id));
  EXPECT_TRUE(seen.count("rnodern")) << "m -> rn";
  EXPECT_TRUE(seen.count("modem")) << "rn -> m";
  EXPECT_FALSE(seen.count("modern"));
  EXPECT_EQ(run("ocr", 1.0, "xyz"), "xyz");  // no rule matches: left alone
}

TEST(PerturbOps, HomoglyphSwapsInALookAlike) {
  for (uint64_t id = 0; id < 20; ++id) {
    const std::u32string out = u32(run("homoglyph", 1.0, "paypal", id));
    ASSERT_EQ(out.size(), 6u);
    int diffs = 0;
    for (size_t i = 0; i < 6; ++i) {
      if (out[i] == U"paypal"[i]) continue;
      ++diffs;
      EXPECT_GE(out[i], 0x80u);
      EXPECT_NE(lex()->homoglyphs().find(U"paypal"[i])->find(out[i]), std::u32string::npos);
    }
    EXPECT_EQ(diffs, 1);
  }
}

TEST(PerturbOps, InvisibleInsertsAZeroWidthCharacterInsideTheWord) {
  const std::u32string out = u32(run("invisible", 1.0, "word"));
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out.front(), U'w');
  EXPECT_EQ(out.back(), U'd');
  std::u32string stripped;
  for (char32_t cp : out) {
    if (cp < 0x80) stripped.push_back(cp);
  }
  EXPECT_EQ(stripped, U"word");
  EXPECT_EQ(run("invisible", 1.0, "a"), "a");
}

TEST(PerturbOps, CaseChangesCaseOnly) {
  for (uint64_t id = 0; id < 30; ++id) {
    const std::string out = run("case", 1.0, "Hello world", id);
    EXPECT_NE(out, "Hello world");
    std::string lower = out;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_EQ(lower, "hello world");
  }
  EXPECT_EQ(run("case", 1.0, "42 日本"), "42 日本");
  EXPECT_EQ(run("lowercase", 1.0, "Hello WORLD, Ünïcode"), "hello world, ünïcode");
}

TEST(PerturbOps, SpaceSplitsMergesOrAddsSpaces) {
  bool merged = false, split_word = false;
  for (uint64_t id = 0; id < 100; ++id) {
    const std::string out = run("space", 1.0, "ab cd", id);
    std::string squeezed = out;
    squeezed.erase(std::remove(squeezed.begin(), squeezed.end(), ' '), squeezed.end());
    EXPECT_EQ(squeezed, "abcd");
    EXPECT_NE(out, "ab cd");
    merged |= out.find("bc") != std::string::npos;
    split_word |= out.rfind("a b", 0) == 0;
  }
  EXPECT_TRUE(merged);
  EXPECT_TRUE(split_word);
  EXPECT_EQ(run("extra_space", 1.0, "a b").find("a  "), 0u);
  EXPECT_EQ(run("extra_space", 1.0, "end."), "end.");  // no following space: not eligible
}

TEST(PerturbOps, PunctTouchesOnlyPunctuation) {
  std::set<std::string> apostrophe, after;
  for (uint64_t id = 0; id < 200; ++id) {
    apostrophe.insert(run("punct", 1.0, "don't", id));
    after.insert(run("punct", 1.0, "stop!", id));
  }
  EXPECT_TRUE(apostrophe.count("dont"));
  EXPECT_TRUE(apostrophe.count("don't,") || apostrophe.count("don't."));
  EXPECT_TRUE(after.count("stop"));
  EXPECT_TRUE(after.count("stop!!"));
  for (const auto* seen : {&apostrophe, &after}) {
    for (const std::string& s : *seen) {
      std::string letters;
      for (char ch : s) {
        if (std::isalpha(static_cast<unsigned char>(ch))) letters.push_back(ch);
      }
      EXPECT_TRUE(letters == "dont" || letters == "stop") << s;
    }
  }
}

TEST(PerturbOps, MisspellUsesTheListAndKeepsCase) {
  EXPECT_EQ(run("misspell", 1.0, "receive"), "recieve");
  EXPECT_EQ(run("misspell", 1.0, "Receive"), "Recieve");
  EXPECT_EQ(run("misspell", 1.0, "RECEIVE it"), "RECIEVE it");
  EXPECT_EQ(run("misspell", 1.0, "zzyzx"), "zzyzx");
}

TEST(PerturbOps, SynonymComesFromWordNet) {
  if (!have_wordnet()) GTEST_SKIP() << "WordNet not installed (/usr/share/wordnet); apt-get install wordnet-base";
  const auto* syn = lex()->wordnet().synonyms("movie");
  ASSERT_NE(syn, nullptr);
  EXPECT_NE(std::find(syn->begin(), syn->end(), U"film"), syn->end());
  std::set<std::string> seen;
  for (uint64_t id = 0; id < 50; ++id) seen.insert(run("synonym", 1.0, "Movie", id));
  EXPECT_FALSE(seen.count("Movie"));
  EXPECT_TRUE(seen.count("Film"));
  EXPECT_EQ(run("synonym", 1.0, "the of and"), "the of and");  // function words left alone
}

TEST(PerturbOps, ContractionContractsAndExpands) {
  EXPECT_EQ(run("contraction", 1.0, "I do not know"), "I don't know");
  EXPECT_EQ(run("contraction", 1.0, "Don't go"), "Do not go");
  EXPECT_EQ(run("contraction", 1.0, "I'm here"), "I am here");
  EXPECT_EQ(run("contraction", 1.0, "i am"), "I'm");
  EXPECT_EQ(run("contraction", 1.0, "do, not"), "do, not");  // not a pair across punctuation
}

TEST(PerturbOps, WordLevelOps) {
  EXPECT_EQ(run("word_drop", 1.0, "a b c"), "c");  // the last word is always kept
  EXPECT_EQ(run("word_drop", 1.0, "alone"), "alone");
  EXPECT_EQ(run("word_swap", 1.0, "a b c d"), "b a d c");
  EXPECT_EQ(run("word_swap", 1.0, "a, b."), "b, a.");
  EXPECT_EQ(run("word_repeat", 1.0, "a b"), "a a b b");
  std::set<std::string> drops;
  for (uint64_t id = 0; id < 200; ++id) drops.insert(run("word_drop", 0.5, "one two three.\n", id));
  EXPECT_TRUE(drops.count("one three.\n"));
  EXPECT_TRUE(drops.count("one two.\n"));
  EXPECT_TRUE(drops.count("two three.\n"));
}

TEST(PerturbOps, DistractorAddsAPhraseAtOneEnd) {
  std::set<std::string> seen;
  for (uint64_t id = 0; id < 50; ++id) {
    const std::string out = run("distractor", 1.0, "nice film\n", id);
    ASSERT_NE(out.find("nice film"), std::string::npos);
    EXPECT_EQ(out.back(), '\n');
    EXPECT_GT(out.size(), 11u);
    seen.insert(out.substr(0, 4) == "nice" ? "append" : "prepend");
  }
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(run("distractor", 1.0, " ... "), " ... ");  // no words: not eligible
}

// Properties over every op --------------------------------------------------------------------

// Random text from ASCII words, Latin-1, Greek, Cyrillic, CJK, combining marks, astral
// letters and emoji, zero-width and bidi characters, apostrophes, punctuation and spaces.
std::string random_text(Rng& rng, size_t n) {
  static const std::u32string pool =
      U"abcdefghijklmnopqrstuvwxyzABCXYZ0123456789 '’.,!?-\t\néüßÆñ"
      U"αβΣςЖжшЁ日本語한국\u0301\u0308\u200B\u200D\u202E\uFEFF"
      U"\U0001F600\U0001F44D\U00010400\U0001D400\U00020000\uFFFD";
  std::u32string s;
  for (size_t i = 0; i < n; ++i) {
    if (rng.bernoulli(0.1)) {
      s.push_back(static_cast<char32_t>(1 + rng.below(0x10FFFF)));  // any code point
      if (s.back() >= 0xD800 && s.back() <= 0xDFFF) s.back() = U'x';
    } else {
      s.push_back(pool[rng.below(pool.size())]);
    }
  }
  return utf8::encode(s);
}

std::vector<std::string> sample_texts(size_t count) {
  Rng rng(12345);
  std::vector<std::string> texts = {"", " ", "a", "'", "don't", "The quick brown fox, it's 42!\n",
                                    "rock’n’roll", "\u0301x", "x\u0301"};
  while (texts.size() < count) texts.push_back(random_text(rng, rng.below(60)));
  return texts;
}

TEST(PerturbProperties, RateZeroIsTheIdentityForEveryOp) {
  const auto texts = sample_texts(300);
  for (const auto& op : op_names()) {
    if (op == "synonym" && !have_wordnet()) continue;
    const Perturber p = one(op, 0.0);
    for (size_t i = 0; i < texts.size(); ++i) ASSERT_EQ(p.apply(texts[i], 7, 1, i, 0), texts[i]) << op;
  }
}

TEST(PerturbProperties, ValidUtf8OutForAnyValidInput) {
  const auto texts = sample_texts(500);
  for (const auto& op : op_names()) {
    if (op == "synonym" && !have_wordnet()) continue;
    for (double rate : {0.3, 1.0}) {
      const Perturber p = one(op, rate);
      for (size_t i = 0; i < texts.size(); ++i) {
        ASSERT_TRUE(utf8::is_valid(texts[i]));
        const std::string out = p.apply(texts[i], 3, 0, i, 1);
        ASSERT_TRUE(utf8::is_valid(out)) << op << " on text " << i;
      }
    }
  }
}

TEST(PerturbProperties, InvalidUtf8IsSanitisedFirst) {
  const std::string bad = "caf\xC3 ok \xFF\xFE end \xED\xA0\x80";
  const std::string sanitized = utf8::sanitize(bad);
  EXPECT_EQ(one("keyboard", 0.0).apply(bad, 1, 0, 0, 0), sanitized);
  EXPECT_NE(sanitized.find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD
  Rng rng(99);
  for (const auto& op : op_names()) {
    if (op == "synonym" && !have_wordnet()) continue;
    const Perturber p = one(op, 0.7);
    for (int i = 0; i < 200; ++i) {
      std::string bytes(rng.below(40), '\0');
      for (char& b : bytes) b = static_cast<char>(rng.below(256));
      ASSERT_TRUE(utf8::is_valid(p.apply(bytes, 1, 0, i, 0))) << op;
    }
  }
}

TEST(PerturbProperties, DeterministicAcrossThreadsAndOrders) {
  const auto texts = sample_texts(200);
  std::vector<PerturbOpSpec> ops;
  for (const auto& op : op_names()) {
    if (op != "synonym" || have_wordnet()) ops.push_back({op, 0.3});
  }
  const Perturber p(ops, lex());
  const size_t kViews = 3;
  std::vector<std::string> expected(texts.size() * kViews);
  for (size_t i = 0; i < texts.size(); ++i) {
    for (size_t k = 0; k < kViews; ++k) expected[i * kViews + k] = p.apply(texts[i], 5, 2, i, k);
  }
  // Same key, fresh Perturber: same bytes.
  const Perturber again(ops, Lexicons::builtin());
  EXPECT_EQ(again.apply(texts[5], 5, 2, 5, 1), expected[5 * kViews + 1]);
  // Four threads, each walking a different permutation of the keys.
  std::vector<std::vector<std::string>> got(4, std::vector<std::string>(expected.size()));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<size_t> order(expected.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      Rng shuffle(static_cast<uint64_t>(t));
      for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[shuffle.below(i)]);
      for (size_t slot : order) {
        const size_t i = slot / kViews, k = slot % kViews;
        got[t][slot] = p.apply(texts[i], 5, 2, i, k);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(got[t], expected) << "thread " << t;
  // Every part of the key matters.
  const std::string base = p.apply(texts[8], 5, 2, 8, 0);
  int differ = 0;
  differ += p.apply(texts[8], 6, 2, 8, 0) != base;
  differ += p.apply(texts[8], 5, 3, 8, 0) != base;
  differ += p.apply(texts[8], 5, 2, 9, 0) != base;
  differ += p.apply(texts[8], 5, 2, 8, 1) != base;
  EXPECT_GE(differ, 3);
}

TEST(PerturbProperties, OneOfModeUsesExactlyOneOp) {
  const Perturber p({{"word_repeat", 1.0}, {"lowercase", 1.0}}, lex(), Mode::kOneOf);
  std::set<std::string> seen;
  for (uint64_t id = 0; id < 50; ++id) seen.insert(p.apply("A B", 1, 0, id, 0));
  EXPECT_EQ(seen, (std::set<std::string>{"A A B B", "a b"}));
}

// Measured rates ---------------------------------------------------------------------------

// `examples` lines of `words` words drawn from `vocab`, separated by single spaces.
std::vector<std::string> corpus(const std::vector<std::string>& vocab, size_t examples, size_t words) {
  Rng rng(4242);
  std::vector<std::string> lines;
  for (size_t e = 0; e < examples; ++e) {
    std::string line;
    for (size_t w = 0; w < words; ++w) {
      if (w) line.push_back(' ');
      line += vocab[rng.below(vocab.size())];
    }
    lines.push_back(line);
  }
  return lines;
}

// Share of words changed, measured by comparing the space-separated tokens.
double measured_share(const std::string& op, double rate, const std::vector<std::string>& vocab,
                      PerturbStats* stats) {
  const Perturber p = one(op, rate);
  size_t changed = 0, total = 0;
  const auto lines = corpus(vocab, 200, 100);
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto in = split(lines[i]);
    const auto out = split(p.apply(lines[i], 11, 0, i, 0, stats));
    if (op == "word_drop") {
      changed += in.size() - out.size();
    } else if (op == "word_repeat") {
      changed += out.size() - in.size();
    } else {
      EXPECT_EQ(in.size(), out.size()) << op;
      for (size_t w = 0; w < std::min(in.size(), out.size()); ++w) changed += in[w] != out[w];
    }
    total += in.size();
  }
  return static_cast<double>(changed) / static_cast<double>(total);
}

TEST(PerturbProperties, MeasuredShareOfTouchedWordsMatchesRate) {
  const std::vector<std::string> plain = {"house", "garden", "window", "people", "morning", "story", "music",
                                          "letter", "number", "table", "water", "friend", "market", "corner"};
  // Unique words, so that a swap of two neighbours is always visible.
  std::vector<std::string> unique;
  for (int i = 0; i < 5000; ++i) unique.push_back("w" + std::to_string(i));
  const std::vector<std::string> titled = {"House", "Garden", "Window", "People", "Morning"};
  const std::vector<std::string> misspellable = {"receive", "believe", "separate", "definitely", "truly",
                                                 "weird", "calendar", "tomorrow", "library", "rhythm"};
  const std::vector<std::string> synonymous = {"movie", "film", "car", "happy", "big", "house", "road", "begin"};
  struct Case {
    std::string op;
    const std::vector<std::string>* vocab;
  };
  std::vector<Case> cases = {{"keyboard", &plain},   {"swap", &plain},        {"delete", &plain},
                             {"insert", &plain},     {"substitute", &plain},  {"ocr", &plain},
                             {"homoglyph", &plain},  {"invisible", &plain},   {"case", &plain},
                             {"punct", &plain},      {"lowercase", &titled},  {"misspell", &misspellable},
                             {"word_drop", &plain},  {"word_swap", &unique},  {"word_repeat", &plain}};
  if (have_wordnet()) cases.push_back({"synonym", &synonymous});
  for (const auto& c : cases) {
    for (double rate : {0.1, 0.5}) {
      PerturbStats stats;
      const double share = measured_share(c.op, rate, *c.vocab, &stats);
      EXPECT_NEAR(share, rate, 0.02) << c.op << " at rate " << rate;
      ASSERT_EQ(stats.ops.size(), 1u);
      EXPECT_EQ(stats.ops[0].eligible, 20000u) << c.op << ": every word of the vocabulary is eligible";
      EXPECT_NEAR(static_cast<double>(stats.ops[0].touched) / stats.ops[0].eligible, rate, 0.02) << c.op;
    }
  }
}

TEST(PerturbProperties, StatsRateForSpacingContractionAndDistractor) {
  const auto lines = corpus({"we", "are", "not", "here", "do", "it", "is", "you", "can't", "I'm"}, 2000, 20);
  for (const std::string op : {"space", "extra_space", "contraction", "distractor"}) {
    const Perturber p = one(op, 0.3);
    PerturbStats stats;
    size_t changed_texts = 0;
    for (size_t i = 0; i < lines.size(); ++i) changed_texts += p.apply(lines[i], 1, 0, i, 0, &stats) != lines[i];
    ASSERT_GT(stats.ops[0].eligible, 0u) << op;
    EXPECT_NEAR(static_cast<double>(stats.ops[0].touched) / stats.ops[0].eligible, 0.3, op == "distractor" ? 0.03 : 0.02)
        << op;
    if (op == "distractor") {
      EXPECT_NEAR(changed_texts / 2000.0, 0.3, 0.03);  // one unit per text
    }
  }
}

// Recipes ----------------------------------------------------------------------------------

const std::string kRecipeDir = std::string(STURDY_SOURCE_DIR) + "/configs/perturb";

TEST(PerturbRecipes, ShippedRecipesLoadAndRun) {
  const auto names = list_recipes(kRecipeDir);
  for (const char* required : {"typos", "ocr", "visual", "lexical", "mild_mix", "heavy_mix"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), required), names.end()) << required;
  }
  for (const auto& name : names) {
    const Recipe r = load_recipe(name, kRecipeDir);
    EXPECT_EQ(r.name, name);
    const bool wants_wordnet = std::any_of(r.ops.begin(), r.ops.end(), [](const auto& o) { return o.op == "synonym"; });
    if (wants_wordnet && !have_wordnet()) continue;
    const Perturber p = Perturber::from_recipe(name, kRecipeDir, lex());
    const std::string out = p.apply("It's a charming and often affecting journey.", 1, 0, 0, 0);
    EXPECT_TRUE(utf8::is_valid(out)) << name;
  }
  EXPECT_EQ(load_recipe(kRecipeDir + "/typos.yaml", "/nonexistent").name, "typos");  // by path
}

TEST(PerturbRecipes, StrictParsingWithHints) {
  auto message = [](const std::string& yaml) -> std::string {
    try {
      parse_recipe(yaml, "r.yaml");
    } catch (const UsageError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message("ops: [{op: keyboard, rat: 0.1}]").find("did you mean 'rate'"), std::string::npos);
  EXPECT_NE(message("ops: [{op: keybaord}]").find("did you mean 'keyboard'"), std::string::npos);
  EXPECT_NE(message("mode: oneof\nops: [{op: swap}]").find("one_of"), std::string::npos);
  EXPECT_NE(message("ops: [{op: swap, rate: 1.5}]").find("[0, 1]"), std::string::npos);
  EXPECT_NE(message("nmae: x\nops: [{op: swap}]").find("did you mean 'name'"), std::string::npos);
  EXPECT_NE(message("ops: []").find("non-empty"), std::string::npos);
  // Messages name the entry's key (recipes: ops[i]; the training config: augment.ops[i]).
  EXPECT_NE(message("ops: [{op: swap}, {op: keybaord}]").find("r.yaml: ops[1].op: unknown perturbation op 'keybaord'"),
            std::string::npos);
  EXPECT_NE(message("ops: [{op: swap, rate: 1.5}]").find("r.yaml: ops[0].rate: "), std::string::npos);
  try {
    validate_ops({{"swap", 0.1}, {"nope", 0.1}}, "config", "augment.ops");
    FAIL() << "unknown op accepted";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("config: augment.ops[1].op: unknown perturbation op 'nope'", 0), 0u)
        << e.what();
  }
  const Recipe r = parse_recipe("mode: one_of\nops: [{op: swap}, {op: case, rate: 0.5}]", "r.yaml");
  EXPECT_EQ(r.mode, Mode::kOneOf);
  ASSERT_EQ(r.ops.size(), 2u);
  EXPECT_DOUBLE_EQ(r.ops[0].rate, 0.1);
  EXPECT_DOUBLE_EQ(r.ops[1].rate, 0.5);
  try {
    load_recipe("typo", kRecipeDir);
    FAIL() << "missing recipe accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'typos'"), std::string::npos) << e.what();
  }
}

TEST(PerturbRecipes, OpsSpec) {
  const auto ops = parse_ops_spec("keyboard:0.1, swap:0.05,case");
  ASSERT_EQ(ops.size(), 3u);
  EXPECT_EQ(ops[1].op, "swap");
  EXPECT_DOUBLE_EQ(ops[1].rate, 0.05);
  EXPECT_DOUBLE_EQ(ops[2].rate, 0.1);
  EXPECT_THROW(parse_ops_spec("keyboard:x"), UsageError);
  EXPECT_THROW(parse_ops_spec("nope:0.1"), UsageError);
  EXPECT_THROW(parse_ops_spec(""), UsageError);
  EXPECT_THROW(Perturber({{"swap", -0.1}}, lex()), UsageError);
}

// --- single-word edits for the search attacks ----------------------------------------------

TEST(WordEdits, CharacterEditsChangeTheWordOnceAndAreKeyed) {
  const WordEditor editor({"swap", "delete", "insert", "keyboard", "homoglyph", "ocr"}, 3, lex());
  const auto a = editor.edits(U"Quickly", 7, 11, 2);
  ASSERT_FALSE(a.empty());
  EXPECT_LE(a.size(), 18u);
  std::set<std::u32string> seen;
  for (const auto& e : a) {
    EXPECT_NE(e, U"Quickly");
    EXPECT_TRUE(seen.insert(e).second) << "duplicate candidate";
    // One edit: at most two code points differ in length, and the edit stays inside the word.
    EXPECT_LE(std::abs(static_cast<long>(e.size()) - 7), 2);
  }
  // Keyed by (seed, id, word index): the same key gives the same list, another key another.
  EXPECT_EQ(editor.edits(U"Quickly", 7, 11, 2), a);
  EXPECT_NE(editor.edits(U"Quickly", 7, 11, 3), a);
  // Every candidate is what the op itself makes of the word (view keys aside): a delete
  // candidate is the word with one code point removed.
  const WordEditor del({"delete"}, 4, lex());
  for (const auto& e : del.edits(U"table", 1, 2, 0)) {
    ASSERT_EQ(e.size(), 4u);
    bool one_removed = false;
    for (size_t i = 0; i < 5; ++i) one_removed |= (std::u32string(U"table").erase(i, 1) == e);
    EXPECT_TRUE(one_removed) << utf8::encode(e);
  }
}

TEST(WordEdits, StopwordsAndShortWordsHaveNoCandidates) {
  const WordEditor editor({"swap", "delete", "keyboard"}, 2, lex());
  EXPECT_TRUE(is_stopword(U"The"));
  EXPECT_FALSE(is_stopword(U"table"));
  EXPECT_TRUE(editor.edits(U"The", 1, 0, 0).empty());
  EXPECT_TRUE(editor.edits(U"and", 1, 0, 0).empty());
  EXPECT_TRUE(editor.edits(U"x", 1, 0, 0).empty());
  EXPECT_FALSE(editor.edits(U"table", 1, 0, 0).empty());
}

TEST(WordEdits, WordSubstitutionsKeepCaseAndComeFromTheLexicons) {
  const WordEditor misspell({"misspell"}, 8, lex());
  const auto& table = lex()->misspellings();
  ASSERT_FALSE(table.empty());
  auto entry = table.begin();
  while (entry != table.end() && (entry->first.size() < 3 || is_stopword(utf8::decode(entry->first)))) ++entry;
  ASSERT_NE(entry, table.end());
  const auto& [key, wrong] = *entry;
  const std::u32string word = utf8::decode(key);
  const auto edits = misspell.edits(word, 1, 0, 0);
  ASSERT_FALSE(edits.empty());
  for (const auto& e : edits) EXPECT_NE(std::find(wrong.begin(), wrong.end(), e), wrong.end()) << utf8::encode(e);
  if (!have_wordnet()) GTEST_SKIP() << "WordNet not installed (/usr/share/wordnet); apt-get install wordnet-base";
  const WordEditor synonym({"synonym"}, 8, lex());
  const auto* primary = lex()->wordnet().primary_synonyms("movie");
  ASSERT_NE(primary, nullptr);
  const auto title = synonym.edits(U"Movie", 1, 0, 0);
  ASSERT_FALSE(title.empty());
  EXPECT_LE(title.size(), std::min<size_t>(primary->size(), 8));
  for (const auto& e : title) EXPECT_TRUE(is_upper(e[0])) << utf8::encode(e);  // case shape carried over
}

TEST(WordEdits, RejectsOpsThatCannotEditOneWord) {
  EXPECT_THROW(WordEditor({"word_drop"}, 1, lex()), UsageError);
  EXPECT_THROW(WordEditor({"swap"}, 0, lex()), UsageError);
  EXPECT_THROW(WordEditor({}, 1, lex()), UsageError);
}

}  // namespace
}  // namespace sturdy::perturb
