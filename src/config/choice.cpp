// The non-template half of choice.h: the error of a name that is not in a table.
#include "sturdy/config/choice.h"

#include "sturdy/config/config.h"
#include "sturdy/core/error.h"

namespace sturdy::detail {

std::string join_names(const std::vector<std::string>& names, std::string_view separator) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += separator;
    out += n;
  }
  return out;
}

void throw_not_a_choice(std::string_view where, std::string_view text, const std::vector<std::string>& names) {
  const std::string list = join_names(names, ", ");
  if (text.empty()) throw UsageError(fmt::format("{}: no value; expected one of {}", where, list));
  const std::string best = closest_key(std::string(text), names);
  throw UsageError(fmt::format("{}: '{}' is not one of {}{}", where, text, list,
                               best.empty() ? "" : fmt::format("; did you mean '{}'?", best)));
}

}  // namespace sturdy::detail
