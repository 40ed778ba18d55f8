// `sturdy bench step` and `sturdy bench data`: single-process benchmarks.
//
// step: time per optimizer step of every objective relative to ERM, same model and batch.
// data: sentences per second on one core for perturb + tokenize, per recipe.
// Both print the machine line (CPU, OpenBLAS kernel, threads) first: compare numbers only
// within one run or one environment.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "benchmarks.h"
#include "sturdy/config/choice_cli.h"
#include "sturdy/core/error.h"
#include "sturdy/core/log.h"
#include "sturdy/core/machine.h"
#include "sturdy/perturb/augment.h"
#include "sturdy/perturb/recipe.h"
#include "sturdy/robust/objective.h"
#include "sturdy/text/tokenizer.h"
#include "sturdy/train/optimizer.h"
#include "sturdy/train/step.h"

namespace sturdy::bench {
namespace {

using Clock = std::chrono::steady_clock;

void print_machine(const char* what) {
  const std::string core = blas_core_name();
  std::printf("# sturdy bench %s | %s | BLAS core %s | %d thread(s)\n", what, cpu_model().c_str(),
              core.empty() ? "n/a" : core.c_str(), torch::get_num_threads());
}

// First column of a TSV with a header (SST-2: sentence<TAB>label).
std::vector<std::string> read_tsv_sentences(const std::string& path, int64_t limit) {
  std::ifstream in(path);
  if (!in) throw UsageError(fmt::format("{}: cannot open (give --data PATH to SST-2 train.tsv)", path));
  std::vector<std::string> out;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line) && (limit <= 0 || static_cast<int64_t>(out.size()) < limit)) {
    out.push_back(line.substr(0, line.find('\t')));
  }
  if (out.empty()) throw UsageError(fmt::format("{}: no sentences", path));
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void add_step_bench(CLI::App& bench, int* exit_code) {
  auto* cmd = bench.add_subcommand("step", "Time per optimizer step of every objective relative to ERM");
  struct Opts {
    std::string data;
    std::string objectives = choice_help<ObjectiveKind>(",");  // every objective
    int64_t batch = 64, iters = 20, warmup = 3, threads = 1;
    int64_t dim = 128, layers = 2, ffn = 512, max_length = 64;
    double fraction = 1.0;
    double max_word_share = 0.3;
    std::vector<std::string> edit_ops;  // empty: objective.edit_ops' default
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->data, "SST-2 style TSV for the batch sentences (default: ../shared/data/sst2/train.tsv)");
  cmd->add_option("--fraction", o->fraction,
                  "objective.fraction of consistency and attack_augment: share of examples with a view / attacked")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-word-share", o->max_word_share, "objective.max_word_share of attack_augment")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--edit-ops", o->edit_ops, "objective.edit_ops of attack_augment (default: all eight)")->delimiter(',');
  cmd->add_option("--objectives", o->objectives,
                  fmt::format("Comma-separated objectives of {} (default: all); NAME@L puts δ on the output of "
                              "block L (objective.layer), e.g. freelb@7", choice_help<ObjectiveKind>()));
  cmd->add_option("--batch", o->batch, "Examples per step");
  cmd->add_option("--iters", o->iters, "Timed steps per objective (median reported)");
  cmd->add_option("--threads", o->threads, "LibTorch threads");
  cmd->add_option("--dim", o->dim, "Model width");
  cmd->add_option("--layers", o->layers, "Transformer blocks");
  cmd->add_option("--ffn", o->ffn, "FFN width");
  cmd->callback([o, exit_code] {
    log::init(0, 1);
    torch::set_num_threads(static_cast<int>(o->threads));
    set_blas_threads(static_cast<int>(o->threads));
    print_machine("step");
    const std::string data = o->data.empty() ? std::string(STURDY_SOURCE_DIR) + "/../shared/data/sst2/train.tsv" : o->data;
    const auto sentences = read_tsv_sentences(data, o->batch * 8);
    Config config;
    config.model.dim = o->dim;
    config.model.layers = o->layers;
    config.model.ffn = o->ffn;
    config.model.num_classes = 2;
    config.model.vocab_size = 260;
    config.model.dropout = 0.1;
    config.augment.recipe = "typos";
    config.augment.probability = 0.5;
    config.objective.steps = 2;
    config.objective.init = 0.1;
    config.objective.fraction = o->fraction;
    config.objective.max_word_share = o->max_word_share;
    if (!o->edit_ops.empty()) config.objective.edit_ops = o->edit_ops;
    config.data.max_length = o->max_length;  // attack_augment encodes its texts as the batches are
    auto tokenizer = make_tokenizer(config.tokenizer);
    auto view = make_view_transform(config);
    std::vector<Batch> batches;
    for (int64_t b = 0; b < 4; ++b) {
      std::vector<std::string> texts(sentences.begin() + b * o->batch, sentences.begin() + (b + 1) * o->batch);
      std::vector<int32_t> labels;
      for (int64_t i = 0; i < o->batch; ++i) labels.push_back(static_cast<int32_t>((b + i) % 2));
      Batch batch = make_batch(*tokenizer, texts, labels, o->max_length);
      for (int64_t i = 0; i < o->batch; ++i) batch.example_ids.push_back(b * o->batch + i);
      std::vector<std::string> views;
      for (int64_t i = 0; i < o->batch; ++i) views.push_back(view(texts[i], batch.example_ids[i], 0));
      batch.perturbed = std::make_shared<Batch>(make_batch(*tokenizer, views, labels, o->max_length));
      batches.push_back(std::move(batch));
    }
    std::printf("# model dim %lld, %lld layers, ffn %lld, byte tokens, batch %lld (dynamic padding), dropout 0.1\n",
                static_cast<long long>(o->dim), static_cast<long long>(o->layers), static_cast<long long>(o->ffn),
                static_cast<long long>(o->batch));
    std::printf("%-14s %10s %8s %12s %s\n", "objective", "ms/step", "x ERM", "tokens/s", "notes");
    double erm_ms = 0;
    std::string list = o->objectives + ",";
    for (size_t pos = 0; pos < list.size();) {
      const size_t comma = list.find(',', pos);
      const std::string name = list.substr(pos, comma - pos);
      pos = comma + 1;
      if (name.empty()) continue;
      const size_t at = name.find('@');
      const ObjectiveKind kind = parse_choice<ObjectiveKind>(name.substr(0, at), "--objectives");
      Config c = config;
      c.objective.kind = kind;
      if (at != std::string::npos) {
        const std::string layer = name.substr(at + 1);
        STURDY_USAGE_CHECK(!layer.empty() && layer.find_first_not_of("0123456789") == std::string::npos &&
                               std::stoll(layer) <= o->layers,
                           "--objectives: '{}': the layer after '@' must be 0..{} (--layers)", name, o->layers);
        c.objective.layer = std::stoll(layer);
      }
      if (kind == ObjectiveKind::kPgd) c.objective.steps = 3;
      torch::manual_seed(1);
      Transformer model(c.model);
      model->train();
      const std::vector<NamedParameter> params = named_parameters(*model);
      AdamW opt(params, c.optim);
      auto objective = robust::make_objective(c);
      Stepper stepper(model, *objective, params, opt, /*sync=*/nullptr);  // the trainer's step, one process
      std::vector<double> times;
      int64_t tokens = 0;
      for (int64_t it = 0; it < o->warmup + o->iters; ++it) {
        const std::vector<Batch> micro{batches[it % batches.size()]};
        const Batch& b = micro[0];
        const auto t0 = Clock::now();
        stepper.backward(micro, 1.0 / static_cast<double>(o->batch));
        stepper.clip(1.0);
        stepper.update(1e-4, it + 1);
        if (it >= o->warmup) {
          times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          tokens += b.tokens;
        }
      }
      const double ms = median(times);
      if (kind == ObjectiveKind::kErm) erm_ms = ms;
      const double tps = static_cast<double>(tokens) / (static_cast<double>(times.size()) * ms / 1e3);
      std::string note;
      if (kind == ObjectiveKind::kFreeAt) note = "one replay; per epoch with epochs/m: same ratio";
      if (kind == ObjectiveKind::kFreeLb) note = "K=2";
      if (kind == ObjectiveKind::kPgd) note = "K=3";
      if (kind == ObjectiveKind::kConsistency || kind == ObjectiveKind::kAttackAugment) {
        note = fmt::format("fraction {}", o->fraction);
        if (kind == ObjectiveKind::kAttackAugment) {
          note += fmt::format(", max_word_share {}, {} edit ops", o->max_word_share, c.objective.edit_ops.size());
        }
      }
      if (c.objective.layer > 0) note += fmt::format("{}layer {} of {}", note.empty() ? "" : ", ", c.objective.layer, o->layers);
      std::printf("%-14s %10.1f %8s %12.0f %s\n", name.c_str(), ms,
                  erm_ms > 0 ? fmt::format("{:.2f}", ms / erm_ms).c_str() : "-", tps, note.c_str());
      std::fflush(stdout);
    }
    *exit_code = 0;
  });
}

void add_data_bench(CLI::App& bench, int* exit_code) {
  auto* cmd = bench.add_subcommand("data", "Sentences/s on one core: perturb + tokenize, per recipe");
  struct Opts {
    std::string data;
    std::string recipes = "typos,ocr,visual,lexical,mild_mix,heavy_mix";
    TokenizerKind tokenizer = TokenizerKind::kBytes;
    std::string tokenizer_path;
    double min_seconds = 1.0;
    double subword_alpha = 0;
    int64_t subword_nbest = 64;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->data, "SST-2 style TSV (default: ../shared/data/sst2/train.tsv)");
  cmd->add_option("--subword-alpha", o->subword_alpha,
                  "> 0: tokenize with subword sampling as training does (augment.subword_alpha)");
  cmd->add_option("--subword-nbest", o->subword_nbest, "Candidates for --subword-alpha (augment.subword_nbest)");
  cmd->add_option("--recipes", o->recipes, "Comma-separated recipes (configs/perturb)");
  add_choice_option<TokenizerKind>(cmd, "--tokenizer", o->tokenizer);
  cmd->add_option("--tokenizer-path", o->tokenizer_path, "Model file for sentencepiece/llama2c");
  cmd->add_option("--min-seconds", o->min_seconds, "Measure each recipe at least this long");
  cmd->callback([o, exit_code] {
    log::init(0, 1);
    print_machine("data");
    const std::string data = o->data.empty() ? std::string(STURDY_SOURCE_DIR) + "/../shared/data/sst2/train.tsv" : o->data;
    const auto sentences = read_tsv_sentences(data, 0);
    TokenizerConfig tc;
    tc.kind = o->tokenizer;
    tc.path = o->tokenizer_path;
    auto tokenizer = make_tokenizer(tc);
    if (o->subword_alpha > 0 && !tokenizer->samples_segmentations()) {
      throw UsageError(fmt::format("--subword-alpha: tokenizer {} cannot sample segmentations (a unigram "
                                   "sentencepiece model is needed)", choice_name(o->tokenizer)));
    }
    // Training's tokenization: encode(), or one sampled segmentation keyed by the sentence.
    auto encode = [&](const std::string& text, size_t i) {
      return o->subword_alpha > 0 ? tokenizer->encode_sampled(text, o->subword_nbest, o->subword_alpha, i)
                                  : tokenizer->encode(text);
    };
    std::printf("# %zu sentences from %s, tokenizer %s%s, one thread\n", sentences.size(), data.c_str(),
                choice_name(o->tokenizer),
                o->subword_alpha > 0
                    ? fmt::format(" with subword sampling (alpha {}, {}-best)", o->subword_alpha, o->subword_nbest).c_str()
                    : "");
    std::printf("%-12s %14s %18s\n", "recipe", "sentences/s", "sentences changed");
    auto run = [&](const std::string& name, const perturb::Perturber* p) {
      int64_t done = 0, changed = 0;
      size_t sink = 0;
      const auto t0 = Clock::now();
      double elapsed = 0;
      while (elapsed < o->min_seconds) {
        for (size_t i = 0; i < sentences.size(); ++i, ++done) {
          if (p != nullptr) {
            const std::string out = p->apply(sentences[i], 1, 0, i, 0);
            changed += out != sentences[i];
            sink += encode(out, i).size();
          } else {
            sink += encode(sentences[i], i).size();
          }
        }
        elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
      }
      std::printf("%-12s %14.0f %17.1f%%%s\n", name.c_str(), done / elapsed, 100.0 * changed / done,
                  sink == 0 ? " (no tokens?)" : "");
      std::fflush(stdout);
    };
    run("tokenize", nullptr);
    auto lexicons = perturb::Lexicons::builtin();
    std::string list = o->recipes + ",";
    for (size_t pos = 0; pos < list.size();) {
      const size_t comma = list.find(',', pos);
      const std::string name = list.substr(pos, comma - pos);
      pos = comma + 1;
      if (name.empty()) continue;
      const auto p = perturb::Perturber::from_recipe(name, default_recipe_dir(), lexicons);
      run(name, &p);
    }
    *exit_code = 0;
  });
}

}  // namespace

void add_local_benches(CLI::App& bench, int* exit_code) {
  add_step_bench(bench, exit_code);
  add_data_bench(bench, exit_code);
}

}  // namespace sturdy::bench
