// Checkpoint write/read (see checkpoint.h).
#include "sturdy/ckpt/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../data/h5.h"
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
  h5::File file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
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
  if (ec) throw RuntimeError(fmt::format("{}: cannot create checkpoint folder: {}", root.string(), ec.message()));
  fs::remove_all(tmp_dir, ec);
  fs::create_directories(tmp_dir, ec);
  if (ec) throw RuntimeError(fmt::format("{}: cannot create: {}", tmp_dir.string(), ec.message()));
  try {
    const std::string model_path = (tmp_dir / "model.h5").string();
    const std::string optim_path = (tmp_dir / "optimizer.h5").string();
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
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp_dir, ec);
    throw RuntimeError(fmt::format("{}: checkpoint not written: {}", final_dir.string(), e.what()));
  } catch (...) {
    fs::remove_all(tmp_dir, ec);
    throw;
  }
  return final_dir.string();
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
  const auto j = nlohmann::json::parse(read_text_file(path));
  const std::string expected = j.at("sha256").at(file).get<std::string>();
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
