// libFuzzer target for the llama2.c weight-file header (scripts/fuzz.sh llama2c).
//
// Everything read_llama2c trusts comes from parse_llama2c_header and llama2c_layout
// (src/model/llama2c_header.cpp, no LibTorch); the LibTorch side then allocates the blocks
// and reads that many floats. Byte 0 picks the case:
//   0: the rest is the whole file: read from a file (read_llama2c_header) and from memory
//      (parse_llama2c_header) with the same outcome;
//   1: the rest is a u64 file size and the header bytes (files of any size, unwritten);
//   2: byte 1 is a small size offset, the rest the header bytes; the file size is the one the
//      layout in the format's description gives for those fields (computed here
//      independently) plus that offset: with offset 0 the size check must pass (a refusal
//      must name another field), with any other nothing may be accepted.
// An accepted header must be self-consistent: fields in range, every block's byte count
// fits a read, the blocks add up to the file size, and they hold every tensor the reader
// takes (a missing one would be std::out_of_range there). Errors must be sturdy::Errors on
// one line.
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <set>
#include <string>

#include "fuzz_util.h"
#include "sturdy/model/llama2c_header.h"

namespace {

const char* kTarget = "llama2c_fuzz";
using u128 = unsigned __int128;

void check_accepted(const sturdy::Llama2cHeader& h, uint64_t size) {
  auto expect = [](bool ok, const char* what) {
    if (!ok) sturdy_fuzz::fail(kTarget, std::string("accepted header: ") + what);
  };
  expect(static_cast<uint64_t>(h.file_bytes) == size, "file_bytes is not the file size");
  expect((h.version == 0 && h.data_offset == 28) || (h.version == 1 && h.data_offset == 256), "version/offset");
  expect(h.dim > 0 && h.hidden_dim > 0 && h.n_layers > 0 && h.n_heads > 0 && h.n_kv_heads > 0 &&
             h.vocab_size > 0 && h.seq_len > 0, "a field is not positive");
  expect(h.dim % h.n_heads == 0 && h.n_heads % h.n_kv_heads == 0 && (h.dim / h.n_heads) % 2 == 0,
         "heads do not divide");
  std::set<std::string> names;
  u128 floats = 0;
  for (const auto& b : sturdy::llama2c_layout(h)) {
    u128 n = b.per_layer ? static_cast<u128>(h.n_layers) : 1;
    for (int64_t d : b.shape) {
      expect(d > 0, "a block has an empty dimension");
      n *= static_cast<u128>(d);
    }
    expect(n * 4 <= static_cast<u128>(INT64_MAX), "a block's byte count does not fit a read");
    floats += n;
    expect(b.per_layer == (b.name.find("{}") != std::string::npos), "per-layer name without {}");
    if (!b.skip) expect(names.insert(b.name).second, "a tensor appears twice");
  }
  expect(static_cast<u128>(h.data_offset) + 4 * floats == static_cast<u128>(h.file_bytes),
         "the blocks do not add up to the file size");
  for (const char* n : {"tok_embeddings.weight", "norm.weight", "layers.{}.attention.wq.weight",
                        "layers.{}.attention.wk.weight", "layers.{}.attention.wv.weight",
                        "layers.{}.attention.wo.weight", "layers.{}.feed_forward.w1.weight",
                        "layers.{}.feed_forward.w2.weight", "layers.{}.feed_forward.w3.weight",
                        "layers.{}.attention_norm.weight", "layers.{}.ffn_norm.weight"}) {
    expect(names.count(n) == 1, "a tensor the reader takes is missing");
  }
  expect(names.count("output.weight") == (h.shared_classifier ? 0u : 1u), "classifier block");
}

int32_t field(std::string_view head, size_t offset) {
  int32_t v = 0;
  if (head.size() >= offset + 4) std::memcpy(&v, head.data() + offset, 4);
  return v;
}

// The file size the format's description gives for the header fields in `head`, tensor by
// tensor; 0 when the fields cannot describe a file (the parser must refuse those anyway).
u128 implied_size(std::string_view head) {
  const bool v1 = field(head, 0) == 0x616b3432;
  const size_t p = v1 ? 8 : 0;
  const int64_t D = field(head, p), F = field(head, p + 4), L = field(head, p + 8), H = field(head, p + 12),
                KVH = field(head, p + 16), S = field(head, p + 24);
  int64_t V = field(head, p + 20);
  bool separate = false;
  if (!v1) {
    separate = V < 0;
    V = V < 0 ? -V : V;
  } else {
    separate = head.size() > p + 28 && head[p + 28] == 0;
  }
  if (D <= 0 || F <= 0 || L <= 0 || H <= 0 || KVH <= 0 || V <= 0 || S <= 0 || D % H != 0) return 0;
  const u128 hd = static_cast<u128>(D / H), d = static_cast<u128>(D), f = static_cast<u128>(F);
  const u128 q = static_cast<u128>(H) * hd, kv = static_cast<u128>(KVH) * hd;
  const u128 per_layer = d /*attention_norm*/ + q * d + kv * d + kv * d + d * q + d /*ffn_norm*/ + 3 * f * d;
  u128 floats = static_cast<u128>(V) * d + static_cast<u128>(L) * per_layer + d;
  if (!v1) floats += 2 * static_cast<u128>(S) * (hd / 2);
  if (separate) floats += static_cast<u128>(V) * d;
  return (v1 ? 256 : 28) + 4 * floats;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      const std::string path = sturdy_fuzz::scratch_path("model.bin");
      sturdy_fuzz::write_file(path, rest);
      sturdy::Llama2cHeader from_file, from_memory;
      const bool file_ok = sturdy_fuzz::accepts(kTarget, [&] { from_file = sturdy::read_llama2c_header(path); });
      const bool memory_ok =
          sturdy_fuzz::accepts(kTarget, [&] { from_memory = sturdy::parse_llama2c_header(path, rest, rest.size()); });
      if (file_ok != memory_ok) sturdy_fuzz::fail(kTarget, "file and memory parses disagree");
      if (file_ok) {
        const auto& a = from_file;
        const auto& b = from_memory;
        if (a.version != b.version || a.dim != b.dim || a.hidden_dim != b.hidden_dim || a.n_layers != b.n_layers ||
            a.n_heads != b.n_heads || a.n_kv_heads != b.n_kv_heads || a.vocab_size != b.vocab_size ||
            a.seq_len != b.seq_len || a.shared_classifier != b.shared_classifier ||
            a.data_offset != b.data_offset || a.file_bytes != b.file_bytes) {
          sturdy_fuzz::fail(kTarget, "file and memory parses give different headers");
        }
        check_accepted(from_file, rest.size());
      }
      break;
    }
    case 1: {
      if (rest.size() < 8) return 0;
      uint64_t file_size;
      std::memcpy(&file_size, rest.data(), 8);
      const std::string_view head = rest.substr(8);
      sturdy::Llama2cHeader h;
      if (sturdy_fuzz::accepts(kTarget, [&] { h = sturdy::parse_llama2c_header("model.bin", head, file_size); })) {
        check_accepted(h, file_size);
      }
      break;
    }
    default: {
      if (rest.empty()) return 0;
      const int delta = static_cast<int8_t>(rest[0]) % 5;  // mostly 0 after the fuzzer learns it
      const std::string_view head = rest.substr(1);
      const u128 implied = implied_size(head);
      if (implied == 0 || implied > static_cast<u128>(INT64_MAX) - 8) return 0;
      const uint64_t file_size = static_cast<uint64_t>(implied) + static_cast<uint64_t>(delta * 4);
      if (head.size() < std::min<uint64_t>(file_size, 256)) return 0;  // a short read, not a header
      sturdy::Llama2cHeader h;
      std::string refusal;
      if (sturdy_fuzz::accepts(kTarget, [&] {
            try {
              h = sturdy::parse_llama2c_header("model.bin", head, file_size);
            } catch (const sturdy::UsageError& e) {
              refusal = e.what();
              throw;
            }
          })) {
        if (delta != 0) sturdy_fuzz::fail(kTarget, "accepted a file size that is not the implied one");
        check_accepted(h, file_size);
      } else if (delta == 0 && refusal.find(": file size is ") != std::string::npos) {
        // The fields passed every other check, so the parser's size formula and the layout
        // as the format describes it disagree.
        sturdy_fuzz::fail(kTarget, "the implied file size was refused: " + refusal);
      }
      break;
    }
  }
  return 0;
}
