// make_tokenizer: the config-driven entry point. Checks tokenizer.path once, here, so the
// individual loaders can assume a readable file (tokenizer.kind was parsed with the config).
#include "sturdy/text/tokenizer.h"

#include <fstream>
#include <system_error>

#include <fmt/format.h>

#include "sturdy/core/error.h"

namespace sturdy {

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
  switch (config.kind.value()) {  // UsageError naming tokenizer.kind for a text that names no kind
    case TokenizerKind::kBytes: return make_bytes_tokenizer();
    case TokenizerKind::kSentencepiece:
      check_readable(config);
      return load_sentencepiece_tokenizer(config.path);
    case TokenizerKind::kLlama2c:
      check_readable(config);
      return load_llama2c_tokenizer(config.path);
  }
  throw RuntimeError("make_tokenizer: tokenizer.kind out of range");
}

}  // namespace sturdy
