// llama2.c checkpoints (`.bin`, as written by llama2.c's export.py), float32 only.
//
// The layout and the header checks (LibTorch-free): sturdy/model/llama2c_header.h.
//
// Matrices are row-major (out, in) like nn.Linear; llama2.c's RoPE pairs (x[2i], x[2i+1])
// like Sturdy's, so no permutation is needed. Version 2 (int8 Q8_0) is refused.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "sturdy/model/llama2c_header.h"

namespace sturdy {

// The weights under Sturdy's parameter names (tok_embeddings.weight, layers.{i}.attention.wq.weight,
// ..., norm.weight, output.weight; output = a copy of the embedding when the classifier is
// shared), float32 on the CPU, in Sturdy's registration order.
std::vector<std::pair<std::string, torch::Tensor>> read_llama2c(const std::string& path,
                                                                Llama2cHeader* header = nullptr);

}  // namespace sturdy
