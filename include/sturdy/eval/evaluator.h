// `sturdy eval`: loads a checkpoint, predicts on an evaluation corpus (sharded over
// ranks, results combined exactly), and writes R.json in the DESIGN.md schema.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "sturdy/config/config.h"
#include "sturdy/data/corpus.h"
#include "sturdy/dist/context.h"
#include "sturdy/eval/metrics.h"
#include "sturdy/model/transformer.h"
#include "sturdy/text/tokenizer.h"
#include "sturdy/train/loader.h"

namespace sturdy::eval {

struct EvalOptions {
  std::string checkpoint;   // checkpoint folder, run folder or checkpoints/ folder
  std::string config;       // optional config file: data.valid and eval.* come from it
  std::vector<std::string> overrides;
  std::string data;         // evaluation corpus; default data.valid
  std::string suite;        // suite file (configs/eval/*.yaml); default eval.suite
  std::string output;       // R.json path ("" = print only)
  int64_t batch_size = 64;
};

// A model ready for evaluation: weights loaded, eval mode.
struct LoadedModel {
  Config config;
  std::string checkpoint_dir;
  std::vector<std::string> label_names;
  std::shared_ptr<const Tokenizer> tokenizer;
  Transformer model{nullptr};
};
LoadedModel load_model(const std::string& checkpoint, const std::string& config_path,
                       const std::vector<std::string>& overrides);

// Predicts every example of `reader` (rank r takes every W-th batch); every rank gets all
// predictions in corpus order, bit-identical for any number of ranks. `transform` rewrites
// each text first (perturbations); nullptr = clean.
Predictions predict(LoadedModel& m, const CorpusReader& reader, const TextTransform& transform,
                    int64_t batch_size, const dist::Context& ctx);

// Runs the evaluation and returns R.json; rank 0 writes it to options.output when set.
nlohmann::json run_eval(const EvalOptions& options, const dist::Context& ctx);

}  // namespace sturdy::eval
