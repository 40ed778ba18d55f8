// Importers behind `sturdy prepare`: TSV, CSV, JSONL, plain text, "label text" lines
// and the WordNet gloss demo corpus, all written as an HDF5 corpus v1 (corpus.h).
//
// Every row is validated (UTF-8, fields present, non-empty text, known label). A bad row
// is a UsageError "FILE:LINE: reason", or with skip_bad it is skipped and counted. Outputs
// are written to <output>.tmp and renamed only when everything succeeded, so a failed
// import leaves an existing output untouched. Formats and ids are described in docs/data.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sturdy {

struct ImportOptions {
  std::string input, output;
  // Further files imported after `input` into the same corpus (`sturdy prepare --input A
  // --input B`, e.g. a training set and the adversarial texts `sturdy eval --dump-adversarial`
  // wrote for it). Each is read in `format`, or its own extension's; all must be labelled or
  // all unlabelled. The rows of input k (0 = `input`) get the ids k·kInputIdStride + their own,
  // so ids stay unique and still point at the file and line. Not with wordnet or `window`.
  std::vector<std::string> more_inputs;
  // tsv | csv | jsonl | text | labelfirst | wordnet ("" = from the extension of `input`)
  std::string format;
  // tsv/csv: column name or 0-based index; "a,b" joins several columns with ". ".
  // jsonl: key. Defaults: text = "sentence" or "text" (whichever exists), label = "label".
  // label_field "none" imports an unlabelled corpus.
  std::string text_field, label_field;
  bool has_header = true;                 // tsv/csv; without a header, fields must be indices
  bool skip_bad = false;                  // skip and count bad rows instead of failing
  // Fixed label set and order; otherwise discovered (sorted; all-integer labels numerically).
  // For wordnet: the lexicographer files to keep (default: docs/data.md).
  std::vector<std::string> label_names;
  // Optional second output: rows whose id hashes (with seed) below valid_fraction go there.
  std::string valid_output;
  double valid_fraction = 0.0;
  // text: 0 = one example per line. > 0: language-model windows (docs/data.md): documents
  // (split as `documents` says) are cut at whitespace into windows of at most `window` tokens
  // as `count_tokens` counts them; a window starts `stride` tokens after the previous one
  // (0 = window: no overlap). Example id = the window's byte offset in the input.
  int64_t window = 0;
  int64_t stride = 0;
  std::string documents = "blank";        // blank: separated by blank lines | line: one per line
  // Tokens in a text (the tokenizer the model will use); nullptr = one per byte (bytes tokenizer).
  std::function<int64_t(std::string_view)> count_tokens;
  std::string wordnet_dir = "/usr/share/wordnet";
  int64_t wordnet_max_per_class = 3000;   // deterministic subsample of bigger classes (0 = keep all)
  uint64_t seed = 1;
};

inline constexpr int64_t kInputIdStride = 1000000000000;  // 10^12: input k's ids start at k·10^12

struct ImportReport {
  int64_t examples = 0;        // written to `output`
  int64_t skipped = 0;         // bad rows skipped (skip_bad)
  int64_t valid_examples = 0;  // written to `valid_output`
  int64_t documents = 0;       // text windows: documents read
  std::vector<std::string> label_names;
  std::string format;          // the format actually used
};

// Reads opts.input (and opts.more_inputs), validates every row and writes opts.output (and
// opts.valid_output).
// Throws UsageError for bad options or input, RuntimeError for I/O failures.
ImportReport import_corpus(const ImportOptions& opts);

// The lexicographer file names of WordNet 3.0, indexed by lex_filenum (lexnames(5)).
const std::vector<std::string>& wordnet_lexnames();
// The classes the wordnet importer keeps by default.
const std::vector<std::string>& wordnet_default_classes();

}  // namespace sturdy
