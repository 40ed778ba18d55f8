// A command-line option whose values are one of a config enum's table (choice.h): the help
// text lists the table's names and a wrong value is a UsageError with every name and the
// closest one. Header-only; the commands and benchmarks that use it link CLI11.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "sturdy/config/choice.h"

namespace sturdy {

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

}  // namespace sturdy
