#pragma once
// Shell completions (bash, zsh, fish) and man pages, generated from the
// CLI11 app itself: its commands, options and descriptions are walked, so
// neither can drift from `--help`.
//
//   keel completion bash|zsh|fish     prints the script (docs/install.md)
//   keel __generate DIR               hidden: writes DIR/man1/*.1 and
//                                     DIR/completions/{keel,_keel,keel.fish}
//                                     (run by the build; installed by CMake)

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands/context.h"

namespace keel::commands {

// The completion script for `shell` ("bash", "zsh" or "fish"); nullopt for
// any other shell.
std::optional<std::string> completion_script(const CLI::App& root, std::string_view shell);

// One man page per visible command: {"keel.1", roff}, {"keel-plan.1", roff},
// {"keel-backup-run.1", roff}, ...
std::vector<std::pair<std::string, std::string>> man_pages(const CLI::App& root, std::string_view version);

// Declares `completion SHELL` and the hidden `__generate DIR` on `root`
// (app.h's declare_command; they fill in every other command before they
// walk the tree). Both run while parsing and end it with CLI::Success (exit 0) or
// CLI::RuntimeError (exit 1), so main() needs no branch for them. Call it
// after every other command is added (the walk happens when they run, but
// the order of the help follows the order of registration).
void add_completion_commands(CLI::App& root, Context& ctx);

}  // namespace keel::commands
