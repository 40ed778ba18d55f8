// llama2.c checkpoint reader (see include/sturdy/model/llama2c.h). The header and the
// layout of the weights come from src/model/llama2c_header.cpp (LibTorch-free, fuzzed).
#include "sturdy/model/llama2c.h"

#include <fstream>
#include <map>

#include "sturdy/core/error.h"

namespace sturdy {

std::vector<std::pair<std::string, torch::Tensor>> read_llama2c(const std::string& path, Llama2cHeader* out_header) {
  const Llama2cHeader h = read_llama2c_header(path);
  if (out_header) *out_header = h;
  std::map<std::string, torch::Tensor> by_name;
  std::ifstream in(path, std::ios::binary);
  in.seekg(h.data_offset);
  for (const Llama2cBlock& b : llama2c_layout(h)) {
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
