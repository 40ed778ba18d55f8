// SHA-256 of files and buffers (OpenSSL EVP), as lowercase hex.
#pragma once

#include <string>
#include <string_view>

namespace sturdy {

std::string sha256_hex(std::string_view data);
// Streams the file in 1 MiB blocks; throws UsageError naming the path when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace sturdy
