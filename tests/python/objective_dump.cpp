// Writes one update each of FreeLB, SMART, FreeLB with δ on the output of block 1
// (objective.layer 1) and R3F of a small classifier (dropout off) to HDF5, for
// objective_crosscheck.py to recompute with plain torch: the initial parameters, the batch,
// SMART's random start δ₀, R3F's noise and the parameters after one SGD step on the
// objective's gradients. Usage: objective_dump OUT.h5
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <torch/torch.h>

#include "sturdy/ckpt/checkpoint.h"
#include "sturdy/data/loader.h"
#include "sturdy/model/transformer.h"
#include "sturdy/robust/objective.h"
#include "sturdy/text/tokenizer.h"

using namespace sturdy;

namespace {

std::vector<NamedParameter> params_of(Transformer& m) {
  std::vector<NamedParameter> out;
  for (const auto& kv : m->named_parameters(true)) out.push_back({kv.key(), kv.value()});
  return out;
}

std::vector<NamedParameter> prefixed(const std::string& prefix, const std::vector<NamedParameter>& ps) {
  std::vector<NamedParameter> out;
  for (const auto& p : ps) out.push_back({prefix + p.name, p.tensor.detach().clone()});
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: objective_dump OUT.h5\n");
    return 2;
  }
  Config config;
  config.model.vocab_size = 260;
  config.model.dim = 16;
  config.model.layers = 2;
  config.model.heads = 2;
  config.model.kv_heads = 1;
  config.model.ffn = 32;
  config.model.dropout = 0.0;
  config.model.num_classes = 3;
  config.run.seed = 7;
  const double lr = 0.5;

  auto tokenizer = make_tokenizer(config.tokenizer);
  Batch batch = make_batch(*tokenizer, {"a short one", "the longest sentence of the three", "mid size"},
                           {0, 2, 1}, 64);
  batch.example_ids = {11, 22, 33};
  const double scale = 1.0 / 3.0;

  std::vector<NamedParameter> out;
  out.push_back({"batch.ids", batch.ids.to(torch::kFloat32)});
  out.push_back({"batch.mask", batch.mask.to(torch::kFloat32)});
  out.push_back({"batch.labels", batch.labels.to(torch::kFloat32)});

  struct Case {
    std::string name;
    ObjectiveConfig objective;
  };
  ObjectiveConfig freelb;
  freelb.kind = "freelb";
  freelb.steps = 3;
  freelb.step_size = 0.1;
  freelb.epsilon = 0.05;
  freelb.init = 0.0;
  freelb.norm = "l2";
  ObjectiveConfig smart;
  smart.kind = "smart";
  smart.init = 1e-2;  // σ, large enough that the ascent direction is well above fp noise
  smart.step_size = 1e-2;
  smart.epsilon = 5e-3;
  smart.lambda = 2.0;
  smart.norm = "linf";

  ObjectiveConfig freelb_layer = freelb;
  freelb_layer.layer = 1;
  ObjectiveConfig r3f;
  r3f.kind = "r3f";
  r3f.sigma = 0.05;
  r3f.lambda = 2.0;
  r3f.noise = "normal";

  bool first = true;
  for (const Case& c : {Case{"freelb", freelb}, Case{"smart", smart}, Case{"freelb_layer", freelb_layer},
                        Case{"r3f", r3f}}) {
    torch::manual_seed(3);
    Transformer model(config.model);
    model->eval();  // dropout off (p = 0 anyway)
    auto params = params_of(model);
    if (first) {
      for (auto& p : prefixed("initial.", params)) out.push_back(p);
      first = false;
    }
    Config cc = config;
    cc.objective = c.objective;
    auto objective = robust::make_objective(cc);
    if (c.name == "smart") {
      // The same random start the objective draws (robust/objective.cpp, Smart).
      auto e = model->embed(batch.ids).detach();
      robust::AdvBall none{robust::AdvNorm::kLinf, robust::AdvScope::kToken, 0.0};
      auto delta0 = robust::adv_init(e, batch.mask, none, robust::AdvInit{robust::AdvInitKind::kNormal, smart.init},
                                     batch.example_ids, cc.run.seed, robust::delta_stream(batch, robust::kSmartStart));
      out.push_back({"smart.delta0", delta0});
    }
    if (c.name == "r3f") {
      // The noise the objective draws (robust/objective.cpp, R3f::noise): Box-Muller from two
      // keyed U(-1, 1) draws.
      auto e = model->embed(batch.ids).detach();
      const robust::AdvBall open{robust::AdvNorm::kLinf, robust::AdvScope::kExample, 0.0};
      const robust::AdvInit unit{robust::AdvInitKind::kUniform, 1.0};
      auto u = robust::adv_init(e, batch.mask, open, unit, batch.example_ids, cc.run.seed,
                                robust::delta_stream(batch, robust::kR3fStart));
      auto v = robust::adv_init(e, batch.mask, open, unit, batch.example_ids, cc.run.seed,
                                robust::delta_stream(batch, robust::kR3fSecond));
      auto z = (-2.0 * ((u + 1.0) * 0.5).clamp_min(1e-12).log()).sqrt() * torch::cos(2.0 * M_PI * (v + 1.0) * 0.5);
      out.push_back({"r3f.noise", z * batch.mask.unsqueeze(-1).to(z.dtype()) * r3f.sigma});
    }
    objective->micro_step(model, batch, scale, [](bool) {});
    torch::NoGradGuard no_grad;
    for (auto& p : params) {
      if (p.tensor.grad().defined()) p.tensor.sub_(lr * p.tensor.grad());
    }
    for (auto& p : prefixed(c.name + ".after.", params)) out.push_back(p);
  }
  ckpt::write_tensors(argv[1], out);
  std::printf("wrote %s\n", argv[1]);
  return 0;
}
