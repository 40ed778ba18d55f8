// llama2.c checkpoint header and weight layout (see include/sturdy/model/llama2c_header.h).
#include "sturdy/model/llama2c_header.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "sturdy/core/error.h"

namespace sturdy {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "llama2.c files are little-endian");

constexpr uint32_t kMagic = 0x616b3432;  // "ak42"
constexpr int64_t kLegacyHeaderBytes = 7 * 4;
constexpr int64_t kV1HeaderBytes = kLlama2cMaxHeaderBytes;
// Generous caps that keep every size computation far from overflow (the file-size check
// below is the real limit).
constexpr int64_t kMaxDim = 1 << 20, kMaxLayers = 1 << 12, kMaxVocab = 1 << 24, kMaxSeqLen = 1 << 24;

int32_t load_i32(const unsigned char* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

Llama2cHeader parse_llama2c_header(const std::string& path, std::string_view head, uint64_t size) {
  STURDY_USAGE_CHECK(size >= static_cast<uint64_t>(kLegacyHeaderBytes),
                     "{}: {} bytes, too short for a llama2.c header ({} bytes)", path, size, kLegacyHeaderBytes);
  // The caller hands over the first min(size, 256) bytes; fewer means the read came up short.
  const size_t available = static_cast<size_t>(std::min<uint64_t>(size, kV1HeaderBytes));
  STURDY_USAGE_CHECK(head.size() >= available, "{}: cannot read the header", path);
  unsigned char raw[kV1HeaderBytes] = {};
  std::memcpy(raw, head.data(), available);

  Llama2cHeader h;
  const unsigned char* params = raw;
  uint32_t magic;
  std::memcpy(&magic, raw, 4);
  if (magic == kMagic) {
    STURDY_USAGE_CHECK(size >= static_cast<uint64_t>(kV1HeaderBytes),
                       "{}: {} bytes, too short for the 256-byte version-1 header", path, size);
    h.version = load_i32(raw + 4);
    STURDY_USAGE_CHECK(h.version == 1,
                       "{}: version {} is not supported (float32 version 1 or the legacy format only; "
                       "version 2 is int8-quantized: export with llama2.c's export.py --version 1)",
                       path, h.version);
    params = raw + 8;
    h.data_offset = kV1HeaderBytes;
  } else {
    h.data_offset = kLegacyHeaderBytes;
  }
  h.dim = load_i32(params);
  h.hidden_dim = load_i32(params + 4);
  h.n_layers = load_i32(params + 8);
  h.n_heads = load_i32(params + 12);
  h.n_kv_heads = load_i32(params + 16);
  const int64_t vocab = load_i32(params + 20);
  h.seq_len = load_i32(params + 24);
  if (h.version == 0) {
    h.shared_classifier = vocab > 0;  // legacy: a negative vocab_size means a separate wcls
    h.vocab_size = vocab < 0 ? -vocab : vocab;
  } else {
    const unsigned char shared = params[28];
    STURDY_USAGE_CHECK(shared <= 1, "{}: shared_classifier flag is {} (must be 0 or 1)", path, shared);
    h.shared_classifier = shared == 1;
    h.vocab_size = vocab;
  }

  auto in_range = [&](int64_t value, int64_t limit, const char* field) {
    STURDY_USAGE_CHECK(value > 0 && value <= limit, "{}: header field {} = {} is out of range (1..{})", path,
                       field, value, limit);
  };
  in_range(h.dim, kMaxDim, "dim");
  in_range(h.hidden_dim, kMaxDim, "hidden_dim");
  in_range(h.n_layers, kMaxLayers, "n_layers");
  in_range(h.n_heads, h.dim, "n_heads");
  in_range(h.n_kv_heads, h.n_heads, "n_kv_heads");
  in_range(h.vocab_size, kMaxVocab, "vocab_size");
  in_range(h.seq_len, kMaxSeqLen, "seq_len");
  STURDY_USAGE_CHECK(h.dim % h.n_heads == 0, "{}: header field dim = {} is not divisible by n_heads = {}", path,
                     h.dim, h.n_heads);
  STURDY_USAGE_CHECK(h.n_heads % h.n_kv_heads == 0,
                     "{}: header field n_kv_heads = {} does not divide n_heads = {}", path, h.n_kv_heads,
                     h.n_heads);
  const int64_t head_dim = h.dim / h.n_heads;
  STURDY_USAGE_CHECK(head_dim % 2 == 0, "{}: head size dim / n_heads = {} must be even (rotary pairs)", path,
                     head_dim);

  // Exact size in 128-bit arithmetic (each factor is capped above, so no overflow).
  using u128 = unsigned __int128;
  const u128 D = h.dim, F = h.hidden_dim, L = h.n_layers, V = h.vocab_size, KV = h.n_kv_heads * head_dim;
  u128 floats = V * D + L * (2 * D + D * D + 2 * D * KV + D * D + 3 * D * F) + D;
  if (h.version == 0) floats += static_cast<u128>(h.seq_len) * static_cast<u128>(head_dim);  // freq_cis
  if (!h.shared_classifier) floats += V * D;
  const u128 expected = static_cast<u128>(h.data_offset) + 4 * floats;
  STURDY_USAGE_CHECK(expected == static_cast<u128>(size),
                     "{}: file size is {} bytes but the header (version {}, dim={}, hidden_dim={}, n_layers={}, "
                     "n_heads={}, n_kv_heads={}, vocab_size={}, seq_len={}, {} classifier) needs {}",
                     path, size, h.version, h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads,
                     h.vocab_size, h.seq_len, h.shared_classifier ? "shared" : "separate",
                     expected > static_cast<u128>(INT64_MAX) ? std::string("more than 2^63")
                                                              : std::to_string(static_cast<int64_t>(expected)));
  h.file_bytes = static_cast<int64_t>(size);
  return h;
}

Llama2cHeader read_llama2c_header(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  STURDY_USAGE_CHECK(!ec, "{}: cannot read: {}", path, ec.message());
  char raw[kV1HeaderBytes];
  std::streamsize got = 0;
  if (size >= static_cast<uintmax_t>(kLegacyHeaderBytes)) {
    std::ifstream in(path, std::ios::binary);
    in.read(raw, static_cast<std::streamsize>(std::min<uintmax_t>(size, kV1HeaderBytes)));
    STURDY_USAGE_CHECK(!in.bad(), "{}: cannot read the header", path);
    got = in.gcount();
  }
  return parse_llama2c_header(path, std::string_view(raw, static_cast<size_t>(got)), size);
}

std::vector<Llama2cBlock> llama2c_layout(const Llama2cHeader& h) {
  const int64_t D = h.dim, F = h.hidden_dim, V = h.vocab_size, hd = h.dim / h.n_heads;
  const int64_t Q = h.n_heads * hd, KV = h.n_kv_heads * hd;
  const Llama2cBlock emb{"tok_embeddings.weight", {V, D}, false, false};
  const Llama2cBlock rms_att{"layers.{}.attention_norm.weight", {D}, true, false};
  const Llama2cBlock wq{"layers.{}.attention.wq.weight", {Q, D}, true, false};
  const Llama2cBlock wk{"layers.{}.attention.wk.weight", {KV, D}, true, false};
  const Llama2cBlock wv{"layers.{}.attention.wv.weight", {KV, D}, true, false};
  const Llama2cBlock wo{"layers.{}.attention.wo.weight", {D, Q}, true, false};
  const Llama2cBlock rms_ffn{"layers.{}.ffn_norm.weight", {D}, true, false};
  const Llama2cBlock w1{"layers.{}.feed_forward.w1.weight", {F, D}, true, false};
  const Llama2cBlock w2{"layers.{}.feed_forward.w2.weight", {D, F}, true, false};
  const Llama2cBlock w3{"layers.{}.feed_forward.w3.weight", {F, D}, true, false};
  const Llama2cBlock rms_final{"norm.weight", {D}, false, false};
  const Llama2cBlock freq_cis{"freq_cis", {h.seq_len, hd / 2}, false, true};
  const Llama2cBlock wcls{"output.weight", {V, D}, false, false};
  std::vector<Llama2cBlock> order;
  if (h.version == 0) {
    order = {emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis, freq_cis};
  } else {
    order = {rms_att, rms_ffn, rms_final, emb, wq, wk, wv, wo, w1, w2, w3};
  }
  if (!h.shared_classifier) order.push_back(wcls);
  return order;
}

}  // namespace sturdy
