// Importers for `sturdy prepare`: parse TSV/CSV/JSONL/text/labelfirst into rows,
// validate them, settle the label set, split train/valid and write the corpora.
#include "sturdy/data/importers.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "import_rows.h"
#include "sturdy/core/error.h"
#include "sturdy/core/rng.h"
#include "sturdy/core/sha256.h"
#include "sturdy/core/utf8.h"
#include "sturdy/data/corpus.h"

namespace sturdy {

namespace import_detail {

void RowSink::bad(const std::string& file, int64_t line, const std::string& reason) {
  std::string message = fmt::format("{}:{}: {}", file, line, reason);
  if (!skip_bad_) throw UsageError(message);
  constexpr int64_t kShown = 10;
  if (skipped_ < kShown) spdlog::warn("skipping bad row: {}", message);
  if (skipped_ == kShown) spdlog::warn("more bad rows skipped; the import report gives the total");
  ++skipped_;
}

}  // namespace import_detail

using import_detail::RawRow;
using import_detail::RowSink;

namespace {

constexpr uint64_t kValidSplitTag = 0x5B117u;
constexpr const char* kNoLabel = "none";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("{}: cannot open the input file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw RuntimeError(fmt::format("{}: read error", path));
  std::string data = ss.str();
  if (data.compare(0, 3, "\xEF\xBB\xBF") == 0) data.erase(0, 3);  // UTF-8 byte order mark
  return data;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.emplace_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

bool is_integer(const std::string& s) {
  size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  if (i == s.size() || s.size() - i > 18) return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

// Calls fn(line_number, line) for each line (1-based, without the '\n' and a trailing '\r').
template <typename Fn>
void for_each_line(const std::string& data, Fn fn) {
  size_t start = 0;
  int64_t line = 1;
  while (start < data.size()) {
    size_t end = data.find('\n', start);
    if (end == std::string::npos) end = data.size();
    std::string_view view(data.data() + start, end - start);
    if (!view.empty() && view.back() == '\r') view.remove_suffix(1);
    fn(line, view);
    start = end + 1;
    ++line;
  }
}

// ---- delimited files (TSV, CSV) -----------------------------------------------------

struct Record {
  std::vector<std::string> fields;
  int64_t line = 0;  // where the record starts
  std::string error; // non-empty when the record is malformed
};

// RFC 4180 CSV: fields separated by ',', optionally quoted with '"' ("" inside quotes is a
// quote); a quoted field may hold commas and newlines. Records end at an unquoted LF/CRLF.
std::vector<Record> parse_csv(const std::string& data) {
  std::vector<Record> records;
  size_t i = 0;
  int64_t line = 1;
  const size_t n = data.size();
  while (i < n) {
    Record rec;
    rec.line = line;
    std::string field;
    bool done = false;
    while (!done) {
      field.clear();
      if (i < n && data[i] == '"') {
        ++i;
        bool closed = false;
        while (i < n) {
          char c = data[i];
          if (c == '"') {
            if (i + 1 < n && data[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            closed = true;
            break;
          }
          if (c == '\n') ++line;
          field += c;
          ++i;
        }
        if (!closed) {
          rec.error = "unterminated quoted field (missing closing '\"')";
          i = n;
        } else if (i < n && data[i] != ',' && data[i] != '\n' &&
                   !(data[i] == '\r' && (i + 1 == n || data[i + 1] == '\n'))) {
          // A record ends at LF or CRLF only: a lone CR after a closing quote used to end it
          // without counting a line, so two records got the same line number and id (import_fuzz).
          rec.error = "unexpected character after a closing quote (quote a '\"' inside a field as '\"\"')";
          while (i < n && data[i] != '\n') ++i;  // resynchronise at the next line
        }
      } else {
        while (i < n && data[i] != ',' && data[i] != '\n') field += data[i++];
        if (!field.empty() && field.back() == '\r' && (i == n || data[i] == '\n')) field.pop_back();
      }
      rec.fields.push_back(field);
      if (i < n && data[i] == ',') {
        ++i;
      } else {
        if (i < n && data[i] == '\r') ++i;
        if (i < n && data[i] == '\n') {
          ++i;
          ++line;
        }
        done = true;
      }
    }
    bool blank = rec.fields.size() == 1 && rec.fields[0].empty() && rec.error.empty();
    if (!blank) records.push_back(std::move(rec));
  }
  return records;
}

// TSV: one record per line, fields separated by tabs, no quoting (the GLUE/SST-2 convention).
std::vector<Record> parse_tsv(const std::string& data) {
  std::vector<Record> records;
  for_each_line(data, [&](int64_t line, std::string_view view) {
    if (trim(view).empty()) return;
    records.push_back(Record{split(view, '\t'), line, {}});
  });
  return records;
}

// A column reference: name (resolved through the header) or 0-based index.
std::vector<size_t> resolve_columns(const std::string& spec, const std::vector<std::string>* header,
                                    const std::string& file, const char* option) {
  std::vector<size_t> columns;
  for (const std::string& part : split(spec, ',')) {
    std::string name = trim(part);
    if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit)) {
      // At most 6 digits: std::stoul throws std::out_of_range (an "internal error") on huge numbers.
      if (name.size() > 6) throw UsageError(fmt::format("{}: {} column index '{}' is too large", file, option, name));
      columns.push_back(std::stoul(name));
      continue;
    }
    if (!header) {
      throw UsageError(fmt::format("{}: {} '{}' is a column name but the file has no header; "
                                   "give a 0-based column index", file, option, name));
    }
    auto it = std::find(header->begin(), header->end(), name);
    if (it == header->end()) {
      throw UsageError(fmt::format("{}: {} '{}' is not a column of the header (columns: {})", file, option,
                                   name, fmt::join(*header, ", ")));
    }
    columns.push_back(static_cast<size_t>(it - header->begin()));
  }
  return columns;
}

void import_delimited(const ImportOptions& opts, bool csv, bool labelled, RowSink& sink) {
  const std::string data = read_file(opts.input);
  std::vector<Record> records = csv ? parse_csv(data) : parse_tsv(data);
  const std::string& file = opts.input;

  std::vector<std::string> header;
  size_t first = 0;
  if (opts.has_header) {
    STURDY_USAGE_CHECK(!records.empty(), "{}: the file is empty (expected a header line)", file);
    header = records[0].fields;
    for (auto& h : header) h = trim(h);
    first = 1;
  }
  const std::vector<std::string>* hdr = opts.has_header ? &header : nullptr;
  std::string text_spec = opts.text_field, label_spec = opts.label_field.empty() ? "label" : opts.label_field;
  if (text_spec.empty()) {
    STURDY_USAGE_CHECK(hdr, "{}: without a header, give --text-field as 0-based column index(es), e.g. 1,2",
                       file);
    bool has_sentence = std::find(header.begin(), header.end(), "sentence") != header.end();
    text_spec = has_sentence ? "sentence" : "text";
  }
  const std::vector<size_t> text_cols = resolve_columns(text_spec, hdr, file, "--text-field");
  std::vector<size_t> label_cols;
  if (labelled) {
    label_cols = resolve_columns(label_spec, hdr, file, "--label-field");
    STURDY_USAGE_CHECK(label_cols.size() == 1, "{}: --label-field must name one column", file);
  }
  size_t needed = 0;
  for (size_t c : text_cols) needed = std::max(needed, c + 1);
  for (size_t c : label_cols) needed = std::max(needed, c + 1);

  for (size_t r = first; r < records.size(); ++r) {
    Record& rec = records[r];
    if (!rec.error.empty()) {
      sink.bad(file, rec.line, rec.error);
      continue;
    }
    bool valid_utf8 = true;
    for (size_t f = 0; f < rec.fields.size() && valid_utf8; ++f) {
      size_t bad = utf8::find_invalid(rec.fields[f]);
      if (bad != std::string::npos) {
        sink.bad(file, rec.line, fmt::format("invalid UTF-8 in column {} at byte {}", f, bad));
        valid_utf8 = false;
      }
    }
    if (!valid_utf8) continue;
    if (rec.fields.size() < needed) {
      sink.bad(file, rec.line, fmt::format("missing field: expected at least {} columns, found {}", needed,
                                           rec.fields.size()));
      continue;
    }
    RawRow row;
    row.line = rec.line;
    row.id = rec.line - 1;
    for (size_t c : text_cols) {
      std::string part = trim(rec.fields[c]);
      if (part.empty()) continue;
      if (!row.text.empty()) row.text += ". ";
      row.text += part;
    }
    if (labelled) row.label = trim(rec.fields[label_cols[0]]);
    sink.add(std::move(row));
  }
}

// ---- line formats (JSONL, text, labelfirst) ------------------------------------------

void import_lines(const ImportOptions& opts, const std::string& format, bool labelled, RowSink& sink) {
  const std::string data = read_file(opts.input);
  const std::string& file = opts.input;
  for_each_line(data, [&](int64_t line, std::string_view view) {
    size_t bad = utf8::find_invalid(view);
    if (bad != std::string::npos) {
      sink.bad(file, line, fmt::format("invalid UTF-8 at byte {}", bad));
      return;
    }
    if (trim(view).empty()) return;  // blank lines are not rows
    RawRow row;
    row.line = line;
    row.id = line - 1;
    if (format == "text") {
      row.text = trim(view);
    } else if (format == "labelfirst") {
      std::string s = trim(view);
      size_t space = s.find_first_of(" \t");
      row.label = s.substr(0, space);
      row.text = space == std::string::npos ? "" : trim(std::string_view(s).substr(space));
    } else {  // jsonl
      nlohmann::json j = nlohmann::json::parse(view.begin(), view.end(), nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object()) {
        sink.bad(file, line, "not a JSON object");
        return;
      }
      std::string key = opts.text_field;
      if (key.empty()) key = j.contains("sentence") ? "sentence" : "text";
      auto text = j.find(key);
      if (text == j.end()) return sink.bad(file, line, fmt::format("missing field '{}'", key));
      if (!text->is_string()) return sink.bad(file, line, fmt::format("field '{}' is not a string", key));
      row.text = trim(text->get<std::string>());
      if (labelled) {
        std::string label_key = opts.label_field.empty() ? "label" : opts.label_field;
        auto label = j.find(label_key);
        if (label == j.end()) return sink.bad(file, line, fmt::format("missing field '{}'", label_key));
        if (label->is_string()) {
          row.label = trim(label->get<std::string>());
        } else if (label->is_number_integer()) {
          row.label = std::to_string(label->get<int64_t>());
        } else {
          return sink.bad(file, line, fmt::format("field '{}' must be a string or an integer", label_key));
        }
      }
      // JSON escapes can produce text the raw-line check did not see (e.g. "\ud800").
      size_t bad_text = utf8::find_invalid(row.text);
      if (bad_text != std::string::npos) return sink.bad(file, line, "invalid UTF-8 in the text field");
    }
    sink.add(std::move(row));
  });
}

// ---- language-model windows (text --window N) ------------------------------------------

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// Largest k in [lo, hi] with fits(k), given fits(lo); assumes fits is monotone (true, then false).
template <typename Fn>
size_t largest_fitting(size_t lo, size_t hi, Fn fits) {
  while (lo < hi) {
    const size_t mid = lo + (hi - lo + 1) / 2;
    if (fits(mid)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// One document data[begin, end) -> windows (as rows). Units are whitespace-separated words;
// a word longer than the window alone is cut at UTF-8 character boundaries.
void window_document(const ImportOptions& opts, const std::string& data, size_t begin, size_t end,
                     int64_t line, RowSink& sink) {
  const auto count = [&](size_t b, size_t e) {
    const std::string_view text(data.data() + b, e - b);
    return opts.count_tokens ? opts.count_tokens(text) : static_cast<int64_t>(text.size());
  };
  const auto window = static_cast<int64_t>(opts.window);
  const int64_t stride = opts.stride > 0 ? opts.stride : opts.window;
  std::vector<std::pair<size_t, size_t>> units;  // [b, e) byte ranges
  for (size_t i = begin; i < end;) {
    while (i < end && is_space(data[i])) ++i;
    const size_t b = i;
    while (i < end && !is_space(data[i])) ++i;
    if (i == b) continue;
    size_t e = i, start = b;
    while (start < e && count(start, e) > window) {
      // The longest prefix of whole characters that fits (at least one character).
      std::vector<size_t> cuts;  // character ends after `start`
      for (size_t k = start + 1; k <= e; ++k) {
        if (k == e || (static_cast<unsigned char>(data[k]) & 0xC0) != 0x80) cuts.push_back(k);
      }
      const size_t n = largest_fitting(0, cuts.size() - 1, [&](size_t j) { return count(start, cuts[j]) <= window; });
      units.emplace_back(start, cuts[n]);
      start = cuts[n];
    }
    if (start < e) units.emplace_back(start, e);
  }
  for (size_t s = 0; s < units.size();) {
    const size_t last = std::min(units.size() - 1, s + static_cast<size_t>(window) - 1);
    const size_t e = largest_fitting(s, last, [&](size_t k) { return count(units[s].first, units[k].second) <= window; });
    RawRow row;
    row.line = line;
    row.id = static_cast<int64_t>(units[s].first);
    row.group = static_cast<int64_t>(begin);
    row.text = data.substr(units[s].first, units[e].second - units[s].first);
    sink.add(std::move(row));
    if (e + 1 == units.size()) break;
    // Next start: as far as `stride` tokens of this window reach, at least one unit on.
    s = stride >= window ? e + 1
                         : largest_fitting(s + 1, e + 1, [&](size_t k) {
                             return count(units[s].first, units[k - 1].second) <= stride;
                           });
  }
}

// Documents of a text file: blocks separated by blank lines, or single lines.
int64_t import_text_windows(const ImportOptions& opts, RowSink& sink) {
  const std::string data = read_file(opts.input);
  size_t doc_begin = std::string::npos, doc_end = 0;
  int64_t doc_line = 0, documents = 0;
  auto flush = [&] {
    if (doc_begin == std::string::npos) return;
    window_document(opts, data, doc_begin, doc_end, doc_line, sink);
    ++documents;
    doc_begin = std::string::npos;
  };
  int64_t line = 1;
  for (size_t start = 0; start < data.size(); ++line) {
    size_t end = data.find('\n', start);
    if (end == std::string::npos) end = data.size();
    const std::string_view view(data.data() + start, end - start);
    const size_t bad = utf8::find_invalid(view);
    if (bad != std::string::npos) {
      sink.bad(opts.input, line, fmt::format("invalid UTF-8 at byte {}", bad));
      flush();  // the document ends before the bad line
    } else if (trim(view).empty()) {
      flush();
    } else {
      if (opts.documents == "line") flush();
      if (doc_begin == std::string::npos) {
        doc_begin = start;
        doc_line = line;
      }
      doc_end = end;
    }
    start = end + 1;
  }
  flush();
  return documents;
}

std::string format_from_extension(const std::string& path) {
  auto dot = path.find_last_of('.');
  std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  if (ext == "tsv") return "tsv";
  if (ext == "csv") return "csv";
  if (ext == "jsonl" || ext == "ndjson") return "jsonl";
  if (ext == "txt") return "text";
  throw UsageError(fmt::format("{}: cannot tell the format from the file name; pass --format "
                               "tsv|csv|jsonl|text|labelfirst|wordnet", path));
}

// Sorted label set: numerically when every label is an integer ("-1" < "2" < "10").
std::vector<std::string> discover_labels(const std::vector<RawRow>& rows) {
  std::set<std::string> unique;
  for (const auto& row : rows) unique.insert(row.label);
  std::vector<std::string> labels(unique.begin(), unique.end());
  if (std::all_of(labels.begin(), labels.end(), is_integer)) {
    std::sort(labels.begin(), labels.end(),
              [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  }
  return labels;
}

ImportReport import_corpus_checked(const ImportOptions& opts);

}  // namespace

ImportReport import_corpus(const ImportOptions& opts) {
  // Messages quote the input (header names, labels, JSON keys), which may hold newlines:
  // the error stays one line (found by import_fuzz).
  try {
    return import_corpus_checked(opts);
  } catch (const UsageError& e) {
    std::string line = e.what();
    for (char& c : line) {
      if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    }
    throw UsageError(line);
  }
}

namespace {

// Reads one input file (opts.input) in `format` into `sink`.
void import_file(const ImportOptions& opts, const std::string& format, bool labelled, RowSink& sink,
                 ImportReport& report) {
  if (format == "tsv" || format == "csv") {
    import_delimited(opts, format == "csv", labelled, sink);
  } else if (format == "text" && opts.window > 0) {
    report.documents = import_text_windows(opts, sink);
  } else {
    import_lines(opts, format, labelled, sink);
  }
}

ImportReport import_corpus_checked(const ImportOptions& opts) {
  ImportReport report;
  std::string format = opts.format;
  if (format.empty()) {
    STURDY_USAGE_CHECK(!opts.input.empty(), "prepare: --input is required (or --format wordnet)");
    format = format_from_extension(opts.input);
  }
  STURDY_USAGE_CHECK(opts.more_inputs.empty() || (format != "wordnet" && opts.window == 0),
                     "prepare: several --input files work with tsv, csv, jsonl, text and labelfirst, not with {}",
                     format == "wordnet" ? "--format wordnet" : "--window");
  static const std::set<std::string> kFormats{"tsv", "csv", "jsonl", "text", "labelfirst", "wordnet"};
  STURDY_USAGE_CHECK(kFormats.count(format), "prepare: unknown --format '{}' (known: tsv, csv, jsonl, text, "
                     "labelfirst, wordnet)", format);
  STURDY_USAGE_CHECK(!opts.output.empty(), "prepare: --output is required");
  STURDY_USAGE_CHECK(format == "wordnet" || !opts.input.empty(), "prepare: --input is required");
  STURDY_USAGE_CHECK(opts.valid_output.empty() || (opts.valid_fraction > 0.0 && opts.valid_fraction < 1.0),
                     "prepare: --valid-fraction must be in (0, 1) when --valid-output is given (got {})",
                     opts.valid_fraction);
  STURDY_USAGE_CHECK(opts.valid_output.empty() || opts.valid_output != opts.output,
                     "prepare: --valid-output must differ from --output");
  STURDY_USAGE_CHECK(opts.window >= 0, "prepare: --window must be >= 0 (got {})", opts.window);
  STURDY_USAGE_CHECK(opts.window == 0 || format == "text", "prepare: --window applies to --format text only");
  STURDY_USAGE_CHECK(opts.stride >= 0 && opts.stride <= opts.window,
                     "prepare: --stride ({}) must be in 1..--window ({}), or 0 for no overlap", opts.stride,
                     opts.window);
  STURDY_USAGE_CHECK(opts.documents == "blank" || opts.documents == "line",
                     "prepare: --documents must be 'blank' or 'line' (got '{}')", opts.documents);
  report.format = format;

  RowSink sink(opts.skip_bad);
  const bool labelled = format != "text" && opts.label_field != kNoLabel;
  std::vector<std::string> label_names = opts.label_names;
  std::vector<std::string> inputs{opts.input};
  inputs.insert(inputs.end(), opts.more_inputs.begin(), opts.more_inputs.end());
  std::string source = opts.input, source_sha256;
  if (format == "wordnet") {
    import_detail::WordnetSource wn = import_detail::read_wordnet(opts, sink);
    label_names = wn.label_names;
    source = wn.source;
    source_sha256 = wn.source_sha256;
  } else if (inputs.size() == 1) {
    import_file(opts, format, labelled, sink, report);
    source_sha256 = sha256_file(opts.input);
  } else {
    // Input k after the others; its ids moved past theirs. source: the paths joined by " + ",
    // source_sha256: of the lines "path sha256" (as WordNet's, over several files).
    std::string checksums;
    for (size_t k = 0; k < inputs.size(); ++k) {
      ImportOptions one = opts;
      one.input = inputs[k];
      const std::string one_format = opts.format.empty() ? format_from_extension(inputs[k]) : opts.format;
      STURDY_USAGE_CHECK((one_format != "text") == (format != "text") || opts.label_field == kNoLabel,
                         "prepare: {} is {} but {} is {}: several inputs must all be labelled or all unlabelled",
                         inputs[k], one_format == "text" ? "unlabelled (text)" : "labelled", inputs[0],
                         format == "text" ? "unlabelled (text)" : "labelled");
      const size_t first = sink.rows().size();
      import_file(one, one_format, labelled, sink, report);
      for (size_t r = first; r < sink.rows().size(); ++r) {
        sink.rows()[r].input = k;
        sink.rows()[r].id += static_cast<int64_t>(k) * kInputIdStride;
      }
      checksums += fmt::format("{} {}\n", inputs[k], sha256_file(inputs[k]));
    }
    source = fmt::format("{}", fmt::join(inputs, " + "));
    source_sha256 = sha256_hex(checksums);
  }

  // Texts and labels: empty text is bad; labels must come from the fixed set when one is given.
  std::vector<RawRow> rows;
  rows.reserve(sink.rows().size());
  std::map<std::string, int32_t> label_index;
  const bool fixed_labels = labelled && !label_names.empty();
  for (size_t i = 0; i < label_names.size(); ++i) label_index[label_names[i]] = static_cast<int32_t>(i);
  for (RawRow& row : sink.rows()) {
    const std::string& file = format == "wordnet" ? source : inputs[row.input];
    if (row.text.empty()) {
      sink.bad(file, row.line, "empty text");
      continue;
    }
    if (labelled && row.label.empty()) {
      sink.bad(file, row.line, "empty label");
      continue;
    }
    if (fixed_labels && !label_index.count(row.label)) {
      sink.bad(file, row.line, fmt::format("unknown label '{}' (expected one of: {})", row.label,
                                           fmt::join(label_names, ", ")));
      continue;
    }
    rows.push_back(std::move(row));
  }
  if (!labelled) {
    label_names.clear();
  } else if (!fixed_labels) {
    label_names = discover_labels(rows);
    for (size_t i = 0; i < label_names.size(); ++i) label_index[label_names[i]] = static_cast<int32_t>(i);
  }
  STURDY_USAGE_CHECK(!rows.empty(), "{}: no valid rows to import ({} skipped)", source, sink.skipped());

  // Both outputs are completed as .tmp files before either is renamed into place.
  CorpusWriter train(opts.output, label_names, source, source_sha256);
  std::unique_ptr<CorpusWriter> valid;
  if (!opts.valid_output.empty()) {
    valid = std::make_unique<CorpusWriter>(opts.valid_output, label_names, source, source_sha256);
  }
  for (const RawRow& row : rows) {
    int32_t label = labelled ? label_index.at(row.label) : -1;
    bool to_valid = valid && Rng{opts.seed, static_cast<uint64_t>(row.group >= 0 ? row.group : row.id), kValidSplitTag}.uniform() <
                                 opts.valid_fraction;
    (to_valid ? *valid : train).add(row.text, label, row.id);
  }
  STURDY_USAGE_CHECK(train.size() > 0, "{}: every row went to the validation split; lower --valid-fraction",
                     source);
  train.write_temp();
  if (valid) valid->write_temp();
  train.commit();
  if (valid) valid->commit();

  report.examples = train.size();
  report.valid_examples = valid ? valid->size() : 0;
  report.skipped = sink.skipped();
  report.label_names = label_names;
  return report;
}

}  // namespace
}  // namespace sturdy
