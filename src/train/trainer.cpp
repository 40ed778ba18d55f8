// The training loop (see trainer.h).
#include "sturdy/train/trainer.h"

#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "sturdy/ckpt/checkpoint.h"
#include "sturdy/ckpt/rng_state.h"
#include "sturdy/core/atomic_file.h"
#include "sturdy/core/error.h"
#include "sturdy/data/corpus.h"
#include "sturdy/data/sampler.h"
#include "sturdy/dist/grad_sync.h"
#include "sturdy/dist/watchdog.h"
#include "sturdy/eval/evaluator.h"
#include "sturdy/model/pretrained.h"
#include "sturdy/model/transformer.h"
#include "sturdy/robust/augment.h"
#include "sturdy/robust/objective.h"
#include "sturdy/text/tokenizer.h"
#include "sturdy/train/loader.h"
#include "sturdy/train/optimizer.h"
#include "sturdy/train/signals.h"

namespace fs = std::filesystem;

namespace sturdy {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02d}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02d}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

void ensure_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RuntimeError(fmt::format("{}: cannot create output folder: {}", dir, ec.message()));
}

// RUN/config.yaml, the resolved configuration (written to a temporary name, then renamed).
void write_config_yaml(const std::string& run_dir, const Config& config) {
  write_file_atomically((fs::path(run_dir) / "config.yaml").string(), dump_config(config));
}

// Appends one JSON line per call; opened once.
class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path) : out_(path, std::ios::app) {
    if (!out_) throw RuntimeError(fmt::format("{}: cannot open for appending", path));
  }
  void write(const nlohmann::json& j) {
    out_ << j.dump() << '\n';
    out_.flush();
  }

 private:
  std::ofstream out_;
};

// Test-only numerical faults, STURDY_TEST_NUMERIC=RANK:KIND:STEP[:COUNT] with KIND
//   grad   a NaN in one gradient of rank RANK after the all-reduce (so only that rank sees it)
//   loss   rank RANK's loss becomes +Inf
//   spike  rank RANK's loss is multiplied by 1000
// at steps STEP .. STEP+COUNT-1 (1-based, like the log lines). Used by tests/integration.
struct NumericFault {
  int rank = -1;
  char kind[16] = {0};
  long step = 0, count = 1;
  bool at(int r, int64_t step_1based, const char* k) const {
    return r == rank && step_1based >= step && step_1based < step + count && std::string(kind) == k;
  }
};

NumericFault numeric_fault_from_env() {
  NumericFault f;
  if (const char* spec = std::getenv("STURDY_TEST_NUMERIC")) {
    if (std::sscanf(spec, "%d:%15[a-z]:%ld:%ld", &f.rank, f.kind, &f.step, &f.count) < 3) f.rank = -1;
  }
  return f;
}

// Test-only preemption, STURDY_TEST_PREEMPT_AT=STEP: rank 0 sends itself SIGUSR1 during step
// STEP (1-based), so the run stops after it through the real signal path, deterministically
// (tests/integration/resume_objectives.py). 0 when unset.
int64_t test_preempt_step_from_env() {
  const char* spec = std::getenv("STURDY_TEST_PREEMPT_AT");
  long step = 0;
  if (spec == nullptr || std::sscanf(spec, "%ld", &step) != 1 || step < 1) return 0;
  return step;
}

// The loss-spike guard: z-score of a step's mean loss against the last `window` good steps.
class SpikeGuard {
 public:
  SpikeGuard(double zscore, int64_t window) : zscore_(zscore), window_(static_cast<size_t>(window)) {}
  // The z-score when it exceeds the threshold (the step is a spike), else 0.
  double spike(double loss) const {
    if (zscore_ <= 0 || recent_.size() < kMinHistory) return 0;
    double mean = 0, var = 0;
    for (double x : recent_) mean += x;
    mean /= static_cast<double>(recent_.size());
    for (double x : recent_) var += (x - mean) * (x - mean);
    const double sd = std::max(std::sqrt(var / static_cast<double>(recent_.size())), 1e-8);
    const double z = (loss - mean) / sd;
    return z > zscore_ ? z : 0;
  }
  void add(double loss) {
    recent_.push_back(loss);
    if (recent_.size() > window_) recent_.pop_front();
  }

 private:
  static constexpr size_t kMinHistory = 10;
  double zscore_;
  size_t window_;
  std::deque<double> recent_;
};

// The one per-step all-reduce (a sum over ranks), in place. Every rank contributes its
// loss sum and token count (so log steps need no collective of their own) and 0/1 flags;
// a flag's sum > 0 means some rank raised it.
struct StepVote {
  double loss_sum = 0;   // not finite when any rank's loss is not
  double tokens = 0;
  double bad = 0;        // ranks whose loss or gradient norm is NaN/Inf
  double preempt = 0;    // ranks that got SIGUSR1/SIGTERM
  double checkpoint = 0; // rank 0's clock says a timed checkpoint is due
};

void allreduce_vote(const dist::Context& ctx, StepVote* vote) {
  if (ctx.world_size() == 1) return;
  static_assert(sizeof(StepVote) == 5 * sizeof(double), "StepVote is summed as 5 doubles");
  dist::Watchdog::Scope watch(ctx.watchdog(), "step vote");
  STURDY_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, reinterpret_cast<double*>(vote), 5, MPI_DOUBLE, MPI_SUM, ctx.world()));
}

// Puts an objective's state between steps (FreeAT's δ) back from `from`/objective.h5: rank r
// reads what rank r saved. A checkpoint without objective.h5 cannot continue such an objective
// exactly, so that is an error naming the file; on another world size the ranks' states do
// not map onto the new ranks and the state starts afresh (like the dropout masks).
void restore_objective_state(robust::Objective& objective, const std::string& from, int saved_world,
                             const dist::Context& ctx, const Config& config) {
  const std::string path = (fs::path(from) / "objective.h5").string();
  if (!ckpt::lists_file(from, "objective.h5")) {
    throw UsageError(fmt::format("{}: missing, but objective.kind {} keeps state between steps (its perturbation "
                                 "delta) and cannot resume exactly without it (a checkpoint of another objective, "
                                 "or from an older Sturdy); set checkpoint.resume: never to start over",
                                 path, config.objective.kind));
  }
  if (saved_world != ctx.world_size()) {
    if (ctx.is_root()) {
      spdlog::warn("{}: written on {} rank(s), now {}: objective.kind {} starts its state (delta) afresh", path,
                   saved_world, ctx.world_size(), config.objective.kind);
    }
    return;
  }
  const auto local = objective.state();
  std::vector<std::string> names;
  for (const auto& t : local) names.push_back(ckpt::rank_tensor_name(t.name, ctx.rank()));
  auto tensors = ckpt::load_objective(from, names);
  for (size_t i = 0; i < tensors.size(); ++i) tensors[i].name = local[i].name;
  try {
    objective.load_state(tensors);
  } catch (const UsageError& e) {
    throw UsageError(fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace

Config resolve_config(const Config& in) {
  Config c = in;
  if (c.data.train.empty()) throw UsageError("data.train: no training corpus given (an HDF5 file from `sturdy prepare`)");
  const auto tokenizer = make_tokenizer(c.tokenizer);
  if (c.model.vocab_size == 0) c.model.vocab_size = tokenizer->vocab_size();
  if (c.model.vocab_size < tokenizer->vocab_size()) {
    throw UsageError(fmt::format("model.vocab_size ({}) is smaller than the tokenizer's vocabulary ({})",
                                 c.model.vocab_size, tokenizer->vocab_size()));
  }
  if (c.augment.subword_alpha > 0 && !tokenizer->samples_segmentations()) {
    throw UsageError(fmt::format("augment.subword_alpha: tokenizer '{}' cannot list alternative segmentations "
                                 "(subword sampling needs a unigram sentencepiece model)",
                                 c.tokenizer.path));
  }
  if (c.model.head == "lm" && !c.model.causal) {
    throw UsageError("model.head lm needs model.causal: true (a language model reads left to right)");
  }
  if (c.model.head == "classifier") {
    const CorpusReader reader(c.data.train);
    const int64_t classes = reader.info().num_classes;
    if (classes == 0) {
      throw UsageError(fmt::format("{}: the corpus has no labels but model.head is classifier", c.data.train));
    }
    if (c.model.num_classes == 0) c.model.num_classes = classes;
    if (c.model.num_classes != classes) {
      throw UsageError(fmt::format("model.num_classes ({}) differs from the {} classes of {}",
                                   c.model.num_classes, classes, c.data.train));
    }
  }
  if (c.data.max_length > c.model.max_seq_len) {
    throw UsageError(fmt::format("data.max_length ({}) exceeds model.max_seq_len ({})",
                                 c.data.max_length, c.model.max_seq_len));
  }
  return c;
}

TrainSummary train(const Config& raw_config, const dist::Context& ctx) {
  const Config config = resolve_config(raw_config);
  const int rank = ctx.rank(), world = ctx.world_size();
  const std::string run_dir = config.run.output_dir;
  // Everything that can be refused (corpus, batch sizes, objective, perturbations) is checked
  // before the run folder is touched, so a bad configuration never changes an earlier run's
  // files; config.yaml is written once the first step went through.
  if (ctx.is_root()) ensure_dir(run_dir);

  auto tokenizer = std::shared_ptr<const Tokenizer>(make_tokenizer(config.tokenizer));
  const CorpusReader corpus(config.data.train);
  const auto& info = corpus.info();
  if (info.num_examples < world) {
    throw UsageError(fmt::format("{}: {} examples for {} ranks: every rank needs at least one example per step; "
                                 "run on at most {} ranks or use a bigger corpus",
                                 config.data.train, info.num_examples, world, info.num_examples));
  }
  if (info.num_examples < config.data.global_batch) {
    throw UsageError(fmt::format("{}: {} examples, fewer than data.global_batch ({}): lower data.global_batch",
                                 config.data.train, info.num_examples, config.data.global_batch));
  }
  auto objective = robust::make_objective(config);
  auto augment_transform = make_augment_transform(config);
  auto view_transform = objective->needs_perturbed_view() ? make_view_transform(config) : nullptr;
  LengthBucketing bucketing;  // data.bucket_window (docs/performance.md)
  if (config.data.bucket_window > 1) bucketing = {corpus.text_bytes(), config.data.bucket_window};
  auto sampler = std::make_shared<const GlobalSampler>(info.num_examples, config.data.global_batch,
                                                       config.run.seed, std::move(bucketing));
  const int64_t accumulation = accumulation_steps(config.data.global_batch, config.data.micro_batch, world);
  int64_t total_steps = sampler->steps_per_epoch() * config.optim.epochs;
  if (config.optim.max_steps > 0) total_steps = std::min(total_steps, config.optim.max_steps);
  // FreeAT takes `replays` optimizer steps per batch; the schedule counts optimizer steps.
  const int64_t replays = config.objective.kind == "freeat" ? config.objective.replays : 1;
  const int64_t total_updates = total_steps * replays;

  torch::manual_seed(config.run.seed);
  Transformer model(config.model);
  if (!config.model.init_from.empty()) {  // pretrained weights (docs/model.md)
    const LoadReport r = load_pretrained(model, config.model.init_from);
    if (ctx.is_root()) spdlog::info("model.init_from: {} tensors loaded, {} fresh", r.loaded.size(), r.fresh.size());
  }
  auto params = named_parameters(*model);
  std::vector<torch::Tensor> tensors;
  for (const auto& p : params) tensors.push_back(p.tensor);
  std::vector<std::string> param_names;
  for (const auto& p : params) param_names.push_back(p.name);
  dist::GradSync sync(ctx, tensors, dist::GradSyncOptions::from(config.dist), param_names);
  sync.broadcast_parameters();
  AdamW optimizer(params, config.optim);

  // Resume from the newest valid checkpoint of this run (checkpoint.resume: auto). Rank 0
  // picks it (walking back past damaged ones) and tells the others, so all load the same.
  int64_t start_step = 0;
  if (config.checkpoint.resume != "never") {
    std::string from;
    if (ctx.is_root()) {
      if (config.checkpoint.resume == "auto") {
        std::vector<std::string> skipped;
        from = ckpt::find_resumable(run_dir, &skipped);
        for (const auto& why : skipped) spdlog::warn("skipping damaged checkpoint: {}", why);
      } else {
        from = ckpt::resolve(config.checkpoint.resume);
      }
    }
    int64_t length = static_cast<int64_t>(from.size());
    ctx.broadcast(&length, sizeof length);
    from.resize(static_cast<size_t>(length));
    ctx.broadcast(from.data(), length);
    if (!from.empty()) {
      const auto state = ckpt::read_state(from);
      ckpt::load_model(from, params);
      ckpt::load_optimizer(from, optimizer.state());
      optimizer.load_state(optimizer.state(), state.optimizer_step);
      start_step = state.step;
      if (objective->keeps_state()) restore_objective_state(*objective, from, state.world_size, ctx, config);
      // Dropout masks continue bit for bit only on the same world size (each rank has its
      // own generator); otherwise each rank reseeds from (seed, step, rank).
      const auto& rng = state.extra.value("rng_cpu", nlohmann::json::array());
      if (state.world_size == world && rng.size() == static_cast<size_t>(world)) {
        ckpt::restore_rng_state(rng[rank].get<std::string>());
      } else {
        spdlog::warn("checkpoint written on {} rank(s) with {} RNG state(s), now {} rank(s): the sample stream "
                     "continues exactly, dropout masks are drawn afresh", state.world_size, rng.size(), world);
        torch::manual_seed(config.run.seed ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(start_step + 1)) ^
                           static_cast<uint64_t>(rank));
      }
      spdlog::info("resumed from {} at step {} ({} samples consumed)", from, start_step, state.consumed_samples);
    }
  }
  install_preemption_handlers();

  LoaderOptions lo;
  lo.micro_batch = config.data.micro_batch;
  lo.accumulation = accumulation;
  lo.max_length = config.data.max_length;
  lo.prefetch = config.data.prefetch;
  lo.workers = config.data.workers;
  lo.lm = config.model.head == "lm";
  lo.prompt_fraction = config.data.prompt_fraction;
  lo.rank = rank;
  lo.world = world;
  if (config.augment.subword_alpha > 0) {
    lo.subword = {config.augment.subword_alpha, config.augment.subword_nbest, config.run.seed};
    spdlog::info("subword sampling: each training text's segmentation drawn from its {} best, alpha {}",
                 config.augment.subword_nbest, config.augment.subword_alpha);
  }
  Loader loader(config.data.train, tokenizer, sampler, lo, std::move(augment_transform), std::move(view_transform));
  loader.start(start_step);

  std::unique_ptr<MetricsLog> metrics;
  if (ctx.is_root()) metrics = std::make_unique<MetricsLog>((fs::path(run_dir) / "metrics.jsonl").string());
  spdlog::info("training {} ({}) on {} rank(s): {} examples, {}, {} parameters, {} steps of {} "
               "examples ({} per rank x {} accumulation)",
               config.run.name, objective->name(), world, info.num_examples,
               config.model.head == "lm" ? fmt::format("LM head, prompt fraction {}", config.data.prompt_fraction)
                                         : fmt::format("{} classes", info.num_classes),
               model->num_parameters(), total_steps, config.data.global_batch, config.data.micro_batch,
               accumulation);

  TrainSummary summary;
  const auto t_start = Clock::now();
  auto t_window = t_start;
  int64_t window_tokens = 0, total_tokens = 0;
  double window_loss = 0, window_wait = 0, window_produce = 0;
  int64_t window_steps = 0;
  std::string last_checkpoint;
  const double inv_global = 1.0 / static_cast<double>(config.data.global_batch);

  // Timed checkpoints follow rank 0's clock; rank 0's decision reaches the others through the
  // per-step vote below, so all ranks save at the same step.
  const double checkpoint_every_s = config.checkpoint.every_minutes * 60.0;
  auto t_checkpoint = Clock::now();
  auto save_checkpoint = [&](int64_t step) {
    const auto rng_states = ckpt::gather_strings(ctx, ckpt::capture_rng_state());
    // Every rank's objective state (FreeAT's δ) on rank 0, for objective.h5.
    const auto objective_state = objective->keeps_state() ? ckpt::gather_rank_tensors(ctx, objective->state())
                                                          : std::vector<NamedParameter>{};
    t_checkpoint = Clock::now();
    if (ctx.is_root()) {
      ckpt::TrainState st;
      st.step = step;
      st.epoch = sampler->epoch_of(std::max<int64_t>(0, step - 1));
      st.consumed_samples = sampler->consumed_samples(step);
      st.optimizer_step = optimizer.step_count();
      st.seed = config.run.seed;
      st.world_size = world;
      st.config_yaml = dump_config(config);
      st.label_names = info.label_names;
      st.extra["rng_cpu"] = rng_states;  // one per rank, in rank order
      last_checkpoint = ckpt::save(run_dir, params, optimizer.state(), st, objective_state);
      spdlog::info("checkpoint {}", last_checkpoint);
      for (const auto& gone : ckpt::prune(run_dir, config.checkpoint.keep)) spdlog::debug("removed {}", gone);
    }
    ctx.barrier();
  };

  // Numerical guard (docs/reliability.md): a step whose loss or gradient norm is not finite on
  // any rank, or whose loss spikes, is skipped on every rank (the vote below decides it for
  // all); guard.max_bad_steps skips in a row stop the run with the last checkpoint intact.
  const NumericFault fault = numeric_fault_from_env();
  const int64_t preempt_at = test_preempt_step_from_env();
  SpikeGuard spike_guard(config.guard.spike_zscore, config.guard.spike_window);
  int64_t bad_streak = 0;
  int64_t window_good_steps = 0;

  model->train();
  for (int64_t step = start_step; step < total_steps; ++step) {
    const int64_t done = step + 1;
    double local_loss = 0;
    int64_t local_tokens = 0;
    std::vector<Batch> batches;
    for (int64_t micro = 0; micro < accumulation; ++micro) batches.push_back(loader.next());
    double grad_norm = 0, lr = 0;
    if (done == preempt_at && ctx.is_root()) std::raise(SIGUSR1);
    StepVote vote;
    bool skipped = false;
    for (int64_t replay = 0; replay < replays; ++replay) {
      for (int64_t micro = 0; micro < accumulation; ++micro) {
        // The all-reduce may start only in the last backward of the last micro-step.
        const bool final_micro = micro + 1 == accumulation;
        const auto r = objective->micro_step(model, batches[micro], inv_global,
                                             [&](bool last) { sync.set_sync(final_micro && last); });
        if (replay == 0) {
          local_loss += r.loss_sum;
          local_tokens += batches[micro].tokens;
        }
      }
      sync.allreduce_gradients();
      if (replay == 0 && fault.at(rank, done, "grad") && !params.empty() && params[0].tensor.grad().defined()) {
        params[0].tensor.grad().view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
      }
      if (replay == 0 && fault.at(rank, done, "loss")) local_loss = std::numeric_limits<double>::infinity();
      if (replay == 0 && fault.at(rank, done, "spike")) local_loss *= 1000;
      grad_norm = clip_grad_norm(params, config.optim.grad_clip);
      const bool finite = std::isfinite(grad_norm) && (replay > 0 || std::isfinite(local_loss));
      bool skip_update = false;
      if (replay == 0) {
        if (!finite) {
          spdlog::warn("rank {}: step {}: {} (loss sum {}, gradient norm {})", rank, done,
                       std::isfinite(local_loss) ? "non-finite gradient" : "non-finite loss", local_loss, grad_norm);
        }
        vote.loss_sum = local_loss;
        vote.tokens = static_cast<double>(local_tokens);
        vote.bad = finite ? 0 : 1;
        vote.preempt = preemption_requested() ? 1 : 0;
        vote.checkpoint = ctx.is_root() && checkpoint_every_s > 0 && seconds_since(t_checkpoint) >= checkpoint_every_s;
        allreduce_vote(ctx, &vote);
        const double mean_loss = vote.loss_sum * inv_global;
        const double z = vote.bad > 0 ? 0 : spike_guard.spike(mean_loss);
        if (vote.bad > 0 || z > 0) {
          skipped = skip_update = true;
          ++bad_streak;
          ++summary.skipped_steps;
          if (!ctx.is_root()) {
            // Rank 0 reports the skip for all (the rank that saw the fault said so above).
          } else if (vote.bad > 0) {
            spdlog::warn("step {}: NaN/Inf loss or gradient on {} rank(s): optimizer step skipped on every rank "
                         "({} in a row, guard.max_bad_steps {})", done, vote.bad, bad_streak,
                         config.guard.max_bad_steps);
          } else {
            spdlog::warn("step {}: loss {:.4f} is a spike (z-score {:.1f} > guard.spike_zscore {}): optimizer step "
                         "skipped on every rank ({} in a row, guard.max_bad_steps {})", done, mean_loss, z,
                         config.guard.spike_zscore, bad_streak, config.guard.max_bad_steps);
          }
        } else {
          bad_streak = 0;
          spike_guard.add(mean_loss);
        }
      } else if (!finite) {
        // Later FreeAT replays: the gradients were all-reduced, so every rank sees the same norm.
        skip_update = true;
        spdlog::warn("step {}: replay {}: non-finite gradient norm: that update is skipped", done, replay);
      }
      if (skip_update) {
        optimizer.zero_grad();
        if (replay == 0) break;  // a bad batch: none of its replays update θ
        continue;
      }
      lr = learning_rate(config.optim, step * replays + replay, total_updates);
      optimizer.step(lr);
      sync.maybe_check_parameters(step + 1);  // every rank agrees, or fail naming the parameter
      optimizer.zero_grad();
    }
    if (bad_streak >= config.guard.max_bad_steps) {
      throw RuntimeError(fmt::format(
          "step {}: {} consecutive steps skipped for NaN/Inf or spiking loss (guard.max_bad_steps {}); training "
          "stopped, {}. Lower optim.lr, raise optim.warmup or check the data",
          done, bad_streak, config.guard.max_bad_steps,
          !ctx.is_root() ? std::string("rank 0 names the last checkpoint")
          : last_checkpoint.empty() ? std::string("no checkpoint was written by this run")
                                    : fmt::format("the last checkpoint {} is intact", last_checkpoint)));
    }
    ++summary.steps;
    if (summary.steps == 1 && ctx.is_root()) write_config_yaml(run_dir, config);
    if (!skipped) {
      window_loss += vote.loss_sum;
      ++window_good_steps;
    }
    window_tokens += static_cast<int64_t>(vote.tokens);
    window_wait += loader.take_wait_seconds();
    window_produce += loader.take_produce_seconds();
    ++window_steps;

    const bool last = done == total_steps;
    if (done % config.log.every_steps == 0 || last) {
      // Loss and tokens are already summed over ranks by the step vote.
      const double loss = window_good_steps > 0 ? window_loss * inv_global / static_cast<double>(window_good_steps)
                                                : std::numeric_limits<double>::quiet_NaN();
      const int64_t tokens = window_tokens;
      const double elapsed = seconds_since(t_window);
      const double tps = tokens / std::max(elapsed, 1e-9);
      total_tokens += tokens;
      const double wait_share = window_wait / std::max(elapsed, 1e-9);
      const double data_share = window_produce / std::max(elapsed, 1e-9);
      const double per_step = elapsed / static_cast<double>(window_steps);
      spdlog::info("step {:>6}/{} | loss {:.4f} | lr {:.2e} | grad {:.3f} | {:.0f} tok/s | {:.0f} ms/step "
                   "| data {:.1f}% (wait {:.1f}%) | ETA {}",
                   done, total_steps, loss, lr, grad_norm, tps, per_step * 1e3, 100 * data_share, 100 * wait_share,
                   format_duration(per_step * static_cast<double>(total_steps - done)));
      if (metrics) {
        metrics->write({{"step", done}, {"loss", loss}, {"lr", lr}, {"grad_norm", grad_norm},
                        {"tokens_per_second", tps}, {"step_ms", per_step * 1e3},
                        {"data_wait_share", wait_share}, {"data_cpu_share", data_share}, {"elapsed_s", seconds_since(t_start)},
                        {"epoch", sampler->epoch_of(step)}, {"skipped_steps", summary.skipped_steps}});
      }
      if (window_good_steps > 0) summary.final_loss = loss;
      window_loss = 0;
      window_tokens = 0;
      window_wait = 0;
      window_produce = 0;
      window_steps = 0;
      window_good_steps = 0;
      t_window = Clock::now();
    }
    // Periodic evaluation on data.valid with eval.suite (quick by default); every rank takes part.
    if (config.eval.every_steps > 0 && done % config.eval.every_steps == 0) {
      const auto ev = eval::evaluate_during_training(model, config, *tokenizer, ctx);
      if (metrics && !ev.is_null()) metrics->write({{"step", done}, {"eval", ev}});
    }
    // Preemption (some rank got SIGUSR1/SIGTERM) and timed checkpoints (rank 0's clock) came
    // with the step vote, so every rank takes the same branch.
    const bool preempted = vote.preempt > 0 && !last;
    const bool by_steps = config.checkpoint.every_steps > 0 && done % config.checkpoint.every_steps == 0;
    if (!last && (by_steps || preempted || vote.checkpoint > 0)) save_checkpoint(done);
    if (preempted) {
      spdlog::warn("preempted ({} received): stopped at step {}/{} after writing {}; run the same "
                   "command again to resume (checkpoint.resume: auto)",
                   preemption_signal_name(), done, total_steps,
                   ctx.is_root() ? last_checkpoint : std::string("the checkpoint"));
      summary.final_step = done;
      summary.seconds = seconds_since(t_start);
      summary.checkpoint = last_checkpoint;
      return summary;
    }
  }
  summary.final_step = total_steps;
  summary.seconds = seconds_since(t_start);
  summary.tokens_per_second = total_tokens / std::max(summary.seconds, 1e-9);
  if (summary.steps == 0) {
    // Resumed from the final checkpoint: nothing to train, and nothing to rewrite.
    spdlog::info("nothing to do: the run is already at step {} of {}", start_step, total_steps);
    return summary;
  }
  save_checkpoint(total_steps);
  summary.checkpoint = last_checkpoint;
  if (ctx.is_root()) {
    nlohmann::json j = {{"steps", summary.steps}, {"final_step", summary.final_step},
                        {"train_seconds", summary.seconds},
                        {"train_tokens_per_second", summary.tokens_per_second},
                        {"final_loss", summary.final_loss}, {"world_size", world},
                        {"skipped_steps", summary.skipped_steps},
                        {"checkpoint", summary.checkpoint}};
    write_file_atomically((fs::path(run_dir) / "train_summary.json").string(), j.dump(2) + "\n");
    spdlog::info("done: {} steps in {} ({:.0f} tok/s), final loss {:.4f}", summary.steps,
                 format_duration(summary.seconds), summary.tokens_per_second, summary.final_loss);
  }
  return summary;
}

}  // namespace sturdy
