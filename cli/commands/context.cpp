#include "cli/commands/context.h"

#include <unistd.h>

#include <cstdlib>

#include "cli/views/plan_view.h"

namespace keel::commands {

Context Context::from_process() {
  Context ctx;
  ctx.out_is_tty = ::isatty(STDOUT_FILENO) == 1;
  ctx.err_is_tty = ::isatty(STDERR_FILENO) == 1;
  ctx.in_is_tty = ::isatty(STDIN_FILENO) == 1;
  ctx.env = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
  return ctx;
}

void Context::finish_parsing() {
  // https://no-color.org: set to anything, even empty, means no colour.
  const bool allowed = !global.no_color && !env("NO_COLOR") && env("TERM").value_or("") != "dumb";
  out_color = allowed && out_is_tty;
  err_color = allowed && err_is_tty;
}

views::Streams streams_of(const Context& ctx) { return {ctx.out, ctx.err, ctx.out_color, ctx.err_is_tty}; }

void write(std::FILE* stream, const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stream);
  std::fflush(stream);
}

}  // namespace keel::commands
