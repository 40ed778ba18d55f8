// libFuzzer target for loading sentencepiece .model files (scripts/fuzz.sh spm).
//
// Input: the bytes of a .model file (seeds: tiny models trained with `sturdy tokenizer
// train`). In the sturdy binary the loader lives in a plugin opened with RTLD_DEEPBIND,
// which ASan cannot load, so this target links the plugin's source directly and calls its
// entry point sturdy_spm_load. libsentencepiece (and its protobuf) is Debian's, not
// instrumented: ASan sees its heap through the interceptors only. Checked on every input:
//   * loading either succeeds or throws a sturdy::Error with a one-line message;
//   * a loaded model encodes a few texts to ids inside its vocabulary and decodes them;
//   * where it can list segmentations, a sampled one (augment.subword_alpha) is inside the
//     vocabulary too, or the refusal is a one-line sturdy::Error.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "sturdy/text/tokenizer.h"

extern "C" sturdy::Tokenizer* sturdy_spm_load(const std::string& model_path);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = sturdy_fuzz::scratch_path("spm.model");
  sturdy_fuzz::write_file(path, std::string_view(reinterpret_cast<const char*>(data), size));
  std::unique_ptr<sturdy::Tokenizer> tok;
  if (!sturdy_fuzz::accepts("spm_fuzz", [&] { tok.reset(sturdy_spm_load(path)); })) return 0;
  for (const char* text : {"the quick brown fox", "héllo ✓ 🙂", "", "\xff broken"}) {
    const auto ids = tok->encode(text);
    for (int32_t id : ids) {
      if (id < 0 || id >= tok->vocab_size()) sturdy_fuzz::fail("spm_fuzz", "id out of range");
    }
    (void)tok->decode(ids);
    if (tok->samples_segmentations()) {
      std::vector<int32_t> sampled;
      if (!sturdy_fuzz::accepts("spm_fuzz", [&] { sampled = tok->encode_sampled(text, 8, 0.1, 7); })) continue;
      for (int32_t id : sampled) {
        if (id < 0 || id >= tok->vocab_size()) sturdy_fuzz::fail("spm_fuzz", "sampled id out of range");
      }
    }
  }
  return 0;
}
