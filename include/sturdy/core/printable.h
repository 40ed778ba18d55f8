// Untrusted text (a name from a weight file or an index, a line of a checksum file) quoted in
// an error message: on one line and bounded, whatever the file holds. Control characters and
// DEL are escaped (\n, \r, \xNN; tab is kept); bytes >= 0x80 pass, so UTF-8 names stay
// readable. Longer text is cut at `max_bytes` and marked with "...".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace sturdy {

inline std::string printable(std::string_view text, size_t max_bytes = 200) {
  std::string out;
  for (const char c : text.substr(0, max_bytes)) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if ((u < 0x20 && c != '\t') || u == 0x7F) out += fmt::format("\\x{:02x}", u);
    else out += c;
  }
  if (text.size() > max_bytes) out += "...";
  return out;
}

// A whole error message as the one line it must be on stderr: trailing whitespace (a library's
// own newline) dropped, control characters inside escaped as printable() does, no length cap.
// The caller adds the single '\n'.
inline std::string one_line(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return printable(text, text.size());
}

}  // namespace sturdy
