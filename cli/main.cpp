// keel: assembles the commands (cli/commands/app.h), parses the command
// line, runs the chosen command and exits with its code. Each command
// declares its own flags, help, examples and exit codes in its own file.
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "cli/commands/app.h"
#include "core/log.h"

namespace {

// KEEL_LOG and KEEL_LOG_FILE (core/log.h); a bad one is said, not fatal.
void setup_logging() {
  if (auto s = keel::logging::setup_from_env("keel"); !s) std::fprintf(stderr, "Warning: %s\n", s.error().message().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a dead plugin's pipe is an error to report, not a reason to die
  auto ctx = keel::commands::Context::from_process();
  auto app = keel::commands::make_app(ctx);
  if (auto code = keel::commands::parse(*app, ctx, argc, argv)) return *code;
  setup_logging();
  return keel::commands::run(ctx);
}
