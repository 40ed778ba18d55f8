// Subcommands of the `sturdy` executable. Each register_* adds one subcommand to
// `root`; its callback runs the command and stores the exit code in *exit_code.
// Errors are thrown as sturdy::Error; main() maps them to exit codes 2 and 3.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "sturdy/config/choice.h"

namespace sturdy::apps {

// An option that takes one name of E's table (config/choice.h) into `into` (an E, a
// std::optional<E> or a Choice<E>). `help` is a format string whose {} becomes the table's
// names ("erm | augment | ..."); a name not in the table is a UsageError naming the option,
// every name and the closest one.
template <class E, class Into>
CLI::Option* add_choice_option(CLI::App* cmd, const std::string& name, Into& into, const std::string& help = "{}") {
  return cmd->add_option_function<std::string>(
      name, [&into, name](const std::string& text) { into = parse_choice<E>(text, name); },
      fmt::format(fmt::runtime(help), choice_help<E>()));
}

void register_prepare(CLI::App& root, int* exit_code);
void register_tokenizer(CLI::App& root, int* exit_code);
void register_perturb(CLI::App& root, int* exit_code);
void register_train(CLI::App& root, int* exit_code);
void register_eval(CLI::App& root, int* exit_code);
void register_inspect(CLI::App& root, int* exit_code);
void register_bench(CLI::App& root, int* exit_code);
void register_report(CLI::App& root, int* exit_code);
void register_generate(CLI::App& root, int* exit_code);  // also holds `export`
void register_export(CLI::App& root, int* exit_code);

}  // namespace sturdy::apps

// Compatibility: some command files declare these in namespace sturdy.
namespace sturdy {
using apps::register_perturb;
using apps::register_tokenizer;
}  // namespace sturdy
