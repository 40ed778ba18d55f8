// Gradient synchronisation across data-parallel ranks, like PyTorch DDP and Horovod.
//
// Parameters are packed into buckets in reverse registration order (the order backward
// produces their gradients): a small first bucket (1 MB, so communication starts early)
// and then buckets of `bucket_mb`; a parameter larger than a bucket gets one of its own,
// and a bucket holds one dtype. Every rank builds the same buckets (checked at
// construction) and launches them in the same order.
//
// With `overlap`, a post-hook on each parameter's gradient accumulator (it fires after
// .grad holds the fully accumulated value of this backward) marks the parameter ready;
// when a bucket and all buckets before it are ready, its all-reduce starts on the
// communicator's thread/stream while backward continues. Each .grad is a view into its
// bucket's buffer (DDP's gradient_as_bucket_view), so backward accumulates straight into
// the buffer and the reduction runs in place with no copy in or out; a .grad replaced
// from outside is copied in and the view restored. allreduce_gradients() launches
// whatever is left (parameters that got no gradient count as zeros) and waits. Without
// `overlap` the same buckets are reduced after backward, so both paths give bitwise the
// same gradients.
//
// Semantics: SUM over ranks. The trainer scales the loss by 1/global_batch, so the sum is
// the gradient of the mean loss over the global batch (what DDP's division by world size
// gives when every rank has the same batch) - and it stays right for any split of the
// global batch over ranks and accumulation micro-steps.
//
// CUDA parameters: NCCL reduces the buckets on the GPU (its own stream, ordered with
// events); the MPI backend reduces pinned host copies of them (stage_through_host).
//
// Accumulation: set_sync(false) for the non-final micro-steps (DDP's no_sync), true for
// the last. A second gradient for a parameter whose bucket already left fails loudly.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sturdy/config/config.h"
#include "sturdy/distributed/communicator.h"
#include "sturdy/distributed/context.h"

namespace sturdy::dist {

struct GradSyncOptions {
  Choice<DistBackend> backend = DistBackend::kAuto;
  double bucket_mb = 25.0;        // bucket capacity after the first
  double first_bucket_mb = 1.0;   // the first bucket (the last layers' gradients)
  bool overlap = true;            // start buckets during backward
  int64_t check_every = 100;      // parameter-agreement check period in steps (0: never)
  double timeout_s = 300.0;       // watchdog timeout for every collective
  // Reduce copies of the buckets in host memory (always so for CUDA parameters on the MPI
  // backend; settable here so that the CPU tests cover that path).
  bool stage_through_host = false;

  static GradSyncOptions from(const DistConfig& c);
};

// One bucket: parameters (indices into the registration order) reduced together.
struct Bucket {
  std::vector<int64_t> params;
  torch::ScalarType dtype = torch::kFloat32;
  int64_t numel = 0;
  int64_t bytes() const;
};

// The buckets for parameters of these sizes/dtypes, in launch order (pure; tested).
std::vector<Bucket> assign_buckets(const std::vector<torch::Tensor>& parameters, double first_bucket_mb,
                                   double bucket_mb);

class GradSync {
 public:
  // `names` (same order as `parameters`) make error messages name the parameter.
  GradSync(const Context& ctx, std::vector<torch::Tensor> parameters, GradSyncOptions options = {},
           std::vector<std::string> names = {});
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  // Copies rank 0's parameter values to every rank.
  void broadcast_parameters();
  // Whether the next backward passes sync their gradients (false on non-final
  // accumulation micro-steps). Default true.
  void set_sync(bool enabled);
  bool sync_enabled() const { return sync_enabled_; }
  // Finishes the sum over ranks of every gradient, in place (missing gradients count as
  // zeros): launches the buckets backward did not start, waits for all, writes .grad.
  void allreduce_gradients();

  // A hash of all parameter bytes, the same on every rank when they agree.
  uint64_t parameter_hash() const;
  // Collective: compares per-parameter hashes across ranks (one all-reduce of min/max);
  // throws RuntimeError naming `step` and the first differing parameter.
  void check_parameters_agree(int64_t step);
  // check_parameters_agree(step) every options.check_every steps.
  void maybe_check_parameters(int64_t step);

  const std::vector<Bucket>& buckets() const { return buckets_; }
  const GradSyncOptions& options() const { return options_; }
  Backend backend() const { return backend_; }
  // Buckets launched from backward hooks (not by allreduce_gradients) in the last step.
  int64_t launched_in_backward() const { return launched_in_backward_; }
  // Gradients that had to be copied into a bucket because .grad was no longer the
  // bucket view (0 in normal training: backward accumulates into the views in place).
  int64_t copied_in() const { return copied_in_; }

 private:
  void on_gradient_ready(int64_t param);
  void launch_ready_buckets();
  void launch(int64_t bucket);
  std::string name_of(int64_t param) const;
  torch::Tensor slot_of(int64_t param) const;  // the parameter's view into its bucket

  const Context& ctx_;
  std::vector<torch::Tensor> parameters_;
  std::vector<std::string> names_;
  GradSyncOptions options_;
  Backend backend_ = Backend::kMpi;
  std::unique_ptr<Communicator> comm_;
  std::vector<Bucket> buckets_;
  std::vector<torch::Tensor> flat_;       // one buffer per bucket (the gradients are views into it)
  bool staged_ = false;                   // the collectives run on host_ (see stage_through_host)
  std::vector<torch::Tensor> host_;       // host copies of flat_ (pinned for CUDA buckets)
  std::vector<int64_t> bucket_of_;        // parameter -> bucket (-1: not synced)
  std::vector<int64_t> offset_in_bucket_; // parameter -> element offset in its bucket
  // Per step: which parameters' gradients are final, buckets' missing counts, launches.
  std::vector<char> ready_;
  std::vector<int64_t> pending_;
  std::vector<std::shared_ptr<Work>> work_;
  int64_t next_launch_ = 0;
  int64_t launched_in_backward_ = 0, round_launched_in_backward_ = 0;
  bool sync_enabled_ = true;
  int64_t finish_calls_ = 0;
  int64_t copied_in_ = 0;
  // Gradient-accumulator post-hooks (kept alive: the accumulator is cached weakly).
  struct Hook;
  std::vector<std::unique_ptr<Hook>> hooks_;
};

}  // namespace sturdy::dist
