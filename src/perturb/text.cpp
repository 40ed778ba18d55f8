// Code-point classes, word segmentation and case mapping (see sturdy/perturb/text.h).
#include "sturdy/perturb/text.h"

#include <array>

#include "sturdy/core/utf8.h"

namespace sturdy::perturb {
namespace {

constexpr std::array<CharClass, 128> make_ascii_table() {
  std::array<CharClass, 128> t{};
  for (int c = 0; c < 128; ++c) {
    CharClass k = CharClass::kOther;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      k = CharClass::kAlnum;
    } else if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) {
      k = CharClass::kSpace;
    } else if (c == '\'') {
      k = CharClass::kApostrophe;
    }
    t[c] = k;
  }
  return t;
}
constexpr std::array<CharClass, 128> kAsciiClass = make_ascii_table();

bool in(char32_t cp, char32_t lo, char32_t hi) { return cp >= lo && cp <= hi; }

CharClass classify_non_ascii(char32_t cp) {
  if (cp < 0x100) {
    if (cp == 0x85 || cp == 0xA0) return CharClass::kSpace;
    if (cp < 0xC0) return (cp == 0xAA || cp == 0xB5 || cp == 0xBA) ? CharClass::kAlnum : CharClass::kOther;
    return (cp == 0xD7 || cp == 0xF7) ? CharClass::kOther : CharClass::kAlnum;
  }
  if (cp < 0x2000) {
    if (in(cp, 0x300, 0x36F) || in(cp, 0x1AB0, 0x1AFF) || in(cp, 0x1DC0, 0x1DFF)) return CharClass::kMark;
    if (cp == 0x1680) return CharClass::kSpace;
    if (cp == 0x37E || cp == 0x387 || in(cp, 0x55A, 0x55F) || cp == 0x589 || cp == 0x5BE ||
        cp == 0x5C0 || cp == 0x5C3 || cp == 0x5C6 || in(cp, 0x5F3, 0x5F4) || in(cp, 0x600, 0x60F) ||
        cp == 0x61B || in(cp, 0x61D, 0x61F) || in(cp, 0x66A, 0x66D) || cp == 0x6D4 ||
        in(cp, 0x964, 0x965) || cp == 0xE3F || cp == 0x180E) {
      return CharClass::kOther;
    }
    return CharClass::kAlnum;
  }
  if (cp < 0x3000) {
    if (in(cp, 0x2000, 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F) {
      return CharClass::kSpace;
    }
    if (cp == 0x2019) return CharClass::kApostrophe;
    if (in(cp, 0x20D0, 0x20FF)) return CharClass::kMark;
    if (in(cp, 0x2070, 0x209F) || in(cp, 0x2150, 0x218F) || in(cp, 0x2C00, 0x2DFF)) return CharClass::kAlnum;
    if (in(cp, 0x2E80, 0x2FFF)) return CharClass::kAlnum;  // CJK radicals
    return CharClass::kOther;  // punctuation, currency, letterlike, arrows, math, shapes, dingbats
  }
  if (cp < 0xE000) {
    if (cp == 0x3000) return CharClass::kSpace;
    if (in(cp, 0x3001, 0x3004) || in(cp, 0x3008, 0x3020) || cp == 0x3030 || in(cp, 0x303D, 0x303F)) {
      return CharClass::kOther;
    }
    if (in(cp, 0x3099, 0x309A)) return CharClass::kMark;
    if (in(cp, 0xD800, 0xDFFF)) return CharClass::kOther;  // never in decoded text
    return CharClass::kAlnum;
  }
  if (cp < 0x10000) {
    if (cp < 0xF900) return CharClass::kOther;  // private use
    if (in(cp, 0xFE00, 0xFE0F) || in(cp, 0xFE20, 0xFE2F)) return CharClass::kMark;
    if (cp == 0xFD3E || cp == 0xFD3F || in(cp, 0xFE10, 0xFE1F) || in(cp, 0xFE30, 0xFE6F) ||
        cp == 0xFEFF || in(cp, 0xFF00, 0xFF0F) || in(cp, 0xFF1A, 0xFF20) || in(cp, 0xFF3B, 0xFF40) ||
        in(cp, 0xFF5B, 0xFF65) || in(cp, 0xFFE0, 0xFFFF)) {
      return CharClass::kOther;
    }
    return CharClass::kAlnum;
  }
  if (in(cp, 0x1D000, 0x1D24F) || in(cp, 0x1F000, 0x1FBFF) || in(cp, 0xE0000, 0xE007F) || cp >= 0xF0000) {
    return CharClass::kOther;  // musical symbols, emoji and pictographs, tags, private use
  }
  if (in(cp, 0xE0100, 0xE01EF)) return CharClass::kMark;
  return CharClass::kAlnum;
}

// Pairs laid out as (upper, lower) at even/odd code points.
bool even_odd_block(char32_t cp) {
  return (in(cp, 0x100, 0x12F) || in(cp, 0x132, 0x137) || in(cp, 0x14A, 0x177) ||
          in(cp, 0x460, 0x481) || in(cp, 0x48A, 0x4BF) || in(cp, 0x4D0, 0x52F));
}
// Pairs laid out as (upper, lower) at odd/even code points.
bool odd_even_block(char32_t cp) { return in(cp, 0x139, 0x148) || in(cp, 0x179, 0x17E) || in(cp, 0x4C1, 0x4CE); }

}  // namespace

CharClass classify(char32_t cp) {
  if (cp < 0x80) return kAsciiClass[cp];
  return classify_non_ascii(cp);
}

char32_t to_lower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  if (in(cp, 0xC0, 0xDE) && cp != 0xD7) return cp + 32;
  if (even_odd_block(cp)) return cp | 1;
  if (odd_even_block(cp)) return (cp & 1) ? cp + 1 : cp;
  if (cp == 0x178) return 0xFF;
  if (in(cp, 0x391, 0x3AB) && cp != 0x3A2) return cp + 32;
  if (in(cp, 0x410, 0x42F)) return cp + 32;
  if (in(cp, 0x400, 0x40F)) return cp + 80;
  if (in(cp, 0x531, 0x556)) return cp + 48;
  return cp;
}

char32_t to_upper(char32_t cp) {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') ? cp - 32 : cp;
  if (in(cp, 0xE0, 0xFE) && cp != 0xF7) return cp - 32;
  if (cp == 0xFF) return 0x178;
  if (even_odd_block(cp)) return cp & ~char32_t{1};
  if (odd_even_block(cp)) return (cp & 1) ? cp : cp - 1;
  if (cp == 0x3C2) return 0x3A3;  // final sigma
  if (in(cp, 0x3B1, 0x3CB)) return cp - 32;
  if (in(cp, 0x430, 0x44F)) return cp - 32;
  if (in(cp, 0x450, 0x45F)) return cp - 80;
  if (in(cp, 0x561, 0x586)) return cp - 48;
  return cp;
}

void segment_words(std::u32string_view text, std::vector<WordSpan>& words) {
  words.clear();
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    CharClass c = classify(text[i]);
    if (c != CharClass::kAlnum && c != CharClass::kMark) {
      ++i;
      continue;
    }
    const size_t begin = i;
    bool has_alnum = false;
    while (i < n) {
      c = classify(text[i]);
      if (c == CharClass::kAlnum) {
        has_alnum = true;
      } else if (c == CharClass::kMark) {
      } else if (c == CharClass::kApostrophe && i > begin && i + 1 < n &&
                 classify(text[i + 1]) == CharClass::kAlnum) {
        // an apostrophe between two word characters stays inside the word
      } else {
        break;
      }
      ++i;
    }
    if (has_alnum) words.push_back({static_cast<uint32_t>(begin), static_cast<uint32_t>(i)});
  }
}

CaseShape case_shape(std::u32string_view word) {
  size_t upper = 0, lower = 0;
  bool first_upper = false, seen_first = false;
  for (char32_t cp : word) {
    const bool u = is_upper(cp), l = is_lower(cp);
    if (!u && !l) continue;
    if (!seen_first) first_upper = u, seen_first = true;
    upper += u;
    lower += l;
  }
  if (upper == 0 && lower == 0) return CaseShape::kNoCase;
  if (upper == 0) return CaseShape::kLower;
  if (lower == 0) return upper == 1 && word.size() > 1 ? CaseShape::kTitle : CaseShape::kUpper;
  if (first_upper && upper == 1) return CaseShape::kTitle;
  return CaseShape::kMixed;
}

void append_with_case(std::u32string& out, std::u32string_view replacement, CaseShape shape) {
  bool first = true;
  for (char32_t cp : replacement) {
    switch (shape) {
      case CaseShape::kLower: out.push_back(to_lower(cp)); break;
      case CaseShape::kUpper: out.push_back(to_upper(cp)); break;
      case CaseShape::kTitle:
        if (first && has_case(cp)) {
          out.push_back(to_upper(cp));
          first = false;
        } else {
          out.push_back(first ? cp : to_lower(cp));
        }
        break;
      default: out.push_back(cp);
    }
  }
}

void lexicon_key(std::u32string_view word, std::string& key) {
  key.clear();
  for (char32_t cp : word) {
    if (cp == 0x2019) cp = '\'';
    cp = to_lower(cp);
    if (cp < 0x80) {
      key.push_back(static_cast<char>(cp));
    } else {
      utf8::append(key, cp);
    }
  }
}

}  // namespace sturdy::perturb
