#pragma once
// What a command gets from the process around it, through one object (no
// globals): where its output goes, whether a person is watching, whether to
// colour, and the environment. main() fills it from the real process;
// in-process tests give it memory streams (open_memstream) and a fake
// environment.

#include <any>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands/commands.h"

namespace CLI {
class App;
}

namespace keel::views {
struct Streams;
class ErrorView;
}

namespace keel::commands {

struct Context {
  GlobalOptions global;  // -f, --var, --json, --no-color, as parsed
  std::FILE* out = stdout;
  std::FILE* err = stderr;
  bool out_is_tty = false;
  bool err_is_tty = false;
  bool in_is_tty = false;  // someone can answer a question
  // Set by finish_parsing() from the streams, NO_COLOR, TERM and --no-color.
  bool out_color = false;
  bool err_color = false;
  // The environment (getenv in main, a map in tests); nullopt when unset.
  std::function<std::optional<std::string>(const std::string&)> env = [](const std::string&) {
    return std::optional<std::string>();
  };
  // keel exec: the words after the first `--`, never parsed as keel's.
  std::vector<std::string> after_dashdash;

  // Set while parsing by the chosen command's callbacks (app.h): its name
  // ("backup run"), how to run it, a copy of its parsed options (for
  // tests), and its exit code for bad flags.
  std::string command;
  std::function<int()> run;
  std::any options;
  int usage_exit = kExitError;
  // Kept by make_app() for the tree it made (app.h): each command's code
  // for bad flags (set_usage_exit), and how to fill in each command
  // declared but not yet filled (declare_command).
  std::map<const CLI::App*, int> usage_exits;
  std::vector<std::function<void()>> command_fills;
  // --json was among the words: a usage error also prints its JSON
  // document (set before parsing, which may fail before reading --json).
  bool usage_json = false;

  // How errors are reported (--json or not), made at the first error and
  // kept: an invalid stack's diagnostics wait in it for the error that
  // ends the command (workspace.h, report_error).
  std::shared_ptr<views::ErrorView> error_view;

  // Where questions to the person at the terminal and their answers' echo
  // go: stdout, except under --json, whose stdout holds the document alone.
  std::FILE* dialogue() const { return global.json ? err : out; }

  // The real process: stdout, stderr, isatty, getenv.
  static Context from_process();
  // After parsing: decides colour (terminal, not NO_COLOR of any value, not
  // TERM=dumb, not --no-color).
  void finish_parsing();
};

// The streams views write to (cli/views/plan_view.h).
views::Streams streams_of(const Context& ctx);

// Writes `text` to `stream` as is (no format string).
void write(std::FILE* stream, const std::string& text);

}  // namespace keel::commands
