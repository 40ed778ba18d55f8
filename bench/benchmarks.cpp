// `sturdy bench comm|train|step|data`: the benchmarks (benchmarks.h). Each is one add_*_bench
// function adding one subcommand to `sturdy bench`; run under mpirun for several ranks.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>

#include "benchmarks.h"
#include "comm_bench.h"
#include "sturdy/config/choice_cli.h"
#include "sturdy/core/machine.h"
#include "sturdy/data/loader.h"
#include "sturdy/data/sampler.h"
#include "sturdy/distributed/device.h"
#include "sturdy/distributed/grad_sync.h"
#include "sturdy/distributed/startup.h"
#include "sturdy/perturb/augment.h"
#include "sturdy/robust/objective.h"
#include "sturdy/text/tokenizer.h"
#include "sturdy/train/optimizer.h"
#include "sturdy/train/step.h"

namespace sturdy::bench {
namespace {

// `sturdy bench comm`: all-reduce sweep (nccl-tests columns), gradient sync vs raw
// MPI_Allreduce, and the share of communication hidden by the backward overlap. --device cuda
// puts the buffers on the rank's GPU (as run.device; NCCL when --backend resolves to it, else
// MPI staged through pinned host memory, which lets two ranks share one GPU).
void add_comm_bench(CLI::App& bench, int* exit_code) {
  auto* cmd = bench.add_subcommand("comm", "All-reduce bandwidth, bucketed gradient sync and overlap (mpirun -np N)");
  auto o = std::make_shared<dist::CommBenchOptions>();
  auto backend = std::make_shared<DistBackend>(DistBackend::kAuto);
  auto device_kind = std::make_shared<DeviceKind>(DeviceKind::kCpu);
  auto dtype = std::make_shared<std::string>("float32");
  auto skip_sync = std::make_shared<bool>(false);
  auto skip_overlap = std::make_shared<bool>(false);
  cmd->add_option("--min-bytes", o->min_bytes, "Smallest message (bytes; 1K, 1M suffixes)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--max-bytes", o->max_bytes, "Largest message (bytes; 64M by default)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--warmup", o->warmup, "Untimed iterations per size");
  cmd->add_option("--iters", o->iters, "Timed iterations per size (a quarter from 8 MB up)");
  cmd->add_option("--dtype", *dtype, "float32 | float64")->check(CLI::IsMember({"float32", "float64"}));
  add_choice_option<DistBackend>(cmd, "--backend", *backend, "{} (as dist.backend)");
  add_choice_option<DeviceKind>(cmd, "--device", *device_kind, "{} (as run.device; default cpu)");
  cmd->add_option("--bucket-mb", o->bucket_mb, "Gradient bucket size (as dist.bucket_mb)");
  cmd->add_option("--layers", o->layers, "Overlap step: linear layers");
  cmd->add_option("--dim", o->dim, "Overlap step: layer width");
  cmd->add_option("--batch", o->batch, "Overlap step: rows per rank");
  cmd->add_flag("--no-grad-sync", *skip_sync, "Skip the gradient-sync comparison");
  cmd->add_flag("--no-overlap", *skip_overlap, "Skip the overlap measurement");
  cmd->callback([=] {
    o->dtype = *dtype == "float64" ? dist::DType::kFloat64 : dist::DType::kFloat32;
    dist::Context& ctx = dist::start("bench comm", false);
    const torch::Device device = dist::select_device(*device_kind, *backend, ctx.local_rank(), ctx.local_size());
    const dist::Backend b = dist::resolve_backend(*backend, device.is_cuda());
    auto comm = dist::make_communicator(ctx, b, device.is_cuda() ? device.index() : -1);
    o->cuda_device = device.is_cuda() ? device.index() : -1;
    o->backend = b == dist::Backend::kNccl ? DistBackend::kNccl : DistBackend::kMpi;
    const bool root = ctx.is_root();
    if (root) {
      const std::string core = blas_core_name();
      std::printf("# sturdy bench comm | %d rank(s), backend %s, %s | %s | BLAS core %s\n", ctx.world_size(),
                  dist::backend_name(b), dist::dtype_name(o->dtype), cpu_model().c_str(),
                  core.empty() ? "n/a" : core.c_str());
      if (device.is_cuda()) {
        std::printf("# device %s%s\n", dist::describe_device(device).c_str(),
                    b == dist::Backend::kMpi ? ": buffers staged through pinned host memory (device -> host, "
                                               "MPI, host -> device) in every all-reduce row"
                                             : ": NCCL on the device");
      }
      std::printf("# all-reduce (sum, in place): time = slowest rank's mean; busbw = algbw * 2(n-1)/n\n");
      std::printf("%12s %12s %8s %11s %11s %11s %7s\n", "size(B)", "count", "type", "time(us)", "algbw(GB/s)",
                  "busbw(GB/s)", "#wrong");
    }
    int64_t wrong = 0;
    for (const auto& r : dist::bench_allreduce(ctx, *comm, *o)) {
      wrong += r.wrong;
      if (root) {
        std::printf("%12lld %12lld %8s %11.1f %11.3f %11.3f %7lld\n", static_cast<long long>(r.bytes),
                    static_cast<long long>(r.count), dist::dtype_name(o->dtype), r.time_us, r.algbw_gbs,
                    r.busbw_gbs, static_cast<long long>(r.wrong));
        std::fflush(stdout);
      }
    }
    if (!*skip_sync) {
      if (root) {
        std::printf("\n# gradient sync (bucket_mb %.0f, first bucket 1 MB, 256 KB parameters) vs one raw "
                    "%s of the same bytes\n", o->bucket_mb,
                    device.is_cuda() ? fmt::format("{} all-reduce", dist::backend_name(b)).c_str() : "MPI_Allreduce");
        std::printf("%12s %8s %11s %11s %11s %11s %8s %7s\n", "size(B)", "buckets", "raw(us)", "raw busbw",
                    "sync(us)", "sync busbw", "sync/raw", "#wrong");
      }
      for (const auto& r : dist::bench_grad_sync(ctx, *o, comm.get())) {
        wrong += r.wrong;
        if (root) {
          std::printf("%12lld %8lld %11.1f %11.3f %11.1f %11.3f %7.0f%% %7lld\n", static_cast<long long>(r.bytes),
                      static_cast<long long>(r.buckets), r.raw_us, r.raw_busbw_gbs, r.sync_us, r.sync_busbw_gbs,
                      100.0 * r.sync_busbw_gbs / r.raw_busbw_gbs, static_cast<long long>(r.wrong));
          std::fflush(stdout);
        }
      }
    }
    if (!*skip_overlap && ctx.world_size() > 1) {
      const auto r = dist::bench_overlap(ctx, *o);
      if (root) {
        std::printf("\n# overlap: %lld x Linear(%lld, %lld) + tanh, batch %lld per rank, %.1f MB of gradients in "
                    "%lld buckets (%lld started during backward)\n",
                    static_cast<long long>(o->layers), static_cast<long long>(o->dim),
                    static_cast<long long>(o->dim), static_cast<long long>(o->batch), r.grad_bytes / 1048576.0,
                    static_cast<long long>(r.buckets), static_cast<long long>(r.launched_in_backward));
        std::printf("compute only %.1f ms | sync after backward %.1f ms | overlapped sync %.1f ms | hidden "
                    "share of communication %.0f%%\n",
                    r.compute_ms, r.no_overlap_ms, r.overlap_ms, 100.0 * r.hidden_share);
      }
    }
    if (wrong != 0) throw RuntimeError(fmt::format("bench comm: {} wrong values in the checked iterations", wrong));
    *exit_code = 0;
  });
}

// --- sturdy bench train ---------------------------------------------------------------

// kB on the "Key:   1234 kB" line of /proc/self/status (0 when absent).
int64_t proc_status_kb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atoll(line.c_str() + key.size() + 1);
  }
  return 0;
}

double load_average() {
  double one_minute = 0;
  std::ifstream("/proc/loadavg") >> one_minute;
  return one_minute;
}

struct LabeledText {
  std::string text;
  int32_t label = 0;
};

// The first `count` rows of an SST-2 style TSV (sentence<TAB>label, one header line).
std::vector<LabeledText> read_labeled_tsv(const std::string& path, int64_t count) {
  std::ifstream in(path);
  if (!in) throw UsageError(fmt::format("{}: cannot open (give --data PATH to SST-2 train.tsv)", path));
  std::vector<LabeledText> out;
  std::string line;
  std::getline(in, line);  // header
  while (static_cast<int64_t>(out.size()) < count && std::getline(in, line)) {
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) throw UsageError(fmt::format("{}: row {} has no label column", path, out.size() + 2));
    out.push_back({line.substr(0, tab), static_cast<int32_t>(std::atoi(line.c_str() + tab + 1))});
  }
  if (static_cast<int64_t>(out.size()) < count) {
    throw UsageError(fmt::format("{}: {} rows needed (--pool), {} found", path, count, out.size()));
  }
  return out;
}

// CPU seconds of the whole process (every thread: compute, communication, watchdog). On a
// loaded machine this is far steadier than wall time, which mostly measures the scheduler.
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// `sturdy bench train`: the trainer's step (objective micro-step, gradient sync, clipping,
// AdamW) on fixed SST-2 batches, 1..N ranks under mpirun with the same global batch. Prints
// one JSON line; --dump writes the initial weights and the batches for bench/pytorch_train.py,
// the eager-PyTorch reference of the same step (bench/compare_pytorch.py runs both).
// --device cuda runs it as the trainer does on a GPU (run.device: the model initialised on the
// CPU and moved, the batches copied to the device once before timing, dist::synchronize around
// every timed step); --bf16 is precision.dtype: bf16 (autocast on the batch's device).
void add_train_bench(CLI::App& bench, int* exit_code) {
  auto* cmd = bench.add_subcommand("train", "Training step of one objective on fixed batches (mpirun -np N; JSON)");
  struct Opts {
    std::string data, dump, trace;
    ObjectiveKind objective = ObjectiveKind::kErm;
    int64_t global_batch = 64, batches = 4, steps = 16, warmup = 3, pool = 2048, bucket_window = 0, rss_every = 0;
    int64_t dim = 128, layers = 2, heads = 4, kv_heads = 2, ffn = 512, max_length = 64;
    double dropout = 0.1, lr = 1e-4;
    DeviceKind device = DeviceKind::kCpu;
    DistBackend backend = DistBackend::kAuto;
    bool bf16 = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->data, "SST-2 style TSV (default: ../shared/data/sst2/train.tsv)");
  add_choice_option<ObjectiveKind>(cmd, "--objective", o->objective);
  cmd->add_option("--global-batch", o->global_batch, "Examples per step over all ranks");
  cmd->add_option("--batches", o->batches, "Distinct global batches (the sampler's first steps), cycled");
  cmd->add_option("--pool", o->pool, "The sampler draws from the first N TSV rows");
  cmd->add_option("--bucket-window", o->bucket_window,
                  "Length bucketing over windows of N global batches (GlobalSampler; 0: off)");
  cmd->add_option("--steps", o->steps, "Timed steps");
  cmd->add_option("--warmup", o->warmup, "Untimed steps first");
  cmd->add_option("--rss-every", o->rss_every, "Print the largest VmRSS over ranks every N steps (0: never)");
  cmd->add_option("--dump", o->dump, "Write initial weights + batches here (torch.load-able) for bench/pytorch_train.py");
  cmd->add_option("--trace", o->trace, "Rank 0: LibTorch profiler trace of the timed steps (chrome JSON; "
                                      "bench/op_profile.py sums it per op)");
  cmd->add_option("--dim", o->dim, "Model width");
  cmd->add_option("--layers", o->layers, "Transformer blocks");
  cmd->add_option("--heads", o->heads, "Query heads");
  cmd->add_option("--kv-heads", o->kv_heads, "K/V heads (GQA)");
  cmd->add_option("--ffn", o->ffn, "SwiGLU hidden width");
  cmd->add_option("--max-length", o->max_length, "Bytes per example after truncation");
  cmd->add_option("--dropout", o->dropout, "Dropout rate");
  cmd->add_option("--lr", o->lr, "Fixed learning rate");
  add_choice_option<DeviceKind>(cmd, "--device", o->device, "{} (as run.device; default cpu)");
  add_choice_option<DistBackend>(cmd, "--backend", o->backend, "{} (as dist.backend; default auto)");
  cmd->add_flag("--bf16", o->bf16, "bf16 autocast (as precision.dtype: bf16); parameters and AdamW stay float32");
  cmd->callback([o, exit_code] {
    dist::Context& ctx = dist::start("bench train", false);
    // As train(): rank r of a node drives visible GPU r (shared round-robin with --backend mpi).
    const torch::Device device = dist::select_device(o->device, o->backend, ctx.local_rank(), ctx.local_size());
    const int rank = ctx.rank(), world = ctx.world_size();
    STURDY_USAGE_CHECK(o->global_batch % world == 0, "--global-batch ({}) must be a multiple of the ranks ({})",
                       o->global_batch, world);
    STURDY_USAGE_CHECK(o->batches >= 1 && o->steps >= 1, "--batches and --steps must be >= 1");
    const int64_t per_rank = o->global_batch / world;
    auto tokenizer = make_tokenizer(TokenizerConfig{});
    Config c;
    c.model.vocab_size = tokenizer->vocab_size();
    c.model.num_classes = 2;
    c.model.dim = o->dim;
    c.model.layers = o->layers;
    c.model.heads = o->heads;
    c.model.kv_heads = o->kv_heads;
    c.model.ffn = o->ffn;
    c.model.dropout = o->dropout;
    c.model.max_seq_len = std::max(c.model.max_seq_len, o->max_length);
    c.data.max_length = o->max_length;  // attack_augment encodes its texts as the batches are
    c.objective.kind = o->objective;
    // As the freelb variant of configs/sst2/variants.yaml (K=2; PGD K=3 as its pgd): alpha 0.1, eps 0.5,
    // init 0.1, l2; typos at p = 0.5 as its augment.
    c.objective.steps = o->objective == ObjectiveKind::kPgd ? 3 : o->objective == ObjectiveKind::kFreeLb ? 2 : 1;
    c.objective.init = 0.1;
    c.augment.recipe = "typos";
    c.augment.probability = 0.5;
    if (o->bf16) c.precision.dtype = Precision::kBf16;  // make_objective wraps the objective in autocast
    const std::string data =
        o->data.empty() ? std::string(STURDY_SOURCE_DIR) + "/../shared/data/sst2/train.tsv" : o->data;
    const auto rows = read_labeled_tsv(data, o->pool);
    LengthBucketing bucketing;
    if (o->bucket_window > 1) {
      for (const auto& r : rows) bucketing.lengths.push_back(static_cast<int64_t>(r.text.size()));
      bucketing.window = o->bucket_window;
    }
    const GlobalSampler sampler(o->pool, o->global_batch, /*seed=*/1, bucketing);
    STURDY_USAGE_CHECK(o->batches <= sampler.steps_per_epoch(), "--batches ({}) exceeds the {} steps of --pool {}",
                       o->batches, sampler.steps_per_epoch(), o->pool);
    const auto augment = o->objective == ObjectiveKind::kAugment ? make_augment_transform(c) : nullptr;
    const auto view = o->objective == ObjectiveKind::kConsistency ? make_view_transform(c) : nullptr;

    // Global batch b = the sampler's step b; rank r takes the contiguous slice r (as the
    // sampler) padded to its own longest row (as the loader).
    std::vector<Batch> global;
    std::vector<std::vector<Batch>> local;  // this rank's micro-batches of each step (one)
    int64_t padded_positions = 0, real_tokens = 0;
    for (int64_t b = 0; b < o->batches; ++b) {
      const auto indices = sampler.global_batch(b);
      std::vector<std::string> texts;
      std::vector<int32_t> labels;
      for (const int64_t index : indices) {
        const auto& row = rows[static_cast<size_t>(index)];
        texts.push_back(augment ? augment(row.text, static_cast<uint64_t>(index), 0) : row.text);
        labels.push_back(row.label);
      }
      global.push_back(make_batch(*tokenizer, texts, labels, o->max_length));
      const auto from = texts.begin() + rank * per_rank;
      std::vector<std::string> mine(from, from + per_rank);
      std::vector<int32_t> my_labels(labels.begin() + rank * per_rank, labels.begin() + (rank + 1) * per_rank);
      Batch batch = make_batch(*tokenizer, mine, my_labels, o->max_length);
      batch.example_ids.assign(indices.begin() + rank * per_rank, indices.begin() + (rank + 1) * per_rank);
      if (view) {
        std::vector<std::string> views;
        for (int64_t i = 0; i < per_rank; ++i) views.push_back(view(mine[i], batch.example_ids[i], 0));
        batch.perturbed = std::make_shared<Batch>(make_batch(*tokenizer, views, my_labels, o->max_length));
        batch.perturbed->example_ids = batch.example_ids;
      }
      batch.step = b;
      padded_positions += batch.ids.numel();
      real_tokens += batch.tokens;
      local.push_back({std::move(batch)});
    }

    torch::manual_seed(1);
    Transformer model(c.model);
    // Initialised on the CPU (the same weights on any device), then moved, as the trainer does,
    // before the parameters, gradient buckets and optimizer state are made.
    model->to(device);
    for (auto& step_batches : local) {
      for (auto& batch : step_batches) batch = to_device(std::move(batch), device);
    }
    auto params = named_parameters(*model);
    std::vector<torch::Tensor> tensors;
    std::vector<std::string> names;
    for (const auto& p : params) {
      tensors.push_back(p.tensor);
      names.push_back(p.name);
    }
    dist::GradSyncOptions sync_options;
    sync_options.backend = o->backend;
    dist::GradSync sync(ctx, tensors, sync_options, names);
    sync.broadcast_parameters();
    AdamW optimizer(params, c.optim);
    auto objective = robust::make_objective(c);
    Stepper stepper(model, *objective, params, optimizer, &sync);  // the trainer's step

    double initial_loss = 0;  // mean CE of global batch 0, eval mode: the same number PyTorch prints
    if (ctx.is_root()) {
      torch::NoGradGuard no_grad;
      model->eval();
      const Batch first = to_device(global[0], device);
      initial_loss = robust::cross_entropy_sum(model->forward(first.ids, first.mask), first.labels)
                         .item<double>() / static_cast<double>(o->global_batch);
      if (!o->dump.empty()) {
        c10::Dict<std::string, torch::Tensor> dump;
        for (const auto& p : params) dump.insert("param." + p.name, p.tensor.detach().to(torch::kCPU).clone());
        for (int64_t b = 0; b < o->batches; ++b) {
          const auto key = fmt::format("batch.{}.", b);
          dump.insert(key + "ids", global[b].ids);
          dump.insert(key + "mask", global[b].mask);
          dump.insert(key + "labels", global[b].labels);
        }
        auto integer = [&](const std::string& k, int64_t v) { dump.insert("cfg." + k, torch::scalar_tensor(v, torch::kLong)); };
        auto real = [&](const std::string& k, double v) { dump.insert("cfg." + k, torch::scalar_tensor(v, torch::kDouble)); };
        integer("vocab_size", c.model.vocab_size);
        integer("num_classes", c.model.num_classes);
        integer("dim", c.model.dim);
        integer("layers", c.model.layers);
        integer("heads", c.model.heads);
        integer("kv_heads", c.model.kv_heads);
        integer("ffn", c.model.ffn);
        integer("max_seq_len", c.model.max_seq_len);
        integer("global_batch", o->global_batch);
        integer("batches", o->batches);
        integer("steps", c.objective.steps);
        real("dropout", c.model.dropout);
        real("rope_theta", c.model.rope_theta);
        real("norm_eps", c.model.norm_eps);
        real("step_size", c.objective.step_size);
        real("epsilon", c.objective.epsilon);
        real("init", c.objective.init);
        const auto bytes = torch::pickle_save(c10::IValue(dump));
        std::ofstream out(o->dump, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        if (!out) throw RuntimeError(fmt::format("{}: cannot write the dump", o->dump));
      }
      model->train();
    }
    model->train();

    using Clock = std::chrono::steady_clock;
    const double scale = 1.0 / static_cast<double>(o->global_batch);
    std::vector<std::vector<double>> seconds(static_cast<size_t>(o->batches)), cpu(seconds.size());
    // CPU seconds per phase (all steps): objective (forward + backward), gradient sync, clip, AdamW.
    double phase[4] = {0, 0, 0, 0};
    const int64_t total = o->warmup + o->steps;
    int64_t first_rss_kb = 0;
    std::unique_ptr<torch::autograd::profiler::RecordProfile> profile;
    for (int64_t it = 0; it < total; ++it) {
      const size_t i = static_cast<size_t>(it % o->batches);
      if (it == o->warmup && ctx.is_root() && !o->trace.empty()) {
        profile = std::make_unique<torch::autograd::profiler::RecordProfile>(o->trace);
      }
      dist::synchronize(device);  // a CUDA step's clock starts with nothing queued ...
      const auto t0 = Clock::now();
      const double c0 = process_cpu_seconds();
      stepper.backward(local[i], scale);
      const double c1 = process_cpu_seconds();
      stepper.allreduce();
      const double c2 = process_cpu_seconds();
      stepper.clip(1.0);
      const double c3 = process_cpu_seconds();
      stepper.update(o->lr, it + 1);
      dist::synchronize(device);  // ... and stops when its kernels have finished
      const double c4 = process_cpu_seconds();
      if (it >= o->warmup) {
        seconds[i].push_back(std::chrono::duration<double>(Clock::now() - t0).count());
        cpu[i].push_back(ctx.sum(c4 - c0));  // summed over ranks
        phase[0] += c1 - c0;
        phase[1] += c2 - c1;
        phase[2] += c3 - c2;
        phase[3] += c4 - c3;
      }
      if (o->rss_every > 0 && (it + 1) % o->rss_every == 0) {
        const auto rss = static_cast<int64_t>(ctx.max(static_cast<double>(proc_status_kb("VmRSS"))));
        if (first_rss_kb == 0) first_rss_kb = rss;
        if (ctx.is_root()) {
          std::printf("# rss step %lld: %.1f MB (largest over ranks), %+.1f MB since step %lld\n",
                      static_cast<long long>(it + 1), rss / 1024.0, (rss - first_rss_kb) / 1024.0,
                      static_cast<long long>(o->rss_every));
          std::fflush(stdout);
        }
      }
    }
    profile.reset();  // writes the trace
    const double hwm_mb = ctx.max(static_cast<double>(proc_status_kb("VmHWM"))) / 1024.0;
    const double rss_mb = ctx.max(static_cast<double>(proc_status_kb("VmRSS"))) / 1024.0;
    const double padded = ctx.sum(static_cast<double>(padded_positions));
    const double real_sum = ctx.sum(static_cast<double>(real_tokens));
    if (ctx.is_root()) {
      // Per batch the median over its repetitions; tokens/s over one pass of the batches.
      double sum_s = 0, sum_cpu = 0;
      int64_t sum_tokens = 0;
      for (size_t i = 0; i < seconds.size(); ++i) {
        if (seconds[i].empty()) continue;
        sum_s += median_of(seconds[i]);
        sum_cpu += median_of(cpu[i]);
        sum_tokens += global[i].tokens;
      }
      const double phase_total = phase[0] + phase[1] + phase[2] + phase[3];
      int64_t measured = 0;
      for (const auto& s : seconds) measured += s.empty() ? 0 : 1;
      const std::string core = blas_core_name();
      nlohmann::json j = {{"impl", "sturdy"}, {"objective", choice_name(o->objective)}, {"ranks", world},
                          {"threads_per_rank", torch::get_num_threads()}, {"blas_core", core.empty() ? "n/a" : core},
                          {"loadavg", load_average()}, {"global_batch", o->global_batch}, {"batches", o->batches},
                          {"steps", o->steps}, {"ms_per_step", 1e3 * sum_s / static_cast<double>(measured)},
                          {"tokens_per_second", static_cast<double>(sum_tokens) / sum_s},
                          {"tokens_per_cpu_second", static_cast<double>(sum_tokens) / sum_cpu},
                          {"cpu_share", {{"objective", phase[0] / phase_total}, {"grad_sync", phase[1] / phase_total},
                                         {"clip", phase[2] / phase_total}, {"adamw", phase[3] / phase_total}}},
                          {"initial_loss", initial_loss}, {"padding_share", 1.0 - real_sum / padded}, {"bucket_window", o->bucket_window},
                          {"max_rss_mb", hwm_mb}, {"final_rss_mb", rss_mb},
                          {"device", dist::describe_device(device)}, {"precision", o->bf16 ? "bf16" : "fp32"},
                          {"backend", dist::backend_name(sync.backend())},
                          {"params", model->num_parameters()},
                          {"dim", o->dim}, {"layers", o->layers}, {"heads", o->heads}, {"kv_heads", o->kv_heads},
                          {"ffn", o->ffn}, {"max_length", o->max_length}, {"vocab", c.model.vocab_size}};
      std::printf("%s\n", j.dump().c_str());
      std::fflush(stdout);
    }
    *exit_code = 0;
  });
}

}  // namespace

void add_benchmarks(CLI::App& bench, int* exit_code) {
  add_comm_bench(bench, exit_code);
  add_train_bench(bench, exit_code);
  add_local_benches(bench, exit_code);
}

}  // namespace sturdy::bench
