// RNG state capture/restore and the gather to rank 0 (see rng_state.h).
#include "sturdy/ckpt/rng_state.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <mutex>

namespace sturdy::ckpt {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::string capture_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  at::Tensor state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get_state();
  }
  const auto* bytes = state.data_ptr<uint8_t>();
  std::string out;
  out.reserve(2 * state.numel() + 4);
  out += "cpu:";
  for (int64_t i = 0; i < state.numel(); ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

void restore_rng_state(const std::string& text) {
  STURDY_USAGE_CHECK(text.rfind("cpu:", 0) == 0 && text.size() % 2 == 0,
                     "checkpoint RNG state is not a 'cpu:<hex>' string (from another Sturdy version?)");
  const size_t n = (text.size() - 4) / 2;
  auto state = torch::empty({static_cast<int64_t>(n)}, torch::kUInt8);
  auto* bytes = state.data_ptr<uint8_t>();
  for (size_t i = 0; i < n; ++i) {
    const int hi = hex_value(text[4 + 2 * i]), lo = hex_value(text[5 + 2 * i]);
    STURDY_USAGE_CHECK(hi >= 0 && lo >= 0, "checkpoint RNG state has a non-hex character at {}", 4 + 2 * i);
    bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);  // checks the size and throws c10::Error on a mismatch
}

std::vector<std::string> gather_strings(const dist::Context& ctx, const std::string& local) {
  const int world = ctx.world_size();
  if (world == 1) return {local};
  // Lengths first, then the bytes; MPI_Gatherv counts are int, which RNG states fit easily.
  int length = static_cast<int>(local.size());
  std::vector<int> lengths(ctx.is_root() ? world : 0);
  STURDY_MPI_CHECK(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, ctx.world()));
  std::vector<int> offsets(lengths.size());
  int total = 0;
  for (size_t r = 0; r < lengths.size(); ++r) {
    offsets[r] = total;
    total += lengths[r];
  }
  std::string all(ctx.is_root() ? total : 0, '\0');
  STURDY_MPI_CHECK(MPI_Gatherv(local.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(),
                               MPI_CHAR, 0, ctx.world()));
  std::vector<std::string> out;
  for (size_t r = 0; r < lengths.size(); ++r) out.push_back(all.substr(offsets[r], lengths[r]));
  return out;
}

}  // namespace sturdy::ckpt
