// The prompt/continuation split of language-model examples (docs/evaluation.md, "Language
// models"), shared by training (train/loader.h) and evaluation (eval/lm_eval.cpp).
//
// A text's prompt is its first max(1, floor(words · prompt_fraction)) whitespace-separated
// words, never all of them; the continuation is the rest, starting with its whitespace.
// Only the prompt is perturbed, and the continuation is tokenized on its own, so the scored
// tokens are the same under every perturbation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string_view>
#include <utility>
#include <vector>

namespace sturdy {

// Byte offset where the prompt ends (the end of its last word); 0 when the text has fewer
// than two words (nothing to continue).
inline size_t prompt_end(std::string_view text, double prompt_fraction) {
  std::vector<std::pair<size_t, size_t>> words;  // [begin, end)
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    const size_t begin = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > begin) words.emplace_back(begin, i);
  }
  if (words.size() < 2) return 0;
  const auto keep = std::max<size_t>(1, static_cast<size_t>(std::floor(static_cast<double>(words.size()) * prompt_fraction)));
  return words[std::min(keep, words.size() - 1) - 1].second;
}

}  // namespace sturdy
