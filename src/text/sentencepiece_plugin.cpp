// Loads the sentencepiece plugin (libsturdy_sentencepiece.so) on first use.
//
// Why a plugin: see sentencepiece_tokenizer.cpp. RTLD_DEEPBIND makes the plugin and
// libsentencepiece resolve their own (protobuf) symbols first, and RTLD_LOCAL keeps
// them out of the global scope that LibTorch's libprotobuf resolves against.
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include <fmt/format.h>

#include "sturdy/core/error.h"
#include "sturdy/text/tokenizer.h"

namespace sturdy {
namespace {

using LoadFn = Tokenizer* (*)(const std::string&);
using TrainFn = void (*)(const std::vector<std::string>&, const std::string&,
                         const SentencePieceTrainOptions&);

struct Plugin {
  LoadFn load = nullptr;
  TrainFn train = nullptr;
};

// Candidate locations: $STURDY_SENTENCEPIECE_PLUGIN, the build tree, beside the executable.
std::vector<std::string> candidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("STURDY_SENTENCEPIECE_PLUGIN")) out.push_back(env);
  out.push_back(STURDY_SPM_PLUGIN_BUILD_PATH);
  char exe[PATH_MAX] = {0};
  const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    const auto dir = std::filesystem::path(std::string(exe, n)).parent_path();
    out.push_back((dir / "libsturdy_sentencepiece.so").string());
    out.push_back((dir.parent_path() / "lib" / "libsturdy_sentencepiece.so").string());
  }
  return out;
}

const Plugin& plugin() {
  static Plugin p;
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    std::string tried;
    for (const auto& path : candidates()) {
      if (!std::filesystem::exists(path)) {
        tried += " " + path;
        continue;
      }
      void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (handle == nullptr) {
        error = fmt::format("cannot load the sentencepiece plugin {}: {}", path, dlerror());
        return;
      }
      p.load = reinterpret_cast<LoadFn>(dlsym(handle, "sturdy_spm_load"));
      p.train = reinterpret_cast<TrainFn>(dlsym(handle, "sturdy_spm_train"));
      if (p.load == nullptr || p.train == nullptr) error = fmt::format("{}: entry points missing", path);
      return;
    }
    error = fmt::format("the sentencepiece plugin libsturdy_sentencepiece.so was not found (tried{}); "
                        "set STURDY_SENTENCEPIECE_PLUGIN to its path",
                        tried);
  });
  if (!error.empty()) throw RuntimeError(error);
  return p;
}

}  // namespace

std::unique_ptr<Tokenizer> load_sentencepiece_tokenizer(const std::string& model_path) {
  return std::unique_ptr<Tokenizer>(plugin().load(model_path));
}

void train_sentencepiece(const std::vector<std::string>& texts, const std::string& output_model,
                         const SentencePieceTrainOptions& options) {
  plugin().train(texts, output_model, options);
}

}  // namespace sturdy
