// `sturdy prepare`: corpus file(s) -> HDF5 corpus v1.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "sturdy/core/error.h"
#include "sturdy/data/importers.h"
#include "sturdy/text/tokenizer.h"

namespace sturdy::apps {

void register_prepare(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand("prepare", "Build an HDF5 corpus from TSV/CSV/JSONL/text or WordNet");
  auto opts = std::make_shared<ImportOptions>();
  auto labels = std::make_shared<std::string>();
  auto inputs = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--input", *inputs,
                  "Input file (for wordnet: the WordNet folder, default /usr/share/wordnet); repeat it to import "
                  "several files into one corpus (the k-th file's ids + k*10^12, k from 0)");
  cmd->add_option("--output", opts->output, "Output corpus (.h5)")->required();
  cmd->add_option("--format", opts->format, "tsv | csv | jsonl | text | labelfirst | wordnet (default: from the extension)");
  cmd->add_option("--text-field", opts->text_field, "Column name/index or JSON key of the text (\"1,2\" joins columns)");
  cmd->add_option("--label-field", opts->label_field, "Column name/index or JSON key of the label (\"none\": unlabelled)");
  cmd->add_flag("!--no-header", opts->has_header, "TSV/CSV without a header row");
  cmd->add_flag("--skip-bad", opts->skip_bad, "Skip bad rows and count them instead of failing");
  cmd->add_option("--labels", *labels, "Fixed label names in order, comma-separated (wordnet: classes to keep)");
  cmd->add_option("--valid-output", opts->valid_output, "Second corpus for a held-out split");
  cmd->add_option("--valid-fraction", opts->valid_fraction, "Share of examples for --valid-output (by id hash)");
  cmd->add_option("--max-per-class", opts->wordnet_max_per_class, "wordnet: subsample classes above this size (0 = all)");
  cmd->add_option("--seed", opts->seed, "Seed of the split and subsampling");
  cmd->add_option("--window", opts->window,
                  "text: language-model windows of at most N tokens (0 = one example per line)");
  cmd->add_option("--stride", opts->stride, "text windows: tokens from one window start to the next (default N)");
  cmd->add_option("--documents", opts->documents, "text windows: documents are 'blank'-line separated or one per 'line'");
  auto tokenizer = std::make_shared<TokenizerConfig>();
  add_choice_option<TokenizerKind>(cmd, "--tokenizer-kind", tokenizer->kind,
                                   "text windows: tokenizer that counts tokens, {} (default bytes)");
  cmd->add_option("--tokenizer-path", tokenizer->path, "text windows: its model file (sentencepiece .model, llama2c .bin)");
  cmd->callback([opts, labels, inputs, tokenizer, exit_code] {
    if (!inputs->empty()) {
      opts->input = inputs->front();
      opts->more_inputs.assign(inputs->begin() + 1, inputs->end());
    }
    STURDY_USAGE_CHECK(tokenizer->path.empty() || tokenizer->kind != TokenizerKind::kBytes,
                       "prepare: --tokenizer-path needs --tokenizer-kind sentencepiece or llama2c");
    if (opts->window > 0 && tokenizer->kind != TokenizerKind::kBytes) {
      std::shared_ptr<const Tokenizer> tok(make_tokenizer(*tokenizer));
      opts->count_tokens = [tok](std::string_view text) { return static_cast<int64_t>(tok->encode(text).size()); };
    }
    if (!labels->empty()) {
      opts->label_names.clear();
      std::string cur;
      for (char c : *labels + ",") {
        if (c == ',') {
          if (!cur.empty()) opts->label_names.push_back(cur);
          cur.clear();
        } else {
          cur += c;
        }
      }
    }
    if (opts->format == "wordnet" && !opts->input.empty()) opts->wordnet_dir = opts->input;
    const ImportReport report = import_corpus(*opts);
    if (opts->window > 0) {
      std::printf("%lld documents -> windows of at most %lld %s tokens; ", static_cast<long long>(report.documents),
                  static_cast<long long>(opts->window), tokenizer->kind.name().c_str());
    }
    std::printf("%s: %lld examples, %zu classes%s", opts->output.c_str(),
                static_cast<long long>(report.examples), report.label_names.size(),
                report.skipped > 0 ? fmt::format(", {} bad rows skipped", report.skipped).c_str() : "");
    if (!opts->valid_output.empty()) {
      std::printf("; %s: %lld examples", opts->valid_output.c_str(),
                  static_cast<long long>(report.valid_examples));
    }
    std::printf("\n");
    *exit_code = 0;
  });
}

}  // namespace sturdy::apps
