// Small built-in lexicons: the defaults when no file is configured (docs/perturbations.md).
// Internal to sturdy_perturb.
#pragma once

#include <cstddef>

namespace sturdy::perturb::builtin {

// US QWERTY: each key with its physically adjacent keys; letters next to letters only
// (a slip onto a digit row key is rare in prose), digits next to digits.
struct KeyNeighbours {
  char key;
  const char* neighbours;
};
extern const KeyNeighbours kKeyboard[];
extern const size_t kKeyboardSize;

// Common OCR confusions, both directions where both occur (UTF-8 strings).
struct SeqPair {
  const char* from;
  const char* to;
};
extern const SeqPair kOcr[];
extern const size_t kOcrSize;

// ASCII letters -> Cyrillic/Greek/Armenian look-alikes (UTF-8, space separated).
extern const SeqPair kHomoglyphs[];
extern const size_t kHomoglyphsSize;

// Common English misspellings: "correct wrong1 wrong2 ..." (Wikipedia's list of common
// misspellings and the Birkbeck corpus agree on these).
extern const char* const kMisspellings[];
extern const size_t kMisspellingsSize;

// Neutral phrases for the distractor op (CheckList-style irrelevant additions).
extern const char* const kDistractors[];
extern const size_t kDistractorsSize;

// Contractions as used in HELM's contraction/expansion perturbation.
struct Contraction {
  const char* contracted;  // lower case, ASCII apostrophe
  const char* expanded;    // two words
};
extern const Contraction kContractions[];
extern const size_t kContractionsSize;

// Function words that the synonym op leaves alone (WordNet gives noise for them:
// "a" -> "angstrom", "it" -> "information technology").
extern const char* const kStopwords[];
extern const size_t kStopwordsSize;

}  // namespace sturdy::perturb::builtin
