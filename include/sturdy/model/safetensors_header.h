// The header of a safetensors file, without LibTorch: src/model/safetensors.cpp reads the
// tensors, tests/fuzz/safetensors_fuzz.cpp fuzzes this.
//
//   u64 little-endian N | N bytes of JSON header | data buffer
//   header: {"NAME": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//            "__metadata__": {"key": "string", ...}}   (offsets relative to the data buffer)
//
// Files are untrusted: the header length is checked against the file size (and a 100 MB cap)
// before anything is allocated, and every tensor's dtype, shape, byte count and offsets before
// it is read; the data buffer must be covered exactly, without holes or overlaps (as the
// format requires). Problems are UsageErrors (exit 2) naming the file and the field, on one line.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sturdy::safetensors {

struct TensorInfo {
  std::string name;
  std::string dtype;           // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range in the data buffer
};

struct Header {
  uint64_t data_start = 0;          // 8 + header length: where the data buffer begins
  std::vector<TensorInfo> tensors;  // in data-buffer order
  std::map<std::string, std::string> metadata;
};

// The largest header the reader accepts (the reference implementation's limit).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

// Bytes per element of a dtype the reader supports (F64, F32, F16, BF16, I64, I32, I16, I8,
// U8, BOOL); 0 for any other name.
uint64_t dtype_bytes(std::string_view dtype);

// The header length N stored in `length_field` (the file's first 8 bytes; fewer means the
// read came up short), checked against the size of a file of `file_size` bytes and the cap.
uint64_t parse_header_length(const std::string& path, std::string_view length_field, uint64_t file_size);

// Parses and validates the N-byte JSON header of a file of `file_size` bytes. `path` only
// names the file in messages.
Header parse_header(const std::string& path, std::string_view json, uint64_t file_size);

// Both steps on the file's first bytes (at least 8 + N of them; the whole file will do).
Header parse_file_start(const std::string& path, std::string_view bytes, uint64_t file_size);

// Reads the header of `path` and parses it with the file's size.
Header read_header(const std::string& path);

}  // namespace sturdy::safetensors
