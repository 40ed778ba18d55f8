// `sturdy eval`: loads a checkpoint and measures it with a suite (suite.h): clean accuracy,
// calibration, text perturbations (mean / worst-case@K / flip rate), a worst-case recipe,
// embedding-space PGD attacks and extra fixed test sets; LM checkpoints get perplexity and
// next-token agreement instead. Writes R.json (schema: docs/evaluation.md).
//
// Distribution: rank r evaluates examples r, r+W, r+2W, ...; it groups the token sequences of
// a pass (the clean texts, or all K draws of a perturbation) by exact length, so a batch has
// no padding, and fills batches up to suite.batch_size sequences and suite.batch_tokens
// tokens. A sequence's result does not depend on its batch, each per-example result is
// written by exactly one rank and summed over ranks, and every metric is computed from the
// combined per-example vectors in corpus order, so R.json is bit-identical for any number of
// ranks and any batch size. Draws whose tokens equal the clean text's reuse its result; the
// next pass is perturbed and tokenized on a helper thread while the model runs.
//
// Keying (docs/evaluation.md): draw v (0..K-1) of example id under a perturbation is
// Perturber::apply(text, suite.seed, epoch 0, id, view v); an attack's random start for
// example id comes from hash_key({suite.seed, id, attack stream}). Nothing depends on the
// rank, the batch or the order, and every model evaluated with one suite sees the same texts.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "sturdy/config/config.h"
#include "sturdy/data/corpus.h"
#include "sturdy/data/loader.h"
#include "sturdy/distributed/context.h"
#include "sturdy/eval/metrics.h"
#include "sturdy/eval/suite.h"
#include "sturdy/model/transformer.h"
#include "sturdy/text/tokenizer.h"

namespace sturdy::eval {

struct EvalOptions {
  std::string checkpoint;   // checkpoint folder, run folder or checkpoints/ folder
  std::string config;       // optional config file: data.valid and eval.* come from it
  std::string variant;      // optional variant of `config` (variants.yaml beside it)
  std::vector<std::string> overrides;
  std::string data;         // evaluation corpus; default data.valid
  std::string suite;        // suite name or file; default eval.suite, else "standard"
  std::string output;       // R.json path ("" = print only)
  int64_t batch_size = 0;   // > 0 overrides the suite's batch_size
  int64_t batch_tokens = 0; // > 0 overrides the suite's batch_tokens
  int64_t max_examples = -1;  // >= 0 overrides the suite's max_examples
  int64_t seed = -1;          // >= 0 overrides the suite's seed
  std::string dump_adversarial;  // JSONL of the search attacks' successful adversarial texts ("" = none)
  std::string gate;           // gate file (gate.h): checked before the evaluation, evaluated after it
  std::string baseline;       // baseline R.json for the gate's relative criteria
};

// A model ready for evaluation: weights loaded, eval mode.
struct LoadedModel {
  Config config;
  std::string objective;  // R.json "objective": objective.kind, or "pretrained" (weights from elsewhere)
  std::string checkpoint_dir;
  std::vector<std::string> label_names;
  std::shared_ptr<const Tokenizer> tokenizer;
  Transformer model{nullptr};
};
LoadedModel load_model(const std::string& checkpoint, const std::string& config_path,
                       const std::vector<std::string>& overrides, const std::string& variant = "");

// What the evaluation needs to know about the model besides its weights.
struct EvalModel {
  Transformer& model;
  const Tokenizer& tokenizer;
  int64_t max_length;                    // tokens per example (data.max_length)
  std::vector<std::string> label_names;  // classifier labels (checked against corpora)
};

// Predicts every example of `reader` (rank r takes every W-th batch); every rank gets all
// predictions in corpus order, bit-identical for any number of ranks. `transform` rewrites
// each text first (perturbations); nullptr = clean.
Predictions predict(LoadedModel& m, const CorpusReader& reader, const TextTransform& transform,
                    int64_t batch_size, const dist::Context& ctx);

// What the model did in the text passes of one evaluation (totals over ranks; seconds of the
// slowest rank).
struct EvalWork {
  int64_t sequences = 0;  // sequences scored (K draws per example and pass, clean included)
  int64_t forwarded = 0;  // of those, sequences that went through the model
  int64_t tokens = 0;     // their tokens
  double seconds = 0;     // wall time of the text passes
};

// The measurement part of R.json for one model, corpus and suite: num_examples, seed, suite,
// clean, perturbations, worst_case, attacks, extra_sets (classifier) or the LM equivalents.
// Collective: every rank must call it; every rank gets the same JSON. The model is put in
// eval mode and left there.
// `dump_adversarial`: where rank 0 writes the search attacks' successful adversarial texts
// (JSONL that `sturdy prepare` reads; "" = nowhere).
nlohmann::json evaluate(const EvalModel& m, const CorpusReader& reader, const Suite& suite,
                        const dist::Context& ctx, EvalWork* work = nullptr, const std::string& dump_adversarial = "");

// Runs the evaluation and returns R.json; rank 0 writes it to options.output when set.
// With options.gate, the gate file, the baseline and every criterion's path (against
// result_layout()) are checked before any model work; after the evaluation rank 0 evaluates the
// gate into R.json's "gate" section, which every rank receives.
nlohmann::json run_eval(const EvalOptions& options, const dist::Context& ctx);

// Periodic evaluation during training: evaluate() on config.data.valid with the suite
// config.eval.suite ("quick" when empty), restoring the model's training mode afterwards.
// Collective. Draws nothing from LibTorch's global generator, so training is unchanged by
// it. Returns {} when data.valid is empty.
nlohmann::json evaluate_during_training(Transformer& model, const Config& config, const Tokenizer& tokenizer,
                                        const dist::Context& ctx);

}  // namespace sturdy::eval
