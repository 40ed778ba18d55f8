// The safetensors file format: read and write named tensors.
//
// The format and the header checks (LibTorch-free, fuzzed): sturdy/model/safetensors_header.h.
// Reader::read and write need LibTorch.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "sturdy/model/safetensors_header.h"

namespace sturdy::safetensors {

class Reader {
 public:
  // Parses and validates the header of `path`.
  explicit Reader(std::string path);

  const std::string& path() const { return path_; }
  // Tensors in data-buffer order.
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const TensorInfo* find(const std::string& name) const;
  // The tensor as stored (its dtype, CPU, contiguous). UsageError when the name is absent.
  torch::Tensor read(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }

 private:
  std::string path_;
  Header header_;
  std::map<std::string, size_t> index_;
};

// Writes tensors (any supported dtype; moved to the CPU, made contiguous) in the given order,
// with the header padded by spaces to a multiple of 8 bytes. Written to PATH.tmp, renamed.
void write(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
           const std::map<std::string, std::string>& metadata = {});

}  // namespace sturdy::safetensors
