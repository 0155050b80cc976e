// keel: assembles the commands (cli/commands/app.h), parses the command
// line, runs the chosen command and exits with its code. Each command
// declares its own flags, help, examples and exit codes in its own file.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>

#include "cli/commands/app.h"

namespace {

void setup_logging() {
  auto logger = spdlog::stderr_color_mt("keel");
  spdlog::set_default_logger(logger);
  const char* level = std::getenv("KEEL_LOG");
  spdlog::set_level(level ? spdlog::level::from_str(level) : spdlog::level::warn);
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
