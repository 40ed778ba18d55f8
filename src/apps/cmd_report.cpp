// `sturdy report R.json... [--output DIR]`: Markdown tables and PNG plots from eval results.
#include <cstdio>

#include "commands.h"
#include "sturdy/eval/report.h"

namespace sturdy::apps {

void register_report(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand("report", "Markdown report and PNG plots from one or more R.json");
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto output = std::make_shared<std::string>("report");
  cmd->add_option("results", *inputs, "R.json files written by sturdy eval (one per method)")->required();
  cmd->add_option("--output", *output, "Folder for report.md and the PNGs")->capture_default_str();
  cmd->callback([=] {
    const auto files = eval::write_report(*inputs, *output);
    if (!files.plot_message.empty()) std::fprintf(stderr, "sturdy report: %s\n", files.plot_message.c_str());
    std::printf("wrote %s", files.markdown.c_str());
    for (const auto& img : files.images) std::printf(", %s/%s", output->c_str(), img.c_str());
    std::printf("\n");
    *exit_code = 0;
  });
}

}  // namespace sturdy::apps
