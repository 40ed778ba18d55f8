// Word- and sentence-level ops: spacing, punctuation, misspellings, synonyms, contractions,
// dropped/swapped/repeated words and distractor phrases (docs/perturbations.md).
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "builtin_tables.h"
#include "ops.h"
#include "sturdy/core/utf8.h"

namespace sturdy::perturb::detail {
namespace {

bool all_space(std::u32string_view s) {
  if (s.empty()) return false;
  for (char32_t cp : s) {
    if (!is_space(cp)) return false;
  }
  return true;
}

bool is_horizontal_space(char32_t cp) { return cp == ' ' || cp == '\t'; }

const std::unordered_set<std::string>& stopwords() {
  static const std::unordered_set<std::string> set(builtin::kStopwords,
                                                   builtin::kStopwords + builtin::kStopwordsSize);
  return set;
}

struct ContractionTables {
  std::unordered_map<std::string, std::u32string> expand;    // "don't" -> "do not"
  std::unordered_map<std::string, std::u32string> contract;  // "do not" -> "don't"
};
const ContractionTables& contractions() {
  static const ContractionTables t = [] {
    ContractionTables t;
    for (size_t i = 0; i < builtin::kContractionsSize; ++i) {
      const auto& e = builtin::kContractions[i];
      t.expand.emplace(e.contracted, utf8::decode(e.expanded));
      t.contract.emplace(e.expanded, utf8::decode(e.contracted));
    }
    return t;
  }();
  return t;
}

constexpr char32_t kPunctuation[] = {',', '.', '!', '?', ';', ':', '-'};

}  // namespace

void op_space(std::u32string_view in, std::u32string& out, OpContext& c) {
  per_word(in, out, c, [](std::u32string_view, size_t) { return true; },
           [&](std::u32string_view w, bool, size_t i, std::u32string& o) {
             enum { kSplit, kMerge, kExtra };
             int variants[3];
             int nv = 0;
             if (w.size() >= 2) variants[nv++] = kSplit;
             if (i + 1 < c.words.size() && all_space(gap_after(in, c.words, i))) variants[nv++] = kMerge;
             variants[nv++] = kExtra;
             switch (variants[c.rng.below(nv)]) {
               case kSplit: {
                 const size_t at = 1 + c.rng.below(w.size() - 1);
                 o.append(w.data(), at);
                 o.push_back(' ');
                 o.append(w.data() + at, w.size() - at);
                 break;
               }
               case kMerge:
                 o.append(w.data(), w.size());
                 c.next_gap = GapAction::kDropWhitespace;
                 break;
               default:
                 o.append(w.data(), w.size());
                 o.append(1 + c.rng.below(3), ' ');
             }
           });
}

void op_extra_space(std::u32string_view in, std::u32string& out, OpContext& c) {
  // HELM-style: 1 to 3 extra spaces where a word is followed by whitespace.
  per_word(
      in, out, c,
      [&](std::u32string_view, size_t i) {
        const std::u32string_view gap = gap_after(in, c.words, i);
        return !gap.empty() && is_space(gap.front());
      },
      [&](std::u32string_view w, bool, size_t, std::u32string& o) {
        o.append(w.data(), w.size());
        o.append(1 + c.rng.below(3), ' ');
      });
}

void op_punct(std::u32string_view in, std::u32string& out, OpContext& c) {
  per_word(in, out, c, [](std::u32string_view, size_t) { return true; },
           [&](std::u32string_view w, bool, size_t i, std::u32string& o) {
             enum { kDropApostrophe, kDeleteNext, kDoubleNext, kInsert };
             int variants[4];
             int nv = 0;
             bool apostrophe = false;
             for (char32_t cp : w) apostrophe |= classify(cp) == CharClass::kApostrophe;
             if (apostrophe) variants[nv++] = kDropApostrophe;  // "don't" -> "dont"
             const std::u32string_view gap = gap_after(in, c.words, i);
             if (!gap.empty() && classify(gap.front()) == CharClass::kOther) {
               variants[nv++] = kDeleteNext;  // "fine, thanks" -> "fine thanks"
               variants[nv++] = kDoubleNext;  // "great!" -> "great!!"
             }
             variants[nv++] = kInsert;  // "well done" -> "well, done"
             switch (variants[c.rng.below(nv)]) {
               case kDropApostrophe:
                 for (char32_t cp : w) {
                   if (classify(cp) != CharClass::kApostrophe) o.push_back(cp);
                 }
                 break;
               case kDeleteNext:
                 o.append(w.data(), w.size());
                 c.next_gap = GapAction::kDeleteFirst;
                 break;
               case kDoubleNext:
                 o.append(w.data(), w.size());
                 c.next_gap = GapAction::kDoubleFirst;
                 break;
               default:
                 o.append(w.data(), w.size());
                 o.push_back(kPunctuation[c.rng.below(std::size(kPunctuation))]);
             }
           });
}

void op_misspell(std::u32string_view in, std::u32string& out, OpContext& c) {
  const WordTable& table = c.lex.misspellings();
  std::string key;
  per_word(
      in, out, c,
      [&](std::u32string_view w, size_t) -> const std::vector<std::u32string>* {
        lexicon_key(w, key);
        auto it = table.find(key);
        return it == table.end() ? nullptr : &it->second;
      },
      [&](std::u32string_view w, const std::vector<std::u32string>* alts, size_t, std::u32string& o) {
        append_with_case(o, (*alts)[c.rng.below(alts->size())], case_shape(w));
      });
}

void op_synonym(std::u32string_view in, std::u32string& out, OpContext& c) {
  const WordNet& wn = c.lex.wordnet();
  const auto& stop = stopwords();
  std::string key;
  per_word(
      in, out, c,
      [&](std::u32string_view w, size_t) -> const std::vector<std::u32string>* {
        if (w.size() < 3) return nullptr;
        lexicon_key(w, key);
        if (stop.count(key)) return nullptr;
        return wn.synonyms(key);
      },
      [&](std::u32string_view w, const std::vector<std::u32string>* alts, size_t, std::u32string& o) {
        append_with_case(o, (*alts)[c.rng.below(alts->size())], case_shape(w));
      });
}

void op_contraction(std::u32string_view in, std::u32string& out, OpContext& c) {
  // Units: a contraction ("don't" -> "do not") or a contractible pair of words separated
  // by spaces ("do not" -> "don't"). Case follows the first word.
  const ContractionTables& t = contractions();
  segment_words(in, c.words);
  out.clear();
  out.reserve(in.size() + 16);
  std::string key, pair;
  size_t pos = 0;
  for (size_t i = 0; i < c.words.size(); ++i) {
    const WordSpan w = c.words[i];
    out.append(in.data() + pos, w.begin - pos);
    const std::u32string_view word = in.substr(w.begin, w.end - w.begin);
    pos = w.end;
    lexicon_key(word, key);
    const std::u32string* repl = nullptr;
    bool consumes_next = false;
    if (auto it = t.expand.find(key); it != t.expand.end()) {
      repl = &it->second;
    } else if (i + 1 < c.words.size() && all_space(gap_after(in, c.words, i))) {
      const WordSpan next = c.words[i + 1];
      lexicon_key(in.substr(next.begin, next.end - next.begin), pair);
      pair.insert(0, 1, ' ');
      pair.insert(0, key);
      if (auto it2 = t.contract.find(pair); it2 != t.contract.end()) repl = &it2->second, consumes_next = true;
    }
    if (repl) {
      ++c.eligible;
      if (c.rng.bernoulli(c.rate)) {
        ++c.touched;
        CaseShape shape = case_shape(word);
        if (shape == CaseShape::kUpper && word.size() == 1) shape = CaseShape::kTitle;  // "I"
        const size_t start = out.size();
        append_with_case(out, *repl, shape == CaseShape::kTitle ? CaseShape::kTitle : shape);
        // "i" stays upper case in English whatever the shape.
        for (size_t k = start; k < out.size(); ++k) {
          const bool alone = (k == start || out[k - 1] == ' ') && (k + 1 == out.size() || out[k + 1] == ' ' ||
                                                                    out[k + 1] == '\'');
          if (out[k] == 'i' && alone) out[k] = 'I';
        }
        if (consumes_next) pos = c.words[++i].end;
        continue;
      }
    }
    out.append(word.data(), word.size());
  }
  out.append(in.data() + pos, in.size() - pos);
}

void op_word_drop(std::u32string_view in, std::u32string& out, OpContext& c) {
  segment_words(in, c.words);
  out.clear();
  const size_t n = c.words.size();
  if (n < 2) {  // never drop the only word
    out.assign(in.data(), in.size());
    return;
  }
  std::vector<bool> drop(n);
  size_t dropped = 0;
  for (size_t i = 0; i < n; ++i) {
    ++c.eligible;
    drop[i] = c.rng.bernoulli(c.rate);
    dropped += drop[i];
  }
  if (dropped == n) drop[n - 1] = false, --dropped;  // keep at least one word
  c.touched += dropped;
  size_t pos = 0;
  bool skip_leading = false;
  for (size_t i = 0; i < n; ++i) {
    std::u32string_view gap = in.substr(pos, c.words[i].begin - pos);
    if (skip_leading) {
      while (!gap.empty() && is_horizontal_space(gap.front())) gap.remove_prefix(1);
    }
    out.append(gap.data(), gap.size());
    skip_leading = false;
    pos = c.words[i].end;
    if (!drop[i]) {
      out.append(in.data() + c.words[i].begin, c.words[i].end - c.words[i].begin);
      continue;
    }
    // Remove one side's spacing: the spaces after the word when there are some ("a b c" ->
    // "a c"), else those before it ("a b." -> "a.").
    const std::u32string_view next = gap_after(in, c.words, i);
    if (!next.empty() && is_horizontal_space(next.front())) {
      skip_leading = true;
    } else {
      while (!out.empty() && is_horizontal_space(out.back())) out.pop_back();
    }
  }
  std::u32string_view tail = in.substr(pos);
  if (skip_leading) {
    while (!tail.empty() && is_horizontal_space(tail.front())) tail.remove_prefix(1);
  }
  out.append(tail.data(), tail.size());
}

void op_word_swap(std::u32string_view in, std::u32string& out, OpContext& c) {
  // A touched pair of neighbours trades places; gaps stay where they are. `rate` is the
  // share of words that move: a pair starts at each word with q = rate / (2 - rate), so
  // that moved words / words = 2q / (1 + q) = rate.
  segment_words(in, c.words);
  const size_t n = c.words.size();
  out.clear();
  if (n < 2) {
    out.assign(in.data(), in.size());
    return;
  }
  c.eligible += n;
  const double q = c.rate / (2.0 - c.rate);
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
  for (size_t i = 0; i + 1 < n;) {
    if (c.rng.bernoulli(q)) {
      std::swap(order[i], order[i + 1]);
      c.touched += 2;
      i += 2;
    } else {
      ++i;
    }
  }
  size_t pos = 0;
  for (size_t i = 0; i < n; ++i) {
    out.append(in.data() + pos, c.words[i].begin - pos);
    const WordSpan src = c.words[order[i]];
    out.append(in.data() + src.begin, src.end - src.begin);
    pos = c.words[i].end;
  }
  out.append(in.data() + pos, in.size() - pos);
}

void op_word_repeat(std::u32string_view in, std::u32string& out, OpContext& c) {
  per_word(in, out, c, [](std::u32string_view, size_t) { return true; },
           [](std::u32string_view w, bool, size_t, std::u32string& o) {
             o.append(w.data(), w.size());
             o.push_back(' ');
             o.append(w.data(), w.size());
           });
}

void op_distractor(std::u32string_view in, std::u32string& out, OpContext& c) {
  // Sentence level: the unit is the whole text (one with at least one word).
  segment_words(in, c.words);
  out.assign(in.data(), in.size());
  if (c.words.empty()) return;
  ++c.eligible;
  if (!c.rng.bernoulli(c.rate)) return;
  ++c.touched;
  const auto& phrases = c.lex.distractors();
  const std::u32string& phrase = phrases[c.rng.below(phrases.size())];
  if (c.rng.bernoulli(0.5)) {  // append, before any trailing whitespace (a newline stays last)
    size_t end = in.size();
    while (end > 0 && is_space(in[end - 1])) --end;
    out.assign(in.data(), end);
    out.push_back(' ');
    out.append(phrase);
    out.append(in.data() + end, in.size() - end);
  } else {  // prepend, after any leading whitespace
    size_t start = 0;
    while (start < in.size() && is_space(in[start])) ++start;
    out.assign(in.data(), start);
    out.append(phrase);
    out.push_back(' ');
    out.append(in.data() + start, in.size() - start);
  }
}

}  // namespace sturdy::perturb::detail
