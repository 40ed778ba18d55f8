// Start-up of distributed commands (see startup.h).
#include "sturdy/distributed/startup.h"

#include <torch/torch.h>

#include "sturdy/core/log.h"
#include "sturdy/core/machine.h"

namespace sturdy::dist {

Context& start(const std::string& command, bool verbose) {
  Context& ctx = Context::init(nullptr, nullptr);
  log::init(ctx.rank(), ctx.world_size(), verbose);
  const int threads = threads_per_rank(ctx.local_size());
  torch::set_num_threads(threads);
  set_blas_threads(threads);  // else OpenBLAS runs a core's worth of threads in every rank
  const std::string core = blas_core_name();
  spdlog::info("sturdy {} {} | {} rank(s) via {} | {} thread(s) per rank | {} | BLAS core {}",
               command, STURDY_VERSION, ctx.world_size(), ctx.launch().launcher, threads, cpu_model(),
               core.empty() ? "n/a" : core);
  const std::string warning = blas_warning();
  if (!warning.empty() && ctx.is_root()) spdlog::warn("{}", warning);
  return ctx;
}

}  // namespace sturdy::dist
