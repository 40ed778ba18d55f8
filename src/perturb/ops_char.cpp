// Character-level ops: one edit inside each touched word (docs/perturbations.md).
//
// Each op first counts the places in a word where it can act (a word with none is not
// eligible and is left alone), then, for a touched word, picks one of them uniformly.
// Every edit changes the word, so "touched" always means "visibly different".
#include <array>

#include "ops.h"

namespace sturdy::perturb::detail {
namespace {

// Keyboard neighbours of `cp`; an upper-case letter uses its lower-case key and its
// neighbours are shifted back to upper case.
const std::u32string* neighbours(const CharMap& map, char32_t cp, bool* shifted) {
  *shifted = false;
  if (const std::u32string* n = map.find(cp)) return n;
  const char32_t lower = to_lower(cp);
  if (lower != cp) {
    *shifted = true;
    return map.find(lower);
  }
  return nullptr;
}

size_t count_keyboard(const CharMap& map, std::u32string_view word) {
  size_t n = 0;
  bool shifted;
  for (char32_t cp : word) n += neighbours(map, cp, &shifted) != nullptr;
  return n;
}

// Index of the k-th position of `word` for which pred holds.
template <class Pred>
size_t nth_position(std::u32string_view word, size_t k, Pred pred) {
  for (size_t i = 0; i < word.size(); ++i) {
    if (pred(i) && k-- == 0) return i;
  }
  return word.size();  // unreachable when k < count
}

constexpr std::array<char32_t, 8> kInvisible = {
    0x200B,  // zero width space
    0x200C,  // zero width non-joiner
    0x200D,  // zero width joiner
    0x2060,  // word joiner
    0xFEFF,  // zero width no-break space
    0x00AD,  // soft hyphen
    0x200E,  // left-to-right mark
    0x200F,  // right-to-left mark
};

}  // namespace

void op_keyboard(std::u32string_view in, std::u32string& out, OpContext& c) {
  const CharMap& map = c.lex.keyboard();
  per_word(in, out, c, [&](std::u32string_view w, size_t) { return count_keyboard(map, w); },
           [&](std::u32string_view w, size_t count, size_t, std::u32string& o) {
             bool shifted;
             const size_t at = nth_position(w, c.rng.below(count),
                                            [&](size_t i) { return neighbours(map, w[i], &shifted) != nullptr; });
             const std::u32string* n = neighbours(map, w[at], &shifted);
             char32_t repl = (*n)[c.rng.below(n->size())];
             if (shifted) repl = to_upper(repl);
             if (repl == w[at]) repl = (*n)[0] != w[at] ? (*n)[0] : n->back();  // a map may list the key itself cased
             o.append(w.data(), at);
             o.push_back(repl);
             o.append(w.data() + at + 1, w.size() - at - 1);
           });
}

void op_swap(std::u32string_view in, std::u32string& out, OpContext& c) {
  auto pairs = [](std::u32string_view w) {
    size_t n = 0;
    for (size_t i = 0; i + 1 < w.size(); ++i) n += w[i] != w[i + 1];
    return n;
  };
  per_word(in, out, c, [&](std::u32string_view w, size_t) { return pairs(w); },
           [&](std::u32string_view w, size_t count, size_t, std::u32string& o) {
             const size_t at = nth_position(w, c.rng.below(count),
                                            [&](size_t i) { return i + 1 < w.size() && w[i] != w[i + 1]; });
             const size_t start = o.size();
             o.append(w.data(), w.size());
             std::swap(o[start + at], o[start + at + 1]);
           });
}

void op_delete(std::u32string_view in, std::u32string& out, OpContext& c) {
  per_word(in, out, c, [](std::u32string_view w, size_t) { return w.size() >= 2; },
           [&](std::u32string_view w, bool, size_t, std::u32string& o) {
             const size_t at = c.rng.below(w.size());
             o.append(w.data(), at);
             o.append(w.data() + at + 1, w.size() - at - 1);
           });
}

void op_insert(std::u32string_view in, std::u32string& out, OpContext& c) {
  const CharMap& map = c.lex.keyboard();
  per_word(in, out, c, [](std::u32string_view w, size_t) { return !w.empty(); },
           [&](std::u32string_view w, bool, size_t, std::u32string& o) {
             // A fat-finger slip: a neighbour of the key just typed (or of the first key).
             const size_t at = c.rng.below(w.size() + 1);
             const char32_t ref = w[at > 0 ? at - 1 : 0];
             bool shifted;
             const std::u32string* n = neighbours(map, ref, &shifted);
             char32_t ins = n ? (*n)[c.rng.below(n->size())] : static_cast<char32_t>('a' + c.rng.below(26));
             if (shifted) ins = to_upper(ins);
             o.append(w.data(), at);
             o.push_back(ins);
             o.append(w.data() + at, w.size() - at);
           });
}

void op_substitute(std::u32string_view in, std::u32string& out, OpContext& c) {
  auto alnums = [](std::u32string_view w) {
    size_t n = 0;
    for (char32_t cp : w) n += is_alnum(cp);
    return n;
  };
  per_word(in, out, c, [&](std::u32string_view w, size_t) { return alnums(w); },
           [&](std::u32string_view w, size_t count, size_t, std::u32string& o) {
             const size_t at = nth_position(w, c.rng.below(count), [&](size_t i) { return is_alnum(w[i]); });
             const char32_t old = w[at];
             char32_t repl;
             if (is_ascii_digit(old)) {
               repl = '0' + c.rng.below(9);
               if (repl >= old) ++repl;  // uniform over the 9 other digits
             } else {
               const char32_t lower = to_lower(old);
               if (is_ascii_letter(lower)) {
                 repl = 'a' + c.rng.below(25);
                 if (repl >= lower) ++repl;
               } else {
                 repl = 'a' + c.rng.below(26);
               }
               if (is_upper(old)) repl = to_upper(repl);
             }
             o.append(w.data(), at);
             o.push_back(repl);
             o.append(w.data() + at + 1, w.size() - at - 1);
           });
}

void op_ocr(std::u32string_view in, std::u32string& out, OpContext& c) {
  const SeqMap& map = c.lex.ocr();
  // Calls f(position, rule) for every place a rule matches inside the word.
  auto each_match = [&map](std::u32string_view w, auto f) {
    for (size_t i = 0; i < w.size(); ++i) {
      const std::vector<uint32_t>* rules = map.starting_with(w[i]);
      if (!rules) continue;
      for (uint32_t r : *rules) {
        const std::u32string& from = map.rules()[r].from;
        if (w.compare(i, from.size(), from) == 0 && !f(i, r)) return;
      }
    }
  };
  per_word(
      in, out, c,
      [&](std::u32string_view w, size_t) {
        size_t n = 0;
        each_match(w, [&](size_t, uint32_t) { return ++n, true; });
        return n;
      },
      [&](std::u32string_view w, size_t count, size_t, std::u32string& o) {
        size_t k = c.rng.below(count), at = 0;
        uint32_t rule = 0;
        each_match(w, [&](size_t i, uint32_t r) {
          if (k-- != 0) return true;
          at = i, rule = r;
          return false;
        });
        const SeqRule& sr = map.rules()[rule];
        const std::u32string& to = sr.to[c.rng.below(sr.to.size())];
        o.append(w.data(), at);
        o.append(to);
        o.append(w.data() + at + sr.from.size(), w.size() - at - sr.from.size());
      });
}

void op_homoglyph(std::u32string_view in, std::u32string& out, OpContext& c) {
  const CharMap& map = c.lex.homoglyphs();
  auto count = [&](std::u32string_view w) {
    size_t n = 0;
    for (char32_t cp : w) n += map.find(cp) != nullptr;
    return n;
  };
  per_word(in, out, c, [&](std::u32string_view w, size_t) { return count(w); },
           [&](std::u32string_view w, size_t n, size_t, std::u32string& o) {
             const size_t at = nth_position(w, c.rng.below(n), [&](size_t i) { return map.find(w[i]) != nullptr; });
             const std::u32string* alts = map.find(w[at]);
             o.append(w.data(), at);
             o.push_back((*alts)[c.rng.below(alts->size())]);
             o.append(w.data() + at + 1, w.size() - at - 1);
           });
}

void op_invisible(std::u32string_view in, std::u32string& out, OpContext& c) {
  per_word(in, out, c, [](std::u32string_view w, size_t) { return w.size() >= 2; },
           [&](std::u32string_view w, bool, size_t, std::u32string& o) {
             const size_t at = 1 + c.rng.below(w.size() - 1);  // strictly inside the word
             o.append(w.data(), at);
             o.push_back(kInvisible[c.rng.below(kInvisible.size())]);
             o.append(w.data() + at, w.size() - at);
           });
}

void op_case(std::u32string_view in, std::u32string& out, OpContext& c) {
  auto cased = [](std::u32string_view w) {
    size_t n = 0;
    for (char32_t cp : w) n += has_case(cp);
    return n;
  };
  per_word(in, out, c, [&](std::u32string_view w, size_t) { return cased(w); },
           [&](std::u32string_view w, size_t n, size_t, std::u32string& o) {
             // Variants that change this word: all lower, ALL UPPER, Title, one letter flipped.
             const CaseShape shape = case_shape(w);
             CaseShape variants[3];
             size_t nv = 0;
             if (shape != CaseShape::kLower) variants[nv++] = CaseShape::kLower;
             if (shape != CaseShape::kUpper) variants[nv++] = CaseShape::kUpper;
             if (shape != CaseShape::kTitle && n > 1) variants[nv++] = CaseShape::kTitle;
             const size_t pick = c.rng.below(nv + 1);
             if (pick < nv) {
               const size_t start = o.size();
               append_with_case(o, w, variants[pick]);
               if (o.compare(start, w.size(), w.data(), w.size()) != 0) return;
               o.resize(start);  // Title of a word like "x1" may equal it: fall through to a flip
             }
             const size_t at = nth_position(w, c.rng.below(n), [&](size_t i) { return has_case(w[i]); });
             const size_t start = o.size();
             o.append(w.data(), w.size());
             o[start + at] = is_upper(w[at]) ? to_lower(w[at]) : to_upper(w[at]);
           });
}

void op_lowercase(std::u32string_view in, std::u32string& out, OpContext& c) {
  per_word(
      in, out, c,
      [](std::u32string_view w, size_t) {
        for (char32_t cp : w) {
          if (is_upper(cp)) return true;
        }
        return false;
      },
      [](std::u32string_view w, bool, size_t, std::u32string& o) {
        for (char32_t cp : w) o.push_back(to_lower(cp));
      });
}

}  // namespace sturdy::perturb::detail
