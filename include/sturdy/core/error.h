// Errors and exit codes.
//
// Library code throws a sturdy::Error subclass; `main` maps it to an exit code:
//   UsageError   -> 2  (bad usage, config or input: names the file/key/row)
//   RuntimeError -> 3  (I/O, communication, numerical abort)
// Exit code 1 is not an error: a robustness gate (eval/gate.h) that measured a failing criterion.
// Messages are one line and say what is wrong and, where possible, how to fix it.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace sturdy {

enum class ExitCode : int { kOk = 0, kGateFailed = 1, kUsage = 2, kRuntime = 3 };

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// Bad usage, configuration or input data. Exit code 2.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message) : Error(ExitCode::kUsage, message) {}
};

// Failure while running: I/O, communication, numerical abort. Exit code 3.
class RuntimeError : public Error {
 public:
  explicit RuntimeError(const std::string& message) : Error(ExitCode::kRuntime, message) {}
};

}  // namespace sturdy

// STURDY_CHECK(cond, fmt, args...): throws RuntimeError with file:line when cond is false.
#define STURDY_CHECK(cond, ...)                                                              \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      throw ::sturdy::RuntimeError(fmt::format("{}:{}: check failed: {}: {}", __FILE__,     \
                                               __LINE__, #cond, fmt::format(__VA_ARGS__))); \
    }                                                                                        \
  } while (0)

// STURDY_USAGE_CHECK(cond, fmt, args...): throws UsageError (exit 2) with the message alone.
#define STURDY_USAGE_CHECK(cond, ...)                                \
  do {                                                               \
    if (!(cond)) {                                                   \
      throw ::sturdy::UsageError(fmt::format(__VA_ARGS__));          \
    }                                                                \
  } while (0)
