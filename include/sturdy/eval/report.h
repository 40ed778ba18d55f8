// `sturdy report`: a Markdown comparison of one or more R.json files (methods ×
// perturbations, attacks, robustness vs training cost, and the gate table of each R.json that
// has a gate section: eval/gate.h) and PNG plots drawn by scripts/plot_report.py with matplotlib.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace sturdy::eval {

// One evaluated model.
struct ReportInput {
  std::string path;      // where the R.json came from
  std::string label;     // column name: run_name, else the checkpoint folder; made unique
  nlohmann::json result;
};

// Reads and checks R.json files (UsageError naming the file when one is unreadable or lacks
// "clean"), and gives each a unique label.
std::vector<ReportInput> read_results(const std::vector<std::string>& paths);

// The Markdown report; `images` are PNG file names (relative to the report) to embed.
std::string render_markdown(const std::vector<ReportInput>& inputs, const std::vector<std::string>& images);

struct ReportFiles {
  std::string markdown;              // DIR/report.md
  std::vector<std::string> images;   // PNGs written
  std::string plot_message;          // why plots are missing ("" when drawn)
};
// Writes DIR/report.md and, through `python` (STURDY_PYTHON, else /usr/bin/python3) running
// scripts/plot_report.py, the PNG plots. Missing matplotlib is reported in plot_message
// and the Markdown is still written.
ReportFiles write_report(const std::vector<std::string>& result_paths, const std::string& output_dir);

// scripts/plot_report.py: ./scripts when present, else the source tree's.
std::string plot_script_path();

}  // namespace sturdy::eval
