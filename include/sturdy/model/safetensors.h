// The safetensors file format: read and write named tensors.
//
//   u64 little-endian N | N bytes of JSON header | data buffer
//   header: {"NAME": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//            "__metadata__": {"key": "string", ...}}   (offsets relative to the data buffer)
//
// Files are untrusted: the reader checks the header length against the file size (and a
// 100 MB cap) before allocating, and every tensor's dtype, shape, byte count and offsets
// before reading it; the data buffer must be covered exactly, without holes or overlaps (as
// the format requires). Problems are UsageErrors (exit 2) naming the file and the field.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace sturdy::safetensors {

struct TensorInfo {
  std::string name;
  std::string dtype;           // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range in the data buffer
};

class Reader {
 public:
  // Parses and validates the header of `path`.
  explicit Reader(std::string path);

  const std::string& path() const { return path_; }
  // Tensors in data-buffer order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  // The tensor as stored (its dtype, CPU, contiguous). UsageError when the name is absent.
  torch::Tensor read(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  uint64_t data_start_ = 0;  // 8 + header length
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes tensors (any supported dtype; moved to the CPU, made contiguous) in the given order,
// with the header padded by spaces to a multiple of 8 bytes. Written to PATH.tmp, renamed.
void write(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
           const std::map<std::string, std::string>& metadata = {});

// The largest header the reader accepts (the reference implementation's limit).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

}  // namespace sturdy::safetensors
