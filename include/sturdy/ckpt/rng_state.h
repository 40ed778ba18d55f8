// Random-number-generator state of a rank, as text for state.json.
//
// Everything random in a training step that is not keyed by (seed, example, step) draws from
// the default torch generators: the model's dropout masks (DropoutMasks uses Tensor::random_)
// and any other torch::rand* without an explicit generator. Each rank's generators advance by
// a different amount (its micro-batches have different padded shapes), so every rank's state
// is saved: rank 0 gathers them and writes one entry per rank.
#pragma once

#include <string>
#include <vector>

#include "sturdy/distributed/context.h"

namespace sturdy::ckpt {

// This process's default CPU generator state, hex-encoded. (The engine trains on CPU; when
// tensors move to a GPU, the CUDA generator of the local device joins here.)
std::string capture_rng_state();
// Restores a state from capture_rng_state(); throws UsageError when it does not parse.
void restore_rng_state(const std::string& state);

// Collective: every rank's `local`, on rank 0 in rank order (empty on other ranks).
std::vector<std::string> gather_strings(const dist::Context& ctx, const std::string& local);

}  // namespace sturdy::ckpt
