// Rank-aware spdlog set-up (see log.h).
#include "sturdy/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <fmt/format.h>

namespace sturdy::log {

void init(int rank, int world_size, bool verbose) {
  auto logger = spdlog::stderr_color_mt("sturdy");
  spdlog::set_default_logger(logger);
  const std::string prefix = world_size > 1 ? fmt::format("[sturdy r{}] ", rank) : "[sturdy] ";
  spdlog::set_pattern(prefix + "%^%v%$");
  if (verbose) {
    spdlog::set_level(spdlog::level::debug);
  } else {
    spdlog::set_level(rank == 0 ? spdlog::level::info : spdlog::level::warn);
  }
}

}  // namespace sturdy::log
