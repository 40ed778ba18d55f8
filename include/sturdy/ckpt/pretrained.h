// Pretrained weights in and out of Sturdy's Transformer: llama2.c `.bin` files, Hugging Face
// Llama safetensors folders and Sturdy checkpoints (docs/model.md, "Pretrained weights").
//
// Hugging Face stores wq/wk rows in the "rotate_half" order (per head, the first half of the
// rows pairs with the second half); Sturdy and llama2.c pair rows (2i, 2i+1). Import and
// export convert between the two (the permutation of HF's convert_llama_weights_to_hf.py).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "sturdy/config/config.h"
#include "sturdy/model/transformer.h"

namespace sturdy {

struct PretrainedModel {
  std::string path;    // as given
  std::string format;  // "llama2c" | "safetensors" | "sturdy"
  // Architecture from the file: vocab_size, dim, layers, heads, kv_heads, ffn, max_seq_len,
  // rope_theta, norm_eps; head "lm", causal, dropout 0 (for a Sturdy checkpoint: its config).
  ModelConfig config;
  // The tokenizer the source carries (kind "" when none): a Sturdy checkpoint's resolved
  // tokenizer, or tokenizer.model (sentencepiece) / tokenizer.bin (llama2c) in a safetensors folder.
  TokenizerConfig tokenizer;
  // float32 CPU tensors under Sturdy parameter names.
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
};

// Reads a llama2.c .bin file, a safetensors folder (config.json + model.safetensors or
// model.safetensors.index.json with shards; or a .safetensors file with config.json beside
// it) or a Sturdy checkpoint/run folder. UsageError naming the file and field on bad input.
PretrainedModel read_pretrained(const std::string& path);

// Throws UsageError when `config` (the model to fill) differs from the pretrained
// architecture, naming the key and the value to set, e.g.
//   "model.init_from stories260K.bin has dim 64: set model.dim: 64 (now 128)".
// Compared: vocab_size, dim, layers, heads, kv_heads, ffn, rope_theta, norm_eps.
// max_seq_len, dropout, causal and the head are the config's choice.
void check_pretrained_config(const ModelConfig& config, const PretrainedModel& pretrained);

struct LoadReport {
  std::vector<std::string> loaded;  // parameter names copied from the file
  std::vector<std::string> fresh;   // parameters left as initialised (e.g. the classifier)
};

// model.init_from: checks the config (check_pretrained_config), then copies every tensor of
// the file whose name the model has (the body, and the LM head when both have one); the
// model's other parameters (a classifier head) keep their initialisation. A shape mismatch
// is a UsageError naming the parameter and both shapes. A body parameter missing from the
// file is an error too.
LoadReport load_pretrained(Transformer& model, const std::string& path);
LoadReport load_pretrained(Transformer& model, const PretrainedModel& pretrained);

// The tokenizer to use with `pretrained`: `path` when given (kind from `kind`, else from the
// extension: .model = sentencepiece, .bin = llama2c; "bytes" = the bytes tokenizer), else
// the one the source carries. UsageError when there is none.
TokenizerConfig pretrained_tokenizer(const PretrainedModel& pretrained, const std::string& path,
                                     std::optional<TokenizerKind> kind = std::nullopt);

// The name a Hugging Face folder gives the tokenizer file of `kind`: tokenizer.model
// (sentencepiece), tokenizer.bin (llama2c); "" for bytes (no file).
const char* hf_tokenizer_file(TokenizerKind kind);

// A Transformer (head lm, eval mode) built from the file's architecture and weights.
Transformer build_pretrained(const PretrainedModel& pretrained);

// Writes an LM-head model as a Hugging Face Llama folder: model.safetensors (float32, HF
// names, q/k rows permuted to rotate_half order) and config.json (LlamaForCausalLM). With a
// tokenizer, its file is copied beside them (sentencepiece -> tokenizer.model, llama2c ->
// tokenizer.bin). The folder is created if needed; existing files are replaced.
void export_safetensors(Transformer& model, const std::string& dir, const TokenizerConfig& tokenizer = {},
                        int32_t bos_id = 1, int32_t eos_id = 2);

// The HF <-> Sturdy row orders of a (heads*hd, in) projection.
torch::Tensor hf_to_interleaved(const torch::Tensor& w, int64_t heads);
torch::Tensor interleaved_to_hf(const torch::Tensor& w, int64_t heads);

}  // namespace sturdy
