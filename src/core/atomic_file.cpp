// Atomic file replacement (see atomic_file.h).
#include "sturdy/core/atomic_file.h"

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "sturdy/core/error.h"

namespace fs = std::filesystem;

namespace sturdy {

void write_file_atomically(const std::string& path, std::string_view content) {
  const fs::path out(path);
  std::error_code ec;
  if (out.has_parent_path()) {
    fs::create_directories(out.parent_path(), ec);
    if (ec) throw RuntimeError(fmt::format("{}: cannot create folder: {}", out.parent_path().string(), ec.message()));
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!f.flush()) {
      f.close();
      fs::remove(tmp, ec);
      throw RuntimeError(fmt::format("{}: write failed (disk full?)", tmp));
    }
  }
  fs::rename(tmp, out, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw RuntimeError(fmt::format("{}: cannot rename to {}: {}", tmp, path, ec.message()));
  }
}

}  // namespace sturdy
