// Run configuration: one struct per YAML section (see docs/configuration.md).
// The enum-like values are Choice fields; their names are in choice.h, one table per enum.
//
// Loading is strict: an unknown key is an error that names it and the closest
// valid key; every key can be overridden with `--set section.key=value`, and a
// named variant (variants.yaml beside the base config) is a stored list of such
// overrides; the resolved configuration is written into the run folder by rank 0.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sturdy/config/choice.h"

namespace sturdy {

struct RunConfig {
  std::string name = "sturdy";
  std::string output_dir = "runs/sturdy";
  uint64_t seed = 1;
  Choice<DeviceKind> device = DeviceKind::kAuto;  // auto | cpu | cuda; local rank r drives visible GPU r
};

struct DataConfig {
  std::string train;         // HDF5 corpus (sturdy prepare)
  std::string valid;         // optional HDF5 corpus for evaluation
  int64_t max_length = 64;   // tokens per example after truncation
  int64_t micro_batch = 32;  // examples per rank per forward/backward
  int64_t global_batch = 64; // examples per optimizer step = micro x ranks x accumulation
  int64_t prefetch = 4;      // batches prepared ahead by the loader threads
  int64_t workers = 1;       // loader threads per rank
  int64_t bucket_window = 0; // > 1: sort each window of this many global batches by text length (less padding)
  double prompt_fraction = 0.5;  // head lm: share of an example's words that form the (perturbed) prompt
};

struct TokenizerConfig {
  Choice<TokenizerKind> kind = TokenizerKind::kBytes;
  std::string path;            // model file for sentencepiece / llama2c
};

struct ModelConfig {
  int64_t vocab_size = 0;  // 0: taken from the tokenizer
  int64_t dim = 128;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t kv_heads = 4;
  int64_t ffn = 512;
  double dropout = 0.1;
  bool causal = false;
  Choice<ModelHead> head = ModelHead::kClassifier;
  Choice<Pooling> pooling = Pooling::kMean;  // of the classifier head
  int64_t num_classes = 0;          // 0: taken from the training corpus
  int64_t max_seq_len = 512;        // RoPE table length
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  std::string init_from;            // pretrained weights: llama2.c .bin, safetensors folder, Sturdy run (docs/model.md)
};

struct PerturbOpSpec {
  std::string op;
  double rate = 0.1;
};

struct AugmentConfig {
  std::string recipe;                // name in configs/perturb or a path to a YAML recipe
  std::vector<PerturbOpSpec> ops;    // alternative to recipe
  double probability = 0.0;          // share of examples perturbed
  std::string lexicon_dir;           // optional directory with lexicon files
  double subword_alpha = 0.0;        // > 0: subword regularisation, P(segmentation) ~ exp(alpha * score)
  int64_t subword_nbest = 64;        // ... drawn from this many best segmentations (unigram sentencepiece)
};

struct ObjectiveConfig {
  Choice<ObjectiveKind> kind = ObjectiveKind::kErm;
  int64_t steps = 1;
  double step_size = 0.1;
  double epsilon = 0.5;
  double init = 0.0;
  Choice<AdvNorm> norm = AdvNorm::kL2;
  double lambda = 1.0;
  int64_t replays = 1;       // freeat
  double fraction = 1.0;     // consistency: share of examples that also run their perturbed view;
                             // attack_augment: share of examples attacked
  // attack_augment: the candidate edits of a word (perturb/word_edits.h: character edits and
  // synonym / misspell), candidates per op and word, and the share of words replaced.
  std::vector<std::string> edit_ops = {"swap", "delete", "insert", "keyboard", "homoglyph", "ocr", "synonym", "misspell"};
  int64_t edit_draws = 1;
  double max_word_share = 0.3;
  // Where δ (or R3F's noise) is added: 0 the embedding output, L the output of block L
  // (fgm, pgd, freeat, freelb, smart, r3f). The blocks below L run once per micro-step.
  int64_t layer = 0;
  // > 0: epsilon, step_size and init are relative to each example's activation norm at
  // the site (Frobenius for l2, RMS for linf) instead of absolute.
  double epsilon_relative = 0.0;
  // r3f: the noise and its scale σ.
  Choice<NoiseKind> noise = NoiseKind::kNormal;
  double sigma = 1e-5;
  // > 0: flooding per example, loss_i -> |loss_i - flood| + flood (every objective's CE terms).
  double flood = 0.0;
};

struct OptimConfig {
  double lr = 1.0e-3;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1.0e-8;
  double warmup = 0.05;      // share of total steps (< 1) or a step count (>= 1)
  Choice<LrSchedule> schedule = LrSchedule::kLinear;
  double grad_clip = 1.0;    // 0: off
  int64_t epochs = 1;
  int64_t max_steps = 0;     // > 0 stops early
};

struct PrecisionConfig {
  Choice<Precision> dtype = Precision::kFp32;
};

struct DistConfig {
  Choice<DistBackend> backend = DistBackend::kAuto;
  double bucket_mb = 25.0;
  bool overlap = true;
  double timeout_s = 300.0;
  int64_t check_every = 100;  // steps between cross-rank parameter-agreement checks (0: never)
};

struct CheckpointConfig {
  int64_t every_steps = 500;
  double every_minutes = 0.0;
  int64_t keep = 3;
  std::string resume = "auto";  // auto | never | PATH
};

struct EvalConfig {
  int64_t every_steps = 0;
  std::string suite;
};

struct LogConfig {
  int64_t every_steps = 10;
};

// Numerical guards of the trainer (docs/reliability.md): a step whose loss or gradients are
// not finite on any rank, or (optionally) whose loss spikes, is skipped on every rank.
struct GuardConfig {
  int64_t max_bad_steps = 5;   // consecutive skipped steps before the run stops (exit 3)
  double spike_zscore = 0.0;   // > 0: skip a step whose loss exceeds the recent mean by this many std
  int64_t spike_window = 50;   // recent good steps the spike statistics use (at least 10 seen first)
};

struct Config {
  RunConfig run;
  DataConfig data;
  TokenizerConfig tokenizer;
  ModelConfig model;
  AugmentConfig augment;
  ObjectiveConfig objective;
  OptimConfig optim;
  PrecisionConfig precision;
  DistConfig dist;
  CheckpointConfig checkpoint;
  EvalConfig eval;
  LogConfig log;
  GuardConfig guard;
};

// Loads `path` (YAML), applies `overrides` ("section.key=value", YAML scalar syntax) and validates.
// With a `variant`, the overrides that variants.yaml beside `path` lists under that name are
// applied first (the same way as --set), and run.name / run.output_dir become
// "<base run.name>-<variant>" / "runs/<that>" unless the variant sets them; `overrides` still
// win (docs/configuration.md, "Variants").
// Throws UsageError naming the file (and variant) and key on any problem.
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {},
                   const std::string& variant = "");
// The variants file of a base config: variants.yaml in the same folder.
std::string variants_path(const std::string& config_path);
// The variant names of variants_path(config_path), in file order; throws UsageError.
std::vector<std::string> list_variants(const std::string& config_path);
// Same, from YAML text (`origin` names it in messages).
Config parse_config(const std::string& yaml_text, const std::string& origin,
                    const std::vector<std::string>& overrides = {});
// The resolved configuration as YAML (every key, defaults included).
std::string dump_config(const Config& config);
// Checks cross-key invariants (positive sizes, ranges, keys that need each other); throws
// UsageError. The enum-like values (Choice fields) were parsed, once, when loaded.
void validate_config(const Config& config, const std::string& origin);

// The valid key closest to `key` by edit distance ("" when none is close).
std::string closest_key(const std::string& key, const std::vector<std::string>& valid);

}  // namespace sturdy
