// safetensors reader and writer (see include/sturdy/model/safetensors.h).
#include "sturdy/model/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "sturdy/core/error.h"

namespace sturdy::safetensors {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian");

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  uint64_t bytes;
};

// The dtypes LibTorch can hold. F8_*, U16/U32/U64 exist in the format but not here.
constexpr DtypeInfo kDtypes[] = {
    {"F64", torch::kDouble, 8}, {"F32", torch::kFloat, 4}, {"F16", torch::kHalf, 2},
    {"BF16", torch::kBFloat16, 2}, {"I64", torch::kLong, 8}, {"I32", torch::kInt, 4},
    {"I16", torch::kShort, 2}, {"I8", torch::kChar, 1}, {"U8", torch::kByte, 1},
    {"BOOL", torch::kBool, 1},
};

const DtypeInfo* dtype_by_name(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DtypeInfo& dtype_by_type(torch::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return d;
  }
  throw UsageError(fmt::format("safetensors: cannot store tensors of type {}", c10::toString(type)));
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

TensorInfo parse_entry(const std::string& file, const std::string& name, const nlohmann::json& j) {
  auto field = [&](const char* key) -> const nlohmann::json& {
    STURDY_USAGE_CHECK(j.contains(key), "{}: tensor '{}' has no '{}' field", file, name, key);
    return j.at(key);
  };
  STURDY_USAGE_CHECK(j.is_object(), "{}: header entry '{}' is not an object", file, name);
  TensorInfo t;
  t.name = name;
  const auto& dtype = field("dtype");
  STURDY_USAGE_CHECK(dtype.is_string(), "{}: tensor '{}': dtype is not a string", file, name);
  t.dtype = dtype.get<std::string>();
  const DtypeInfo* info = dtype_by_name(t.dtype);
  STURDY_USAGE_CHECK(info != nullptr,
                     "{}: tensor '{}': unknown or unsupported dtype '{}' (supported: F64, F32, F16, "
                     "BF16, I64, I32, I16, I8, U8, BOOL)", file, name, t.dtype);

  const auto& shape = field("shape");
  STURDY_USAGE_CHECK(shape.is_array() && shape.size() <= 8,
                     "{}: tensor '{}': shape must be an array of at most 8 sizes", file, name);
  uint64_t bytes = info->bytes;
  for (const auto& s : shape) {
    uint64_t n = 0;
    STURDY_USAGE_CHECK(as_count(s, n), "{}: tensor '{}': shape {} has an invalid size", file, name,
                       shape.dump());
    STURDY_USAGE_CHECK(!__builtin_mul_overflow(bytes, n, &bytes) && bytes <= static_cast<uint64_t>(INT64_MAX),
                       "{}: tensor '{}': shape {} is too large", file, name, shape.dump());
    t.shape.push_back(static_cast<int64_t>(n));
  }

  const auto& offsets = field("data_offsets");
  STURDY_USAGE_CHECK(offsets.is_array() && offsets.size() == 2 && as_count(offsets[0], t.begin) &&
                         as_count(offsets[1], t.end) && t.begin <= t.end,
                     "{}: tensor '{}': data_offsets {} must be [begin, end] with 0 <= begin <= end",
                     file, name, offsets.dump());
  STURDY_USAGE_CHECK(t.end - t.begin == bytes,
                     "{}: tensor '{}': data_offsets {} span {} bytes but dtype {} and shape {} need {}",
                     file, name, offsets.dump(), t.end - t.begin, t.dtype, shape.dump(), bytes);
  return t;
}

}  // namespace

Reader::Reader(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  const auto file_size = std::filesystem::file_size(path_, ec);
  STURDY_USAGE_CHECK(!ec, "{}: cannot read: {}", path_, ec.message());
  STURDY_USAGE_CHECK(file_size >= 8, "{}: {} bytes, too short for the 8-byte header length", path_, file_size);
  std::ifstream in(path_, std::ios::binary);
  STURDY_USAGE_CHECK(in.good(), "{}: cannot open for reading", path_);
  unsigned char length_bytes[8];
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  uint64_t header_length = 0;
  for (int i = 7; i >= 0; --i) header_length = (header_length << 8) | length_bytes[i];
  STURDY_USAGE_CHECK(header_length <= file_size - 8,
                     "{}: header length {} exceeds the {} bytes after the length field", path_,
                     header_length, file_size - 8);
  STURDY_USAGE_CHECK(header_length <= kMaxHeaderBytes, "{}: header length {} exceeds the limit of {} bytes",
                     path_, header_length, kMaxHeaderBytes);
  STURDY_USAGE_CHECK(header_length >= 2, "{}: header length {} is too short for a JSON object", path_,
                     header_length);
  std::string header(header_length, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_length));
  STURDY_USAGE_CHECK(in.good(), "{}: cannot read the {}-byte header", path_, header_length);
  data_start_ = 8 + header_length;
  const uint64_t data_size = file_size - data_start_;

  const auto j = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  STURDY_USAGE_CHECK(!j.is_discarded() && j.is_object(), "{}: header is not a JSON object", path_);
  for (const auto& [name, entry] : j.items()) {
    if (name == "__metadata__") {
      STURDY_USAGE_CHECK(entry.is_object(), "{}: __metadata__ is not an object", path_);
      for (const auto& [key, value] : entry.items()) {
        STURDY_USAGE_CHECK(value.is_string(), "{}: __metadata__ value of '{}' is not a string", path_, key);
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    tensors_.push_back(parse_entry(path_, name, entry));
  }

  // The data buffer must be covered exactly: sorted by offset, each tensor starts where the
  // previous one ended (zero-sized tensors aside) and the last ends at the end of the file.
  std::stable_sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (const auto& t : tensors_) {
    STURDY_USAGE_CHECK(t.end <= data_size, "{}: tensor '{}': data_offsets end {} is past the {}-byte data buffer",
                       path_, t.name, t.end, data_size);
    if (t.begin == t.end) continue;
    STURDY_USAGE_CHECK(t.begin >= covered, "{}: tensor '{}': data_offsets begin {} overlaps the previous tensor "
                       "(ends at {})", path_, t.name, t.begin, covered);
    STURDY_USAGE_CHECK(t.begin == covered, "{}: tensor '{}': data_offsets begin {} leaves a hole after byte {}",
                       path_, t.name, t.begin, covered);
    covered = t.end;
  }
  STURDY_USAGE_CHECK(covered == data_size, "{}: the tensors cover {} bytes of the {}-byte data buffer", path_,
                     covered, data_size);
  for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
}

const TensorInfo* Reader::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

torch::Tensor Reader::read(const std::string& name) const {
  const TensorInfo* t = find(name);
  STURDY_USAGE_CHECK(t != nullptr, "{}: no tensor named '{}'", path_, name);
  auto out = torch::empty(t->shape, torch::TensorOptions().dtype(dtype_by_name(t->dtype)->type));
  if (t->end == t->begin) return out;
  std::ifstream in(path_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(data_start_ + t->begin));
  in.read(static_cast<char*>(out.data_ptr()), static_cast<std::streamsize>(t->end - t->begin));
  if (!in.good()) {
    throw RuntimeError(fmt::format("{}: cannot read tensor '{}' (file changed while reading?)", path_, name));
  }
  return out;
}

void write(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
           const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    STURDY_USAGE_CHECK(name != "__metadata__" && !header.contains(name),
                       "safetensors: tensor name '{}' is reserved or repeated", name);
    const auto t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * dtype_by_type(t.scalar_type()).bytes;
    header[name] = {{"dtype", dtype_by_type(t.scalar_type()).name},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(t);
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw RuntimeError(fmt::format("{}: cannot open for writing", tmp));
    unsigned char length[8];
    uint64_t n = text.size();
    for (auto& b : length) {
      b = static_cast<unsigned char>(n & 0xFF);
      n >>= 8;
    }
    out.write(reinterpret_cast<const char*>(length), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : data) {
      out.write(static_cast<const char*>(t.data_ptr()),
                static_cast<std::streamsize>(t.numel() * t.element_size()));
    }
    out.flush();
    if (!out) throw RuntimeError(fmt::format("{}: write failed (disk full?)", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw RuntimeError(fmt::format("{}: cannot rename from {}: {}", path, tmp, ec.message()));
}

}  // namespace sturdy::safetensors
