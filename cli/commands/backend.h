#pragma once
// Which state store a command uses: `--backend`, else KEEL_BACKEND, else
// the stack's `backend:`, else the local .keel/ beside the stack
// (docs/backends.md). A backend given outside the stack (CI) is a
// PostgreSQL URL or `local`; a URL on the command line must not hold a
// password (argv is visible to every user of the machine): PGPASSWORD,
// ~/.pgpass or KEEL_BACKEND hold it instead.

#include <memory>
#include <optional>
#include <string>

#include "cli/commands/commands.h"
#include "cli/config/stack.h"
#include "cli/state/pg_store.h"
#include "cli/state/store.h"

namespace keel::commands {

struct BackendChoice {
  std::optional<state::PostgresBackend> postgres;  // nullopt: local
  std::string source;                              // "--backend", "KEEL_BACKEND", "keel.yaml:3:10", "" (local default)
};

// What the command line and the environment choose (nullopt: they choose
// nothing, the stack decides). The key is left empty: the stack names it.
Result<std::optional<BackendChoice>> backend_outside_stack(const GlobalOptions& g);

// The backend for this stack: outside_stack if given, else the stack's
// `backend:`. Its URL is a literal or reads ${env.X}; not variables (as
// Terraform's backend blocks: the state is found before anything else is
// evaluated, and a command that only reads it does not validate the stack).
Result<BackendChoice> choose_backend(const std::optional<BackendChoice>& outside_stack, const config::Stack& stack,
                                     const std::string& environment);

// The state's name in a shared backend: the backend block's `key:`, else
// the project; an environment's is that and "/NAME".
std::string state_key_of(const config::Stack& stack, const std::string& environment);

// Keeps the environment variables the stack's backend URL reads (they hold
// the database's password) from every child keel starts: call it right
// after parsing, before validation starts the plugins.
void hide_backend_secrets(const config::Stack& stack);

// The store for `choice`; `work_dir` is the stack's .keel.
std::unique_ptr<state::StateStore> make_store(const BackendChoice& choice, const std::string& work_dir);

// A backend named on the command line by `keel state migrate`: `local`,
// `backend` (the one the stack or KEEL_BACKEND chooses) or a URL.
Result<BackendChoice> parse_backend_word(const std::string& text, const std::string& option);

}  // namespace keel::commands
