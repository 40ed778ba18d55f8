// Checkpoint files without LibTorch (see files.h): discovery, `latest`, state.json,
// sha256 verification and validated reads of float32 tensor files.
#include "sturdy/ckpt/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sturdy/core/error.h"
#include "sturdy/core/h5.h"
#include "sturdy/core/printable.h"
#include "sturdy/core/sha256.h"

namespace fs = std::filesystem;

namespace sturdy::ckpt {

// Sizes above these are not a Sturdy checkpoint: refuse before reading them into memory.
// state.json holds the resolved config and one RNG state (~10 KB of hex) per rank.
constexpr uint64_t kMaxStateBytes = 256ull << 20;
constexpr uint64_t kMaxLatestBytes = 4096;
constexpr int kMaxTensorRank = 8;

namespace detail {

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) throw RuntimeError(fmt::format("{}: cannot open to fsync", path));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw RuntimeError(fmt::format("{}: fsync failed (disk full?)", path));
}

void write_text_file(const std::string& path, const std::string& text) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw RuntimeError(fmt::format("{}: write failed (disk full or not writable?)", path));
  }
  fsync_path(path, false);
}

std::string read_text_file(const std::string& path, uint64_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw UsageError(fmt::format("{}: cannot open (missing or not a regular file)", path));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    throw UsageError(fmt::format("{}: {} bytes, more than the {} a checkpoint file may have (not a "
                                 "Sturdy checkpoint?)", path, st.st_size, max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError(fmt::format("{}: cannot open", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string step_name(int64_t step) { return fmt::format("step_{:08d}", step); }

// step_00001200 -> 1200; anything else (latest, *.tmp, foreign folders) -> -1.
int64_t step_of(const std::string& name) {
  if (name.size() != 13 || name.rfind("step_", 0) != 0) return -1;
  int64_t step = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}

std::string read_latest(const std::string& checkpoints_dir) {
  const fs::path latest = fs::path(checkpoints_dir) / "latest";
  std::error_code ec;
  if (!fs::exists(latest, ec)) return "";
  std::string name = read_text_file(latest.string(), kMaxLatestBytes);
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  return name;
}

}  // namespace detail

using detail::read_latest;
using detail::read_text_file;
using detail::step_of;

namespace {

// A real directory (not a symbolic link) directly inside `root`.
bool is_plain_subdir(const fs::path& dir) {
  std::error_code ec;
  const auto st = fs::symlink_status(dir, ec);
  return !ec && fs::is_directory(st);
}

}  // namespace

std::vector<std::string> list_complete(const std::string& run_dir) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return {};
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    const int64_t step = step_of(name);
    if (step >= 0 && is_plain_subdir(entry.path()) && fs::exists(entry.path() / "state.json", ec)) {
      found.emplace_back(step, entry.path().string());
    }
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::vector<std::string> prune(const std::string& run_dir, int64_t keep) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  const std::string latest = read_latest(root.string());
  std::vector<std::string> deleted;
  std::error_code ec;
  const auto complete = list_complete(run_dir);
  const int64_t excess = static_cast<int64_t>(complete.size()) - std::max<int64_t>(keep, 1);
  for (int64_t i = 0; i < excess; ++i) {
    if (fs::path(complete[i]).filename() == latest) continue;
    fs::remove_all(complete[i], ec);
    if (!ec) deleted.push_back(complete[i]);
  }
  // Leftovers of saves that were killed midway (the current save removed its own).
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (step_of(name.size() > 4 ? name.substr(0, name.size() - 4) : "") >= 0 &&
        name.compare(name.size() - 4, 4, ".tmp") == 0 && is_plain_subdir(entry.path())) {
      fs::remove_all(entry.path(), ec);
      if (!ec) deleted.push_back(entry.path().string());
    }
  }
  return deleted;
}

void verify(const std::string& dir) {
  try {
    (void)read_state(dir);
  } catch (const Error& e) {
    throw RuntimeError(e.what());
  }
  verify_sha(dir, "model.h5");
  verify_sha(dir, "optimizer.h5");
  if (lists_file(dir, "objective.h5")) verify_sha(dir, "objective.h5");
}

bool lists_file(const std::string& dir, const std::string& file) {
  const std::string path = (fs::path(dir) / "state.json").string();
  try {
    const auto j = nlohmann::json::parse(read_text_file(path, kMaxStateBytes));
    return j.is_object() && j.contains("sha256") && j["sha256"].is_object() && j["sha256"].contains(file);
  } catch (const nlohmann::json::exception& e) {
    throw RuntimeError(fmt::format("{}: not valid JSON (damaged checkpoint): {}", path, e.what()));
  } catch (const Error& e) {
    throw RuntimeError(e.what());
  }
}

void verify_sha(const std::string& dir, const std::string& file) {
  const std::string path = (fs::path(dir) / "state.json").string();
  std::string expected;
  try {
    expected = nlohmann::json::parse(read_text_file(path, kMaxStateBytes)).at("sha256").at(file).get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw RuntimeError(fmt::format("{}: no valid sha256 for {} (damaged checkpoint): {}", path, file, e.what()));
  } catch (const Error& e) {
    throw RuntimeError(e.what());
  }
  const fs::path data = fs::path(dir) / file;
  std::error_code ec;
  if (!fs::is_regular_file(data, ec)) {
    throw RuntimeError(fmt::format("{}: missing or not a file (damaged checkpoint)", data.string()));
  }
  const std::string actual = sha256_file(data.string());
  if (expected != actual) {
    throw RuntimeError(fmt::format("{}: sha256 mismatch (damaged checkpoint): expected {}, got {}",
                                   data.string(), printable(expected, 64), actual));
  }
}

std::string find_resumable(const std::string& run_dir, std::vector<std::string>* skipped) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  auto candidates = list_complete(run_dir);
  if (candidates.empty()) return "";
  // Walk back from `latest`: folders newer than it were never committed. A `latest` that
  // names no step folder (damaged) is ignored: then every folder is a candidate.
  int64_t latest_step = -1;
  try {
    latest_step = step_of(read_latest(root.string()));
  } catch (const Error& e) {
    if (skipped) skipped->push_back(e.what());
  }
  std::vector<std::string> reasons;
  for (auto it = candidates.rbegin(); it != candidates.rend(); ++it) {
    if (latest_step >= 0 && step_of(fs::path(*it).filename().string()) > latest_step) continue;
    try {
      verify(*it);
      return *it;
    } catch (const Error& e) {
      reasons.push_back(e.what());
      if (skipped) skipped->push_back(e.what());
    }
  }
  throw RuntimeError(fmt::format("{}: every checkpoint is damaged ({}); move the folder away or set "
                                 "checkpoint.resume: never to start over",
                                 root.string(), fmt::join(reasons, "; ")));
}

std::string resolve(const std::string& path) {
  const fs::path p(path);
  std::error_code ec;
  if (fs::exists(p / "state.json", ec)) return p.string();
  for (const fs::path& root : {p / "checkpoints", p}) {
    const fs::path latest = root / "latest";
    if (!fs::exists(latest, ec)) continue;
    const std::string name = read_latest(root.string());
    // Only a step folder directly inside checkpoints/: `latest` cannot send a load elsewhere.
    if (step_of(name) < 0) {
      throw UsageError(fmt::format("{}: invalid checkpoint name '{}' (expected step_NNNNNNNN)", latest.string(),
                                   printable(name, 64)));
    }
    const fs::path dir = root / name;
    if (!is_plain_subdir(dir)) {
      throw UsageError(fmt::format("{}: names '{}', which is not a checkpoint folder inside {} (missing or a "
                                   "symbolic link)", latest.string(), name, root.string()));
    }
    if (fs::exists(dir / "state.json", ec)) return dir.string();
    throw UsageError(fmt::format("{}: names '{}', which has no state.json", latest.string(), name));
  }
  throw UsageError(fmt::format("{}: no checkpoint here (expected state.json or checkpoints/latest)", path));
}

TrainState parse_state(const std::string& text, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  if (!j.is_object()) throw UsageError(fmt::format("{}: not a JSON object", path));
  // Integers must be JSON integers: nlohmann's get<int64_t>() of a float like 1e70 is undefined
  // behaviour (found by ckpt_fuzz).
  auto integer = [&](const char* key) -> int64_t {
    const auto& v = j.at(key);
    if (!v.is_number_integer()) throw UsageError(fmt::format("{}: field '{}' must be an integer", path, key));
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      throw UsageError(fmt::format("{}: field '{}' is out of range", path, key));
    }
    return v.get<int64_t>();
  };
  TrainState s;
  try {
    s.step = integer("step");
    s.epoch = integer("epoch");
    s.consumed_samples = integer("consumed_samples");
    s.optimizer_step = integer("optimizer_step");
    if (!j.at("seed").is_number_integer() || (!j.at("seed").is_number_unsigned() && j.at("seed").get<int64_t>() < 0)) {
      throw UsageError(fmt::format("{}: field 'seed' must be a non-negative integer", path));
    }
    s.seed = j.at("seed").get<uint64_t>();
    const int64_t world = integer("world_size");
    if (world < 1 || world > (1 << 24)) throw UsageError(fmt::format("{}: world_size {} is out of range", path, world));
    s.world_size = static_cast<int>(world);
    s.config_yaml = j.at("config").get<std::string>();
    s.label_names = j.at("label_names").get<std::vector<std::string>>();
    if (j.contains("extra")) {
      s.extra = j["extra"];
      if (!s.extra.is_object()) throw UsageError(fmt::format("{}: field 'extra' must be an object", path));
      // The trainer restores rng_cpu[rank] as a string.
      if (s.extra.contains("rng_cpu")) {
        const auto& rng = s.extra["rng_cpu"];
        bool ok = rng.is_array();
        for (size_t i = 0; ok && i < rng.size(); ++i) ok = rng[i].is_string();
        if (!ok) throw UsageError(fmt::format("{}: field 'extra.rng_cpu' must be a list of strings", path));
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(fmt::format("{}: missing or invalid field: {}", path, e.what()));
  }
  if (s.step < 0 || s.epoch < 0 || s.consumed_samples < 0 || s.optimizer_step < 0) {
    throw UsageError(fmt::format("{}: step, epoch, consumed_samples and optimizer_step must be >= 0", path));
  }
  return s;
}

TrainState read_state(const std::string& dir) {
  const std::string path = (fs::path(dir) / "state.json").string();
  TrainState s = parse_state(read_text_file(path, kMaxStateBytes), path);
  const int64_t folder_step = step_of(fs::path(dir).filename().string());
  if (folder_step >= 0 && folder_step != s.step) {
    throw UsageError(fmt::format("{}: step {} does not match the folder name", path, s.step));
  }
  return s;
}

namespace {

// `path` opened read-only. Strong close: a dataset whose read failed (checksum) may not close
// cleanly on its own; the file's close then takes it along instead of leaving it to crash
// HDF5's exit handler.
h5::File open_tensor_file(const std::string& path) {
  if (H5Fis_hdf5(path.c_str()) <= 0) throw UsageError(fmt::format("{}: not an HDF5 file", path));
  h5::Plist fapl(h5::check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate", path));
  h5::check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), "H5Pset_fclose_degree", path);
  h5::File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  if (!file.valid()) throw UsageError(fmt::format("{}: cannot open as HDF5", path));
  return file;
}

// Dataset `name` of `file`, checked to exist, be a floating-point dataset of rank <= 8;
// its extents in *dims.
h5::Dataset open_float_dataset(const h5::File& file, const std::string& where, const std::string& name,
                               std::vector<int64_t>* dims) {
  if (name.empty() || name.find('/') != std::string::npos || H5Lexists(file.get(), name.c_str(), H5P_DEFAULT) <= 0) {
    throw UsageError(fmt::format("{} is missing (checkpoint from another model?)", where));
  }
  H5O_info_t info{};
  if (H5Oget_info_by_name2(file.get(), name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0 ||
      info.type != H5O_TYPE_DATASET) {
    throw UsageError(fmt::format("{} is not a dataset", where));
  }
  h5::Dataset ds(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT));
  if (!ds.valid()) throw UsageError(fmt::format("{} cannot be opened (damaged file?)", where));
  h5::Type type(H5Dget_type(ds.get()));
  if (!type.valid() || H5Tget_class(type.get()) != H5T_FLOAT) {
    throw UsageError(fmt::format("{} is not floating point", where));
  }
  h5::Space space(H5Dget_space(ds.get()));
  const int rank = space.valid() ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (rank < 0 || rank > kMaxTensorRank) throw UsageError(fmt::format("{} has a bad shape", where));
  std::vector<hsize_t> extents(static_cast<size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), extents.data(), nullptr) < 0) {
    throw UsageError(fmt::format("{} has a bad shape", where));
  }
  dims->assign(extents.begin(), extents.end());
  return ds;
}

}  // namespace

void read_float_tensors(const std::string& path, const std::vector<TensorSpec>& specs,
                        const std::function<float*(size_t)>& dest) {
  h5::QuietErrors quiet;
  h5::File file = open_tensor_file(path);
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string& name = specs[i].name;
    const std::string where = fmt::format("{}: dataset '{}'", path, name);
    std::vector<int64_t> have;
    h5::Dataset ds = open_float_dataset(file, where, name, &have);
    std::vector<int64_t> want = specs[i].shape;
    if (want.empty()) want.push_back(1);
    if (want != have) {
      throw UsageError(fmt::format("{} has shape {} but the model expects {} (checkpoint from another "
                                   "model shape?)", where, fmt::join(have, "x"), fmt::join(want, "x")));
    }
    // The shape matched the caller's, so the read fills exactly the buffer it provides.
    if (H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dest(i)) < 0) {
      throw RuntimeError(fmt::format("{} cannot be read (Fletcher32 checksum mismatch: the file is damaged)",
                                     where));
    }
  }
}

std::vector<int64_t> stored_float_shape(const std::string& path, const std::string& name) {
  h5::QuietErrors quiet;
  h5::File file = open_tensor_file(path);
  const std::string where = fmt::format("{}: dataset '{}'", path, name);
  std::vector<int64_t> dims;
  (void)open_float_dataset(file, where, name, &dims);
  if (dims.empty()) throw UsageError(fmt::format("{} is a scalar, expected a tensor", where));
  // Checkpoint tensors are stored uncompressed: more numbers than bytes / 4 is a damaged or
  // foreign header (a chunked dataset can claim any extent without storing it).
  std::error_code ec;
  const uint64_t file_bytes = fs::file_size(path, ec);
  const uint64_t limit = ec ? 0 : file_bytes / 4;
  uint64_t numbers = 1;
  for (const int64_t d : dims) {
    if (d < 0 || (d > 0 && numbers > limit / static_cast<uint64_t>(d))) {
      throw UsageError(fmt::format("{} claims shape {}, more numbers than the file's {} bytes hold (damaged "
                                   "file?)", where, fmt::join(dims, "x"), file_bytes));
    }
    numbers *= static_cast<uint64_t>(d);
  }
  return dims;
}

}  // namespace sturdy::ckpt
