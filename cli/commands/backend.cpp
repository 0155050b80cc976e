#include "cli/commands/backend.h"

#include <cctype>
#include <cstdlib>

#include <fmt/format.h>

#include "cli/config/evaluate.h"
#include "cli/state/file_store.h"
#include "core/pg_client.h"
#include "core/process.h"

namespace keel::commands {

namespace {

bool is_postgres_url(const std::string& text) {
  return text.starts_with("postgres://") || text.starts_with("postgresql://");
}

// `text` as a backend named outside the stack, by `source`.
Result<BackendChoice> backend_of_text(const std::string& text, const std::string& source, bool password_allowed) {
  if (text == "local") return BackendChoice{std::nullopt, source};
  if (!is_postgres_url(text))
    return fail(ErrorCode::InvalidConfig,
                fmt::format("{}: expected `local` or a postgresql:// URL (the text is not shown: it may hold a "
                            "password)",
                            source));
  if (auto s = state::check_conninfo(text); !s) return fail(s.error().with_context(source));
  auto parsed = pg::parse_conninfo(text);
  if (!parsed) return fail(parsed.error().with_context(source));
  if (!password_allowed && parsed->contains("password"))
    return fail(ErrorCode::InvalidConfig,
                fmt::format("{}: the URL holds a password, which every user of this machine could read in the "
                            "process list: put it in PGPASSWORD or ~/.pgpass, or the whole URL in KEEL_BACKEND",
                            source));
  return BackendChoice{state::PostgresBackend{text, ""}, source};
}

}  // namespace

// Every `env.NAME` in the URL's text, however the expression is written
// (`${env.X}`, `${ env.X }`, `${nonsensitive(env.X)}`): hiding one name too
// many costs nothing.
void hide_backend_secrets(const config::Stack& stack) {
  const nlohmann::json& raw = stack.backend.url;
  if (!raw.is_string()) return;
  const std::string& text = raw.get_ref<const std::string&>();
  for (size_t at = text.find("env."); at != std::string::npos; at = text.find("env.", at + 1)) {
    size_t start = at + 4, end = start;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) ++end;
    if (end > start) process::keep_from_children(text.substr(start, end - start));
  }
}

Result<std::optional<BackendChoice>> backend_outside_stack(const GlobalOptions& g) {
  if (!g.backend.empty()) {
    auto b = backend_of_text(g.backend, "--backend", /*password_allowed=*/false);
    if (!b) return fail(b.error());
    return std::optional<BackendChoice>(std::move(*b));
  }
  if (const char* env = std::getenv("KEEL_BACKEND"); env && *env) {
    auto b = backend_of_text(env, "KEEL_BACKEND", /*password_allowed=*/true);
    if (!b) return fail(b.error());
    return std::optional<BackendChoice>(std::move(*b));
  }
  return std::optional<BackendChoice>();
}

std::string state_key_of(const config::Stack& stack, const std::string& environment) {
  const std::string key = stack.backend.key.empty() ? stack.project : stack.backend.key;
  return environment.empty() ? key : key + "/" + environment;
}

Result<BackendChoice> choose_backend(const std::optional<BackendChoice>& outside_stack, const config::Stack& stack,
                                     const std::string& environment) {
  const config::BackendBlock& declared = stack.backend;
  const std::string key = state_key_of(stack, environment);
  hide_backend_secrets(stack);  // whichever backend this run uses
  if (outside_stack) {
    BackendChoice choice = *outside_stack;
    if (choice.postgres) choice.postgres->state_key = key;
    return choice;
  }
  if (declared.type.empty()) return BackendChoice{};
  const std::string where = declared.url_mark.describe();
  if (declared.url.is_string() && declared.url.get_ref<const std::string&>().find("${var.") != std::string::npos)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("{}: backend.postgres cannot read variables (the state is found before they are "
                            "evaluated, and by commands that do not evaluate the stack): use ${{env.NAME}}",
                            where));
  const std::map<std::string, config::Value> no_variables;
  config::EvalContext ctx;
  ctx.variables = &no_variables;
  ctx.stack_dir = stack.dir;
  auto url = config::evaluate(declared.url, ctx);
  if (!url) return fail(url.error().with_context(where + ": backend.postgres"));
  if (url->unknown || !url->value.is_string() || url->value.get<std::string>().empty())
    return fail(ErrorCode::InvalidConfig,
                fmt::format("{}: backend.postgres must be the database's URL; it is empty or not known before "
                            "apply (is its environment variable set?)",
                            where));
  const std::string text = url->value.get<std::string>();
  if (!is_postgres_url(text) && text.find('=') == std::string::npos)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("{}: backend.postgres must be a postgresql:// URL or key=value pairs (the value is not "
                            "shown: it may hold a password)",
                            where));
  if (auto s = state::check_conninfo(text); !s) return fail(s.error().with_context(where));
  // A password written in the stack is committed with it.
  const bool literal = declared.url.get_ref<const std::string&>().find("${") == std::string::npos;
  if (auto parsed = pg::parse_conninfo(text); literal && parsed && parsed->contains("password"))
    return fail(ErrorCode::InvalidConfig,
                fmt::format("{}: backend.postgres holds a password, which would be committed with the stack: read "
                            "the URL from the environment (\"${{env.KEEL_PG_URL}}\"), or keep the password in "
                            "PGPASSWORD or ~/.pgpass",
                            where));
  return BackendChoice{state::PostgresBackend{text, key}, where};
}

std::unique_ptr<state::StateStore> make_store(const BackendChoice& choice, const std::string& work_dir) {
  if (choice.postgres) return std::make_unique<state::PostgresStateStore>(*choice.postgres, work_dir);
  return std::make_unique<state::FileStateStore>(work_dir);
}

Result<BackendChoice> parse_backend_word(const std::string& text, const std::string& option) {
  return backend_of_text(text, option, /*password_allowed=*/false);
}

}  // namespace keel::commands
