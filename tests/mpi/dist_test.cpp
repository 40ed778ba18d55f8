// Data-parallel engine under mpirun (2 and 3 ranks): all-reduce correctness over sizes
// and dtypes, bucket assignment, overlapped vs flat gradient sync (bitwise), no-sync
// accumulation, the parameter-agreement check and the watchdog's sequence numbers.
// Every rank runs every test; tests never skip a collective on one rank only.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "sturdy/distributed/communicator.h"
#include "sturdy/distributed/device.h"
#include "sturdy/distributed/grad_sync.h"
#include "sturdy/distributed/watchdog.h"

namespace sturdy::dist {
namespace {

const Context& ctx() { return Context::get(); }

// Rank r holds (r + 1) * (i % 13 + 1): sums are exact in float32 and float64.
torch::Tensor pattern(int64_t n, torch::ScalarType t) {
  return torch::arange(n, torch::kInt64).remainder(13).add(1).mul(ctx().rank() + 1).to(t);
}
torch::Tensor expected(int64_t n, torch::ScalarType t) {
  const int w = ctx().world_size();
  return torch::arange(n, torch::kInt64).remainder(13).add(1).mul(w * (w + 1) / 2).to(t);
}

TEST(Communicator, AllreduceSizesAndDtypes) {
  auto comm = make_communicator(ctx(), Backend::kMpi);
  for (auto [t, dt] : {std::pair{torch::kFloat32, DType::kFloat32}, std::pair{torch::kFloat64, DType::kFloat64}}) {
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{1023}, int64_t{(1 << 20) + 3}}) {
      auto x = pattern(n, t);
      comm->allreduce(x.data_ptr(), n, dt);
      EXPECT_TRUE(torch::equal(x, expected(n, t))) << dtype_name(dt) << " n=" << n;
    }
  }
}

TEST(Communicator, SeveralInFlightCompleteInOrder) {
  auto comm = make_communicator(ctx(), Backend::kMpi);
  std::vector<torch::Tensor> xs;
  std::vector<std::shared_ptr<Work>> works;
  for (int64_t n : {5, 100000, 33}) {
    xs.push_back(pattern(n, torch::kFloat32));
    works.push_back(comm->allreduce_async(xs.back().data_ptr(), n, DType::kFloat32));
  }
  for (int i = 2; i >= 0; --i) works[i]->wait();
  for (auto& x : xs) EXPECT_TRUE(torch::equal(x, expected(x.numel(), torch::kFloat32)));
}

TEST(Communicator, BroadcastFromRoot) {
  auto comm = make_communicator(ctx(), Backend::kMpi);
  auto x = torch::full({1001}, static_cast<double>(ctx().rank() + 5), torch::kFloat64);
  comm->broadcast(x.data_ptr(), x.numel(), DType::kFloat64, 0);
  EXPECT_TRUE(torch::equal(x, torch::full({1001}, 5.0, torch::kFloat64)));
}

TEST(Communicator, BackendChoiceAndGpuCheck) {
  EXPECT_EQ(resolve_backend("auto", false), Backend::kMpi);
  EXPECT_EQ(resolve_backend("auto", true), nccl_available() ? Backend::kNccl : Backend::kMpi);
  EXPECT_EQ(resolve_backend("mpi", true), Backend::kMpi);  // staged through host memory
  EXPECT_THROW(resolve_backend("nccl", false), UsageError);
  if (!nccl_available()) EXPECT_THROW(resolve_backend("nccl", true), UsageError);
  EXPECT_THROW(resolve_backend("gloo", false), UsageError);
  EXPECT_EQ(cuda_index_for_rank(3, 4, 8, false), 3);
  EXPECT_EQ(cuda_index_for_rank(3, 4, 2, true), 1);  // sharing: round-robin
  EXPECT_EQ(cuda_index_for_rank(0, 2, 1, true), 0);
  EXPECT_THROW(cuda_index_for_rank(0, 1, 0, true), UsageError);  // no GPU visible
  EXPECT_THROW(cuda_index_for_rank(4, 4, 8, false), UsageError);  // local rank out of range
  try {
    cuda_index_for_rank(0, 8, 4, false);
    ADD_FAILURE() << "8 ranks on 4 GPUs accepted";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("8 ranks run on this node but only 4 GPU(s)"), std::string::npos) << e.what();
  }
}

TEST(Device, SelectDevice) {
  EXPECT_TRUE(select_device("cpu", "auto", 0, 1).is_cpu());
  EXPECT_EQ(select_device("auto", "auto", 0, 1).is_cuda(), cuda_usable());
  EXPECT_THROW(select_device("tpu", "auto", 0, 1), UsageError);
  EXPECT_EQ(describe_device(torch::Device(torch::kCPU)), "cpu");
  if (!at::hasCUDA()) {
    try {
      select_device("cuda", "auto", 0, 1);
      ADD_FAILURE() << "run.device: cuda accepted by a CPU-only LibTorch";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("built without CUDA"), std::string::npos) << e.what();
    }
  }
}

TEST(Buckets, ReverseOrderSmallFirstBucketOwnBucketForBigAndDtypeSplit) {
  const int64_t kMb = 1 << 20;
  std::vector<torch::Tensor> ps = {
      torch::zeros({kMb / 4}).requires_grad_(),      // 0: 1 MB
      torch::zeros({3 * kMb / 4}).requires_grad_(),  // 1: 3 MB > bucket of 2 MB: its own bucket
      torch::zeros({10}, torch::kFloat64).requires_grad_(),  // 2: other dtype
      torch::zeros({kMb / 8}).requires_grad_(),      // 3: 0.5 MB
      torch::zeros({kMb / 8}).requires_grad_(),      // 4: 0.5 MB
      torch::zeros({kMb / 8}).requires_grad_(),      // 5: 0.5 MB
      torch::zeros({5}),                             // 6: frozen: not synced
  };
  const auto b = assign_buckets(ps, 1.0, 2.0);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b[0].params, (std::vector<int64_t>{5, 4}));  // first bucket: 1 MB
  EXPECT_EQ(b[1].params, (std::vector<int64_t>{3}));     // then float64 breaks the bucket
  EXPECT_EQ(b[2].params, (std::vector<int64_t>{2}));
  EXPECT_EQ(b[2].dtype, torch::kFloat64);
  EXPECT_EQ(b[3].params, (std::vector<int64_t>{1}));
  EXPECT_EQ(b[4].params, (std::vector<int64_t>{0}));
}

// A small MLP whose input depends on the rank, so gradients differ across ranks.
struct Net {
  torch::nn::Sequential seq;
  Net() {
    torch::manual_seed(7);
    seq = torch::nn::Sequential(torch::nn::Linear(33, 64), torch::nn::Tanh(), torch::nn::Linear(64, 64),
                                torch::nn::Tanh(), torch::nn::Linear(64, 5));
  }
  void backward(int micro) {
    torch::manual_seed(100 + 10 * ctx().rank() + micro);
    auto x = torch::randn({9, 33});
    seq->forward(x).pow(2).sum().backward();
  }
  // in_place: what the optimizer does (keeps .grad, the bucket view); otherwise set to None.
  void zero(bool in_place) {
    for (auto& p : seq->parameters()) {
      if (in_place && p.grad().defined()) {
        p.mutable_grad().zero_();
      } else {
        p.mutable_grad() = torch::Tensor();
      }
    }
  }
  std::vector<torch::Tensor> grads() {
    std::vector<torch::Tensor> g;
    for (auto& p : seq->parameters()) g.push_back(p.grad().clone());
    return g;
  }
};

std::vector<torch::Tensor> synced_grads(bool overlap, int micro_steps, int64_t* launched = nullptr,
                                        bool zero_in_place = false, int64_t* copied_in = nullptr,
                                        bool staged = false) {
  Net net;
  GradSyncOptions o;
  o.stage_through_host = staged;
  o.bucket_mb = 0.004;  // four buckets
  o.first_bucket_mb = 0.002;
  o.overlap = overlap;
  GradSync sync(ctx(), net.seq->parameters(), o);
  EXPECT_EQ(sync.buckets().size(), 4u);
  std::vector<torch::Tensor> out;
  for (int step = 0; step < 2; ++step) {  // twice: the per-step state must reset
    net.zero(zero_in_place);
    for (int m = 0; m < micro_steps; ++m) {
      sync.set_sync(m + 1 == micro_steps);
      net.backward(m);
    }
    sync.allreduce_gradients();
    out = net.grads();
  }
  if (launched) *launched = sync.launched_in_backward();
  if (copied_in) *copied_in = sync.copied_in();
  return out;
}

TEST(GradSync, OverlapGivesBitwiseTheFlatGradients) {
  int64_t launched = 0;
  const auto flat = synced_grads(false, 1);
  const auto over = synced_grads(true, 1, &launched);
  EXPECT_GT(launched, 0) << "no bucket started during backward";
  ASSERT_EQ(flat.size(), over.size());
  for (size_t i = 0; i < flat.size(); ++i) EXPECT_TRUE(torch::equal(flat[i], over[i])) << "parameter " << i;

  // Against one plain all-reduce of the local gradients.
  Net net;
  net.backward(0);
  for (size_t i = 0; i < flat.size(); ++i) {
    auto g = net.grads()[i].contiguous();
    STURDY_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, g.data_ptr(), static_cast<int>(g.numel()), MPI_FLOAT, MPI_SUM,
                                   ctx().world()));
    EXPECT_TRUE(torch::allclose(flat[i], g, 1e-6, 1e-7)) << "parameter " << i;
  }
}

// The path of CUDA gradients on the MPI backend (copy to host buffers, reduce, copy back),
// exercised on CPU tensors: bitwise the gradients of the in-place reduction, with and
// without overlap and accumulation.
TEST(GradSync, StagedThroughHostGivesBitwiseTheSameGradients) {
  for (bool overlap : {false, true}) {
    for (int micro : {1, 2}) {
      const auto direct = synced_grads(overlap, micro);
      const auto staged = synced_grads(overlap, micro, nullptr, /*zero_in_place=*/true, nullptr, /*staged=*/true);
      ASSERT_EQ(direct.size(), staged.size());
      for (size_t i = 0; i < direct.size(); ++i) {
        EXPECT_TRUE(torch::equal(direct[i], staged[i])) << "overlap " << overlap << " micro " << micro
                                                         << " parameter " << i;
      }
    }
  }
}

TEST(GradSync, NoSyncAccumulationMatchesFlat) {
  const auto flat = synced_grads(false, 3);
  const auto over = synced_grads(true, 3);
  for (size_t i = 0; i < flat.size(); ++i) EXPECT_TRUE(torch::equal(flat[i], over[i])) << "parameter " << i;
}

// Zeroed in place (as the optimizer does), .grad stays the bucket view: backward accumulates
// into the bucket buffers and nothing is copied; the result is the same as the copying path.
TEST(GradSync, GradientsAsBucketViewsNeedNoCopies) {
  const auto copying = synced_grads(true, 2);
  int64_t copied = -1;
  const auto viewed = synced_grads(true, 2, nullptr, /*zero_in_place=*/true, &copied);
  EXPECT_EQ(copied, 0) << "gradients were copied into the buckets although .grad was the bucket view";
  for (size_t i = 0; i < copying.size(); ++i) EXPECT_TRUE(torch::equal(copying[i], viewed[i])) << "parameter " << i;

  Net net;
  GradSync sync(ctx(), net.seq->parameters(), {});
  const auto params = net.seq->parameters();
  ASSERT_EQ(sync.buckets().size(), 1u);
  // Every .grad lies inside the one bucket buffer, contiguous and in bucket order.
  const auto* base = static_cast<const char*>(params.back().grad().data_ptr());
  int64_t offset = 0;
  for (int64_t i : sync.buckets()[0].params) {
    EXPECT_EQ(static_cast<const char*>(params[i].grad().data_ptr()), base + offset * 4) << "parameter " << i;
    offset += params[i].numel();
  }
}

TEST(GradSync, SecondGradientAfterLaunchFailsLoudly) {
  auto w = torch::ones({4}).requires_grad_();
  GradSyncOptions o;
  o.overlap = true;
  GradSync sync(ctx(), {w}, o, {"w"});
  (w * 2).sum().backward();  // the only bucket leaves here
  try {
    (w * 3).sum().backward();
    ADD_FAILURE() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("'w' got another gradient"), std::string::npos) << e.what();
  }
  // The late gradient was accumulated into the bucket in flight, so its value is undefined:
  // the error ends training. Drain the collective before the buffers go.
  sync.allreduce_gradients();
}

TEST(GradSync, ParameterAgreementCheckNamesTheParameter) {
  auto a = torch::ones({3}).requires_grad_(), b = torch::ones({1000}).requires_grad_();
  GradSync sync(ctx(), {a, b}, {}, {"layer.a", "layer.b"});
  EXPECT_NO_THROW(sync.check_parameters_agree(5));
  if (ctx().rank() == ctx().world_size() - 1) {
    torch::NoGradGuard ng;
    b[999].add_(1e-6);
  }
  try {
    sync.check_parameters_agree(7);
    ADD_FAILURE() << "no error";
  } catch (const RuntimeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("step 7"), std::string::npos) << m;
    EXPECT_NE(m.find("'layer.b'"), std::string::npos) << m;
  }
  sync.broadcast_parameters();
  EXPECT_NO_THROW(sync.check_parameters_agree(8));
}

TEST(Watchdog, SequenceNumbersLineUpAcrossRanks) {
  Watchdog* w = ctx().watchdog();
  ASSERT_NE(w, nullptr);
  ctx().barrier();
  const double mine = static_cast<double>(w->started());
  EXPECT_EQ(ctx().max(mine), mine);  // every rank ran the same collectives so far
  EXPECT_EQ(w->finished(), w->started());  // and none is left open
}

}  // namespace
}  // namespace sturdy::dist

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto& ctx = sturdy::dist::Context::init(&argc, &argv);
  if (ctx.watchdog()) ctx.watchdog()->set_timeout(60);
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  failed = ctx.any(failed != 0) ? 1 : 0;
  sturdy::dist::Context::finalize();
  return failed;
}
