// Logging: spdlog with the rank in every line.
//
// Rank 0 logs at info level; other ranks log warnings and errors only, so a
// 64-rank job prints one progress stream while problems on any rank still show.
#pragma once

#include <spdlog/spdlog.h>

namespace sturdy::log {

// Sets the pattern "[sturdy r<rank>] message" and the level (verbose: debug everywhere).
void init(int rank, int world_size, bool verbose = false);

}  // namespace sturdy::log
