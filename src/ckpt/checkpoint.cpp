// Checkpoint write/read (see checkpoint.h).
#include "sturdy/ckpt/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sturdy/core/h5.h"
#include "sturdy/core/error.h"
#include "sturdy/core/sha256.h"

namespace fs = std::filesystem;

namespace sturdy::ckpt {
namespace {

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

std::string read_text_file(const std::string& path) {
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

// The folder name `latest` holds, or "" when there is none.
std::string read_latest(const fs::path& root) {
  const fs::path latest = root / "latest";
  if (!fs::exists(latest)) return "";
  std::string name = read_text_file(latest.string());
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  return name;
}

// HDF5 bytes needed for `tensors`: the data plus generous room for headers and chunk indexes.
uint64_t estimated_bytes(const std::vector<NamedParameter>& tensors) {
  uint64_t bytes = 16 * 1024;
  for (const auto& t : tensors) bytes += static_cast<uint64_t>(t.tensor.numel()) * 4 + 4 * 1024;
  return bytes + bytes / 50;
}

// Reserves `bytes` in `dir` (posix_fallocate of a scratch file, then frees it) so a full disk
// or an exhausted quota is a clear error before HDF5 writes anything: HDF5 cannot close a file
// whose flush failed, and such a half-open file crashes its exit handler.
void reserve_space(const fs::path& dir, uint64_t bytes) {
  const std::string path = (dir / ".reserve").string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) throw RuntimeError(fmt::format("{}: cannot create: {}", path, std::strerror(errno)));
  const int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  ::close(fd);
  ::unlink(path.c_str());
  if (rc == ENOSPC || rc == EDQUOT) {
    throw RuntimeError(fmt::format("{}: {} MB do not fit ({})", dir.string(), (bytes + (1 << 20) - 1) >> 20,
                                   std::strerror(rc)));
  }
  // Other errors (EOPNOTSUPP on some network file systems): go ahead; a write error still
  // surfaces from HDF5.
}

}  // namespace

void write_tensors(const std::string& path, const std::vector<NamedParameter>& tensors) {
  h5::QuietErrors quiet;
  h5::File file(h5::check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT),
                          "H5Fcreate", path));
  for (const auto& [name, tensor] : tensors) {
    auto t = tensor.detach().to(torch::kFloat32).contiguous();
    std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
    if (dims.empty()) dims.push_back(1);
    h5::Space space(h5::check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                              "H5Screate_simple", path));
    h5::Plist dcpl(h5::check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate", path));
    // Fletcher32 needs a chunked layout; one chunk per tensor when it is not huge.
    std::vector<hsize_t> chunk = dims;
    hsize_t elems = 1;
    for (auto d : chunk) elems *= d;
    for (size_t i = 0; i < chunk.size() && elems > (1u << 22); ++i) {
      elems /= chunk[i];
      chunk[i] = std::max<hsize_t>(1, chunk[i] / 64);
      elems *= chunk[i];
    }
    h5::check(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), "H5Pset_chunk", path);
    h5::check(H5Pset_fletcher32(dcpl.get()), "H5Pset_fletcher32", path);
    h5::Dataset ds(h5::check(H5Dcreate2(file.get(), name.c_str(), H5T_IEEE_F32LE, space.get(),
                                        H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                             "H5Dcreate2", path + ":" + name));
    h5::check(H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr<float>()),
              "H5Dwrite", path + ":" + name);
  }
  h5::check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "H5Fflush", path);
  h5::check(file.close(), "H5Fclose", path);
}

void read_tensors(const std::string& path, const std::vector<NamedParameter>& into) {
  h5::QuietErrors quiet;
  // Strong close: a dataset whose read failed (checksum) may not close cleanly on its own; the
  // file's close then takes it along instead of leaving it to crash HDF5's exit handler.
  h5::Plist fapl(h5::check(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate", path));
  h5::check(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), "H5Pset_fclose_degree", path);
  h5::File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  if (!file.valid()) throw UsageError(fmt::format("{}: cannot open as HDF5", path));
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : into) {
    if (H5Lexists(file.get(), name.c_str(), H5P_DEFAULT) <= 0) {
      throw UsageError(fmt::format("{}: dataset '{}' is missing (checkpoint from another model?)", path, name));
    }
    h5::Dataset ds(h5::check(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), "H5Dopen2", path + ":" + name));
    h5::Space space(h5::check(H5Dget_space(ds.get()), "H5Dget_space", path));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(std::max(rank, 0));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    std::vector<int64_t> want(tensor.sizes().begin(), tensor.sizes().end());
    if (want.empty()) want.push_back(1);
    std::vector<int64_t> have(dims.begin(), dims.end());
    if (want != have) {
      throw UsageError(fmt::format("{}: '{}' has shape {} but the model expects {} (checkpoint from "
                                   "another model shape?)",
                                   path, name, fmt::join(have, "x"), fmt::join(want, "x")));
    }
    auto buffer = torch::empty(tensor.sizes(), torch::kFloat32);
    if (H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data_ptr<float>()) < 0) {
      throw RuntimeError(fmt::format("{}: reading '{}' failed (Fletcher32 checksum mismatch: the file "
                                     "is damaged)", path, name));
    }
    tensor.copy_(buffer);
  }
}

std::string save(const std::string& run_dir, const std::vector<NamedParameter>& model,
                 const std::vector<NamedParameter>& optimizer, const TrainState& state) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  const std::string name = step_name(state.step);
  const fs::path final_dir = root / name;
  const fs::path tmp_dir = root / (name + ".tmp");
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) {
    throw RuntimeError(fmt::format("{}: cannot create checkpoint folder: {} (is the run folder writable?)",
                                   root.string(), ec.message()));
  }
  fs::remove_all(tmp_dir, ec);
  fs::create_directories(tmp_dir, ec);
  if (ec) {
    throw RuntimeError(fmt::format("{}: cannot create: {} (is the disk full or the folder not writable?)",
                                   tmp_dir.string(), ec.message()));
  }
  try {
    const std::string model_path = (tmp_dir / "model.h5").string();
    const std::string optim_path = (tmp_dir / "optimizer.h5").string();
    reserve_space(tmp_dir, estimated_bytes(model) + estimated_bytes(optimizer));
    write_tensors(model_path, model);
    fsync_path(model_path, false);
    write_tensors(optim_path, optimizer);
    fsync_path(optim_path, false);
    nlohmann::json j;
    j["format"] = "sturdy-checkpoint";
    j["version"] = 1;
    j["sturdy_version"] = STURDY_VERSION;
    j["step"] = state.step;
    j["epoch"] = state.epoch;
    j["consumed_samples"] = state.consumed_samples;
    j["optimizer_step"] = state.optimizer_step;
    j["seed"] = state.seed;
    j["world_size"] = state.world_size;
    j["config"] = state.config_yaml;
    j["label_names"] = state.label_names;
    j["extra"] = state.extra;
    j["sha256"] = {{"model.h5", sha256_file(model_path)}, {"optimizer.h5", sha256_file(optim_path)}};
    write_text_file((tmp_dir / "state.json").string(), j.dump(2) + "\n");
    fsync_path(tmp_dir.string(), true);
    fs::remove_all(final_dir, ec);
    fs::rename(tmp_dir, final_dir);
    fsync_path(root.string(), true);
    // `latest` is replaced atomically: write latest.tmp, fsync, rename over.
    const std::string latest_tmp = (root / "latest.tmp").string();
    write_text_file(latest_tmp, name + "\n");
    fs::rename(latest_tmp, root / "latest");
    fsync_path(root.string(), true);
  } catch (const std::exception& e) {
    // ENOSPC, EROFS, EACCES, EIO land here (HDF5, ofstream, fsync or rename). Nothing older
    // was touched yet: `latest` still names the previous checkpoint.
    fs::remove_all(tmp_dir, ec);
    const std::string previous = read_latest(root);
    throw RuntimeError(fmt::format(
        "{}: checkpoint not written ({}); is the disk full or the folder not writable? {}",
        final_dir.string(), e.what(),
        previous.empty() ? std::string("No earlier checkpoint exists.")
                         : fmt::format("Earlier checkpoints are intact; `latest` still names {}.", previous)));
  }
  return final_dir.string();
}

std::vector<std::string> list_complete(const std::string& run_dir) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return {};
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    const int64_t step = step_of(name);
    if (step >= 0 && fs::exists(entry.path() / "state.json")) found.emplace_back(step, entry.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::vector<std::string> prune(const std::string& run_dir, int64_t keep) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  const std::string latest = read_latest(root);
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
    if (entry.is_directory() && name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      fs::remove_all(entry.path(), ec);
      if (!ec) deleted.push_back(entry.path().string());
    }
  }
  return deleted;
}

namespace {
void verify_sha(const std::string& dir, const std::string& file);
}  // namespace

void verify(const std::string& dir) {
  try {
    (void)read_state(dir);
  } catch (const Error& e) {
    throw RuntimeError(e.what());
  }
  verify_sha(dir, "model.h5");
  verify_sha(dir, "optimizer.h5");
}

std::string find_resumable(const std::string& run_dir, std::vector<std::string>* skipped) {
  const fs::path root = fs::path(run_dir) / "checkpoints";
  auto candidates = list_complete(run_dir);
  if (candidates.empty()) return "";
  // Walk back from `latest`: folders newer than it were never committed.
  const int64_t latest_step = step_of(read_latest(root));
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
  if (fs::exists(p / "state.json")) return p.string();
  for (const fs::path& root : {p / "checkpoints", p}) {
    const fs::path latest = root / "latest";
    if (fs::exists(latest)) {
      std::string name = read_text_file(latest.string());
      while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
      if (name.find('/') != std::string::npos || name.find("..") != std::string::npos) {
        throw UsageError(fmt::format("{}: invalid checkpoint name '{}'", latest.string(), name));
      }
      const fs::path dir = root / name;
      if (fs::exists(dir / "state.json")) return dir.string();
      throw UsageError(fmt::format("{}: names '{}', which has no state.json", latest.string(), name));
    }
  }
  throw UsageError(fmt::format("{}: no checkpoint here (expected state.json or checkpoints/latest)", path));
}

TrainState read_state(const std::string& dir) {
  const std::string path = (fs::path(dir) / "state.json").string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  TrainState s;
  try {
    s.step = j.at("step").get<int64_t>();
    s.epoch = j.at("epoch").get<int64_t>();
    s.consumed_samples = j.at("consumed_samples").get<int64_t>();
    s.optimizer_step = j.at("optimizer_step").get<int64_t>();
    s.seed = j.at("seed").get<uint64_t>();
    s.world_size = j.at("world_size").get<int>();
    s.config_yaml = j.at("config").get<std::string>();
    s.label_names = j.at("label_names").get<std::vector<std::string>>();
    if (j.contains("extra")) s.extra = j["extra"];
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(fmt::format("{}: missing or invalid field: {}", path, e.what()));
  }
  return s;
}

namespace {
void verify_sha(const std::string& dir, const std::string& file) {
  const std::string path = (fs::path(dir) / "state.json").string();
  std::string expected;
  try {
    expected = nlohmann::json::parse(read_text_file(path)).at("sha256").at(file).get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw RuntimeError(fmt::format("{}: no valid sha256 for {} (damaged checkpoint): {}", path, file, e.what()));
  }
  if (!fs::exists(fs::path(dir) / file)) {
    throw RuntimeError(fmt::format("{}/{}: missing (damaged checkpoint)", dir, file));
  }
  const std::string actual = sha256_file((fs::path(dir) / file).string());
  if (expected != actual) {
    throw RuntimeError(fmt::format("{}/{}: sha256 mismatch (damaged checkpoint): expected {}, got {}",
                                   dir, file, expected, actual));
  }
}
}  // namespace

void load_model(const std::string& dir, const std::vector<NamedParameter>& into) {
  verify_sha(dir, "model.h5");
  read_tensors((fs::path(dir) / "model.h5").string(), into);
}

void load_optimizer(const std::string& dir, const std::vector<NamedParameter>& into) {
  verify_sha(dir, "optimizer.h5");
  read_tensors((fs::path(dir) / "optimizer.h5").string(), into);
}

}  // namespace sturdy::ckpt
