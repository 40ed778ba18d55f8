// Writes a few steps of Sturdy's AdamW (src/train/optimizer.cpp) to HDF5, for
// optimizer_crosscheck.py to recompute with torch.optim.AdamW: the initial parameters (a
// matrix, which is decayed, and a bias vector, which is not), the gradients of every step,
// the parameters after every step and the moments after the last one; the hyperparameters
// and per-step learning rates go to a JSON file. They are not the defaults, so swapped or
// ignored ones show. Usage: optimizer_dump OUT.h5 OUT.json
#include <cstdio>
#include <fstream>

#include <torch/torch.h>

#include "sturdy/ckpt/checkpoint.h"
#include "sturdy/train/optimizer.h"

using namespace sturdy;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: optimizer_dump OUT.h5 OUT.json\n");
    return 2;
  }
  OptimConfig config;
  config.beta1 = 0.8;
  config.beta2 = 0.95;
  config.eps = 1e-6;
  config.weight_decay = 0.1;
  const std::vector<double> lrs = {1e-2, 3e-2, 5e-3, 2e-2, 1e-2};

  torch::manual_seed(11);
  std::vector<NamedParameter> params = {{"w", torch::randn({6, 5})}, {"b", torch::randn({5})}};
  std::vector<NamedParameter> out;
  for (const auto& p : params) out.push_back({"initial." + p.name, p.tensor.clone()});
  AdamW optimizer(params, config);
  for (size_t s = 0; s < lrs.size(); ++s) {
    for (auto& p : params) {
      // Gradients of mixed scale (tiny to large), so both the moments and eps matter.
      auto g = torch::randn(p.tensor.sizes()) * torch::pow(10.0, torch::randint(-4, 2, p.tensor.sizes(), torch::kFloat32));
      p.tensor.mutable_grad() = g;
      out.push_back({"grad." + std::to_string(s) + "." + p.name, g.clone()});
    }
    optimizer.step(lrs[s]);
    for (const auto& p : params) out.push_back({"after." + std::to_string(s) + "." + p.name, p.tensor.clone()});
  }
  for (const auto& t : optimizer.state()) out.push_back({"state." + t.name, t.tensor.clone()});
  ckpt::write_tensors(argv[1], out);
  std::ofstream json(argv[2]);
  json.precision(17);
  json << "{\"beta1\": " << config.beta1 << ", \"beta2\": " << config.beta2 << ", \"eps\": " << config.eps
       << ", \"weight_decay\": " << config.weight_decay << ", \"step_count\": " << optimizer.step_count()
       << ", \"lrs\": [";
  for (size_t s = 0; s < lrs.size(); ++s) json << (s ? ", " : "") << lrs[s];
  json << "]}\n";
  std::printf("wrote %s and %s\n", argv[1], argv[2]);
  return json ? 0 : 3;
}
