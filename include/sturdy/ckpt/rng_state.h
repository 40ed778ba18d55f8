// Random-number-generator state of a rank, as text for state.json.
//
// Everything random in a training step that is not keyed by (seed, example, step) draws from
// the default torch generators: the model's dropout masks (DropoutMasks uses Tensor::random_)
// and any other torch::rand* without an explicit generator. Each rank's generators advance by
// a different amount (its micro-batches have different padded shapes), so every rank's state
// is saved: rank 0 gathers them and writes one entry per rank.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "sturdy/distributed/context.h"

namespace sturdy::ckpt {

// This process's default CPU generator state, hex-encoded: "cpu:<hex>", followed by
// ";cuda:<hex>" (the CUDA generator of `device`, which draws the dropout masks there) when
// `device` is a GPU.
std::string capture_rng_state(const torch::Device& device = torch::Device(torch::kCPU));
// Restores a state from capture_rng_state() on `device`: the CPU part always, the CUDA part
// when training on a GPU. Returns "" when every generator that matters was restored, else a
// note for the log (a GPU state read on the CPU, or a CPU-only state on a GPU: that
// generator starts afresh, as a resume on another device cannot continue it anyway).
// Throws UsageError when the text does not parse.
std::string restore_rng_state(const std::string& state, const torch::Device& device = torch::Device(torch::kCPU));

// Collective: every rank's `local`, on rank 0 in rank order (empty on other ranks).
std::vector<std::string> gather_strings(const dist::Context& ctx, const std::string& local);

}  // namespace sturdy::ckpt
