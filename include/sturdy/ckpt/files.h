// The checkpoint files without LibTorch: state.json, `latest`, folder discovery and
// validation, and reading float32 HDF5 tensor files into caller buffers.
//
// Everything here treats the files as untrusted input: sizes are checked before anything is
// allocated, `latest` may only name a step_NNNNNNNN folder directly inside checkpoints/
// (no path separators, no "..", no symbolic link leading elsewhere), and every problem is a
// sturdy::Error naming the file. checkpoint.h adds the LibTorch side (save, load into
// parameters); the fuzz target tests/fuzz/ckpt_fuzz.cpp links this part alone.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

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

// Complete checkpoint folders (step_N with a state.json, no .tmp) under run_dir/checkpoints,
// oldest first. Symbolic links are ignored. Missing folder -> empty.
std::vector<std::string> list_complete(const std::string& run_dir);

// Deletes all but the newest `keep` complete checkpoints and leftover *.tmp folders of
// interrupted saves. Never deletes the one `latest` names. Returns the deleted folders.
std::vector<std::string> prune(const std::string& run_dir, int64_t keep);

// Checks that a checkpoint can be loaded: state.json parses, model.h5 / optimizer.h5 (and
// objective.h5 when state.json lists it) match their sha256 (catches truncation and flipped
// bits). Throws RuntimeError naming the file.
void verify(const std::string& checkpoint_dir);
// Throws RuntimeError when `file` (model.h5, optimizer.h5, objective.h5) does not match
// state.json's sha256.
void verify_sha(const std::string& checkpoint_dir, const std::string& file);
// Whether state.json records a sha256 for `file` (objective.h5 exists only in checkpoints of
// objectives that keep state, written since it was introduced). RuntimeError when state.json
// cannot be read.
bool lists_file(const std::string& checkpoint_dir, const std::string& file);

// The newest checkpoint of a run that verifies, walking back from the one `latest` names
// (or from the newest folder when `latest` is missing). Each damaged checkpoint skipped is
// appended to `skipped` with the reason. "" when the run has no checkpoint at all; throws
// RuntimeError when every one is damaged.
std::string find_resumable(const std::string& run_dir, std::vector<std::string>* skipped = nullptr);

// A checkpoint folder from a folder path: a checkpoint itself, a run folder or its
// checkpoints/ folder (then `latest` is followed, and must name a step folder inside it).
// Throws UsageError when none is found.
std::string resolve(const std::string& path);

// Reads and validates state.json (UsageError naming the file and field).
TrainState read_state(const std::string& checkpoint_dir);
// Same from the text of a state.json (`path` names it in messages).
TrainState parse_state(const std::string& text, const std::string& path);

// One expected float32 dataset of a tensor file.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;  // [] is stored as [1]
};
// Reads every dataset of `specs` from the HDF5 file `path` into dest(i) (a buffer of
// prod(shape) floats). Checks first that each exists, is a floating-point dataset and has
// exactly the expected shape: UsageError naming the file and dataset otherwise; a read
// failure (Fletcher32 mismatch) is a RuntimeError.
void read_float_tensors(const std::string& path, const std::vector<TensorSpec>& specs,
                        const std::function<float*(size_t)>& dest);
// The shape the floating-point dataset `name` of `path` is stored with, for tensors whose
// shape is not known in advance (objective state: FreeAT's δ has the last batch's shape).
// UsageError naming the file and dataset when it is missing, not floating point, of rank
// 0 or above 8, or claims more numbers than the file has bytes (nothing is allocated from
// a damaged header). Read it then with read_float_tensors.
std::vector<int64_t> stored_float_shape(const std::string& path, const std::string& name);

namespace detail {
// step_00001200 <-> 1200 (-1 for any other name).
std::string step_name(int64_t step);
int64_t step_of(const std::string& name);
// The folder name `latest` in `checkpoints_dir` holds ("" when there is no `latest`).
std::string read_latest(const std::string& checkpoints_dir);
// Whole file as text; UsageError when it cannot be read or exceeds `max_bytes`.
std::string read_text_file(const std::string& path, uint64_t max_bytes);
void write_text_file(const std::string& path, const std::string& text);
void fsync_path(const std::string& path, bool directory);
}  // namespace detail

}  // namespace sturdy::ckpt
