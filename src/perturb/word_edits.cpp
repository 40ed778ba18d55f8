// Candidate replacements of one word for the search attacks (see word_edits.h).
#include "sturdy/perturb/word_edits.h"

#include <algorithm>
#include <unordered_set>

#include <fmt/ranges.h>

#include "builtin_tables.h"
#include "ops.h"
#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#include "sturdy/core/utf8.h"
#include "sturdy/perturb/text.h"

namespace sturdy::perturb {
namespace {

// The key of an edit's Rng after (seed, id, word index): "wedit".
constexpr uint64_t kWordEditKey = 0x7765646974ull;

int op_table_index(const std::string& op) {
  const auto& table = detail::op_table();
  for (size_t i = 0; i < table.size(); ++i) {
    if (op == table[i].name) return static_cast<int>(i);
  }
  return -1;
}

void add_unique(std::vector<std::u32string>& out, std::u32string candidate, std::u32string_view word) {
  if (candidate.empty() || candidate == word) return;
  if (std::find(out.begin(), out.end(), candidate) == out.end()) out.push_back(std::move(candidate));
}

}  // namespace

const std::vector<std::string>& char_edit_ops() {
  static const std::vector<std::string> ops = {"swap", "delete", "insert", "keyboard", "substitute", "ocr", "homoglyph"};
  return ops;
}

const std::vector<std::string>& word_edit_ops() {
  static const std::vector<std::string> ops = {"synonym", "misspell"};
  return ops;
}

bool is_stopword(std::u32string_view word) {
  static const std::unordered_set<std::string> set(builtin::kStopwords, builtin::kStopwords + builtin::kStopwordsSize);
  std::string key;
  lexicon_key(word, key);
  return set.count(key) > 0;
}

WordPieces::WordPieces(const std::u32string& text) {
  std::vector<WordSpan> spans;
  segment_words(text, spans);
  size_t pos = 0;
  for (const auto& s : spans) {
    gaps.emplace_back(text.substr(pos, s.begin - pos));
    words.emplace_back(text.substr(s.begin, s.end - s.begin));
    pos = s.end;
  }
  gaps.emplace_back(text.substr(pos));
}

std::string WordPieces::render(int64_t i, const std::u32string* with) const {
  std::u32string out = gaps[0];
  for (size_t w = 0; w < words.size(); ++w) {
    out += static_cast<int64_t>(w) == i ? *with : words[w];
    out += gaps[w + 1];
  }
  return utf8::encode(out);
}

WordEditor::WordEditor(std::vector<std::string> ops, int64_t draws, std::shared_ptr<const Lexicons> lexicons)
    : ops_(std::move(ops)), draws_(draws), lexicons_(std::move(lexicons)) {
  STURDY_USAGE_CHECK(lexicons_ != nullptr, "WordEditor: lexicons must not be null");
  STURDY_USAGE_CHECK(!ops_.empty(), "a search attack needs at least one op");
  STURDY_USAGE_CHECK(draws_ >= 1, "draws must be >= 1 (got {})", draws_);
  const auto& chars = char_edit_ops();
  const auto& words = word_edit_ops();
  for (const auto& op : ops_) {
    if (std::find(chars.begin(), chars.end(), op) != chars.end()) {
      op_index_.push_back(op_table_index(op));
    } else if (std::find(words.begin(), words.end(), op) != words.end()) {
      op_index_.push_back(-1);
      if (op == "synonym") lexicons_->wordnet();  // fail now if WordNet is missing
    } else {
      throw UsageError(fmt::format("op '{}' cannot edit a single word; use one of {} (character edits) or {} "
                                   "(word substitutions)",
                                   op, fmt::join(chars, ", "), fmt::join(words, ", ")));
    }
  }
}

std::vector<std::u32string> WordEditor::edits(std::u32string_view word, uint64_t seed, uint64_t id,
                                              uint64_t word_index) const {
  std::vector<std::u32string> out;
  if (word.size() < 2 || is_stopword(word)) return out;
  const auto& table = detail::op_table();
  detail::OpContext ctx(*lexicons_);
  std::u32string edited;
  std::string key;
  lexicon_key(word, key);
  const CaseShape shape = case_shape(word);
  for (size_t k = 0; k < ops_.size(); ++k) {
    const std::string& op = ops_[k];
    if (op_index_[k] >= 0) {
      const detail::OpFn fn = table[static_cast<size_t>(op_index_[k])].fn;
      for (int64_t j = 0; j < draws_; ++j) {
        ctx.reset(Rng{seed, id, word_index, kWordEditKey, static_cast<uint64_t>(op_index_[k]), static_cast<uint64_t>(j)},
                  1.0);
        fn(word, edited, ctx);
        add_unique(out, edited, word);
      }
      continue;
    }
    const std::vector<std::u32string>* alternatives = nullptr;
    if (op == "synonym") {
      alternatives = lexicons_->wordnet().primary_synonyms(key);
    } else {
      const auto it = lexicons_->misspellings().find(key);
      if (it != lexicons_->misspellings().end()) alternatives = &it->second;
    }
    if (alternatives == nullptr) continue;
    const size_t take = std::min(alternatives->size(), static_cast<size_t>(draws_));
    for (size_t j = 0; j < take; ++j) {
      std::u32string replacement;
      append_with_case(replacement, (*alternatives)[j], shape);
      add_unique(out, std::move(replacement), word);
    }
  }
  return out;
}

}  // namespace sturdy::perturb
