// keel state migrate --from WHERE --to WHERE: copies the state, with its
// lineage and serial, from one backend to another (docs/backends.md). Both
// are locked for the copy. The target must hold no state, or an older
// serial of the same lineage: another lineage is another stack's state and
// is never overwritten. A local state copied away is retired
// (state.json.migrated), so that .keel/ cannot be taken for the state again
// by a run that forgot the backend; a PostgreSQL one is marked so
// (keel.retired).
#include <fmt/format.h>

#include "cli/commands/backend.h"
#include "cli/commands/workspace.h"
#include "cli/state/file_store.h"
#include "cli/views/error_view.h"
#include "cli/views/render.h"
#include "core/files.h"

namespace keel::commands {

namespace {

// `word` (local, backend, or a URL) for this stack.
Result<BackendChoice> resolve(const std::string& word, const GlobalOptions& g, const config::Stack& stack,
                              const std::string& option) {
  if (word == "backend") {
    auto outside = backend_outside_stack(g);
    if (!outside) return fail(outside.error());
    auto choice = choose_backend(*outside, stack, g.environment);
    if (!choice) return fail(choice.error());
    if (!choice->postgres)
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("{} backend: {} declares no `backend:` and neither KEEL_BACKEND nor --backend names "
                              "one",
                              option, g.file));
    return choice;
  }
  auto choice = parse_backend_word(word, option);
  if (!choice) return fail(choice.error());
  if (choice->postgres) choice->postgres->state_key = state_key_of(stack, g.environment);
  return choice;
}

// Compared by what they reach (host, port, database, key), not by their
// text: one URL may carry a password or options the other does not.
bool same_place(const BackendChoice& a, const BackendChoice& b) {
  if (!a.postgres || !b.postgres) return !a.postgres && !b.postgres;
  return state::describe_conninfo(a.postgres->conninfo) == state::describe_conninfo(b.postgres->conninfo) &&
         a.postgres->state_key == b.postgres->state_key;
}

}  // namespace

int run_state_migrate(Context& ctx, const std::string& from_word, const std::string& to_word) {
  const GlobalOptions& g = ctx.global;
  auto loaded = config::load_stack_file(g.file);
  hide_backend_secrets(loaded.stack);
  if (loaded.diagnostics.has_errors()) {
    error_view(ctx).invalid_stack(loaded.diagnostics);
    return report_error(ctx, Error(ErrorCode::InvalidConfig, "the stack " + g.file + " is not valid"));
  }
  if (auto problem = loaded.stack.environment_problem(g.environment); !problem.empty())
    return report_error(ctx, Error(ErrorCode::InvalidConfig, problem));
  const std::string work_dir = work_dir_of(g);
  auto from = resolve(from_word, g, loaded.stack, "--from");
  if (!from) return report_error(ctx, from.error());
  auto to = resolve(to_word, g, loaded.stack, "--to");
  if (!to) return report_error(ctx, to.error());
  if (same_place(*from, *to))
    return report_error(ctx, Error(ErrorCode::InvalidConfig, "--from and --to name the same place"));

  auto source = make_store(*from, work_dir);
  auto target = make_store(*to, work_dir);
  const std::string command = "keel state migrate";
  if (auto s = source->lock(command); !s) return report_error(ctx, s.error());
  if (auto s = target->lock(command); !s) return report_error(ctx, s.error());
  auto source_retired = source->is_retired();
  if (!source_retired) return report_error(ctx, source_retired.error());
  if (*source_retired) return report_error(ctx, state::retired_error(source->where()));
  auto state = source->load();
  if (!state) return report_error(ctx, state.error());
  if (state->serial == 0 && state->resources.empty())
    return report_error(ctx, Error(ErrorCode::NotFound, fmt::format("{} holds no state to copy", source->where())));
  // A target retired by an earlier migration away holds an older serial of
  // this state (or nothing): this migration is what brings it back.
  auto existing = target->load(/*compact=*/false);
  if (!existing) return report_error(ctx, existing.error());
  const bool target_empty = existing->serial == 0 && existing->resources.empty();
  if (!target_empty && existing->lineage != state->lineage)
    return report_error(ctx, Error(ErrorCode::Conflict,
                                   fmt::format("{} holds another state (lineage {}, serial {}; this one is lineage {}): "
                                               "keel does not overwrite it",
                                               target->where(), existing->lineage, existing->serial, state->lineage)));
  if (!target_empty && existing->serial > state->serial)
    return report_error(ctx, Error(ErrorCode::Conflict,
                                   fmt::format("{} holds a newer serial of this state ({} > {}): copy the other way",
                                               target->where(), existing->serial, state->serial)));
  const long serial = state->serial;
  const bool copying = target_empty || existing->serial < serial;
  if (copying) {
    state::State copy = std::move(*state);
    copy.serial = serial - 1;  // save() writes serial + 1: the source's own
    if (auto s = target->save(copy); !s) return report_error(ctx, s.error());  // clears a retired mark
  } else if (auto s = target->unretire(); !s) {  // it holds this serial: it is the state again
    return report_error(ctx, s.error());
  }
  if (auto s = source->retire(); !s) return report_error(ctx, s.error());
  if (g.json) {
    nlohmann::json doc = {{"ok", true},           {"serial", serial},          {"copied", copying},
                          {"from", source->where()}, {"to", target->where()}};
    write(ctx.out, views::json_document(doc) + "\n");
    return kExitOk;
  }
  std::string text = copying ? fmt::format("Copied serial {} from {} to {}.\n", serial, source->where(), target->where())
                             : fmt::format("{} already holds serial {} of this state: nothing to copy.\n",
                                           target->where(), serial);
  text += from->postgres
              ? fmt::format("{} is marked migrated: runs that choose it refuse.\n", source->where())
              : fmt::format("{}/state.json is now state.json.migrated: runs that choose .keel/ refuse.\n", work_dir);
  write(ctx.out, text);
  return kExitOk;
}

}  // namespace keel::commands
