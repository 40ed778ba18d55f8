// libFuzzer target for checkpoint loading (scripts/fuzz.sh ckpt).
//
// Loading a checkpoint into a model needs LibTorch, which an ASan + libFuzzer build does
// not link (uninstrumented, ~1 GB, minutes per TU); the torch side only copies validated
// float32 buffers into parameters. So this target fuzzes the LibTorch-free part that
// reads every untrusted byte (src/ckpt/files.cpp). Byte 0 picks the case:
//   0: the rest is state.json of a checkpoint folder: read_state, verify (sha256 checks);
//   1: the rest is the `latest` file of a run with two real step folders: resolve and
//      find_resumable must return a folder inside the run's checkpoints/ or throw;
//   2: the rest describes a model.h5 (tensors missing, groups, other types and shapes, extents
//      declared huge), read with the names and shapes of a small model (read_float_tensors: the
//      checks behind load_model once the sha256 matched, e.g. a checkpoint of another model).
// Every case must succeed or throw a sturdy::Error with a one-line message.
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz_h5.h"
#include "fuzz_util.h"
#include "sturdy/ckpt/files.h"

namespace fs = std::filesystem;

namespace {

const char* kTarget = "ckpt_fuzz";

// A run folder with checkpoints step_00000004 (valid) and step_00000008 (valid), made once.
const std::string& run_dir() {
  static const std::string dir = [] {
    const std::string run = sturdy_fuzz::scratch_path("run");
    for (const char* step : {"step_00000004", "step_00000008"}) {
      const std::string d = run + "/checkpoints/" + step;
      fs::create_directories(d);
      sturdy_fuzz::write_file(d + "/model.h5", "model");
      sturdy_fuzz::write_file(d + "/optimizer.h5", "optim");
      const std::string json = std::string("{\"step\": ") + (step[12] == '4' ? "4" : "8") +
          ", \"epoch\": 0, \"consumed_samples\": 0, \"optimizer_step\": 1, \"seed\": 1, \"world_size\": 1,"
          " \"config\": \"\", \"label_names\": [], \"sha256\": {"
          "\"model.h5\": \"5d8b5f2d6e9b7f0a4f5c2b5d0bcf2a9e7f7e3f4f0a3e2d1c0b9a8f7e6d5c4b3a\","
          " \"optimizer.h5\": \"x\"}}";
      sturdy_fuzz::write_file(d + "/state.json", json);
    }
    // A folder outside checkpoints/ that a malicious `latest` might try to reach.
    fs::create_directories(sturdy_fuzz::scratch_path("outside/step_00000001"));
    sturdy_fuzz::write_file(sturdy_fuzz::scratch_path("outside/step_00000001/state.json"), "{}");
    return run;
  }();
  return dir;
}

bool inside(const std::string& dir, const std::string& root) {
  const std::string canon = fs::weakly_canonical(dir).string();
  const std::string base = fs::weakly_canonical(root).string() + "/";
  return canon.rfind(base, 0) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      const std::string dir = sturdy_fuzz::scratch_path("step_00000012");
      fs::create_directories(dir);
      sturdy_fuzz::write_file(dir + "/state.json", rest);
      sturdy_fuzz::accepts(kTarget, [&] { (void)sturdy::ckpt::read_state(dir); });
      sturdy_fuzz::accepts(kTarget, [&] { sturdy::ckpt::verify(dir); });
      break;
    }
    case 1: {
      const std::string& run = run_dir();
      sturdy_fuzz::write_file(run + "/checkpoints/latest", rest);
      std::string found;
      if (sturdy_fuzz::accepts(kTarget, [&] { found = sturdy::ckpt::resolve(run); }) &&
          !inside(found, run + "/checkpoints")) {
        sturdy_fuzz::fail(kTarget, "resolve left the run folder: " + found);
      }
      std::vector<std::string> skipped;
      found.clear();
      if (sturdy_fuzz::accepts(kTarget, [&] { found = sturdy::ckpt::find_resumable(run, &skipped); }) &&
          !found.empty() && !inside(found, run + "/checkpoints")) {
        sturdy_fuzz::fail(kTarget, "find_resumable left the run folder: " + found);
      }
      break;
    }
    default: {
      // The rest describes model.h5 (fuzz_h5.h says why not raw bytes): per expected tensor,
      // missing, a group, or a dataset of some type and shape (the expected one or another,
      // sometimes declared huge and never written).
      const std::string path = sturdy_fuzz::scratch_path("model.h5");
      static const std::vector<sturdy::ckpt::TensorSpec> specs = {
          {"embed.weight", {16, 8}}, {"norm.weight", {8}}, {"head.bias", {}}, {"layers.0.wq.weight", {8, 8}}};
      FuzzedDataProvider in(reinterpret_cast<const uint8_t*>(rest.data()), rest.size());
      {
        sturdy_fuzz::QuietH5 quiet;
        hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (file < 0) sturdy_fuzz::fail(kTarget, "cannot create the scratch file");
        for (const auto& spec : specs) {
          const uint8_t what = in.ConsumeIntegral<uint8_t>() % 8;
          if (what == 0) continue;
          if (what == 1) {
            hid_t g = H5Gcreate2(file, spec.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (g >= 0) H5Gclose(g);
            continue;
          }
          std::vector<hsize_t> dims(spec.shape.begin(), spec.shape.end());
          if (dims.empty()) dims.push_back(1);
          if (what == 2) {  // another shape
            dims.resize(in.ConsumeIntegralInRange<size_t>(0, 4));
            for (auto& d : dims) d = in.ConsumeIntegralInRange<hsize_t>(0, 20);
          }
          if (what == 3 && !dims.empty()) dims[0] = hsize_t{1} << in.ConsumeIntegralInRange<int>(20, 40);
          hid_t space = dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
          hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
          if (!dims.empty() && what == 3) {
            std::vector<hsize_t> chunk(dims.size(), 1);
            H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
          }
          hid_t ds = H5Dcreate2(file, spec.name.c_str(), sturdy_fuzz::pick_type(in, H5T_IEEE_F32LE), space, H5P_DEFAULT,
                                dcpl, H5P_DEFAULT);
          if (ds >= 0 && what != 3) {
            hssize_t n = H5Sget_simple_extent_npoints(space);
            std::vector<float> v(static_cast<size_t>(std::max<hssize_t>(n, 0)));
            for (auto& x : v) x = in.ConsumeFloatingPoint<float>();
            if (!v.empty()) H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
          }
          if (ds >= 0) H5Dclose(ds);
          H5Pclose(dcpl);
          H5Sclose(space);
        }
        H5Fclose(file);
      }
      std::vector<std::vector<float>> buffers;
      for (const auto& s : specs) {
        size_t n = 1;
        for (int64_t d : s.shape) n *= static_cast<size_t>(d);
        buffers.emplace_back(n);
      }
      sturdy_fuzz::accepts(kTarget, [&] {
        sturdy::ckpt::read_float_tensors(path, specs, [&](size_t i) { return buffers[i].data(); });
      });
      break;
    }
  }
  return 0;
}
