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

namespace {

std::string to_hex(const at::Tensor& state) {
  const auto* bytes = state.data_ptr<uint8_t>();
  std::string out;
  out.reserve(2 * state.numel());
  for (int64_t i = 0; i < state.numel(); ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

at::Tensor from_hex(const std::string& hex, size_t at_char) {
  STURDY_USAGE_CHECK(hex.size() % 2 == 0, "checkpoint RNG state has an odd number of hex digits");
  const size_t n = hex.size() / 2;
  auto state = torch::empty({static_cast<int64_t>(n)}, torch::kUInt8);
  auto* bytes = state.data_ptr<uint8_t>();
  for (size_t i = 0; i < n; ++i) {
    const int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    STURDY_USAGE_CHECK(hi >= 0 && lo >= 0, "checkpoint RNG state has a non-hex character at {}", at_char + 2 * i);
    bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return state;
}

at::Tensor generator_state(at::Generator gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(at::Generator gen, const at::Tensor& state) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);  // checks the size and throws c10::Error on a mismatch
}

at::Generator cuda_generator(const torch::Device& device) {
  return at::globalContext().defaultGenerator(device);
}

}  // namespace

std::string capture_rng_state(const torch::Device& device) {
  std::string out = "cpu:" + to_hex(generator_state(at::detail::getDefaultCPUGenerator()));
  if (device.is_cuda()) out += ";cuda:" + to_hex(generator_state(cuda_generator(device)));
  return out;
}

std::string restore_rng_state(const std::string& text, const torch::Device& device) {
  STURDY_USAGE_CHECK(text.rfind("cpu:", 0) == 0,
                     "checkpoint RNG state is not a 'cpu:<hex>' string (from another Sturdy version?)");
  const size_t semi = text.find(';');
  const std::string cpu_hex = text.substr(4, semi == std::string::npos ? std::string::npos : semi - 4);
  std::string cuda_hex;
  if (semi != std::string::npos) {
    STURDY_USAGE_CHECK(text.compare(semi + 1, 5, "cuda:") == 0,
                       "checkpoint RNG state: unknown part after 'cpu:<hex>;' at character {} (expected 'cuda:')",
                       semi + 1);
    cuda_hex = text.substr(semi + 6);
  }
  const at::Tensor cpu_state = from_hex(cpu_hex, 4);
  const at::Tensor cuda_state = semi == std::string::npos ? at::Tensor() : from_hex(cuda_hex, semi + 6);
  set_generator_state(at::detail::getDefaultCPUGenerator(), cpu_state);
  if (device.is_cuda()) {
    if (!cuda_state.defined()) return "the checkpoint was written on the CPU: the GPU's dropout masks are drawn afresh";
    set_generator_state(cuda_generator(device), cuda_state);
    return "";
  }
  return cuda_state.defined() ? "the checkpoint was written on a GPU: the CPU's dropout masks are drawn afresh" : "";
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
