// `sturdy eval --checkpoint DIR [--config F.yaml] [--data C.h5] [--suite S.yaml] [--output R.json]`.
#include <cstdio>

#include "commands.h"
#include "run_setup.h"
#include "sturdy/eval/evaluator.h"

namespace sturdy::apps {

void register_eval(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand("eval", "Robustness evaluation of a checkpoint, written as R.json");
  auto opts = std::make_shared<eval::EvalOptions>();
  auto verbose = std::make_shared<bool>(false);
  cmd->add_option("--checkpoint", opts->checkpoint, "Checkpoint folder, or a run folder (its latest)")->required();
  cmd->add_option("--config", opts->config, "Config for data and evaluation settings (default: the checkpoint's)");
  cmd->add_option("--set", opts->overrides, "Override a config key: section.key=value (repeatable)");
  cmd->add_option("--data", opts->data, "Evaluation corpus (default: data.valid)");
  cmd->add_option("--suite", opts->suite, "Evaluation suite (configs/eval/*.yaml)");
  cmd->add_option("--output", opts->output, "Where to write R.json");
  cmd->add_option("--batch-size", opts->batch_size, "Examples per forward pass")->check(CLI::PositiveNumber);
  cmd->add_flag("--verbose", *verbose, "Debug logging on every rank");
  cmd->callback([=] {
    dist::Context& ctx = start_distributed("eval", *verbose);
    const auto r = eval::run_eval(*opts, ctx);
    if (ctx.is_root()) {
      std::printf("clean accuracy %.4f (majority-class baseline %.4f) on %lld examples of %s\n",
                  r["clean"]["accuracy"].get<double>(), r["clean"]["majority_baseline"].get<double>(),
                  static_cast<long long>(r["num_examples"].get<int64_t>()),
                  r["dataset"].get<std::string>().c_str());
      if (!opts->output.empty()) std::printf("wrote %s\n", opts->output.c_str());
    }
    *exit_code = 0;
  });
}

}  // namespace sturdy::apps
