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

#include "sturdy/ckpt/rng_state.h"
#include "sturdy/core/error.h"
#include "sturdy/core/h5.h"
#include "sturdy/core/sha256.h"

namespace fs = std::filesystem;

namespace sturdy::ckpt {

using detail::fsync_path;
using detail::read_latest;
using detail::step_name;
using detail::write_text_file;

namespace {

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
    auto t = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();  // device-independent on disk
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
  // Validated into float32 buffers (files.cpp), then copied into the parameters.
  std::vector<TensorSpec> specs;
  std::vector<torch::Tensor> buffers;
  for (const auto& [name, tensor] : into) {
    specs.push_back({name, std::vector<int64_t>(tensor.sizes().begin(), tensor.sizes().end())});
    buffers.push_back(torch::empty(tensor.sizes(), torch::kFloat32));
  }
  read_float_tensors(path, specs, [&](size_t i) { return buffers[i].data_ptr<float>(); });
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < into.size(); ++i) into[i].tensor.copy_(buffers[i]);
}

std::string save(const std::string& run_dir, const std::vector<NamedParameter>& model,
                 const std::vector<NamedParameter>& optimizer, const TrainState& state,
                 const std::vector<NamedParameter>& objective) {
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
    const std::string objective_path = (tmp_dir / "objective.h5").string();
    reserve_space(tmp_dir, estimated_bytes(model) + estimated_bytes(optimizer) +
                               (objective.empty() ? 0 : estimated_bytes(objective)));
    write_tensors(model_path, model);
    fsync_path(model_path, false);
    write_tensors(optim_path, optimizer);
    fsync_path(optim_path, false);
    if (!objective.empty()) {
      write_tensors(objective_path, objective);
      fsync_path(objective_path, false);
    }
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
    if (!objective.empty()) j["sha256"]["objective.h5"] = sha256_file(objective_path);
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
    const std::string previous = read_latest(root.string());
    throw RuntimeError(fmt::format(
        "{}: checkpoint not written ({}); is the disk full or the folder not writable? {}",
        final_dir.string(), e.what(),
        previous.empty() ? std::string("No earlier checkpoint exists.")
                         : fmt::format("Earlier checkpoints are intact; `latest` still names {}.", previous)));
  }
  return final_dir.string();
}

void load_model(const std::string& dir, const std::vector<NamedParameter>& into) {
  verify_sha(dir, "model.h5");
  read_tensors((fs::path(dir) / "model.h5").string(), into);
}

void load_optimizer(const std::string& dir, const std::vector<NamedParameter>& into) {
  verify_sha(dir, "optimizer.h5");
  read_tensors((fs::path(dir) / "optimizer.h5").string(), into);
}

std::vector<NamedParameter> load_objective(const std::string& dir, const std::vector<std::string>& names) {
  const std::string path = (fs::path(dir) / "objective.h5").string();
  if (!lists_file(dir, "objective.h5")) {
    throw UsageError(fmt::format("{}: missing: {}/state.json records no objective state (a checkpoint of an "
                                 "objective that keeps none, or from an older Sturdy)", path, dir));
  }
  verify_sha(dir, "objective.h5");
  std::vector<NamedParameter> out;
  for (const auto& name : names) {
    const auto shape = stored_float_shape(path, name);
    auto t = torch::empty(shape, torch::kFloat32);
    read_float_tensors(path, {{name, shape}}, [&](size_t) { return t.data_ptr<float>(); });
    out.push_back({name, t});
  }
  return out;
}

std::string rank_tensor_name(const std::string& name, int rank) { return fmt::format("{}.rank{}", name, rank); }

namespace {

// A rank's tensors as bytes for gather_strings: per tensor the name length, the name, the
// rank, the sizes (int64) and the float32 values, in native byte order (all ranks run the
// same build).
template <class T>
void put(std::string* out, const T& v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}

template <class T>
T take(const std::string& in, size_t* at) {
  STURDY_CHECK(*at + sizeof(T) <= in.size(), "gathered tensor bytes end early ({} of {})", *at, in.size());
  T v;
  std::memcpy(&v, in.data() + *at, sizeof v);
  *at += sizeof v;
  return v;
}

std::string pack(const std::vector<NamedParameter>& tensors) {
  std::string out;
  for (const auto& [name, tensor] : tensors) {
    auto t = tensor.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    put(&out, static_cast<uint64_t>(name.size()));
    out += name;
    put(&out, static_cast<int64_t>(t.dim()));
    for (const int64_t d : t.sizes()) put(&out, d);
    out.append(reinterpret_cast<const char*>(t.data_ptr<float>()), static_cast<size_t>(t.numel()) * sizeof(float));
  }
  return out;
}

std::vector<NamedParameter> unpack(const std::string& bytes, int rank) {
  std::vector<NamedParameter> out;
  size_t at = 0;
  while (at < bytes.size()) {
    const auto length = take<uint64_t>(bytes, &at);
    STURDY_CHECK(at + length <= bytes.size(), "gathered tensor name runs past the end");
    std::string name = bytes.substr(at, length);
    at += length;
    const auto dims = take<int64_t>(bytes, &at);
    std::vector<int64_t> sizes;
    for (int64_t i = 0; i < dims; ++i) sizes.push_back(take<int64_t>(bytes, &at));
    auto t = torch::empty(sizes, torch::kFloat32);
    const size_t n = static_cast<size_t>(t.numel()) * sizeof(float);
    STURDY_CHECK(at + n <= bytes.size(), "gathered tensor '{}' runs past the end", name);
    std::memcpy(t.data_ptr<float>(), bytes.data() + at, n);
    at += n;
    out.push_back({rank_tensor_name(name, rank), t});
  }
  return out;
}

}  // namespace

std::vector<NamedParameter> gather_rank_tensors(const dist::Context& ctx, const std::vector<NamedParameter>& local) {
  const auto all = gather_strings(ctx, pack(local));
  std::vector<NamedParameter> out;
  for (size_t r = 0; r < all.size(); ++r) {
    for (auto& t : unpack(all[r], static_cast<int>(r))) out.push_back(std::move(t));
  }
  return out;
}

}  // namespace sturdy::ckpt
