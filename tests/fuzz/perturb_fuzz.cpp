// libFuzzer target for the perturbation engine (scripts/fuzz.sh perturb -runs=1000000).
//
// Input layout: byte 0 picks the first op (0xFF: fuzz the recipe and --ops parsers instead),
// byte 1 its rate, byte 2 a second op, byte 3 its rate, byte 4 the mode, bytes 5.. the text
// (any bytes, valid UTF-8 or not). Checked on every input:
//   * the output is valid UTF-8;
//   * the same key gives the same bytes twice (determinism);
//   * rate 0 on valid UTF-8 is the identity.
// ASan and UBSan catch memory and arithmetic errors along the way.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sturdy/core/error.h"
#include "sturdy/core/utf8.h"
#include "sturdy/perturb/perturber.h"

namespace {

std::shared_ptr<const sturdy::perturb::Lexicons> g_lexicons;
bool g_have_wordnet = false;

[[noreturn]] void fail(const char* what, std::string_view text) {
  std::fprintf(stderr, "perturb_fuzz: %s (input of %zu bytes)\n", what, text.size());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_lexicons = sturdy::perturb::Lexicons::builtin();
  try {
    g_lexicons->wordnet();
    g_have_wordnet = true;
  } catch (const sturdy::Error&) {
    std::fprintf(stderr, "perturb_fuzz: WordNet not found, the synonym op is not fuzzed\n");
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sturdy::perturb;
  if (size < 5) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 5, size - 5);
  if (data[0] == 0xFF) {  // parsers: must either succeed or throw a sturdy::Error
    try {
      parse_recipe(std::string(text), "fuzz.yaml");
    } catch (const sturdy::Error&) {
    }
    try {
      parse_ops_spec(std::string(text));
    } catch (const sturdy::Error&) {
    }
    return 0;
  }
  const auto& names = op_names();
  std::string op1 = names[data[0] % names.size()], op2 = names[data[2] % names.size()];
  if (!g_have_wordnet) {
    if (op1 == "synonym") op1 = "misspell";
    if (op2 == "synonym") op2 = "misspell";
  }
  const double rate1 = data[1] / 255.0, rate2 = data[3] / 255.0;
  const Mode mode = (data[4] & 1) ? Mode::kOneOf : Mode::kAll;
  const uint64_t id = data[4] >> 1;
  const Perturber p({{op1, rate1}, {op2, rate2}}, g_lexicons, mode);
  const std::string out = p.apply(text, 7, 1, id, 2);
  if (!sturdy::utf8::is_valid(out)) fail("invalid UTF-8 out", text);
  if (p.apply(text, 7, 1, id, 2) != out) fail("not deterministic", text);
  if (rate1 == 0.0 && rate2 == 0.0 && sturdy::utf8::is_valid(text) && out != text) fail("rate 0 changed the text", text);
  return 0;
}
