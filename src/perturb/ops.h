// The op table and the word-walking helper shared by the op implementations.
// Internal to sturdy_perturb; the contract (names, rates, determinism) is in perturber.h.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sturdy/core/rng.h"
#include "sturdy/perturb/lexicons.h"
#include "sturdy/perturb/text.h"

namespace sturdy::perturb::detail {

// What happens to the gap (non-word text) right after an edited word.
enum class GapAction : uint8_t { kKeep, kDropWhitespace, kDeleteFirst, kDoubleFirst };

struct OpContext {
  explicit OpContext(const Lexicons& lexicons) : lex(lexicons) {}
  void reset(Rng r, double op_rate) {
    rng = r;
    rate = op_rate;
    eligible = touched = 0;
    next_gap = GapAction::kKeep;
  }

  const Lexicons& lex;
  Rng rng{0};
  double rate = 0.0;
  uint64_t eligible = 0;
  uint64_t touched = 0;
  GapAction next_gap = GapAction::kKeep;  // set by an edit, applied to the following gap
  std::vector<WordSpan> words;            // scratch: segment_words output
};

// Reads `in`, writes the perturbed text into `out` (cleared first).
using OpFn = void (*)(std::u32string_view in, std::u32string& out, OpContext& ctx);

struct OpInfo {
  const char* name;
  OpFn fn;
  bool needs_wordnet;
};
const std::vector<OpInfo>& op_table();

// Character-level ops (ops_char.cpp) and word/sentence-level ops (ops_word.cpp).
void op_keyboard(std::u32string_view in, std::u32string& out, OpContext& c);
void op_swap(std::u32string_view in, std::u32string& out, OpContext& c);
void op_delete(std::u32string_view in, std::u32string& out, OpContext& c);
void op_insert(std::u32string_view in, std::u32string& out, OpContext& c);
void op_substitute(std::u32string_view in, std::u32string& out, OpContext& c);
void op_ocr(std::u32string_view in, std::u32string& out, OpContext& c);
void op_homoglyph(std::u32string_view in, std::u32string& out, OpContext& c);
void op_invisible(std::u32string_view in, std::u32string& out, OpContext& c);
void op_case(std::u32string_view in, std::u32string& out, OpContext& c);
void op_lowercase(std::u32string_view in, std::u32string& out, OpContext& c);
void op_space(std::u32string_view in, std::u32string& out, OpContext& c);
void op_extra_space(std::u32string_view in, std::u32string& out, OpContext& c);
void op_punct(std::u32string_view in, std::u32string& out, OpContext& c);
void op_misspell(std::u32string_view in, std::u32string& out, OpContext& c);
void op_synonym(std::u32string_view in, std::u32string& out, OpContext& c);
void op_contraction(std::u32string_view in, std::u32string& out, OpContext& c);
void op_word_drop(std::u32string_view in, std::u32string& out, OpContext& c);
void op_word_swap(std::u32string_view in, std::u32string& out, OpContext& c);
void op_word_repeat(std::u32string_view in, std::u32string& out, OpContext& c);
void op_distractor(std::u32string_view in, std::u32string& out, OpContext& c);

// Appends `gap` to `out` after applying `action`.
inline void append_gap(std::u32string& out, std::u32string_view gap, GapAction action) {
  switch (action) {
    case GapAction::kKeep: break;
    case GapAction::kDropWhitespace:
      while (!gap.empty() && is_space(gap.front())) gap.remove_prefix(1);
      break;
    case GapAction::kDeleteFirst:
      if (!gap.empty()) gap.remove_prefix(1);
      break;
    case GapAction::kDoubleFirst:
      if (!gap.empty()) out.push_back(gap.front());
      break;
  }
  out.append(gap.data(), gap.size());
}

// Walks the words of `in`, copying gaps. For each word, `probe(word, index)` says whether
// the op can handle it (anything truthy: a count, a pointer); each handled word is
// *eligible* and is *touched* with probability `rate`, in which case
// `edit(word, probe_result, index, out)` appends its replacement. Untouched words are copied.
template <class Probe, class Edit>
void per_word(std::u32string_view in, std::u32string& out, OpContext& c, Probe probe, Edit edit) {
  segment_words(in, c.words);
  out.clear();
  out.reserve(in.size() + in.size() / 4 + 8);
  size_t pos = 0;
  GapAction gap_action = GapAction::kKeep;
  for (size_t i = 0; i < c.words.size(); ++i) {
    const WordSpan w = c.words[i];
    append_gap(out, in.substr(pos, w.begin - pos), gap_action);
    gap_action = GapAction::kKeep;
    const std::u32string_view word = in.substr(w.begin, w.end - w.begin);
    pos = w.end;
    const auto handle = probe(word, i);
    if (handle) {
      ++c.eligible;
      if (c.rng.bernoulli(c.rate)) {
        ++c.touched;
        c.next_gap = GapAction::kKeep;
        edit(word, handle, i, out);
        gap_action = c.next_gap;
        continue;
      }
    }
    out.append(word.data(), word.size());
  }
  append_gap(out, in.substr(pos), gap_action);
}

// The gap after word `i` of c.words in `in`.
inline std::u32string_view gap_after(std::u32string_view in, const std::vector<WordSpan>& words, size_t i) {
  const size_t end = i + 1 < words.size() ? words[i + 1].begin : in.size();
  return in.substr(words[i].end, end - words[i].end);
}

}  // namespace sturdy::perturb::detail
