// The header of a llama2.c checkpoint (`.bin`) and the layout of its weights, without
// LibTorch: src/model/llama2c.cpp reads the weights, tests/fuzz/llama2c_fuzz.cpp fuzzes this.
//
//   legacy (version 0): 7 x int32 header  dim, hidden_dim, n_layers, n_heads, n_kv_heads,
//       vocab_size (negative = separate classifier), seq_len; then float32 weights:
//       tok_embeddings, rms_att[L], wq[L], wk[L], wv[L], wo[L], rms_ffn[L], w1[L], w2[L],
//       w3[L], rms_final, freq_cis_real, freq_cis_imag (seq_len x head_dim/2 each, skipped),
//       [wcls]
//   version 1: u32 magic 0x616b3432 ("ak42"), int32 version = 1, the 7 params (vocab_size
//       positive), u8 shared_classifier, zero padding to 256 bytes; then rms_att[L],
//       rms_ffn[L], rms_final, tok_embeddings, wq[L], wk[L], wv[L], wo[L], w1[L], w2[L],
//       w3[L], [wcls]
//
// Files are untrusted: every header field is range-checked and the exact file size the
// header implies is compared with the real one before anything is allocated.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sturdy {

struct Llama2cHeader {
  int32_t version = 0;  // 0 = legacy
  int64_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0,
          seq_len = 0;
  bool shared_classifier = true;
  int64_t data_offset = 0;  // bytes before the first weight (28 or 256)
  int64_t file_bytes = 0;   // the size the header implies (= the file's size)
};

// The most bytes a header occupies (version 1); the legacy one is 28.
constexpr int64_t kLlama2cMaxHeaderBytes = 256;

// Validates the header of a llama2.c file of `file_size` bytes whose first bytes are `head`
// (the first min(file_size, 256) bytes; more are ignored). `path` only names the file in
// messages. UsageError naming the file and field on any problem.
Llama2cHeader parse_llama2c_header(const std::string& path, std::string_view head, uint64_t file_size);

// Reads the first bytes of `path` and parses them with the file's size.
Llama2cHeader read_llama2c_header(const std::string& path);

// One block of float32 values in the file, in file order: `copies` tensors of `shape`
// (copies = n_layers for per-layer blocks, else 1).
struct Llama2cBlock {
  std::string name;            // Sturdy name; "{}" stands for the layer index
  std::vector<int64_t> shape;  // per tensor
  bool per_layer = false;
  bool skip = false;           // read past (freq_cis tables of the legacy format)
};

// The blocks of a validated header in file order; their float counts add up to
// (file_bytes - data_offset) / 4.
std::vector<Llama2cBlock> llama2c_layout(const Llama2cHeader& header);

}  // namespace sturdy
