// Checkpoints in the DESIGN.md layout.
//
//   RUN/checkpoints/step_00001200/   written as step_00001200.tmp/, fsynced, renamed
//       model.h5       one float32 dataset per parameter, named by module path, Fletcher32
//       optimizer.h5   AdamW moments per parameter ("<name>.exp_avg", "<name>.exp_avg_sq")
//       state.json     step, epoch, consumed_samples, seed, world size, resolved config,
//                      label names, sturdy version, sha256 of model.h5 and optimizer.h5
//   RUN/checkpoints/latest           the newest complete checkpoint's folder name
//
// Only rank 0 writes; every rank reads. Loading checks names, shapes and checksums.
// The rename of step_N.tmp/ to step_N/ followed by the replacement of `latest` is the commit
// point: a crash at any moment leaves either the old or the new checkpoint complete. Older
// checkpoints are pruned (keep the last K) only after the new one is committed.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "sturdy/train/optimizer.h"

namespace sturdy::ckpt {

struct TrainState {
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t consumed_samples = 0;
  int64_t optimizer_step = 0;
  uint64_t seed = 0;
  int world_size = 1;
  std::string config_yaml;               // resolved configuration
  std::vector<std::string> label_names;  // of the training corpus
  nlohmann::json extra = nlohmann::json::object();  // RNG states, metrics, ...
};

// Writes a checkpoint for `state.step` under run_dir/checkpoints and points `latest` at it.
// Returns the checkpoint folder. Throws RuntimeError naming the path on I/O failure;
// earlier checkpoints are never touched before the new one is complete.
std::string save(const std::string& run_dir, const std::vector<NamedParameter>& model,
                 const std::vector<NamedParameter>& optimizer, const TrainState& state);

// Complete checkpoint folders (step_N with a state.json, no .tmp) under run_dir/checkpoints,
// oldest first. Missing folder -> empty.
std::vector<std::string> list_complete(const std::string& run_dir);

// Deletes all but the newest `keep` complete checkpoints and leftover *.tmp folders of
// interrupted saves. Never deletes the one `latest` names. Returns the deleted folders.
std::vector<std::string> prune(const std::string& run_dir, int64_t keep);

// Checks that a checkpoint can be loaded: state.json parses, model.h5 / optimizer.h5 match
// their sha256 (catches truncation and flipped bits). Throws RuntimeError naming the file.
void verify(const std::string& checkpoint_dir);

// The newest checkpoint of a run that verifies, walking back from the one `latest` names
// (or from the newest folder when `latest` is missing). Each damaged checkpoint skipped is
// appended to `skipped` with the reason. "" when the run has no checkpoint at all; throws
// RuntimeError when every one is damaged.
std::string find_resumable(const std::string& run_dir, std::vector<std::string>* skipped = nullptr);

// A checkpoint folder from a folder path: a checkpoint itself, a run folder or its
// checkpoints/ folder (then `latest` is followed). Throws UsageError when none is found.
std::string resolve(const std::string& path);

TrainState read_state(const std::string& checkpoint_dir);
// Fills `into` (names and shapes must match the file) from model.h5 / optimizer.h5;
// verifies the sha256 recorded in state.json first.
void load_model(const std::string& checkpoint_dir, const std::vector<NamedParameter>& into);
void load_optimizer(const std::string& checkpoint_dir, const std::vector<NamedParameter>& into);

// Writes named float32 tensors to an HDF5 file (one dataset each, Fletcher32) / reads them back.
void write_tensors(const std::string& path, const std::vector<NamedParameter>& tensors);
void read_tensors(const std::string& path, const std::vector<NamedParameter>& into);

}  // namespace sturdy::ckpt
