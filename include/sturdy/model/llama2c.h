// llama2.c checkpoints (`.bin`, as written by llama2.c's export.py), float32 only.
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
// Matrices are row-major (out, in) like nn.Linear; llama2.c's RoPE pairs (x[2i], x[2i+1])
// like Sturdy's, so no permutation is needed. Version 2 (int8 Q8_0) is refused.
// Files are untrusted: every header field is range-checked and the exact file size the
// header implies is compared with the real one before anything is allocated.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace sturdy {

struct Llama2cHeader {
  int32_t version = 0;  // 0 = legacy
  int64_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0,
          seq_len = 0;
  bool shared_classifier = true;
  int64_t data_offset = 0;  // bytes before the first weight (28 or 256)
  int64_t file_bytes = 0;   // the size the header implies (= the file's size)
};

// Reads and validates the header of `path` against the file's size. UsageError naming the
// file and field on any problem.
Llama2cHeader read_llama2c_header(const std::string& path);

// The weights under Sturdy's parameter names (tok_embeddings.weight, layers.{i}.attention.wq.weight,
// ..., norm.weight, output.weight; output = a copy of the embedding when the classifier is
// shared), float32 on the CPU, in Sturdy's registration order.
std::vector<std::pair<std::string, torch::Tensor>> read_llama2c(const std::string& path,
                                                                Llama2cHeader* header = nullptr);

}  // namespace sturdy
