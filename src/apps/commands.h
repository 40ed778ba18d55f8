// Subcommands of the `sturdy` executable. Each register_* adds one subcommand to
// `root`; its callback runs the command and stores the exit code in *exit_code.
// Errors are thrown as sturdy::Error; main() maps them to exit codes 2 and 3.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "sturdy/config/choice_cli.h"

namespace sturdy::apps {

void register_prepare(CLI::App& root, int* exit_code);
void register_tokenizer(CLI::App& root, int* exit_code);
void register_perturb(CLI::App& root, int* exit_code);
void register_train(CLI::App& root, int* exit_code);
void register_eval(CLI::App& root, int* exit_code);
void register_inspect(CLI::App& root, int* exit_code);
void register_bench(CLI::App& root, int* exit_code);
void register_report(CLI::App& root, int* exit_code);
void register_gate(CLI::App& root, int* exit_code);
void register_generate(CLI::App& root, int* exit_code);  // also holds `export`
void register_export(CLI::App& root, int* exit_code);

}  // namespace sturdy::apps

// Compatibility: some command files declare these in namespace sturdy.
namespace sturdy {
using apps::register_perturb;
using apps::register_tokenizer;
}  // namespace sturdy
