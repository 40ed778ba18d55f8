// `sturdy train --config F.yaml [--variant NAME] [--set key=value]...`; run under mpirun/srun for several ranks.
#include "commands.h"
#include "sturdy/config/config.h"
#include "sturdy/distributed/startup.h"
#include "sturdy/train/trainer.h"

namespace sturdy::apps {

void register_train(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand("train", "Train a model (run under mpirun or srun for several ranks)");
  auto config_path = std::make_shared<std::string>();
  auto variant = std::make_shared<std::string>();
  auto overrides = std::make_shared<std::vector<std::string>>();
  auto verbose = std::make_shared<bool>(false);
  cmd->add_option("--config", *config_path, "Run configuration (YAML)")->required();
  cmd->add_option("--variant", *variant, "Apply variant NAME of the variants.yaml beside --config (before --set)");
  cmd->add_option("--set", *overrides, "Override a config key: section.key=value (repeatable)");
  cmd->add_flag("--verbose", *verbose, "Debug logging on every rank");
  cmd->callback([=] {
    // Parse before MPI starts so a config error is one line, on every rank alike.
    const Config config = load_config(*config_path, *overrides, *variant);
    dist::Context& ctx = dist::start("train", *verbose);
    train(config, ctx);
    *exit_code = 0;
  });
}

}  // namespace sturdy::apps
