// llama2.c checkpoint reader (see include/sturdy/model/llama2c.h).
#include "sturdy/model/llama2c.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "sturdy/core/error.h"

namespace sturdy {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "llama2.c files are little-endian");

constexpr uint32_t kMagic = 0x616b3432;  // "ak42"
constexpr int64_t kLegacyHeaderBytes = 7 * 4;
constexpr int64_t kV1HeaderBytes = 256;
// Generous caps that keep every size computation far from overflow (the file-size check
// below is the real limit).
constexpr int64_t kMaxDim = 1 << 20, kMaxLayers = 1 << 12, kMaxVocab = 1 << 24, kMaxSeqLen = 1 << 24;

int32_t load_i32(const unsigned char* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// One block of the file: `count` float32 values that become tensors of `shape` (a leading
// n_layers dimension is split into one tensor per layer).
struct Block {
  std::string name;            // Sturdy name; "{}" is replaced by the layer index
  std::vector<int64_t> shape;  // per tensor
  bool per_layer;
  bool skip;                   // read past (freq_cis tables of the legacy format)
};

}  // namespace

Llama2cHeader read_llama2c_header(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  STURDY_USAGE_CHECK(!ec, "{}: cannot read: {}", path, ec.message());
  STURDY_USAGE_CHECK(size >= static_cast<uintmax_t>(kLegacyHeaderBytes),
                     "{}: {} bytes, too short for a llama2.c header ({} bytes)", path, size, kLegacyHeaderBytes);
  unsigned char raw[kV1HeaderBytes] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(raw), static_cast<std::streamsize>(std::min<uintmax_t>(size, kV1HeaderBytes)));
  STURDY_USAGE_CHECK(!in.bad(), "{}: cannot read the header", path);

  Llama2cHeader h;
  const unsigned char* params = raw;
  uint32_t magic;
  std::memcpy(&magic, raw, 4);
  if (magic == kMagic) {
    STURDY_USAGE_CHECK(size >= static_cast<uintmax_t>(kV1HeaderBytes),
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

std::vector<std::pair<std::string, torch::Tensor>> read_llama2c(const std::string& path, Llama2cHeader* out_header) {
  const Llama2cHeader h = read_llama2c_header(path);
  if (out_header) *out_header = h;
  const int64_t D = h.dim, F = h.hidden_dim, V = h.vocab_size, hd = h.dim / h.n_heads;
  const int64_t Q = h.n_heads * hd, KV = h.n_kv_heads * hd;
  const Block emb{"tok_embeddings.weight", {V, D}, false, false};
  const Block rms_att{"layers.{}.attention_norm.weight", {D}, true, false};
  const Block wq{"layers.{}.attention.wq.weight", {Q, D}, true, false};
  const Block wk{"layers.{}.attention.wk.weight", {KV, D}, true, false};
  const Block wv{"layers.{}.attention.wv.weight", {KV, D}, true, false};
  const Block wo{"layers.{}.attention.wo.weight", {D, Q}, true, false};
  const Block rms_ffn{"layers.{}.ffn_norm.weight", {D}, true, false};
  const Block w1{"layers.{}.feed_forward.w1.weight", {F, D}, true, false};
  const Block w2{"layers.{}.feed_forward.w2.weight", {D, F}, true, false};
  const Block w3{"layers.{}.feed_forward.w3.weight", {F, D}, true, false};
  const Block rms_final{"norm.weight", {D}, false, false};
  const Block freq_cis{"freq_cis", {h.seq_len, hd / 2}, false, true};
  const Block wcls{"output.weight", {V, D}, false, false};
  std::vector<Block> order;
  if (h.version == 0) {
    order = {emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis, freq_cis};
  } else {
    order = {rms_att, rms_ffn, rms_final, emb, wq, wk, wv, wo, w1, w2, w3};
  }
  if (!h.shared_classifier) order.push_back(wcls);

  std::map<std::string, torch::Tensor> by_name;
  std::ifstream in(path, std::ios::binary);
  in.seekg(h.data_offset);
  for (const Block& b : order) {
    const int64_t copies = b.per_layer ? h.n_layers : 1;
    std::vector<int64_t> shape = b.shape;
    shape.insert(shape.begin(), copies);
    auto block = torch::empty(shape, torch::kFloat);
    in.read(static_cast<char*>(block.data_ptr()), static_cast<std::streamsize>(block.numel() * 4));
    if (!in.good()) throw RuntimeError(fmt::format("{}: read failed at {} (file changed while reading?)", path, b.name));
    if (b.skip) continue;
    for (int64_t i = 0; i < copies; ++i) {
      std::string name = b.name;
      if (b.per_layer) name.replace(name.find("{}"), 2, std::to_string(i));
      by_name[name] = block.select(0, i);
    }
  }
  if (h.shared_classifier) by_name["output.weight"] = by_name.at("tok_embeddings.weight").clone();

  // Sturdy's registration order (the order named_parameters() reports).
  std::vector<std::pair<std::string, torch::Tensor>> out;
  auto take = [&](const std::string& name) { out.emplace_back(name, by_name.at(name)); };
  take("tok_embeddings.weight");
  for (int64_t i = 0; i < h.n_layers; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    for (const char* s : {"attention.wq.weight", "attention.wk.weight", "attention.wv.weight", "attention.wo.weight",
                          "feed_forward.w1.weight", "feed_forward.w2.weight", "feed_forward.w3.weight",
                          "attention_norm.weight", "ffn_norm.weight"}) {
      take(p + s);
    }
  }
  take("norm.weight");
  take("output.weight");
  return out;
}

}  // namespace sturdy
