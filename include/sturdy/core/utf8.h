// UTF-8 helpers: validation, decoding to code points and encoding back.
//
// Perturbation ops work on code points, never on bytes, so they cannot split a
// multi-byte character. Invalid input is reported with the byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sturdy::utf8 {

// Returns the byte offset of the first invalid sequence, or npos when `s` is valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
size_t find_invalid(std::string_view s);
inline bool is_valid(std::string_view s) { return find_invalid(s) == std::string_view::npos; }

// Decodes valid UTF-8; invalid bytes decode to U+FFFD (one per byte).
std::u32string decode(std::string_view s);
// Encodes code points; surrogates and values above U+10FFFF become U+FFFD.
std::string encode(std::u32string_view cps);
void append(std::string& out, char32_t cp);

// Replaces each invalid byte with U+FFFD, so the result is valid UTF-8.
std::string sanitize(std::string_view s);

}  // namespace sturdy::utf8
