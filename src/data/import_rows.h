// Shared pieces of the importers (private to src/data): parsed rows and bad-row policy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sturdy/data/importers.h"

namespace sturdy::import_detail {

struct RawRow {
  std::string text;
  std::string label;  // as written in the input; empty for unlabelled corpora
  int64_t line = 0;   // 1-based line where the row starts (for messages)
  int64_t id = 0;     // stable example id
  int64_t group = -1; // >= 0: the valid split is keyed by this instead (windows of one document)
  size_t input = 0;   // which input file (ImportOptions::input = 0, more_inputs[k - 1] = k)
};

// Collects valid rows; a bad row throws UsageError "FILE:LINE: reason" or, with
// skip_bad, is counted (the first few are logged as warnings).
class RowSink {
 public:
  RowSink(bool skip_bad) : skip_bad_(skip_bad) {}
  void bad(const std::string& file, int64_t line, const std::string& reason);
  void add(RawRow row) { rows_.push_back(std::move(row)); }
  std::vector<RawRow>& rows() { return rows_; }
  int64_t skipped() const { return skipped_; }

 private:
  bool skip_bad_;
  int64_t skipped_ = 0;
  std::vector<RawRow> rows_;
};

struct WordnetSource {
  std::vector<std::string> label_names;  // kept classes, in output order
  std::string source;                    // the WordNet folder
  std::string source_sha256;             // sha256 over "name sha256\n" of the data files read
};

// Reads the kept classes' synset glosses from data.noun/verb/adj/adv (wordnet.cpp).
WordnetSource read_wordnet(const ImportOptions& opts, RowSink& sink);

}  // namespace sturdy::import_detail
