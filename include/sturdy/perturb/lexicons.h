// Lexicons behind the perturbation ops: keyboard neighbours, OCR confusions, Unicode
// look-alikes, human misspellings, WordNet synonyms, distractor phrases.
//
// Each has a small built-in default, and each can be replaced by a file whose path comes
// from the config or the command line (formats in docs/perturbations.md). A Lexicons object
// is immutable once built and shared read-only between threads through
// std::shared_ptr<const Lexicons>. WordNet is parsed from its data files by our own reader
// (libwordnet's C API keeps global state and is not thread-safe); it is loaded once, on
// first use, under std::call_once.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sturdy::perturb {

// Where to load each lexicon from; an empty path means the built-in table.
struct LexiconPaths {
  std::string keyboard;                   // JSON {"a": ["q","w","s","z"], ...} (nlpaug format)
  std::string ocr;                        // JSON {"rn": ["m"], "0": ["o","O"], ...}
  std::string confusables;                // Unicode confusables.txt (UTS #39) or homoglyph sets
  std::vector<std::string> misspellings;  // JSON {wrong: right} / {right: [wrong...]} or text lines
  std::string wordnet_dir = "/usr/share/wordnet";  // index.{noun,verb,adj,adv}, data.*
  std::string distractors;                // text, one phrase per line

  // Fills the paths from the files found in `dir`: keyboard.json, ocr.json, confusables.txt
  // or homoglyphs.txt, misspellings*.{json,txt}, distractors.txt, wordnet/; it also knows
  // the layout of ../shared/data (char_noise_maps/, confusables/, misspellings/).
  // Throws UsageError when `dir` is not a directory.
  static LexiconPaths from_dir(const std::string& dir);
};

// Code point -> replacement code points (keyboard neighbours, homoglyphs).
class CharMap {
 public:
  const std::u32string* find(char32_t cp) const;
  void add(char32_t from, char32_t to);  // ignores duplicates and from == to
  size_t size() const { return ascii_count_ + other_.size(); }

 private:
  std::array<std::u32string, 128> ascii_;
  size_t ascii_count_ = 0;
  std::unordered_map<char32_t, std::u32string> other_;
};

// Sequence -> replacement sequences (OCR: "rn" -> "m", "0" -> "o").
struct SeqRule {
  std::u32string from;
  std::vector<std::u32string> to;
};
class SeqMap {
 public:
  void add(const std::u32string& from, const std::u32string& to);
  const std::vector<SeqRule>& rules() const { return rules_; }
  // Indices of the rules whose `from` starts with `cp`.
  const std::vector<uint32_t>* starting_with(char32_t cp) const;
  size_t size() const { return rules_.size(); }

 private:
  std::vector<SeqRule> rules_;
  std::unordered_map<char32_t, std::vector<uint32_t>> by_first_;
};

// Lower-case word (lexicon_key) -> alternatives, stored as code points.
using WordTable = std::unordered_map<std::string, std::vector<std::u32string>>;

// WordNet synonyms: for each lemma, the single-word lemmas of its two most frequent senses
// in each part of speech (index order), lower case, without itself.
class WordNet {
 public:
  // Reads `dir`/index.* and data.*; throws UsageError naming the missing file.
  explicit WordNet(const std::string& dir);
  const std::vector<std::u32string>* synonyms(const std::string& key) const;
  // The synonyms of the key's primary part of speech only (the one with the most tagged
  // senses in index.POS; the first of noun, verb, adj, adv on a tie): what a substitution
  // that keeps the part of speech may use without a tagger. nullptr when there are none.
  const std::vector<std::u32string>* primary_synonyms(const std::string& key) const;
  size_t size() const { return synonyms_.size(); }

 private:
  WordTable synonyms_;
  WordTable primary_;
};

class Lexicons {
 public:
  // Built-in tables everywhere, WordNet from /usr/share/wordnet (loaded on first use).
  static std::shared_ptr<const Lexicons> builtin();
  // Loads every file named in `paths`; throws UsageError naming a missing or malformed file.
  static std::shared_ptr<const Lexicons> load(const LexiconPaths& paths);

  const CharMap& keyboard() const { return keyboard_; }
  const SeqMap& ocr() const { return ocr_; }
  const CharMap& homoglyphs() const { return homoglyphs_; }
  const WordTable& misspellings() const { return misspellings_; }
  const std::vector<std::u32string>& distractors() const { return distractors_; }
  const LexiconPaths& paths() const { return paths_; }
  // WordNet, parsed on the first call (thread-safe); throws UsageError when its files are absent.
  const WordNet& wordnet() const;

 private:
  Lexicons() = default;
  LexiconPaths paths_;
  CharMap keyboard_;
  SeqMap ocr_;
  CharMap homoglyphs_;
  WordTable misspellings_;
  std::vector<std::u32string> distractors_;
  mutable std::once_flag wordnet_once_;
  mutable std::unique_ptr<WordNet> wordnet_;
  mutable std::string wordnet_error_;
};

// Loaders, exposed for tests and tools. Each throws UsageError naming `path` on a bad file.
void load_char_map_json(const std::string& path, CharMap& out);
void load_seq_map_json(const std::string& path, SeqMap& out);
void load_confusables(const std::string& path, CharMap& out);  // UTS #39 or one set per line
void load_misspellings(const std::string& path, WordTable& out);
void load_phrases(const std::string& path, std::vector<std::u32string>& out);

}  // namespace sturdy::perturb
