// Shared start-up of the distributed commands (train, eval, the benchmarks): MPI, logging,
// threads per rank and the BLAS check, in one place.
#pragma once

#include <string>

#include "sturdy/distributed/context.h"

namespace sturdy::dist {

// Initialises MPI and logging, sets LibTorch's threads per rank, and on rank 0 prints
// the machine line and a warning when the BLAS runs far below the CPU.
Context& start(const std::string& command, bool verbose);

}  // namespace sturdy::dist
