// Lexicon tables, their built-in defaults and their file loaders (formats: docs/perturbations.md).
#include "sturdy/perturb/lexicons.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "builtin_tables.h"
#include "sturdy/core/error.h"
#include "sturdy/core/utf8.h"
#include "sturdy/perturb/text.h"

namespace sturdy::perturb {
namespace fs = std::filesystem;
namespace {

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  STURDY_USAGE_CHECK(in.good(), "{}: cannot open the {} file (check the path in the lexicon options)",
                     path, what);
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  if (text.size() >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);  // BOM
  const size_t bad = utf8::find_invalid(text);
  STURDY_USAGE_CHECK(bad == std::string::npos, "{}: invalid UTF-8 at byte {}", path, bad);
  return text;
}

nlohmann::json read_json(const std::string& path, const char* what) {
  const std::string text = read_file(path, what);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(fmt::format("{}: not valid JSON ({})", path, e.what()));
  }
}

// JSON value that is a string or an array of strings -> the strings.
std::vector<std::string> json_strings(const nlohmann::json& v, const std::string& path, const std::string& key) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    for (const auto& e : v) {
      STURDY_USAGE_CHECK(e.is_string(), "{}: entry '{}' must list strings", path, key);
      out.push_back(e.get<std::string>());
    }
  } else {
    throw UsageError(fmt::format("{}: entry '{}' must be a string or a list of strings", path, key));
  }
  return out;
}

bool single_word(const std::u32string& w) {
  if (w.empty()) return false;
  for (char32_t cp : w) {
    const CharClass c = classify(cp);
    if (c == CharClass::kSpace || cp == '_') return false;
  }
  return true;
}

void add_misspelling(WordTable& table, std::string_view right, std::string_view wrong) {
  const std::u32string r = utf8::decode(right), w = utf8::decode(wrong);
  if (!single_word(r) || !single_word(w)) return;
  std::string key, wrong_key;
  lexicon_key(r, key);
  lexicon_key(w, wrong_key);
  if (key == wrong_key) return;  // only a capitalisation variant
  std::u32string lowered = utf8::decode(wrong_key);
  auto& list = table[key];
  if (std::find(list.begin(), list.end(), lowered) == list.end()) list.push_back(std::move(lowered));
}

std::vector<std::string> split_ws(std::string_view line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) out.emplace_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

template <class F>
void for_each_line(const std::string& text, F f) {
  size_t start = 0;
  size_t line_no = 1;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    f(line, line_no++);
    if (end == text.size()) break;
    start = end + 1;
  }
}

char32_t parse_hex_cp(std::string_view s, bool* ok) {
  if (s.empty() || s.size() > 6) return *ok = false, 0;
  char32_t v = 0;
  for (char c : s) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else return *ok = false, 0;
  }
  *ok = v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF);
  return v;
}

// A look-alike is only useful inside a word: it must itself be a visible word character.
// Mathematical alphanumerics (U+1D400..U+1D7FF: bold, italic, script... letters) are left
// out as replacements: they render in a visibly different style, unlike Cyrillic or Greek.
bool usable_glyph(char32_t cp) { return classify(cp) == CharClass::kAlnum; }
bool usable_replacement(char32_t cp) { return usable_glyph(cp) && !(cp >= 0x1D400 && cp <= 0x1D7FF); }

}  // namespace

// ---- CharMap / SeqMap --------------------------------------------------------------------

const std::u32string* CharMap::find(char32_t cp) const {
  if (cp < 128) return ascii_[cp].empty() ? nullptr : &ascii_[cp];
  if (other_.empty()) return nullptr;
  auto it = other_.find(cp);
  return it == other_.end() ? nullptr : &it->second;
}

void CharMap::add(char32_t from, char32_t to) {
  if (from == to) return;
  std::u32string& list = from < 128 ? ascii_[from] : other_[from];
  if (from < 128 && list.empty()) ++ascii_count_;
  if (list.find(to) == std::u32string::npos) list.push_back(to);
}

void SeqMap::add(const std::u32string& from, const std::u32string& to) {
  if (from.empty() || from == to) return;
  for (auto& rule : rules_) {
    if (rule.from == from) {
      if (std::find(rule.to.begin(), rule.to.end(), to) == rule.to.end()) rule.to.push_back(to);
      return;
    }
  }
  by_first_[from[0]].push_back(static_cast<uint32_t>(rules_.size()));
  rules_.push_back({from, {to}});
}

const std::vector<uint32_t>* SeqMap::starting_with(char32_t cp) const {
  auto it = by_first_.find(cp);
  return it == by_first_.end() ? nullptr : &it->second;
}

// ---- loaders ------------------------------------------------------------------------------

void load_char_map_json(const std::string& path, CharMap& out) {
  const nlohmann::json j = read_json(path, "keyboard map");
  STURDY_USAGE_CHECK(j.is_object(), "{}: expected a JSON object {{\"a\": [\"q\", \"w\"], ...}}", path);
  for (const auto& [key, value] : j.items()) {
    const std::u32string from = utf8::decode(key);
    STURDY_USAGE_CHECK(from.size() == 1, "{}: key '{}' must be one character", path, key);
    for (const std::string& s : json_strings(value, path, key)) {
      const std::u32string to = utf8::decode(s);
      if (to.size() == 1) out.add(from[0], to[0]);  // multi-character entries are not key slips
    }
  }
}

void load_seq_map_json(const std::string& path, SeqMap& out) {
  const nlohmann::json j = read_json(path, "OCR map");
  STURDY_USAGE_CHECK(j.is_object(), "{}: expected a JSON object {{\"rn\": [\"m\"], ...}}", path);
  for (const auto& [key, value] : j.items()) {
    STURDY_USAGE_CHECK(!key.empty(), "{}: empty key", path);
    for (const std::string& s : json_strings(value, path, key)) out.add(utf8::decode(key), utf8::decode(s));
  }
}

void load_confusables(const std::string& path, CharMap& out) {
  const std::string text = read_file(path, "confusables");
  for_each_line(text, [&](std::string_view line, size_t line_no) {
    if (line.empty() || line[0] == '#') return;
    const size_t semi = line.find(';');
    if (semi != std::string_view::npos) {
      // UTS #39: "SOURCE ; TARGET ; MA # comment": SOURCE looks like the prototype TARGET,
      // so TARGET -> SOURCE is a look-alike substitution. Only 1:1 mappings are used.
      const size_t semi2 = line.find(';', semi + 1);
      STURDY_USAGE_CHECK(semi2 != std::string_view::npos, "{}:{}: expected 'SOURCE ; TARGET ; TYPE'",
                         path, line_no);
      const auto src = split_ws(line.substr(0, semi));
      const auto tgt = split_ws(line.substr(semi + 1, semi2 - semi - 1));
      if (src.size() != 1 || tgt.size() != 1) return;
      bool ok1 = true, ok2 = true;
      const char32_t s = parse_hex_cp(src[0], &ok1), t = parse_hex_cp(tgt[0], &ok2);
      STURDY_USAGE_CHECK(ok1 && ok2, "{}:{}: bad hexadecimal code point", path, line_no);
      if (usable_replacement(s) && usable_glyph(t)) out.add(t, s);
      return;
    }
    // One set of mutually confusable characters per line (codebox/homoglyph chars.txt).
    const std::u32string set = utf8::decode(line);
    for (char32_t a : set) {
      if (!usable_glyph(a)) continue;
      for (char32_t b : set) {
        if (usable_replacement(b)) out.add(a, b);
      }
    }
  });
}

void load_misspellings(const std::string& path, WordTable& out) {
  const bool json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  if (json) {
    const nlohmann::json j = read_json(path, "misspellings");
    STURDY_USAGE_CHECK(j.is_object(), "{}: expected a JSON object", path);
    for (const auto& [key, value] : j.items()) {
      if (value.is_string()) {  // {wrong: right} (Wikipedia's list)
        add_misspelling(out, value.get<std::string>(), key);
      } else {  // {right: [wrong, ...]} (Birkbeck)
        for (const std::string& wrong : json_strings(value, path, key)) add_misspelling(out, key, wrong);
      }
    }
    return;
  }
  // Text: "right wrong1 wrong2 ..." per line (nlpaug); repeated head words are merged.
  const std::string text = read_file(path, "misspellings");
  for_each_line(text, [&](std::string_view line, size_t) {
    if (line.empty() || line[0] == '#') return;
    const auto words = split_ws(line);
    for (size_t i = 1; i < words.size(); ++i) add_misspelling(out, words[0], words[i]);
  });
}

void load_phrases(const std::string& path, std::vector<std::u32string>& out) {
  const std::string text = read_file(path, "distractor phrases");
  for_each_line(text, [&](std::string_view line, size_t) {
    if (line.empty() || line[0] == '#') return;
    out.push_back(utf8::decode(line));
  });
  STURDY_USAGE_CHECK(!out.empty(), "{}: no phrases (one per line expected)", path);
}

// ---- LexiconPaths -------------------------------------------------------------------------

LexiconPaths LexiconPaths::from_dir(const std::string& dir) {
  STURDY_USAGE_CHECK(fs::is_directory(dir), "{}: lexicon directory not found", dir);
  LexiconPaths p;
  auto first = [&](std::initializer_list<const char*> names) -> std::string {
    for (const char* n : names) {
      const fs::path f = fs::path(dir) / n;
      if (fs::exists(f)) return f.string();
    }
    return "";
  };
  p.keyboard = first({"keyboard.json", "char_noise_maps/nlpaug_keyboard_en.json"});
  p.ocr = first({"ocr.json", "char_noise_maps/nlpaug_ocr_en.json"});
  p.confusables = first({"confusables.txt", "homoglyphs.txt", "confusables/confusables.txt"});
  p.distractors = first({"distractors.txt"});
  for (const fs::path& sub : {fs::path(dir), fs::path(dir) / "misspellings"}) {
    if (!fs::is_directory(sub)) continue;
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(sub)) {
      const std::string name = e.path().filename().string();
      const std::string ext = e.path().extension().string();
      const bool named = name.rfind("misspellings", 0) == 0 || sub != fs::path(dir);
      if (e.is_regular_file() && named && (ext == ".json" || ext == ".txt")) found.push_back(e.path().string());
    }
    std::sort(found.begin(), found.end());  // a stable order, so the merged lists are stable
    p.misspellings.insert(p.misspellings.end(), found.begin(), found.end());
  }
  if (fs::is_directory(fs::path(dir) / "wordnet")) p.wordnet_dir = (fs::path(dir) / "wordnet").string();
  return p;
}

// ---- Lexicons -----------------------------------------------------------------------------

std::shared_ptr<const Lexicons> Lexicons::builtin() { return load(LexiconPaths{}); }

std::shared_ptr<const Lexicons> Lexicons::load(const LexiconPaths& paths) {
  std::shared_ptr<Lexicons> lex(new Lexicons());
  lex->paths_ = paths;

  if (paths.keyboard.empty()) {
    for (size_t i = 0; i < builtin::kKeyboardSize; ++i) {
      for (const char* n = builtin::kKeyboard[i].neighbours; *n; ++n) {
        lex->keyboard_.add(static_cast<char32_t>(builtin::kKeyboard[i].key), static_cast<char32_t>(*n));
      }
    }
  } else {
    load_char_map_json(paths.keyboard, lex->keyboard_);
  }

  if (paths.ocr.empty()) {
    for (size_t i = 0; i < builtin::kOcrSize; ++i) {
      lex->ocr_.add(utf8::decode(builtin::kOcr[i].from), utf8::decode(builtin::kOcr[i].to));
    }
  } else {
    load_seq_map_json(paths.ocr, lex->ocr_);
  }

  if (paths.confusables.empty()) {
    for (size_t i = 0; i < builtin::kHomoglyphsSize; ++i) {
      const std::u32string from = utf8::decode(builtin::kHomoglyphs[i].from);
      for (char32_t to : utf8::decode(builtin::kHomoglyphs[i].to)) {
        if (to != ' ') lex->homoglyphs_.add(from[0], to);
      }
    }
  } else {
    load_confusables(paths.confusables, lex->homoglyphs_);
  }

  if (paths.misspellings.empty()) {
    for (size_t i = 0; i < builtin::kMisspellingsSize; ++i) {
      const auto words = split_ws(builtin::kMisspellings[i]);
      for (size_t k = 1; k < words.size(); ++k) add_misspelling(lex->misspellings_, words[0], words[k]);
    }
  } else {
    for (const std::string& path : paths.misspellings) load_misspellings(path, lex->misspellings_);
  }

  if (paths.distractors.empty()) {
    for (size_t i = 0; i < builtin::kDistractorsSize; ++i) {
      lex->distractors_.push_back(utf8::decode(builtin::kDistractors[i]));
    }
  } else {
    load_phrases(paths.distractors, lex->distractors_);
  }
  return lex;
}

const WordNet& Lexicons::wordnet() const {
  std::call_once(wordnet_once_, [this] {
    try {
      wordnet_ = std::make_unique<WordNet>(paths_.wordnet_dir);
    } catch (const Error& e) {
      wordnet_error_ = e.what();
    }
  });
  if (!wordnet_) throw UsageError(wordnet_error_);
  return *wordnet_;
}

}  // namespace sturdy::perturb
