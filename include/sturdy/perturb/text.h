// Code-point classes, word segmentation and simple case mapping for the perturbation ops.
//
// Sturdy has no ICU dependency, so the classes here are a documented approximation
// of Unicode (docs/perturbations.md, "Word segmentation"):
//   * a *word* is a maximal run of letters, digits and combining marks, with apostrophes
//     (U+0027, U+2019) allowed between two such characters, that holds at least one
//     letter or digit ("don't", "o'clock", "naïve", "42");
//   * everything else (whitespace, punctuation, symbols, emoji, format characters) is a
//     gap and is copied through unchanged by the word-level ops.
// Case mapping covers ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic and Armenian;
// a word without letters in those tables simply has no case for the `case` op.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sturdy::perturb {

enum class CharClass : uint8_t { kSpace, kAlnum, kMark, kApostrophe, kOther };

CharClass classify(char32_t cp);
inline bool is_space(char32_t cp) { return classify(cp) == CharClass::kSpace; }
inline bool is_alnum(char32_t cp) { return classify(cp) == CharClass::kAlnum; }
inline bool is_ascii_letter(char32_t cp) { return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z'; }
inline bool is_ascii_digit(char32_t cp) { return cp >= '0' && cp <= '9'; }

char32_t to_lower(char32_t cp);
char32_t to_upper(char32_t cp);
inline bool is_upper(char32_t cp) { return to_lower(cp) != cp; }
inline bool is_lower(char32_t cp) { return to_upper(cp) != cp; }
inline bool has_case(char32_t cp) { return is_upper(cp) || is_lower(cp); }

// A word is text[begin, end).
struct WordSpan {
  uint32_t begin;
  uint32_t end;
};

// Appends the words of `text` to `words` (cleared first), in order.
void segment_words(std::u32string_view text, std::vector<WordSpan>& words);

// Case shape of a word, used to carry case onto a replacement (misspell, synonym).
enum class CaseShape : uint8_t { kNoCase, kLower, kUpper, kTitle, kMixed };
CaseShape case_shape(std::u32string_view word);
// Appends `replacement` to `out` with `shape` applied (kMixed / kNoCase: as is).
void append_with_case(std::u32string& out, std::u32string_view replacement, CaseShape shape);

// Lookup key for lexicons: lowercased UTF-8 with U+2019 folded to an ASCII apostrophe.
// Writes into `key` (reused buffer, no allocation once warm).
void lexicon_key(std::u32string_view word, std::string& key);

}  // namespace sturdy::perturb
