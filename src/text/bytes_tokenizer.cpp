// The bytes tokenizer: UTF-8 bytes shifted past four special ids.
//   pad=0 bos=1 eos=2 unk=3, byte b -> b + 4, vocabulary 260.
// No table, no allocation beyond the output vector: the loader's fast path.
#include <cstring>

#include "sturdy/text/tokenizer.h"

namespace sturdy {
namespace {

constexpr int32_t kPad = 0;
constexpr int32_t kBos = 1;
constexpr int32_t kEos = 2;
constexpr int32_t kUnk = 3;
constexpr int32_t kByteOffset = 4;
constexpr int64_t kVocab = 256 + kByteOffset;
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

class BytesTokenizer final : public Tokenizer {
 public:
  std::string kind() const override { return choice_name(TokenizerKind::kBytes); }
  int64_t vocab_size() const override { return kVocab; }
  int32_t pad_id() const override { return kPad; }
  int32_t bos_id() const override { return kBos; }
  int32_t eos_id() const override { return kEos; }

  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int32_t> ids(text.size());
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<int32_t>(bytes[i]) + kByteOffset;
    return ids;
  }

  // pad/bos/eos decode to nothing; unk and ids outside the vocabulary (a model
  // whose output layer is wider than 260) decode to U+FFFD so they stay visible.
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string text;
    text.reserve(ids.size());
    for (const int32_t id : ids) {
      if (id >= kByteOffset && id < kVocab) {
        text.push_back(static_cast<char>(id - kByteOffset));
      } else if (id != kPad && id != kBos && id != kEos) {
        text.append(kReplacement);
      }
    }
    return text;
  }
};

}  // namespace

std::unique_ptr<Tokenizer> make_bytes_tokenizer() { return std::make_unique<BytesTokenizer>(); }

}  // namespace sturdy
