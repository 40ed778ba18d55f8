// Shared helpers of the libFuzzer targets: a private scratch folder for inputs that the
// code under test reads from a file, and the rule every target checks: library code either
// succeeds or throws a sturdy::Error (exit 2/3 with a message); anything else escaping
// (std::out_of_range, YAML::Exception, nlohmann::json::exception, ...) becomes an
// "internal error" for the user and is a bug, so the target aborts on it.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <string_view>

#include "sturdy/core/error.h"

namespace sturdy_fuzz {

// A folder under $TMPDIR (default /tmp) made once per process; removed at exit. (Leaked on
// purpose: the exit handler runs after static destructors.)
inline const std::string& scratch_dir() {
  static const std::string* dir = [] {
    const char* base = std::getenv("TMPDIR");
    auto* pattern = new std::string(std::string(base && *base ? base : "/tmp") + "/sturdy-fuzz-XXXXXX");
    if (::mkdtemp(pattern->data()) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    std::atexit([] { std::system(("rm -rf '" + scratch_dir() + "'").c_str()); });
    return pattern;
  }();
  return *dir;
}

inline std::string scratch_path(const std::string& name) { return scratch_dir() + "/" + name; }

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

[[noreturn]] inline void fail(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", target, what.c_str());
  std::abort();
}

// Runs f(); a sturdy::Error is an accepted outcome (returns false), success returns true,
// any other exception aborts naming its message.
template <class F>
bool accepts(const char* target, F&& f) {
  try {
    f();
    return true;
  } catch (const sturdy::Error& e) {
    if (std::string_view(e.what()).find('\n') != std::string_view::npos) {
      fail(target, std::string("error message spans several lines: ") + e.what());
    }
    return false;
  } catch (const std::exception& e) {
    fail(target, std::string("non-sturdy exception escaped: ") + e.what());
  }
}

}  // namespace sturdy_fuzz
