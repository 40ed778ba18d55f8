// A tensor under its registered name: the unit that checkpoints, the optimizer, gradient
// sync and the objectives' persistent state exchange. Lives with the model, below every
// stage that uses it (docs/architecture.md).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace sturdy {

struct NamedParameter {
  std::string name;
  torch::Tensor tensor;
};

// A module's parameters by registered name (the checkpoint keys), in registration order.
inline std::vector<NamedParameter> named_parameters(torch::nn::Module& module) {
  std::vector<NamedParameter> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) out.push_back({item.key(), item.value()});
  return out;
}

}  // namespace sturdy
