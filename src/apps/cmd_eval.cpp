// `sturdy eval --checkpoint DIR [--config F.yaml [--variant NAME]] [--data C.h5] [--suite S.yaml] [--output R.json]
//              [--gate G.yaml [--baseline R0.json]]`: exit 1 when a gate criterion fails.
#include <cstdio>

#include "commands.h"
#include "sturdy/core/error.h"
#include "sturdy/distributed/startup.h"
#include "sturdy/eval/evaluator.h"
#include "sturdy/eval/gate.h"

namespace sturdy::apps {

void register_eval(CLI::App& root, int* exit_code) {
  auto* cmd = root.add_subcommand("eval", "Robustness evaluation of a checkpoint, written as R.json");
  auto opts = std::make_shared<eval::EvalOptions>();
  auto verbose = std::make_shared<bool>(false);
  cmd->add_option("--checkpoint", opts->checkpoint, "Checkpoint folder, or a run folder (its latest); or pretrained weights (llama2.c .bin, "
                  "safetensors folder) with data and tokenizer from --config/--set")->required();
  auto* config = cmd->add_option("--config", opts->config, "Config for data and evaluation settings (default: the checkpoint's)");
  cmd->add_option("--variant", opts->variant, "Apply variant NAME of the variants.yaml beside --config (before --set)")
      ->needs(config);
  cmd->add_option("--set", opts->overrides, "Override a config key: section.key=value (repeatable)");
  cmd->add_option("--data", opts->data, "Evaluation corpus (default: data.valid)");
  cmd->add_option("--suite", opts->suite,
                  "Suite name (configs/eval/NAME.yaml) or file (default: eval.suite, else standard)");
  cmd->add_option("--output", opts->output, "Where to write R.json");
  cmd->add_option("--dump-adversarial", opts->dump_adversarial,
                  "Write the search attacks' successful adversarial texts here (JSONL: attack, id, label, original, "
                  "text; `sturdy prepare` reads it)");
  cmd->add_option("--batch-size", opts->batch_size, "At most this many sequences per forward (overrides the suite)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch-tokens", opts->batch_tokens, "At most this many tokens per forward (overrides the suite)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-examples", opts->max_examples, "Evaluate the first N examples only (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", opts->seed, "Perturbation/attack seed (overrides the suite)")
      ->check(CLI::NonNegativeNumber);
  auto* gate = cmd->add_option("--gate", opts->gate,
                               "Gate file: thresholds on R.json values; exit 1 when one fails (docs/evaluation.md)");
  cmd->add_option("--baseline", opts->baseline, "Baseline R.json for the gate's relative criteria")->needs(gate);
  cmd->add_flag("--verbose", *verbose, "Debug logging on every rank");
  cmd->callback([=] {
    dist::Context& ctx = dist::start("eval", *verbose);
    const auto r = eval::run_eval(*opts, ctx);
    if (ctx.is_root()) {
      if (r["clean"].contains("accuracy")) {
        std::printf("clean accuracy %.4f (majority-class baseline %.4f) on %lld examples of %s\n",
                    r["clean"]["accuracy"].get<double>(), r["clean"]["majority_baseline"].get<double>(),
                    static_cast<long long>(r["num_examples"].get<int64_t>()), r["dataset"].get<std::string>().c_str());
        for (const auto& p : r["perturbations"]) {  // the recipe users read first, when the suite has it
          if (p["name"] == "typos" && p["kind"] == "recipe" && p["rate"].get<double>() == 1.0) {
            std::printf("accuracy under typos (recipe x1, mean of K=%lld draws) %.4f\n",
                        static_cast<long long>(p["k"].get<int64_t>()), p["accuracy"].get<double>());
          }
        }
        if (r.contains("worst_case")) {
          std::printf("worst case over %s noise (K=%lld draws) accuracy %.4f\n", r["worst_case"]["recipe"].get<std::string>().c_str(),
                      static_cast<long long>(r["worst_case"]["k"].get<int64_t>()),
                      r["worst_case"]["accuracy"].get<double>());
        }
      } else {
        std::printf("clean perplexity %s on %lld examples of %s\n", r["clean"]["perplexity"].dump().c_str(),
                    static_cast<long long>(r["num_examples"].get<int64_t>()), r["dataset"].get<std::string>().c_str());
      }
      if (!opts->output.empty()) std::printf("wrote %s\n", opts->output.c_str());
      if (r.contains("gate")) {
        for (const auto& line : eval::gate_lines(r["gate"])) std::printf("%s\n", line.c_str());
      }
    }
    std::fflush(stdout);
    // Every rank holds rank 0's gate section, so all ranks exit with the same code. Wait for rank 0
    // to have written R.json and printed: mpirun ends the whole job as soon as one rank exits
    // non-zero, and the other ranks would otherwise exit 1 first.
    ctx.barrier();
    *exit_code = static_cast<int>(r.contains("gate") && !r["gate"].value("passed", false) ? ExitCode::kGateFailed
                                                                                      : ExitCode::kOk);
  });
}

}  // namespace sturdy::apps
