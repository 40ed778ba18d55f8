// WordNet 3.x synonyms read straight from the dictionary files (wndb(5) format).
//
// Our own reader rather than libwordnet: the C library keeps global state (open file
// handles, static buffers) and is not thread-safe, while this table is built once and then
// only read. For each lemma of index.POS we take its first kSensesPerPos synsets (index
// order = sense frequency order) and keep their other single-word, lower-case lemmas.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "sturdy/core/error.h"
#include "sturdy/core/utf8.h"
#include "sturdy/perturb/lexicons.h"

namespace sturdy::perturb {
namespace {

constexpr size_t kSensesPerPos = 2;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  STURDY_USAGE_CHECK(in.good(),
                     "{}: WordNet file not found (install wordnet-base, or point the wordnet "
                     "lexicon path at a WordNet 3 dict directory)",
                     path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// A plain word: ASCII letters with internal hyphens or apostrophes, no upper case
// (upper case marks a proper noun in the data files).
bool plain_word(std::string_view w) {
  if (w.size() < 2) return false;
  for (size_t i = 0; i < w.size(); ++i) {
    const char c = w[i];
    if (c >= 'a' && c <= 'z') continue;
    if ((c == '-' || c == '\'') && i > 0 && i + 1 < w.size()) continue;
    return false;
  }
  return true;
}

// Strips the adjective position marker: "galore(ip)" -> "galore".
std::string_view strip_marker(std::string_view w) {
  const size_t p = w.find('(');
  return p == std::string_view::npos ? w : w.substr(0, p);
}

struct Tokenizer {
  std::string_view line;
  size_t pos = 0;
  std::string_view next() {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    const size_t start = pos;
    while (pos < line.size() && line[pos] != ' ') ++pos;
    return line.substr(start, pos - start);
  }
};

uint64_t parse_uint(std::string_view s, int base) {
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else throw UsageError(fmt::format("WordNet: bad number '{}'", s));
    if (d >= base) throw UsageError(fmt::format("WordNet: bad number '{}'", s));
    v = v * base + d;
  }
  return v;
}

template <class F>
void for_each_entry_line(const std::string& text, F f) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    if (!line.empty() && line[0] != ' ') f(line);  // licence header lines start with spaces
    start = end + 1;
  }
}

}  // namespace

WordNet::WordNet(const std::string& dir) {
  static const char* const kPos[] = {"noun", "verb", "adj", "adv"};
  std::unordered_map<std::string, int64_t> primary_tagged;  // lemma -> tagsense_cnt of its primary part of speech
  for (const char* pos : kPos) {
    // data.POS: synset offset -> its plain lemmas (empty strings stand for unusable ones).
    const std::string data_path = dir + "/data." + pos;
    const std::string data = slurp(data_path);
    std::unordered_map<uint32_t, std::vector<std::string_view>> synsets;
    synsets.reserve(data.size() / 200);
    try {
      for_each_entry_line(data, [&](std::string_view line) {
        Tokenizer t{line};
        const auto offset = static_cast<uint32_t>(parse_uint(t.next(), 10));
        t.next();  // lex_filenum
        t.next();  // ss_type
        const size_t count = parse_uint(t.next(), 16);
        auto& words = synsets[offset];
        words.reserve(count);
        for (size_t i = 0; i < count; ++i) {
          const std::string_view w = strip_marker(t.next());
          t.next();  // lex_id
          words.push_back(plain_word(w) ? w : std::string_view());
        }
      });
    } catch (const UsageError& e) {
      throw UsageError(fmt::format("{}: {}", data_path, e.what()));
    }

    const std::string index_path = dir + "/index." + pos;
    const std::string index = slurp(index_path);
    try {
      for_each_entry_line(index, [&](std::string_view line) {
        Tokenizer t{line};
        const std::string_view lemma = t.next();
        t.next();  // pos
        const size_t synset_cnt = parse_uint(t.next(), 10);
        const size_t p_cnt = parse_uint(t.next(), 10);
        if (!plain_word(lemma)) return;
        for (size_t i = 0; i < p_cnt; ++i) t.next();
        t.next();  // sense_cnt
        const auto tagged = static_cast<int64_t>(parse_uint(t.next(), 10));  // tagsense_cnt
        std::vector<std::u32string>* list = nullptr;
        std::vector<std::u32string> this_pos;  // this part of speech's synonyms, for primary_synonyms
        for (size_t s = 0; s < synset_cnt && s < kSensesPerPos; ++s) {
          const auto offset = static_cast<uint32_t>(parse_uint(t.next(), 10));
          auto it = synsets.find(offset);
          if (it == synsets.end()) continue;
          for (std::string_view w : it->second) {
            if (w.empty() || w == lemma) continue;
            if (!list) list = &synonyms_[std::string(lemma)];
            std::u32string cand(w.begin(), w.end());  // plain_word: ASCII only
            if (std::find(this_pos.begin(), this_pos.end(), cand) == this_pos.end()) this_pos.push_back(cand);
            if (std::find(list->begin(), list->end(), cand) == list->end()) list->push_back(std::move(cand));
          }
        }
        // The part of speech with the most tagged senses is the word's primary one (the
        // first in noun, verb, adj, adv order on a tie).
        auto [best, fresh] = primary_tagged.try_emplace(std::string(lemma), tagged);
        if (fresh || tagged > best->second) {
          best->second = tagged;
          primary_[best->first] = std::move(this_pos);
        }
      });
    } catch (const UsageError& e) {
      throw UsageError(fmt::format("{}: {}", index_path, e.what()));
    }
  }
}

const std::vector<std::u32string>* WordNet::synonyms(const std::string& key) const {
  auto it = synonyms_.find(key);
  return it == synonyms_.end() ? nullptr : &it->second;
}

const std::vector<std::u32string>* WordNet::primary_synonyms(const std::string& key) const {
  auto it = primary_.find(key);
  return it == primary_.end() || it->second.empty() ? nullptr : &it->second;
}

}  // namespace sturdy::perturb
