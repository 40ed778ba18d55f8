// libFuzzer target for the bytes and llama2.c tokenizers (scripts/fuzz.sh tokenizer).
//
// Input: byte 0 picks the case.
//   even: the rest is text for the bytes tokenizer; decode(encode(t)) == t for any bytes.
//   odd:  the rest is a llama2.c tok*.bin file, written to a scratch file and loaded; when it
//         loads, a few texts (fixed ones and the input's own first bytes) are encoded and
//         decoded: every id must be inside the vocabulary, decode must not crash, and for
//         valid UTF-8 text over a vocabulary with all 256 <0xXX> byte pieces,
//         decode(encode(t)) == t.
// The loader must either succeed or throw a sturdy::Error with a one-line message.
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "sturdy/core/utf8.h"
#include "sturdy/text/tokenizer.h"

namespace {

bool has_all_byte_pieces(const sturdy::Tokenizer& tok) {
  // decode of [unk, piece] is U+FFFD (3 bytes) then the piece: one byte for a <0xXX> piece.
  int found = 0;
  std::vector<bool> seen(256, false);
  for (int64_t id = 3; id < tok.vocab_size(); ++id) {
    const std::string s = tok.decode({0, static_cast<int32_t>(id)}).substr(3);
    if (s.size() == 1 && !seen[static_cast<unsigned char>(s[0])]) {
      seen[static_cast<unsigned char>(s[0])] = true;
      ++found;
    }
  }
  return found == 256;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    static const auto bytes = sturdy::make_bytes_tokenizer();
    const auto ids = bytes->encode(rest);
    for (int32_t id : ids) {
      if (id < 4 || id >= bytes->vocab_size()) sturdy_fuzz::fail("tokenizer_fuzz", "bytes id out of range");
    }
    if (bytes->decode(ids) != rest) sturdy_fuzz::fail("tokenizer_fuzz", "bytes round trip changed the text");
    return 0;
  }
  const std::string path = sturdy_fuzz::scratch_path("tok.bin");
  sturdy_fuzz::write_file(path, rest);
  std::unique_ptr<sturdy::Tokenizer> tok;
  if (!sturdy_fuzz::accepts("tokenizer_fuzz", [&] { tok = sturdy::load_llama2c_tokenizer(path); })) return 0;
  const bool byte_fallback = (data[0] & 2) && has_all_byte_pieces(*tok);
  // The round trip is checked on the fixed valid texts only: fuzzed text could spell a
  // "<0x41>" piece literally, which decodes to "A" (as in sentencepiece). Ids 0..2
  // (unk, bos, eos) in the output mean the fuzzed vocabulary maps ordinary text to them.
  const std::string texts[] = {"Once upon a time, there was a little girl.", "héllo wörld ✓ 🙂", "",
                               std::string(rest.substr(0, 48)), "\xff\xfe broken \xc3"};
  for (size_t t = 0; t < std::size(texts); ++t) {
    const std::string& text = texts[t];
    const auto ids = tok->encode(text);
    bool special = false;
    for (int32_t id : ids) {
      if (id < 0 || id >= tok->vocab_size()) sturdy_fuzz::fail("tokenizer_fuzz", "llama2c id out of range");
      special |= id <= 2;
    }
    const std::string back = tok->decode(ids);
    if (byte_fallback && t < 3 && !special && back != text) {
      sturdy_fuzz::fail("tokenizer_fuzz", "llama2c round trip changed valid UTF-8 text");
    }
  }
  return 0;
}
