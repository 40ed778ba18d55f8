// libFuzzer target for the corpus importers behind `sturdy prepare` (scripts/fuzz.sh import).
//
// Input: byte 0 picks the format (tsv, csv, jsonl, text, labelfirst) and options (header,
// skip_bad, unlabelled, a train/valid split); the rest is the input file, written to a
// scratch folder and imported for real (HDF5 output). Checked on every input:
//   * import_corpus either succeeds or throws a sturdy::Error with a one-line message;
//   * on success the corpus reads back with CorpusReader: as many examples as reported,
//     every text non-empty valid UTF-8, every label in range, ids unique;
//   * on failure no output file (and no .tmp) is left behind.
#include <unistd.h>

#include <cstdint>
#include <set>
#include <string>

#include "fuzz_util.h"
#include "sturdy/core/utf8.h"
#include "sturdy/data/corpus.h"
#include "sturdy/data/importers.h"

namespace {

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

void check_corpus(const std::string& path, int64_t expected, size_t num_labels, bool labelled,
                  std::set<int64_t>* ids) {
  sturdy::CorpusReader reader(path);
  if (reader.size() != expected) sturdy_fuzz::fail("import_fuzz", "example count differs from the report");
  if (static_cast<size_t>(reader.info().num_classes) != (labelled ? num_labels : 0)) {
    sturdy_fuzz::fail("import_fuzz", "num_classes " + std::to_string(reader.info().num_classes) + " differs from the report (" + std::to_string(num_labels) + " labels)");
  }
  std::vector<int64_t> all(static_cast<size_t>(reader.size()));
  for (int64_t i = 0; i < reader.size(); ++i) all[static_cast<size_t>(i)] = i;
  for (const auto& ex : reader.read(all)) {
    if (ex.text.empty() || !sturdy::utf8::is_valid(ex.text)) sturdy_fuzz::fail("import_fuzz", "empty or invalid text");
    if (labelled && (ex.label < 0 || ex.label >= reader.info().num_classes)) sturdy_fuzz::fail("import_fuzz", "bad label");
    if (!ids->insert(ex.id).second) sturdy_fuzz::fail("import_fuzz", "duplicate id");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* kFormats[] = {"tsv", "csv", "jsonl", "text", "labelfirst"};
  const uint8_t mode = data[0];
  sturdy::ImportOptions opts;
  opts.format = kFormats[(mode & 7) % 5];
  opts.has_header = !(mode & 0x08);
  opts.skip_bad = mode & 0x10;
  if (mode & 0x20) opts.label_field = "none";
  if (!opts.has_header) opts.text_field = (mode & 0x40) ? "0" : "1";
  if (!opts.has_header && opts.label_field.empty()) opts.label_field = (mode & 0x40) ? "1" : "0";
  opts.input = sturdy_fuzz::scratch_path("input");
  opts.output = sturdy_fuzz::scratch_path("out.h5");
  if (mode & 0x80) {
    opts.valid_output = sturdy_fuzz::scratch_path("valid.h5");
    opts.valid_fraction = 0.3;
  }
  ::unlink(opts.output.c_str());
  ::unlink(opts.valid_output.c_str());
  sturdy_fuzz::write_file(opts.input, std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));

  sturdy::ImportReport report;
  const bool ok = sturdy_fuzz::accepts("import_fuzz", [&] { report = sturdy::import_corpus(opts); });
  const std::string leftovers[] = {opts.output, opts.output + ".tmp", opts.valid_output + ".tmp"};
  if (!ok) {
    for (const auto& p : leftovers) {
      if (exists(p)) sturdy_fuzz::fail("import_fuzz", "a failed import left " + p);
    }
    if (!opts.valid_output.empty() && exists(opts.valid_output)) sturdy_fuzz::fail("import_fuzz", "a failed import left the valid split");
    return 0;
  }
  const bool labelled = opts.format != "text" && opts.label_field != "none";
  std::set<int64_t> ids;
  const bool reads_back = sturdy_fuzz::accepts("import_fuzz", [&] {
    check_corpus(opts.output, report.examples, report.label_names.size(), labelled, &ids);
    if (!opts.valid_output.empty()) {
      check_corpus(opts.valid_output, report.valid_examples, report.label_names.size(), labelled, &ids);
    }
  });
  if (!reads_back) sturdy_fuzz::fail("import_fuzz", "the imported corpus does not read back");
  return 0;
}
