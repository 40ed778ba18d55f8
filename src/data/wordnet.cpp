// The WordNet demo corpus: synset definitions labelled with their lexicographer file
// (noun.animal, verb.motion, ...), read from Debian's wordnet-base data files (wndb(5)).
// Bigger classes are subsampled deterministically so the corpus stays small and balanced.
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "import_rows.h"
#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#include "sturdy/core/sha256.h"
#include "sturdy/core/utf8.h"

namespace sturdy {

namespace {
constexpr uint64_t kSubsampleTag = 0x3A7D0u;
constexpr int64_t kIdPosStride = 100000000;  // synset offsets have 8 decimal digits
}  // namespace

const std::vector<std::string>& wordnet_lexnames() {
  // lexnames(5), WordNet 3.0: the index is lex_filenum in the data files.
  static const std::vector<std::string> kNames{
      "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
      "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
      "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
      "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
      "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change",
      "verb.cognition", "verb.communication", "verb.competition", "verb.consumption", "verb.contact",
      "verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social",
      "verb.stative", "verb.weather", "adj.ppl"};
  return kNames;
}

const std::vector<std::string>& wordnet_default_classes() {
  // Topical classes whose definitions use distinct vocabulary ("a tree ...", "a person who ...",
  // "move ..."), so a tiny byte-level model learns them in minutes. Order = label index.
  static const std::vector<std::string> kClasses{"noun.animal", "noun.plant", "noun.food", "noun.person",
                                                 "noun.body", "noun.location", "verb.motion",
                                                 "verb.communication"};
  return kClasses;
}

namespace import_detail {

namespace {

// The definition part of a gloss: the text before the first quoted example ('; "...').
std::string gloss_definition(const std::string& gloss) {
  size_t cut = gloss.find("; \"");
  if (gloss.rfind('"', 0) == 0) cut = 0;  // a gloss that is only examples has no definition
  std::string def = gloss.substr(0, cut);
  while (!def.empty() && (def.back() == ' ' || def.back() == ';')) def.pop_back();
  size_t start = def.find_first_not_of(' ');
  return start == std::string::npos ? "" : def.substr(start);
}

int pos_code(const std::string& pos) {
  if (pos == "noun") return 1;
  if (pos == "verb") return 2;
  if (pos == "adj") return 3;
  return 4;  // adv
}

}  // namespace

WordnetSource read_wordnet(const ImportOptions& opts, RowSink& sink) {
  WordnetSource out;
  // --input may name the WordNet folder; otherwise --wordnet-dir (default /usr/share/wordnet).
  out.source = opts.input.empty() ? opts.wordnet_dir : opts.input;
  const std::vector<std::string>& lexnames = wordnet_lexnames();
  out.label_names = opts.label_names.empty() ? wordnet_default_classes() : opts.label_names;
  std::map<int, int32_t> kept;  // lex_filenum -> label index
  std::vector<std::string> pos_files;
  for (size_t i = 0; i < out.label_names.size(); ++i) {
    const std::string& name = out.label_names[i];
    auto it = std::find(lexnames.begin(), lexnames.end(), name);
    STURDY_USAGE_CHECK(it != lexnames.end(), "prepare --format wordnet: '{}' is not a WordNet lexicographer "
                       "file name (e.g. noun.animal, verb.motion; see lexnames(5))", name);
    kept[static_cast<int>(it - lexnames.begin())] = static_cast<int32_t>(i);
    std::string pos = name.substr(0, name.find('.'));
    if (std::find(pos_files.begin(), pos_files.end(), pos) == pos_files.end()) pos_files.push_back(pos);
  }
  std::sort(pos_files.begin(), pos_files.end(),
            [](const std::string& a, const std::string& b) { return pos_code(a) < pos_code(b); });

  struct Candidate {
    RawRow row;
    int32_t label;
    uint64_t priority;
  };
  std::vector<Candidate> candidates;
  std::string checksums;
  for (const std::string& pos : pos_files) {
    const std::string path = out.source + "/data." + pos;
    std::ifstream in(path, std::ios::binary);
    STURDY_USAGE_CHECK(in.good(), "{}: cannot open the WordNet data file (install the wordnet-base package "
                       "or pass --wordnet-dir)", path);
    checksums += fmt::format("data.{} {}\n", pos, sha256_file(path));
    std::string line;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty() || line[0] == ' ') continue;  // the licence header lines start with two spaces
      if (!utf8::is_valid(line)) {
        sink.bad(path, line_no, "invalid UTF-8");
        continue;
      }
      // synset_offset lex_filenum ss_type w_cnt word lex_id [...] | gloss
      std::istringstream fields(line);
      std::string offset_s, lex_s;
      fields >> offset_s >> lex_s;
      size_t bar = line.find(" | ");
      bool well_formed = offset_s.size() == 8 && lex_s.size() == 2 && bar != std::string::npos &&
                         std::all_of(offset_s.begin(), offset_s.end(), ::isdigit) &&
                         std::all_of(lex_s.begin(), lex_s.end(), ::isdigit);
      if (!well_formed) {
        sink.bad(path, line_no, "not a wndb(5) synset line ('OFFSET LEXFILE TYPE ... | GLOSS')");
        continue;
      }
      int lex = std::stoi(lex_s);
      auto label = kept.find(lex);
      if (label == kept.end()) continue;
      const int64_t offset = std::stoll(offset_s);
      Candidate c;
      c.row.text = gloss_definition(line.substr(bar + 3));
      c.row.label = lexnames[lex];
      c.row.line = line_no;
      c.row.id = pos_code(pos) * kIdPosStride + offset;
      c.label = label->second;
      c.priority = Rng{opts.seed, static_cast<uint64_t>(c.row.id), kSubsampleTag}.next_u64();
      if (c.row.text.empty()) {
        sink.bad(path, line_no, "the gloss has no definition");
        continue;
      }
      candidates.push_back(std::move(c));
    }
  }
  out.source_sha256 = sha256_hex(checksums);

  // Keep the max_per_class candidates of each class with the smallest priorities: a uniform
  // sample without replacement that depends only on (seed, id), not on file order.
  if (opts.wordnet_max_per_class > 0) {
    std::map<int32_t, std::vector<uint64_t>> priorities;
    for (const auto& c : candidates) priorities[c.label].push_back(c.priority);
    std::map<int32_t, uint64_t> threshold;
    for (auto& [label, p] : priorities) {
      auto cap = static_cast<size_t>(opts.wordnet_max_per_class);
      if (p.size() <= cap) {
        threshold[label] = UINT64_MAX;
      } else {
        std::nth_element(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(cap - 1), p.end());
        threshold[label] = p[cap - 1];
      }
    }
    for (auto& c : candidates) {
      if (c.priority <= threshold[c.label]) sink.add(std::move(c.row));
    }
  } else {
    for (auto& c : candidates) sink.add(std::move(c.row));
  }
  return out;
}

}  // namespace import_detail
}  // namespace sturdy
