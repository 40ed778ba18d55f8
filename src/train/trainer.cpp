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
#include "sturdy/ckpt/pretrained.h"
#include "sturdy/ckpt/rng_state.h"
#include "sturdy/core/atomic_file.h"
#include "sturdy/core/error.h"
#include "sturdy/data/corpus.h"
#include "sturdy/data/loader.h"
#include "sturdy/data/sampler.h"
#include "sturdy/distributed/device.h"
#include "sturdy/distributed/grad_sync.h"
#include "sturdy/distributed/watchdog.h"
#include "sturdy/eval/evaluator.h"
#include "sturdy/model/transformer.h"
#include "sturdy/perturb/augment.h"
#include "sturdy/robust/objective.h"
#include "sturdy/text/tokenizer.h"
#include "sturdy/train/optimizer.h"
#include "sturdy/train/signals.h"
#include "sturdy/train/step.h"

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
  if (c.model.head == ModelHead::kLm && !c.model.causal) {
    throw UsageError("model.head lm needs model.causal: true (a language model reads left to right)");
  }
  if (c.model.head == ModelHead::kClassifier) {
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

namespace {

// Resume from the newest valid checkpoint of this run (checkpoint.resume: auto) or the named
// one. Rank 0 picks it (walking back past damaged ones) and tells the others, so all load the
// same. Returns the step to continue from (0: a fresh run).
int64_t resume(const Config& config, const dist::Context& ctx, const std::vector<NamedParameter>& params,
               AdamW& optimizer, robust::Objective& objective, const torch::Device& device) {
  if (config.checkpoint.resume == "never") return 0;
  std::string from;
  if (ctx.is_root()) {
    if (config.checkpoint.resume == "auto") {
      std::vector<std::string> skipped;
      from = ckpt::find_resumable(config.run.output_dir, &skipped);
      for (const auto& why : skipped) spdlog::warn("skipping damaged checkpoint: {}", why);
    } else {
      from = ckpt::resolve(config.checkpoint.resume);
    }
  }
  int64_t length = static_cast<int64_t>(from.size());
  ctx.broadcast(&length, sizeof length);
  from.resize(static_cast<size_t>(length));
  ctx.broadcast(from.data(), length);
  if (from.empty()) return 0;
  const auto state = ckpt::read_state(from);
  ckpt::load_model(from, params);
  ckpt::load_optimizer(from, optimizer.state());
  optimizer.load_state(optimizer.state(), state.optimizer_step);
  if (objective.keeps_state()) restore_objective_state(objective, from, state.world_size, ctx, config);
  // Dropout masks continue bit for bit only on the same world size (each rank has its own
  // generator); otherwise each rank reseeds from (seed, step, rank).
  const int world = ctx.world_size();
  const auto& rng = state.extra.value("rng_cpu", nlohmann::json::array());
  if (state.world_size == world && rng.size() == static_cast<size_t>(world)) {
    const std::string note = ckpt::restore_rng_state(rng[ctx.rank()].get<std::string>(), device);
    if (!note.empty() && ctx.is_root()) spdlog::warn("resume: {}", note);
  } else {
    spdlog::warn("checkpoint written on {} rank(s) with {} RNG state(s), now {} rank(s): the sample stream "
                 "continues exactly, dropout masks are drawn afresh", state.world_size, rng.size(), world);
    torch::manual_seed(config.run.seed ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(state.step + 1)) ^
                       static_cast<uint64_t>(ctx.rank()));  // seeds the CUDA generators too
  }
  spdlog::info("resumed from {} at step {} ({} samples consumed)", from, state.step, state.consumed_samples);
  return state.step;
}

LoaderOptions loader_options(const Config& config, int64_t accumulation, const dist::Context& ctx,
                             const torch::Device& device) {
  LoaderOptions lo;
  lo.pin_memory = device.is_cuda();  // page-locked batches: non-blocking copies to the GPU
  lo.micro_batch = config.data.micro_batch;
  lo.accumulation = accumulation;
  lo.max_length = config.data.max_length;
  lo.prefetch = config.data.prefetch;
  lo.workers = config.data.workers;
  lo.lm = config.model.head == ModelHead::kLm;
  lo.prompt_fraction = config.data.prompt_fraction;
  lo.rank = ctx.rank();
  lo.world = ctx.world_size();
  if (config.augment.subword_alpha > 0) {
    lo.subword = {config.augment.subword_alpha, config.augment.subword_nbest, config.run.seed};
    spdlog::info("subword sampling: each training text's segmentation drawn from its {} best, alpha {}",
                 config.augment.subword_nbest, config.augment.subword_alpha);
  }
  return lo;
}

// Numerical guard (docs/reliability.md): a step whose loss or gradient norm is not finite on
// any rank, or whose loss spikes, is skipped on every rank (the step vote decides it for all);
// guard.max_bad_steps skips in a row stop the run with the last checkpoint intact.
class StepGuard {
 public:
  StepGuard(const Config& config, const dist::Context& ctx)
      : config_(config), ctx_(ctx), fault_(numeric_fault_from_env()),
        spike_(config.guard.spike_zscore, config.guard.spike_window) {}

  // The test-only faults of STURDY_TEST_NUMERIC, after the first replay's all-reduce.
  void inject(int64_t done, const std::vector<NamedParameter>& params, double* local_loss) const {
    const int rank = ctx_.rank();
    if (fault_.at(rank, done, "grad") && !params.empty() && params[0].tensor.grad().defined()) {
      params[0].tensor.grad().view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
    }
    if (fault_.at(rank, done, "loss")) *local_loss = std::numeric_limits<double>::infinity();
    if (fault_.at(rank, done, "spike")) *local_loss *= 1000;
  }

  // The step vote after the first replay: every rank learns the summed loss and tokens and
  // whether to skip, stop for preemption or checkpoint. Returns true when the step is skipped.
  bool vote(int64_t done, double local_loss, int64_t local_tokens, double grad_norm, bool checkpoint_due,
            StepVote* vote, int64_t* skipped_steps) {
    const bool finite = std::isfinite(grad_norm) && std::isfinite(local_loss);
    if (!finite) {
      spdlog::warn("rank {}: step {}: {} (loss sum {}, gradient norm {})", ctx_.rank(), done,
                   std::isfinite(local_loss) ? "non-finite gradient" : "non-finite loss", local_loss, grad_norm);
    }
    vote->loss_sum = local_loss;
    vote->tokens = static_cast<double>(local_tokens);
    vote->bad = finite ? 0 : 1;
    vote->preempt = preemption_requested() ? 1 : 0;
    vote->checkpoint = checkpoint_due ? 1 : 0;
    allreduce_vote(ctx_, vote);
    const double mean_loss = vote->loss_sum * (1.0 / static_cast<double>(config_.data.global_batch));
    const double z = vote->bad > 0 ? 0 : spike_.spike(mean_loss);
    if (vote->bad == 0 && z == 0) {
      bad_streak_ = 0;
      spike_.add(mean_loss);
      return false;
    }
    ++bad_streak_;
    ++*skipped_steps;
    if (!ctx_.is_root()) return true;  // rank 0 reports the skip for all (the faulty rank said so above)
    if (vote->bad > 0) {
      spdlog::warn("step {}: NaN/Inf loss or gradient on {} rank(s): optimizer step skipped on every rank "
                   "({} in a row, guard.max_bad_steps {})", done, vote->bad, bad_streak_, config_.guard.max_bad_steps);
    } else {
      spdlog::warn("step {}: loss {:.4f} is a spike (z-score {:.1f} > guard.spike_zscore {}): optimizer step "
                   "skipped on every rank ({} in a row, guard.max_bad_steps {})", done, mean_loss, z,
                   config_.guard.spike_zscore, bad_streak_, config_.guard.max_bad_steps);
    }
    return true;
  }

  // Throws once guard.max_bad_steps steps in a row were skipped.
  void check_streak(int64_t done, const std::string& last_checkpoint) const {
    if (bad_streak_ < config_.guard.max_bad_steps) return;
    throw RuntimeError(fmt::format(
        "step {}: {} consecutive steps skipped for NaN/Inf or spiking loss (guard.max_bad_steps {}); training "
        "stopped, {}. Lower optim.lr, raise optim.warmup or check the data",
        done, bad_streak_, config_.guard.max_bad_steps,
        !ctx_.is_root() ? std::string("rank 0 names the last checkpoint")
        : last_checkpoint.empty() ? std::string("no checkpoint was written by this run")
                                  : fmt::format("the last checkpoint {} is intact", last_checkpoint)));
  }

 private:
  const Config& config_;
  const dist::Context& ctx_;
  const NumericFault fault_;
  SpikeGuard spike_;
  int64_t bad_streak_ = 0;
};

// The log window: loss over the good steps, tokens and data-loader shares over all steps since
// the last log line; one log line and one metrics.jsonl line (rank 0) per log step.
class MetricsWindow {
 public:
  MetricsWindow(const Config& config, const dist::Context& ctx, const GlobalSampler& sampler, int64_t total_steps)
      : config_(config), sampler_(sampler), total_steps_(total_steps) {
    if (ctx.is_root()) log_ = std::make_unique<MetricsLog>((fs::path(config.run.output_dir) / "metrics.jsonl").string());
  }

  void add(const StepVote& vote, bool skipped, Loader& loader) {
    if (!skipped) {
      loss_ += vote.loss_sum;
      ++good_steps_;
    }
    tokens_ += static_cast<int64_t>(vote.tokens);
    wait_ += loader.take_wait_seconds();
    produce_ += loader.take_produce_seconds();
    ++steps_;
  }

  void maybe_log(int64_t done, double lr, double grad_norm, TrainSummary* summary) {
    if (done % config_.log.every_steps != 0 && done != total_steps_) return;
    // Loss and tokens are already summed over ranks by the step vote.
    const double inv_global = 1.0 / static_cast<double>(config_.data.global_batch);
    const double loss = good_steps_ > 0 ? loss_ * inv_global / static_cast<double>(good_steps_)
                                        : std::numeric_limits<double>::quiet_NaN();
    const double elapsed = seconds_since(t_window_);
    const double tps = static_cast<double>(tokens_) / std::max(elapsed, 1e-9);
    total_tokens_ += tokens_;
    const double wait_share = wait_ / std::max(elapsed, 1e-9);
    const double data_share = produce_ / std::max(elapsed, 1e-9);
    const double per_step = elapsed / static_cast<double>(steps_);
    spdlog::info("step {:>6}/{} | loss {:.4f} | lr {:.2e} | grad {:.3f} | {:.0f} tok/s | {:.0f} ms/step "
                 "| data {:.1f}% (wait {:.1f}%) | ETA {}",
                 done, total_steps_, loss, lr, grad_norm, tps, per_step * 1e3, 100 * data_share, 100 * wait_share,
                 format_duration(per_step * static_cast<double>(total_steps_ - done)));
    write({{"step", done}, {"loss", loss}, {"lr", lr}, {"grad_norm", grad_norm},
           {"tokens_per_second", tps}, {"step_ms", per_step * 1e3},
           {"data_wait_share", wait_share}, {"data_cpu_share", data_share}, {"elapsed_s", seconds_since(t_start_)},
           {"epoch", sampler_.epoch_of(done - 1)}, {"skipped_steps", summary->skipped_steps}});
    if (good_steps_ > 0) summary->final_loss = loss;
    loss_ = wait_ = produce_ = 0;
    tokens_ = steps_ = good_steps_ = 0;
    t_window_ = Clock::now();
  }

  void write(const nlohmann::json& j) {
    if (log_) log_->write(j);
  }
  int64_t total_tokens() const { return total_tokens_; }
  double seconds() const { return seconds_since(t_start_); }

 private:
  const Config& config_;
  const GlobalSampler& sampler_;
  const int64_t total_steps_;
  std::unique_ptr<MetricsLog> log_;
  const Clock::time_point t_start_ = Clock::now();
  Clock::time_point t_window_ = t_start_;
  double loss_ = 0, wait_ = 0, produce_ = 0;
  int64_t tokens_ = 0, steps_ = 0, good_steps_ = 0, total_tokens_ = 0;
};

// When to checkpoint (every checkpoint.every_steps, every checkpoint.every_minutes by rank 0's
// clock, on preemption, at the end) and the save itself, on every rank at the same step.
class CheckpointPolicy {
 public:
  CheckpointPolicy(const Config& config, const dist::Context& ctx, const GlobalSampler& sampler,
                   const std::vector<NamedParameter>& params, AdamW& optimizer, robust::Objective& objective,
                   const torch::Device& device, const CorpusInfo& info)
      : config_(config), ctx_(ctx), sampler_(sampler), params_(params), optimizer_(optimizer),
        objective_(objective), device_(device), info_(info) {}

  // Rank 0's clock says a timed checkpoint is due (the step vote carries it to the others).
  bool timed_due() const {
    const double every_s = config_.checkpoint.every_minutes * 60.0;
    return ctx_.is_root() && every_s > 0 && seconds_since(t_last_) >= every_s;
  }
  // A checkpoint after step `done` (not the last: the end saves its own), agreed by the vote.
  bool due(int64_t done, const StepVote& vote) const {
    const bool by_steps = config_.checkpoint.every_steps > 0 && done % config_.checkpoint.every_steps == 0;
    return by_steps || vote.preempt > 0 || vote.checkpoint > 0;
  }

  void save(int64_t step) {
    const auto rng_states = ckpt::gather_strings(ctx_, ckpt::capture_rng_state(device_));
    // Every rank's objective state (FreeAT's δ) on rank 0, for objective.h5.
    const auto objective_state = objective_.keeps_state() ? ckpt::gather_rank_tensors(ctx_, objective_.state())
                                                           : std::vector<NamedParameter>{};
    t_last_ = Clock::now();
    if (ctx_.is_root()) {
      ckpt::TrainState st;
      st.step = step;
      st.epoch = sampler_.epoch_of(std::max<int64_t>(0, step - 1));
      st.consumed_samples = sampler_.consumed_samples(step);
      st.optimizer_step = optimizer_.step_count();
      st.seed = config_.run.seed;
      st.world_size = ctx_.world_size();
      st.config_yaml = dump_config(config_);
      st.label_names = info_.label_names;
      st.extra["rng_cpu"] = rng_states;  // one per rank, in rank order
      last_ = ckpt::save(config_.run.output_dir, params_, optimizer_.state(), st, objective_state);
      spdlog::info("checkpoint {}", last_);
      for (const auto& gone : ckpt::prune(config_.run.output_dir, config_.checkpoint.keep)) {
        spdlog::debug("removed {}", gone);
      }
    }
    ctx_.barrier();
  }
  // The last checkpoint this run wrote (rank 0; "" elsewhere and before the first).
  const std::string& last() const { return last_; }

 private:
  const Config& config_;
  const dist::Context& ctx_;
  const GlobalSampler& sampler_;
  const std::vector<NamedParameter>& params_;
  AdamW& optimizer_;
  robust::Objective& objective_;
  torch::Device device_;
  const CorpusInfo& info_;
  Clock::time_point t_last_ = Clock::now();
  std::string last_;
};

// One training run: the parts above, put together by run().
class TrainRun {
 public:
  TrainRun(const Config& config, const dist::Context& ctx, const torch::Device& device);
  TrainSummary run();

 private:
  struct StepOutcome {
    StepVote vote;
    bool skipped = false;
    double grad_norm = 0, lr = 0;
  };
  StepOutcome step(int64_t step);
  void check_corpus() const;
  TrainSummary finish();

  const Config& config_;
  const dist::Context& ctx_;
  torch::Device device_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  CorpusReader corpus_;
  std::unique_ptr<robust::Objective> objective_;
  std::shared_ptr<const GlobalSampler> sampler_;
  int64_t accumulation_ = 1, total_steps_ = 0, replays_ = 1;
  Transformer model_{nullptr};
  std::vector<NamedParameter> params_;
  std::unique_ptr<dist::GradSync> sync_;
  std::unique_ptr<AdamW> optimizer_;
  std::unique_ptr<Stepper> stepper_;  // the step's parts, shared with bench/
  std::unique_ptr<Loader> loader_;
  int64_t start_step_ = 0, preempt_at_ = 0;
  StepGuard guard_;
  std::unique_ptr<MetricsWindow> metrics_;       // its clock starts when the loader has started
  std::unique_ptr<CheckpointPolicy> checkpoints_;
  TrainSummary summary_;
};

TrainRun::TrainRun(const Config& config, const dist::Context& ctx, const torch::Device& device)
    : config_(config), ctx_(ctx), device_(device), tokenizer_(make_tokenizer(config.tokenizer)), corpus_(config.data.train),
      guard_(config, ctx) {
  check_corpus();
  objective_ = robust::make_objective(config, tokenizer_);
  auto augment_transform = make_augment_transform(config);
  auto view_transform = objective_->needs_perturbed_view() ? make_view_transform(config) : nullptr;
  LengthBucketing bucketing;  // data.bucket_window (docs/performance.md)
  if (config.data.bucket_window > 1) bucketing = {corpus_.text_bytes(), config.data.bucket_window};
  sampler_ = std::make_shared<const GlobalSampler>(corpus_.info().num_examples, config.data.global_batch,
                                                   config.run.seed, std::move(bucketing));
  accumulation_ = accumulation_steps(config.data.global_batch, config.data.micro_batch, ctx.world_size());
  total_steps_ = sampler_->steps_per_epoch() * config.optim.epochs;
  if (config.optim.max_steps > 0) total_steps_ = std::min(total_steps_, config.optim.max_steps);
  replays_ = objective_->replays();  // FreeAT: optimizer steps per batch; the schedule counts optimizer steps

  torch::manual_seed(config.run.seed);
  model_ = Transformer(config.model);
  if (!config.model.init_from.empty()) {  // pretrained weights (docs/model.md)
    const LoadReport r = load_pretrained(model_, config.model.init_from);
    if (ctx.is_root()) spdlog::info("model.init_from: {} tensors loaded, {} fresh", r.loaded.size(), r.fresh.size());
  }
  // Initialised on the CPU (the same weights on any device), then moved: parameters, their
  // gradients, the optimizer state and every objective's tensors live on device_.
  model_->to(device_);
  params_ = named_parameters(*model_);
  std::vector<torch::Tensor> tensors;
  std::vector<std::string> names;
  for (const auto& p : params_) {
    tensors.push_back(p.tensor);
    names.push_back(p.name);
  }
  sync_ = std::make_unique<dist::GradSync>(ctx, tensors, dist::GradSyncOptions::from(config.dist), names);
  sync_->broadcast_parameters();
  optimizer_ = std::make_unique<AdamW>(params_, config.optim);
  stepper_ = std::make_unique<Stepper>(model_, *objective_, params_, *optimizer_, sync_.get());
  start_step_ = resume(config, ctx, params_, *optimizer_, *objective_, device_);
  install_preemption_handlers();
  loader_ = std::make_unique<Loader>(config.data.train, tokenizer_, sampler_, loader_options(config, accumulation_, ctx, device_),
                                     std::move(augment_transform), std::move(view_transform));
  loader_->start(start_step_);
  preempt_at_ = test_preempt_step_from_env();
  metrics_ = std::make_unique<MetricsWindow>(config, ctx, *sampler_, total_steps_);
  checkpoints_ = std::make_unique<CheckpointPolicy>(config, ctx, *sampler_, params_, *optimizer_, *objective_,
                                                    device_, corpus_.info());
}

void TrainRun::check_corpus() const {
  const auto& info = corpus_.info();
  const int world = ctx_.world_size();
  if (info.num_examples < world) {
    throw UsageError(fmt::format("{}: {} examples for {} ranks: every rank needs at least one example per step; "
                                 "run on at most {} ranks or use a bigger corpus",
                                 config_.data.train, info.num_examples, world, info.num_examples));
  }
  if (info.num_examples < config_.data.global_batch) {
    throw UsageError(fmt::format("{}: {} examples, fewer than data.global_batch ({}): lower data.global_batch",
                                 config_.data.train, info.num_examples, config_.data.global_batch));
  }
}

// One optimizer step (or FreeAT's `replays` of them on one batch): the objective's micro-steps,
// the gradient all-reduce, the guard's vote, the update.
TrainRun::StepOutcome TrainRun::step(int64_t step) {
  const int64_t done = step + 1;
  const double inv_global = 1.0 / static_cast<double>(config_.data.global_batch);
  double local_loss = 0;
  int64_t local_tokens = 0;
  std::vector<Batch> batches;
  for (int64_t micro = 0; micro < accumulation_; ++micro) batches.push_back(to_device(loader_->next(), device_));
  if (done == preempt_at_ && ctx_.is_root()) std::raise(SIGUSR1);
  StepOutcome out;
  for (int64_t replay = 0; replay < replays_; ++replay) {
    const auto b = stepper_->backward(batches, inv_global);
    if (replay == 0) {
      local_loss = b.loss_sum;
      local_tokens = b.tokens;
    }
    stepper_->allreduce();
    if (replay == 0) guard_.inject(done, params_, &local_loss);
    out.grad_norm = stepper_->clip(config_.optim.grad_clip);
    bool skip_update = false;
    if (replay == 0) {
      skip_update = out.skipped = guard_.vote(done, local_loss, local_tokens, out.grad_norm,
                                              checkpoints_->timed_due(), &out.vote, &summary_.skipped_steps);
    } else if (!std::isfinite(out.grad_norm)) {
      // Later FreeAT replays: the gradients were all-reduced, so every rank sees the same norm.
      skip_update = true;
      spdlog::warn("step {}: replay {}: non-finite gradient norm: that update is skipped", done, replay);
    }
    if (skip_update) {
      stepper_->discard();
      if (replay == 0) break;  // a bad batch: none of its replays update θ
      continue;
    }
    out.lr = learning_rate(config_.optim, step * replays_ + replay, total_steps_ * replays_);
    stepper_->update(out.lr, step + 1);
  }
  return out;
}

TrainSummary TrainRun::run() {
  const auto& info = corpus_.info();
  spdlog::info("training {} ({}) on {} rank(s), device {}: {} examples, {}, {} parameters, {} steps of {} "
               "examples ({} per rank x {} accumulation)",
               config_.run.name, objective_->name(), ctx_.world_size(), dist::describe_device(device_),
               info.num_examples,
               config_.model.head == ModelHead::kLm ? fmt::format("LM head, prompt fraction {}", config_.data.prompt_fraction)
                                          : fmt::format("{} classes", info.num_classes),
               model_->num_parameters(), total_steps_, config_.data.global_batch, config_.data.micro_batch,
               accumulation_);
  model_->train();
  for (int64_t step = start_step_; step < total_steps_; ++step) {
    const int64_t done = step + 1;
    const StepOutcome out = this->step(step);
    guard_.check_streak(done, checkpoints_->last());
    ++summary_.steps;
    if (summary_.steps == 1 && ctx_.is_root()) write_config_yaml(config_.run.output_dir, config_);
    metrics_->add(out.vote, out.skipped, *loader_);
    metrics_->maybe_log(done, out.lr, out.grad_norm, &summary_);
    // Periodic evaluation on data.valid with eval.suite (quick by default); every rank takes part.
    if (config_.eval.every_steps > 0 && done % config_.eval.every_steps == 0) {
      const auto ev = eval::evaluate_during_training(model_, config_, *tokenizer_, ctx_);
      if (!ev.is_null()) metrics_->write({{"step", done}, {"eval", ev}});
    }
    if (done == total_steps_) break;  // the end saves its own checkpoint
    // Preemption (some rank got SIGUSR1/SIGTERM) and timed checkpoints (rank 0's clock) came
    // with the step vote, so every rank takes the same branch.
    if (checkpoints_->due(done, out.vote)) checkpoints_->save(done);
    if (out.vote.preempt > 0) {
      spdlog::warn("preempted ({} received): stopped at step {}/{} after writing {}; run the same "
                   "command again to resume (checkpoint.resume: auto)",
                   preemption_signal_name(), done, total_steps_,
                   ctx_.is_root() ? checkpoints_->last() : std::string("the checkpoint"));
      summary_.final_step = done;
      summary_.seconds = metrics_->seconds();
      summary_.checkpoint = checkpoints_->last();
      return summary_;
    }
  }
  return finish();
}

// After the last step: the final checkpoint and train_summary.json.
TrainSummary TrainRun::finish() {
  summary_.final_step = total_steps_;
  summary_.seconds = metrics_->seconds();
  summary_.tokens_per_second = static_cast<double>(metrics_->total_tokens()) / std::max(summary_.seconds, 1e-9);
  if (summary_.steps == 0) {
    // Resumed from the final checkpoint: nothing to train, and nothing to rewrite.
    spdlog::info("nothing to do: the run is already at step {} of {}", start_step_, total_steps_);
    return summary_;
  }
  checkpoints_->save(total_steps_);
  summary_.checkpoint = checkpoints_->last();
  if (ctx_.is_root()) {
    nlohmann::json j = {{"steps", summary_.steps}, {"final_step", summary_.final_step},
                        {"train_seconds", summary_.seconds},
                        {"train_tokens_per_second", summary_.tokens_per_second},
                        {"final_loss", summary_.final_loss}, {"world_size", ctx_.world_size()},
                        {"skipped_steps", summary_.skipped_steps},
                        {"checkpoint", summary_.checkpoint}};
    write_file_atomically((fs::path(config_.run.output_dir) / "train_summary.json").string(), j.dump(2) + "\n");
    spdlog::info("done: {} steps in {} ({:.0f} tok/s), final loss {:.4f}", summary_.steps,
                 format_duration(summary_.seconds), summary_.tokens_per_second, summary_.final_loss);
  }
  return summary_;
}

}  // namespace

TrainSummary train(const Config& raw_config, const dist::Context& ctx) {
  const Config config = resolve_config(raw_config);
  // Everything that can be refused (corpus, batch sizes, objective, perturbations) is checked
  // before anything is written into the run folder, so a bad configuration never changes an
  // earlier run's files; config.yaml is written once the first step went through.
  const torch::Device device =
      dist::select_device(config.run.device, config.dist.backend, ctx.local_rank(), ctx.local_size());
  if (ctx.is_root()) ensure_dir(config.run.output_dir);
  TrainRun run(config, ctx, device);
  return run.run();
}

}  // namespace sturdy
