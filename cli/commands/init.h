#pragma once
// `keel init [TEMPLATE]`: writes a commented starting stack (keel.yaml)
// from one of the templates (templates/NAME/keel.yaml in the source tree,
// share/keel/templates/NAME/keel.yaml once installed).

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands/context.h"
#include "core/error.h"

namespace keel::commands {

// Where the templates are, first found wins: $KEEL_TEMPLATE_DIR, then
// share/keel/templates beside the running keel's bin/ (an installed keel:
// /usr/bin/keel -> /usr/share/keel/templates), then the source tree this
// keel was built from (a build directory). Empty when none exists.
std::string find_template_dir();

// The stack templates in `dir`: its subdirectories that hold a keel.yaml.
std::vector<std::string> list_templates(const std::string& dir);

struct InitOptions {
  std::string name = "quickstart";
  std::string dir = ".";
  bool force = false;  // overwrite an existing keel.yaml
  bool list = false;
  bool json = false;  // --json: one document on stdout instead of the text
};

// Copies the template's keel.yaml into options.dir and says what to do
// next. Errors: NotFound (no such template, naming those there are),
// Conflict (keel.yaml exists and not force).
Status run_init(const InitOptions& options, const std::string& template_dir);

// Registers `init` on `root`, run after parsing as every command is (so
// that a mistyped flag stops it, and its errors follow --json).
void add_init_command(CLI::App& root, Context& ctx);

}  // namespace keel::commands
