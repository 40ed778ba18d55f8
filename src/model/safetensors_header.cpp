// safetensors header parsing and validation (see include/sturdy/model/safetensors_header.h).
#include "sturdy/model/safetensors_header.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "sturdy/core/error.h"
#include "sturdy/core/printable.h"

namespace sturdy::safetensors {
namespace {

struct DtypeSize {
  const char* name;
  uint64_t bytes;
};

// The dtypes LibTorch can hold (src/model/safetensors.cpp maps them to torch types). F8_*,
// U16/U32/U64 exist in the format but not here.
constexpr DtypeSize kDtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
    {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
};

// A JSON value quoted in a message (a shape, data_offsets). nlohmann's dump() recurses once
// per nesting level, so a deeply nested value ([[[[...]]]], a few MB of header) would overflow
// the stack: only arrays of scalars are printed, anything else is named by its type.
std::string brief(const nlohmann::json& j) {
  if (j.is_array()) {
    for (const auto& e : j) {
      if (e.is_structured()) return fmt::format("(an array of {} values, some nested)", j.size());
    }
  } else if (j.is_structured()) {
    return fmt::format("(a JSON {})", j.type_name());
  }
  const std::string text = j.dump();
  return text.size() <= 200 ? text : text.substr(0, 200) + "...";
}

// A non-negative integer that fits in int64 (JSON numbers may be negative, fractional or huge).
bool as_count(const nlohmann::json& j, uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<uint64_t>();
  } else if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(j.get<int64_t>());
  } else {
    return false;
  }
  return out <= static_cast<uint64_t>(INT64_MAX);
}

TensorInfo parse_entry(const std::string& file, const std::string& name_text, const nlohmann::json& j) {
  const std::string name = printable(name_text);
  auto field = [&](const char* key) -> const nlohmann::json& {
    STURDY_USAGE_CHECK(j.contains(key), "{}: tensor '{}' has no '{}' field", file, name, key);
    return j.at(key);
  };
  STURDY_USAGE_CHECK(j.is_object(), "{}: header entry '{}' is not an object", file, name);
  TensorInfo t;
  t.name = name_text;
  const auto& dtype = field("dtype");
  STURDY_USAGE_CHECK(dtype.is_string(), "{}: tensor '{}': dtype is not a string", file, name);
  t.dtype = dtype.get<std::string>();
  const uint64_t element_bytes = dtype_bytes(t.dtype);
  STURDY_USAGE_CHECK(element_bytes != 0,
                     "{}: tensor '{}': unknown or unsupported dtype '{}' (supported: F64, F32, F16, "
                     "BF16, I64, I32, I16, I8, U8, BOOL)", file, name, printable(t.dtype));

  const auto& shape = field("shape");
  STURDY_USAGE_CHECK(shape.is_array() && shape.size() <= 8,
                     "{}: tensor '{}': shape must be an array of at most 8 sizes", file, name);
  // `bytes` is what the data occupies; `extent` the same product with zero sizes left out,
  // which must fit too (LibTorch computes strides from it even for an empty tensor).
  uint64_t bytes = element_bytes, extent = element_bytes;
  for (const auto& s : shape) {
    uint64_t n = 0;
    STURDY_USAGE_CHECK(as_count(s, n), "{}: tensor '{}': shape {} has an invalid size", file, name,
                       brief(shape));
    STURDY_USAGE_CHECK(!__builtin_mul_overflow(bytes, n, &bytes) && bytes <= static_cast<uint64_t>(INT64_MAX) &&
                           !__builtin_mul_overflow(extent, std::max<uint64_t>(n, 1), &extent) &&
                           extent <= static_cast<uint64_t>(INT64_MAX),
                       "{}: tensor '{}': shape {} is too large", file, name, brief(shape));
    t.shape.push_back(static_cast<int64_t>(n));
  }

  const auto& offsets = field("data_offsets");
  STURDY_USAGE_CHECK(offsets.is_array() && offsets.size() == 2 && as_count(offsets[0], t.begin) &&
                         as_count(offsets[1], t.end) && t.begin <= t.end,
                     "{}: tensor '{}': data_offsets {} must be [begin, end] with 0 <= begin <= end",
                     file, name, brief(offsets));
  STURDY_USAGE_CHECK(t.end - t.begin == bytes,
                     "{}: tensor '{}': data_offsets {} span {} bytes but dtype {} and shape {} need {}",
                     file, name, brief(offsets), t.end - t.begin, t.dtype, brief(shape), bytes);
  return t;
}

}  // namespace

uint64_t dtype_bytes(std::string_view dtype) {
  for (const auto& d : kDtypes) {
    if (dtype == d.name) return d.bytes;
  }
  return 0;
}

uint64_t parse_header_length(const std::string& path, std::string_view length_field, uint64_t file_size) {
  STURDY_USAGE_CHECK(file_size >= 8, "{}: {} bytes, too short for the 8-byte header length", path, file_size);
  STURDY_USAGE_CHECK(length_field.size() >= 8, "{}: cannot read the 8-byte header length", path);
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | static_cast<unsigned char>(length_field[i]);
  STURDY_USAGE_CHECK(header_length <= file_size - 8,
                     "{}: header length {} exceeds the {} bytes after the length field", path,
                     header_length, file_size - 8);
  STURDY_USAGE_CHECK(header_length <= kMaxHeaderBytes, "{}: header length {} exceeds the limit of {} bytes",
                     path, header_length, kMaxHeaderBytes);
  STURDY_USAGE_CHECK(header_length >= 2, "{}: header length {} is too short for a JSON object", path,
                     header_length);
  return header_length;
}

Header parse_header(const std::string& path, std::string_view json, uint64_t file_size) {
  Header h;
  STURDY_USAGE_CHECK(json.size() <= kMaxHeaderBytes && 8 + json.size() <= file_size,
                     "{}: header length {} exceeds the file", path, json.size());
  h.data_start = 8 + json.size();
  const uint64_t data_size = file_size - h.data_start;

  const auto j = nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  STURDY_USAGE_CHECK(!j.is_discarded() && j.is_object(), "{}: header is not a JSON object", path);
  for (const auto& [name, entry] : j.items()) {
    if (name == "__metadata__") {
      STURDY_USAGE_CHECK(entry.is_object(), "{}: __metadata__ is not an object", path);
      for (const auto& [key, value] : entry.items()) {
        STURDY_USAGE_CHECK(value.is_string(), "{}: __metadata__ value of '{}' is not a string", path, printable(key));
        h.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_entry(path, name, entry));
  }

  // The data buffer must be covered exactly: sorted by offset, each tensor starts where the
  // previous one ended (zero-sized tensors aside) and the last ends at the end of the file.
  std::stable_sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (const auto& t : h.tensors) {
    STURDY_USAGE_CHECK(t.end <= data_size, "{}: tensor '{}': data_offsets end {} is past the {}-byte data buffer",
                       path, printable(t.name), t.end, data_size);
    if (t.begin == t.end) continue;
    STURDY_USAGE_CHECK(t.begin >= covered, "{}: tensor '{}': data_offsets begin {} overlaps the previous tensor "
                       "(ends at {})", path, printable(t.name), t.begin, covered);
    STURDY_USAGE_CHECK(t.begin == covered, "{}: tensor '{}': data_offsets begin {} leaves a hole after byte {}",
                       path, printable(t.name), t.begin, covered);
    covered = t.end;
  }
  STURDY_USAGE_CHECK(covered == data_size, "{}: the tensors cover {} bytes of the {}-byte data buffer", path,
                     covered, data_size);
  return h;
}

Header parse_file_start(const std::string& path, std::string_view bytes, uint64_t file_size) {
  const uint64_t length = parse_header_length(path, bytes.substr(0, 8), file_size);
  STURDY_USAGE_CHECK(bytes.size() >= 8 + length, "{}: cannot read the {}-byte header", path, length);
  return parse_header(path, bytes.substr(8, length), file_size);
}

Header read_header(const std::string& path) {
  std::error_code ec;
  const auto file_size = std::filesystem::file_size(path, ec);
  STURDY_USAGE_CHECK(!ec, "{}: cannot read: {}", path, ec.message());
  std::string bytes;
  std::ifstream in;
  if (file_size >= 8) {
    in.open(path, std::ios::binary);
    STURDY_USAGE_CHECK(in.good(), "{}: cannot open for reading", path);
    bytes.resize(8);
    in.read(bytes.data(), 8);
    bytes.resize(static_cast<size_t>(in.gcount()));
  }
  const uint64_t length = parse_header_length(path, bytes, file_size);
  std::string json(length, '\0');
  in.read(json.data(), static_cast<std::streamsize>(length));
  STURDY_USAGE_CHECK(in.good(), "{}: cannot read the {}-byte header", path, length);
  return parse_header(path, json, file_size);
}

}  // namespace sturdy::safetensors
