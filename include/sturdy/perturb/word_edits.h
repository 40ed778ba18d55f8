// Candidate replacements of one word: the moves of the search attacks (eval, docs/evaluation.md
// "Search attacks"). They reuse the perturbation ops and lexicons, so an attack searches over
// the same kinds of noise the recipes draw at random:
//
//   character edits  one edit of the word by swap, delete, insert, keyboard, substitute, ocr or
//                    homoglyph: the op applied to the word alone at rate 1, `draws` times with
//                    Rng{seed, id, word index, op, draw} (duplicates dropped) — DeepWordBug-like;
//   synonym          WordNet synonyms of the word's most frequent part of speech (the one with
//                    the most tagged senses), in sense order — PWWS-like, part of speech kept;
//   misspell         the human misspellings of the word from the misspelling lexicon.
//
// Replacements keep the word's case shape. Stopwords and words shorter than two characters
// have no candidates. Pure function of its inputs: thread-safe, the same on every rank.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sturdy/perturb/lexicons.h"

namespace sturdy::perturb {

// The ops a word editor accepts.
const std::vector<std::string>& char_edit_ops();  // swap, delete, insert, keyboard, substitute, ocr, homoglyph
const std::vector<std::string>& word_edit_ops();  // synonym, misspell

// True for the built-in English stopwords (lower-cased lookup), which the attacks leave alone.
bool is_stopword(std::u32string_view word);

// A text as gaps and words (segment_words): gap[0] word[0] gap[1] ... word[n-1] gap[n]. The
// search attacks and objective.kind attack_augment replace `words` and render the text back.
struct WordPieces {
  std::vector<std::u32string> gaps, words;

  explicit WordPieces(const std::u32string& text);
  // The text (UTF-8) with word `i` replaced by `with` (i < 0: the words as they are).
  std::string render(int64_t i = -1, const std::u32string* with = nullptr) const;
};

class WordEditor {
 public:
  // `ops` from char_edit_ops() and word_edit_ops() (UsageError naming an unknown op);
  // `draws` >= 1: edits drawn per character op, or substitutes taken per word op.
  WordEditor(std::vector<std::string> ops, int64_t draws, std::shared_ptr<const Lexicons> lexicons);

  // Distinct replacements of `word`, never `word` itself, in op order then draw order.
  std::vector<std::u32string> edits(std::u32string_view word, uint64_t seed, uint64_t id, uint64_t word_index) const;

  const std::vector<std::string>& ops() const { return ops_; }

 private:
  std::vector<std::string> ops_;
  std::vector<int> op_index_;  // into the op table; -1 for synonym / misspell
  int64_t draws_;
  std::shared_ptr<const Lexicons> lexicons_;
};

}  // namespace sturdy::perturb
