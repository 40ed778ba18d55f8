// The `sturdy` command: parses the subcommand and maps errors to exit codes
// (0 ok, 1 a gate criterion failed, 2 bad usage/config/input, 3 runtime failure). Under MPI a failing rank
// takes the whole job down with its message instead of leaving the others hanging.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "sturdy/core/error.h"
#include "sturdy/core/machine.h"
#include "sturdy/core/printable.h"
#include "sturdy/distributed/context.h"

int main(int argc, char** argv) {
  sturdy::retain_freed_memory();  // before any tensor: see machine.h
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
  sturdy::apps::register_gate(app, &exit_code);
  sturdy::apps::register_generate(app, &exit_code);
  sturdy::apps::register_export(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help, --version: printed on stdout
      exit_code = app.exit(e);
    } else {  // one error line, as for every other usage error (CLI11 would print two, without "error:")
      exit_code = static_cast<int>(sturdy::ExitCode::kUsage);
      std::fprintf(stderr, "sturdy: error: %s (see sturdy --help)\n", sturdy::one_line(e.what()).c_str());
    }
  } catch (const sturdy::Error& e) {
    // Every error is exactly one line ending in '\n', whatever the message holds.
    exit_code = static_cast<int>(e.code());
    if (sturdy::dist::Context::initialized() && sturdy::dist::Context::get().world_size() > 1) {
      sturdy::dist::Context::get().abort(exit_code, std::string("error: ") + e.what());
    }
    std::fprintf(stderr, "sturdy: error: %s\n", sturdy::one_line(e.what()).c_str());
  } catch (const std::exception& e) {
    exit_code = static_cast<int>(sturdy::ExitCode::kRuntime);
    if (sturdy::dist::Context::initialized() && sturdy::dist::Context::get().world_size() > 1) {
      sturdy::dist::Context::get().abort(exit_code, std::string("internal error: ") + e.what());
    }
    std::fprintf(stderr, "sturdy: internal error: %s\n", sturdy::one_line(e.what()).c_str());
  }
  sturdy::dist::Context::finalize();
  return exit_code;
}
