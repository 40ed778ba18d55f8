// safetensors reader and writer (see include/sturdy/model/safetensors.h). The header is
// parsed and validated by src/model/safetensors_header.cpp (LibTorch-free, fuzzed).
#include "sturdy/model/safetensors.h"

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

// Every dtype the header parser accepts is in kDtypes (same list, same sizes).
const DtypeInfo& dtype_by_name(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return d;
  }
  throw RuntimeError(fmt::format("safetensors: dtype '{}' passed the header checks but has no LibTorch type", name));
}

const DtypeInfo& dtype_by_type(torch::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return d;
  }
  throw UsageError(fmt::format("safetensors: cannot store tensors of type {}", c10::toString(type)));
}

}  // namespace

Reader::Reader(std::string path) : path_(std::move(path)), header_(read_header(path_)) {
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

const TensorInfo* Reader::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

torch::Tensor Reader::read(const std::string& name) const {
  const TensorInfo* t = find(name);
  STURDY_USAGE_CHECK(t != nullptr, "{}: no tensor named '{}'", path_, name);
  auto out = torch::empty(t->shape, torch::TensorOptions().dtype(dtype_by_name(t->dtype).type));
  if (t->end == t->begin) return out;
  std::ifstream in(path_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(header_.data_start + t->begin));
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
