// `sturdy prepare`: corpus file -> HDF5 corpus v1.
#include <spdlog/spdlog.h>

#include "commands.h"
#include "sturdy/data/importers.h"

namespace sturdy::apps {

void register_prepare(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand("prepare", "Build an HDF5 corpus from TSV/CSV/JSONL/text or WordNet");
  auto opts = std::make_shared<ImportOptions>();
  auto labels = std::make_shared<std::string>();
  cmd->add_option("--input", opts->input, "Input file (for wordnet: the WordNet folder, default /usr/share/wordnet)");
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
  cmd->callback([opts, labels, exit_code] {
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
