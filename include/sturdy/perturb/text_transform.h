// The shape of a per-example text rewrite: what the loader applies to each training text
// (augmentation, the consistency view) and what perturb/augment.h builds from a config.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace sturdy {

// Rewrites the text of example `id` in `epoch`; must be thread-safe and deterministic.
using TextTransform = std::function<std::string(std::string_view text, uint64_t id, uint64_t epoch)>;

}  // namespace sturdy
