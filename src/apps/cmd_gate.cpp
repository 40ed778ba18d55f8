// `sturdy gate --results R.json --gate G.yaml [--baseline R0.json] [--output R2.json]`: the gate of
// `sturdy eval --gate` on an existing R.json, without the model. Prints one line per criterion,
// writes the gate section into R.json (or --output) and exits 1 when a criterion fails.
#include <cstdio>

#include "commands.h"
#include "sturdy/core/atomic_file.h"
#include "sturdy/core/error.h"
#include "sturdy/eval/gate.h"

namespace sturdy::apps {

void register_gate(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand("gate", "Check an R.json against a gate file (thresholds); exit 1 when one fails");
  auto results = std::make_shared<std::string>();
  auto gate_file = std::make_shared<std::string>();
  auto baseline_file = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  cmd->add_option("--results", *results, "R.json written by sturdy eval")->required();
  cmd->add_option("--gate", *gate_file, "Gate file (docs/evaluation.md, \"Gate\")")->required();
  cmd->add_option("--baseline", *baseline_file, "Baseline R.json for relative criteria");
  cmd->add_option("--output", *output, "Where to write R.json with its gate section (default: --results, in place)");
  cmd->callback([=] {
    // Everything is read and checked before anything is written.
    const eval::Gate gate = eval::load_gate(*gate_file);
    nlohmann::json baseline;
    if (!baseline_file->empty()) baseline = eval::read_result_json(*baseline_file, "--baseline");
    const nlohmann::json* baseline_ptr = baseline_file->empty() ? nullptr : &baseline;
    nlohmann::json r = eval::read_result_json(*results, "--results");
    r.erase("gate");  // a new verdict replaces an earlier one
    eval::check_gate(gate, r, *results, baseline_ptr, *baseline_file);
    if (baseline_ptr) {
      for (const auto& w : eval::baseline_mismatches(r, baseline)) std::fprintf(stderr, "sturdy gate: warning: %s\n", w.c_str());
    }
    r["gate"] = eval::evaluate_gate(gate, r, baseline_ptr, *baseline_file);
    for (const auto& line : eval::gate_lines(r["gate"])) std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    const std::string out = output->empty() ? *results : *output;
    write_file_atomically(out, r.dump(2) + "\n");
    std::printf("wrote %s\n", out.c_str());
    *exit_code = static_cast<int>(r["gate"].value("passed", false) ? ExitCode::kOk : ExitCode::kGateFailed);
  });
}

}  // namespace sturdy::apps
