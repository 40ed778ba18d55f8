// make_tokenizer: the config-driven entry point. Validates tokenizer.kind and
// tokenizer.path once, here, so the individual loaders can assume a readable file.
#include "sturdy/text/tokenizer.h"

#include <fstream>
#include <system_error>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sturdy/core/error.h"

namespace sturdy {

const std::vector<std::string>& tokenizer_kinds() {
  static const std::vector<std::string> kinds = {"bytes", "sentencepiece", "llama2c"};
  return kinds;
}

namespace {

// Throws UsageError naming tokenizer.path when the file cannot be opened for reading.
void check_readable(const TokenizerConfig& config) {
  STURDY_USAGE_CHECK(!config.path.empty(),
                     "tokenizer.path: required for tokenizer.kind={} (the model file)",
                     config.kind);
  std::ifstream in(config.path, std::ios::binary);
  if (!in) {
    const std::error_code ec(errno, std::generic_category());
    throw UsageError(fmt::format("tokenizer.path: cannot read '{}' ({}) for tokenizer.kind={}",
                                 config.path, ec.message(), config.kind));
  }
}

}  // namespace

std::unique_ptr<Tokenizer> make_tokenizer(const TokenizerConfig& config) {
  if (config.kind == "bytes") return make_bytes_tokenizer();
  if (config.kind == "sentencepiece") {
    check_readable(config);
    return load_sentencepiece_tokenizer(config.path);
  }
  if (config.kind == "llama2c") {
    check_readable(config);
    return load_llama2c_tokenizer(config.path);
  }
  throw UsageError(fmt::format("tokenizer.kind: unknown '{}' (valid: {})", config.kind,
                               fmt::join(tokenizer_kinds(), ", ")));
}

}  // namespace sturdy
