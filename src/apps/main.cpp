// The `sturdy` command: parses the subcommand and maps errors to exit codes
// (0 ok, 2 bad usage/config/input, 3 runtime failure). Under MPI a failing rank
// takes the whole job down with its message instead of leaving the others hanging.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "sturdy/core/error.h"
#include "sturdy/dist/context.h"

int main(int argc, char** argv) {
  CLI::App app{"Sturdy: robust fine-tuning of language models at cluster scale", "sturdy"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("sturdy ") + STURDY_VERSION);
  int exit_code = 0;
  sturdy::apps::register_prepare(app, &exit_code);
  sturdy::apps::register_tokenizer(app, &exit_code);
  sturdy::apps::register_perturb(app, &exit_code);
  sturdy::apps::register_train(app, &exit_code);
  sturdy::apps::register_eval(app, &exit_code);
  sturdy::apps::register_inspect(app, &exit_code);
  sturdy::apps::register_bench(app, &exit_code);
  sturdy::apps::register_report(app, &exit_code);
  sturdy::apps::register_generate(app, &exit_code);
  sturdy::apps::register_export(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    exit_code = rc == 0 ? 0 : static_cast<int>(sturdy::ExitCode::kUsage);
  } catch (const sturdy::Error& e) {
    exit_code = static_cast<int>(e.code());
    if (sturdy::dist::Context::initialized() && sturdy::dist::Context::get().world_size() > 1) {
      sturdy::dist::Context::get().abort(exit_code, std::string("error: ") + e.what());
    }
    std::fprintf(stderr, "sturdy: error: %s\n", e.what());
  } catch (const std::exception& e) {
    exit_code = static_cast<int>(sturdy::ExitCode::kRuntime);
    if (sturdy::dist::Context::initialized() && sturdy::dist::Context::get().world_size() > 1) {
      sturdy::dist::Context::get().abort(exit_code, std::string("internal error: ") + e.what());
    }
    std::fprintf(stderr, "sturdy: internal error: %s\n", e.what());
  }
  sturdy::dist::Context::finalize();
  return exit_code;
}
