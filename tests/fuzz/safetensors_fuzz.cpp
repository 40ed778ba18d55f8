// libFuzzer target for the safetensors header (scripts/fuzz.sh safetensors).
//
// Everything safetensors::Reader trusts comes from the header parser
// (src/model/safetensors_header.cpp, no LibTorch); the LibTorch side allocates each tensor
// from its dtype and shape and reads [begin, end) of the data buffer. Byte 0 picks the case:
//   0: the rest is the whole file: read from a file (read_header) and from memory
//      (parse_file_start) with the same outcome;
//   1: the rest is the JSON header text; the data buffer is as long as the largest
//      data_offsets end in it (so offsets that fit can be accepted); byte count unwritten.
// An accepted header must be what the reader relies on: known dtypes, at most 8 sizes whose
// product (zero sizes left out) fits int64, each tensor's byte range its dtype x shape, the
// ranges sorted and tiling the data buffer exactly, unique names. Errors must be
// sturdy::Errors on one line.
#include <cstdint>
#include <cstring>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "sturdy/model/safetensors_header.h"

namespace st = sturdy::safetensors;

namespace {

const char* kTarget = "safetensors_fuzz";

void check_accepted(const st::Header& h, uint64_t file_size) {
  auto expect = [](bool ok, const std::string& what) {
    if (!ok) sturdy_fuzz::fail(kTarget, "accepted header: " + what);
  };
  expect(h.data_start >= 10 && h.data_start <= file_size, "data_start outside the file");
  const uint64_t data_size = file_size - h.data_start;
  std::set<std::string> names;
  uint64_t covered = 0, previous_begin = 0;
  for (const auto& t : h.tensors) {
    expect(names.insert(t.name).second && t.name != "__metadata__", "tensor name repeated or reserved");
    const uint64_t element = st::dtype_bytes(t.dtype);
    expect(element != 0, "unknown dtype " + t.dtype);
    expect(t.shape.size() <= 8, "more than 8 sizes");
    unsigned __int128 bytes = element, extent = element;
    for (int64_t n : t.shape) {
      expect(n >= 0, "negative size");
      bytes *= static_cast<unsigned __int128>(n);
      extent *= static_cast<unsigned __int128>(n > 0 ? n : 1);
      expect(extent <= static_cast<unsigned __int128>(INT64_MAX), "sizes overflow int64");
    }
    expect(t.begin <= t.end && t.end <= data_size, "byte range outside the data buffer");
    expect(t.end - t.begin == bytes, "byte range is not dtype x shape");
    expect(t.begin >= previous_begin, "tensors not in data-buffer order");
    previous_begin = t.begin;
    if (t.begin == t.end) continue;
    expect(t.begin == covered, "hole or overlap");
    covered = t.end;
  }
  expect(covered == data_size, "the tensors do not cover the data buffer");
}

// The largest data_offsets end in a header text (0 when none can be read).
uint64_t largest_end(std::string_view json) {
  const auto j = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  uint64_t largest = 0;
  if (!j.is_object()) return 0;
  for (const auto& [name, entry] : j.items()) {
    if (!entry.is_object() || !entry.contains("data_offsets")) continue;
    const auto& o = entry["data_offsets"];
    if (o.is_array() && o.size() == 2 && o[1].is_number_unsigned()) {
      largest = std::max(largest, o[1].get<uint64_t>());
    }
  }
  return largest;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    const std::string path = sturdy_fuzz::scratch_path("model.safetensors");
    sturdy_fuzz::write_file(path, rest);
    st::Header from_file, from_memory;
    const bool file_ok = sturdy_fuzz::accepts(kTarget, [&] { from_file = st::read_header(path); });
    const bool memory_ok = sturdy_fuzz::accepts(kTarget, [&] { from_memory = st::parse_file_start(path, rest, rest.size()); });
    if (file_ok != memory_ok) sturdy_fuzz::fail(kTarget, "file and memory parses disagree");
    if (file_ok) {
      if (from_file.data_start != from_memory.data_start || from_file.metadata != from_memory.metadata ||
          from_file.tensors.size() != from_memory.tensors.size()) {
        sturdy_fuzz::fail(kTarget, "file and memory parses give different headers");
      }
      check_accepted(from_file, rest.size());
    }
  } else {
    const uint64_t data_size = std::min<uint64_t>(largest_end(rest), uint64_t{1} << 62);
    const uint64_t file_size = 8 + rest.size() + data_size;
    st::Header h;
    if (sturdy_fuzz::accepts(kTarget, [&] { h = st::parse_header("model.safetensors", rest, file_size); })) {
      check_accepted(h, file_size);
    }
  }
  return 0;
}
