// Tests for src/ckpt and the preemption flag: round trip, retention (keep the last K, never
// before the new one is committed), damage (flipped bit, truncation, Fletcher32) detected and
// named with a fall back to the previous checkpoint, saves into a full or unwritable folder
// failing clearly with earlier checkpoints intact, RNG state round trip, signal flag.
// Exact resume through the real binary: tests/integration/resume_*.py.
#include <gtest/gtest.h>

#include <sys/mount.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "sturdy/ckpt/checkpoint.h"
#include "sturdy/ckpt/rng_state.h"
#include "sturdy/core/error.h"
#include "sturdy/distributed/context.h"
#include "sturdy/train/signals.h"

namespace fs = std::filesystem;

namespace sturdy::ckpt {
namespace {

class MpiEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { dist::Context::init(nullptr, nullptr); }
  void TearDown() override { dist::Context::finalize(); }
};
[[maybe_unused]] ::testing::Environment* const kMpi = ::testing::AddGlobalTestEnvironment(new MpiEnvironment);

class CkptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("sturdy_ckpt_test_{}_{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    torch::manual_seed(7);
    model_ = {{"embed.weight", torch::randn({16, 8})}, {"head.bias", torch::randn({3})}};
    optim_ = {{"embed.weight.exp_avg", torch::randn({16, 8})}, {"embed.weight.exp_avg_sq", torch::rand({16, 8})}};
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string save_step(int64_t step, const std::string& run) {
    TrainState st;
    st.step = step;
    st.epoch = step / 10;
    st.consumed_samples = step * 16;
    st.optimizer_step = step;
    st.seed = 3;
    st.world_size = 2;
    st.config_yaml = "run: {seed: 3}\n";
    st.label_names = {"a", "b", "c"};
    st.extra["rng_cpu"] = {"cpu:00", "cpu:11"};
    return save(run, model_, optim_, st);
  }
  std::string run() const { return (dir_ / "run").string(); }

  fs::path dir_;
  std::vector<NamedParameter> model_, optim_;
};

std::string latest_of(const std::string& run) {
  std::ifstream in(fs::path(run) / "checkpoints" / "latest");
  std::string name;
  in >> name;
  return name;
}

TEST_F(CkptTest, RoundTripRestoresTensorsAndState) {
  const auto dir = save_step(12, run());
  EXPECT_EQ(fs::path(dir).filename(), "step_00000012");
  EXPECT_EQ(latest_of(run()), "step_00000012");
  EXPECT_EQ(resolve(run()), dir);
  std::vector<NamedParameter> m = {{"embed.weight", torch::zeros({16, 8})}, {"head.bias", torch::zeros({3})}};
  load_model(dir, m);
  EXPECT_TRUE(torch::equal(m[0].tensor, model_[0].tensor));
  EXPECT_TRUE(torch::equal(m[1].tensor, model_[1].tensor));
  const auto st = read_state(dir);
  EXPECT_EQ(st.step, 12);
  EXPECT_EQ(st.consumed_samples, 192);
  EXPECT_EQ(st.world_size, 2);
  EXPECT_EQ(st.extra.at("rng_cpu").at(1).get<std::string>(), "cpu:11");
  EXPECT_NO_THROW(verify(dir));
}

TEST_F(CkptTest, KeepsTheLastKAndRemovesLeftoverTmp) {
  for (int64_t step = 1; step <= 5; ++step) save_step(step, run());
  fs::create_directories(fs::path(run()) / "checkpoints" / "step_00000009.tmp");  // a killed save
  const auto deleted = prune(run(), 2);
  EXPECT_EQ(deleted.size(), 4u);
  const auto left = list_complete(run());
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(fs::path(left[0]).filename(), "step_00000004");
  EXPECT_EQ(fs::path(left[1]).filename(), "step_00000005");
  EXPECT_FALSE(fs::exists(fs::path(run()) / "checkpoints" / "step_00000009.tmp"));
  EXPECT_EQ(latest_of(run()), "step_00000005");
}

void flip_byte(const fs::path& file, std::streamoff at) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(at);
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x10);
  f.seekp(at);
  f.write(&c, 1);
}

TEST_F(CkptTest, FlippedBitIsNamedAndThePreviousCheckpointIsUsed) {
  const auto first = save_step(1, run());
  const auto second = save_step(2, run());
  flip_byte(fs::path(second) / "model.h5", static_cast<std::streamoff>(fs::file_size(fs::path(second) / "model.h5") / 2));
  EXPECT_THROW(verify(second), RuntimeError);
  std::vector<std::string> skipped;
  EXPECT_EQ(find_resumable(run(), &skipped), first);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("step_00000002/model.h5"), std::string::npos) << skipped[0];
  EXPECT_NE(skipped[0].find("sha256"), std::string::npos) << skipped[0];
}

// objective.h5 (FreeAT's δ, one tensor per rank in its own shape): written only when given,
// covered by state.json's sha256 and verify(), read back in its stored shape; asking a
// checkpoint without it is an error naming the file.
TEST_F(CkptTest, ObjectiveStateRoundTripsInItsStoredShape) {
  TrainState st;
  st.step = 3;
  st.world_size = 2;
  st.config_yaml = "run: {seed: 3}\n";
  const auto d0 = torch::randn({4, 7, 8}), d1 = torch::randn({4, 5, 8});
  const auto& ctx = dist::Context::get();
  const auto gathered = gather_rank_tensors(ctx, {{"delta", d0}});
  ASSERT_EQ(gathered.size(), 1u);
  EXPECT_EQ(gathered[0].name, "delta.rank0");
  EXPECT_TRUE(torch::equal(gathered[0].tensor, d0));
  const auto dir = save(run(), model_, optim_, st, {{rank_tensor_name("delta", 0), d0}, {"delta.rank1", d1}});
  EXPECT_TRUE(lists_file(dir, "objective.h5"));
  EXPECT_NO_THROW(verify(dir));
  const auto back = load_objective(dir, {"delta.rank1", "delta.rank0"});
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].name, "delta.rank1");
  EXPECT_TRUE(torch::equal(back[0].tensor, d1));
  EXPECT_TRUE(torch::equal(back[1].tensor, d0));
  try {
    load_objective(dir, {"delta.rank2"});
    FAIL() << "a missing rank's tensor was not reported";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("objective.h5: dataset 'delta.rank2' is missing"), std::string::npos)
        << e.what();
  }
  // Damage in objective.h5 is found by verify(), so a resume falls back past it.
  flip_byte(fs::path(dir) / "objective.h5", static_cast<std::streamoff>(fs::file_size(fs::path(dir) / "objective.h5") / 2));
  try {
    verify(dir);
    FAIL() << "a flipped bit in objective.h5 was not detected";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("step_00000003/objective.h5: sha256 mismatch"), std::string::npos)
        << e.what();
  }
  // Without objective state (every objective but FreeAT; checkpoints of older versions).
  const auto plain = save_step(4, run());
  EXPECT_FALSE(fs::exists(fs::path(plain) / "objective.h5"));
  EXPECT_FALSE(lists_file(plain, "objective.h5"));
  EXPECT_NO_THROW(verify(plain));
  try {
    load_objective(plain, {"delta.rank0"});
    FAIL() << "a checkpoint without objective.h5 gave objective state";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("step_00000004/objective.h5: missing"), std::string::npos) << e.what();
  }
}

TEST_F(CkptTest, TruncatedFileIsNamedAndThePreviousCheckpointIsUsed) {
  const auto first = save_step(1, run());
  const auto second = save_step(2, run());
  fs::resize_file(fs::path(second) / "optimizer.h5", 100);
  std::vector<std::string> skipped;
  EXPECT_EQ(find_resumable(run(), &skipped), first);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_NE(skipped[0].find("step_00000002/optimizer.h5"), std::string::npos) << skipped[0];
}

TEST_F(CkptTest, EveryCheckpointDamagedIsAnErrorAndNoneIsEmpty) {
  EXPECT_EQ(find_resumable(run()), "");
  const auto only = save_step(1, run());
  fs::remove(fs::path(only) / "model.h5");
  EXPECT_THROW(find_resumable(run()), RuntimeError);
}

TEST_F(CkptTest, CheckpointNewerThanLatestIsNotUsed) {
  const auto first = save_step(1, run());
  const auto second = save_step(2, run());
  // As if the process died after the rename but before `latest` was replaced.
  std::ofstream(fs::path(run()) / "checkpoints" / "latest") << "step_00000001\n";
  EXPECT_EQ(find_resumable(run()), first);
  (void)second;
}

TEST_F(CkptTest, Fletcher32CatchesDamageInsideADataset) {
  // A recognisable pattern, so the test can find the dataset's bytes in the file.
  const auto pattern = torch::arange(0, 256, torch::kFloat32).add_(1000.0f);
  const auto path = (dir_ / "t.h5").string();
  write_tensors(path, {{"x", pattern}});
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string needle(reinterpret_cast<const char*>(pattern.data_ptr<float>()) + 400, 16);
  const auto at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  flip_byte(path, static_cast<std::streamoff>(at + 3));
  std::vector<NamedParameter> into = {{"x", torch::zeros({256})}};
  try {
    read_tensors(path, into);
    FAIL() << "a flipped bit inside the dataset was not detected";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("Fletcher32"), std::string::npos) << e.what();
  }
}

TEST_F(CkptTest, UnwritableFolderFailsClearly) {
  std::ofstream(dir_ / "file") << "not a folder";
  try {
    save_step(1, (dir_ / "file").string());
    FAIL() << "saving under a regular file did not fail";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("writable"), std::string::npos) << e.what();
  }
}

TEST_F(CkptTest, FullDiskFailsClearlyAndKeepsEarlierCheckpoints) {
  const fs::path mnt = dir_ / "tiny";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=96k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root); the unwritable-folder case still ran";
  }
  const std::string run_dir = (mnt / "run").string();
  const auto first = save_step(1, run_dir);  // ~ 25 KB
  model_[0].tensor = torch::randn({128, 256});  // 128 KB: does not fit
  bool threw = false;
  try {
    save_step(2, run_dir);
  } catch (const RuntimeError& e) {
    threw = true;
    const std::string what = e.what();
    EXPECT_NE(what.find("disk full"), std::string::npos) << what;
    EXPECT_NE(what.find("step_00000001"), std::string::npos) << what;
  }
  EXPECT_TRUE(threw);
  EXPECT_EQ(latest_of(run_dir), "step_00000001");
  EXPECT_FALSE(fs::exists(fs::path(run_dir) / "checkpoints" / "step_00000002.tmp"));
  EXPECT_EQ(find_resumable(run_dir), first);
  ::umount(mnt.c_str());
}

TEST(RngState, RestoreRepeatsTheSameDraws) {
  torch::manual_seed(11);
  (void)torch::rand({5});
  const auto saved = capture_rng_state();
  const auto a = torch::randint(0, 1 << 30, {64}, torch::kLong);
  restore_rng_state(saved);
  const auto b = torch::randint(0, 1 << 30, {64}, torch::kLong);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_THROW(restore_rng_state("cpu:zz"), UsageError);
  EXPECT_EQ(gather_strings(dist::Context::get(), saved), std::vector<std::string>{saved});
}

// A GPU run's state ("cpu:<hex>;cuda:<hex>") read on the CPU: the CPU part is restored, the
// CUDA part is skipped with a note; malformed parts are refused.
TEST(RngState, CudaPartIsReadAndSkippedOnTheCpu) {
  torch::manual_seed(12);
  const auto saved = capture_rng_state();
  EXPECT_EQ(saved.find(';'), std::string::npos);
  const auto a = torch::rand({16});
  EXPECT_EQ(restore_rng_state(saved), "");
  const std::string note = restore_rng_state(saved + ";cuda:00ff10");
  EXPECT_NE(note.find("written on a GPU"), std::string::npos) << note;
  EXPECT_TRUE(torch::equal(a, torch::rand({16})));
  EXPECT_THROW(restore_rng_state(saved + ";tpu:00"), UsageError);
  EXPECT_THROW(restore_rng_state(saved + ";cuda:0g"), UsageError);
  EXPECT_THROW(restore_rng_state(saved + ";cuda:012"), UsageError);
}

TEST(Preemption, SignalOnlySetsTheFlag) {
  sturdy::install_preemption_handlers();
  sturdy::clear_preemption();
  EXPECT_FALSE(sturdy::preemption_requested());
  std::raise(SIGUSR1);
  EXPECT_TRUE(sturdy::preemption_requested());
  EXPECT_EQ(sturdy::preemption_signal(), SIGUSR1);
  EXPECT_STREQ(sturdy::preemption_signal_name(), "SIGUSR1");
  std::raise(SIGTERM);  // a different signal does not end the process either
  EXPECT_EQ(sturdy::preemption_signal(), SIGUSR1);
  sturdy::clear_preemption();
}

}  // namespace
}  // namespace sturdy::ckpt
