// keel state list | show ADDR | rm ADDR... | mv FROM TO | import ADDR ID
#include <algorithm>
#include <cstdio>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands/app.h"
#include "cli/commands/workspace.h"
#include "cli/engine/plan.h"
#include "cli/state/file_store.h"
#include "cli/state/moves.h"
#include "cli/state/stack_binding.h"
#include "cli/state/state_codec.h"
#include "cli/views/state_views.h"
#include "core/diagnostics.h"
#include "core/files.h"
#include "core/text.h"

namespace keel::commands {

namespace {

int state_list(Context& ctx, Workspace& ws) {
  views::make_state_view(ctx.global.json, streams_of(ctx))->list(ws.state);
  return kExitOk;
}

int state_show(Context& ctx, Workspace& ws, const std::string& address) {
  const state::ResourceState* r = ws.state.find(address);
  if (!r) return report_error(ctx, Error(ErrorCode::NotFound, "no " + address + " in state"));
  views::make_state_view(ctx.global.json, streams_of(ctx))->show(*r);
  return kExitOk;
}

int save(Context& ctx, Workspace& ws, const std::string& done) {
  if (auto s = ws.store->save(ws.state); !s) return report_error(ctx, s.error());
  views::make_state_view(ctx.global.json, streams_of(ctx))->saved(ws.state.serial, done);
  return kExitOk;
}

// The addresses whose resources still exist (or may: a provider that
// cannot say counts as "may"), which `state rm` would leave unmanaged.
std::vector<std::string> still_existing(Workspace& ws, const std::vector<std::string>& addresses) {
  std::vector<std::string> out;
  auto providers = ws.providers_for(addresses);
  for (const auto& a : addresses) {
    const state::ResourceState* r = ws.state.find(a);
    if (r->pending()) continue;
    if (!providers) {
      out.push_back(a + " (cannot ask its provider: " + providers.error().message() + ")");
      continue;
    }
    auto got = providers->at(r->provider)->read({r->kind, r->id, r->attributes, {}, a});
    if (!got) out.push_back(a + " (cannot read it: " + got.error().message() + ")");
    else if (got->found) out.push_back(a + " (id " + r->id + ")");
  }
  return out;
}

int state_rm(Context& ctx, Workspace& ws, const std::vector<std::string>& addresses, bool auto_approve) {
  for (const auto& a : addresses)
    if (!ws.state.find(a)) return report_error(ctx, Error(ErrorCode::NotFound, "no " + a + " in state"));
  if (!auto_approve) {
    auto existing = still_existing(ws, addresses);
    if (!existing.empty()) {
      std::string list;
      for (const auto& e : existing) list += "\n  " + e;
      std::string what = "these still exist, and keel would stop managing them (it does not delete them):" + list;
      if (!ctx.in_is_tty)
        return report_error(ctx, Error(ErrorCode::InvalidConfig,
                                  what + "\nNot on a terminal, so nobody can approve: pass --auto-approve"));
      write(ctx.dialogue(), "keel state rm: " + what + "\n");
      if (!confirm(ctx, "Do you want to remove them from state?"))
        return report_error(ctx, Error(ErrorCode::InvalidConfig, "cancelled; the state is unchanged"));
    }
  }
  for (const auto& a : addresses) ws.state.resources.erase(a);
  return save(ctx, ws, "Removed " + std::to_string(addresses.size()) + " resource(s) from state; they still exist where they are.");
}

int state_mv(Context& ctx, Workspace& ws, const std::string& from, const std::string& to) {
  auto moved = state::move_resource(ws.state, from, to);
  if (!moved) return report_error(ctx, moved.error());
  std::string done;
  for (const auto& m : *moved) {
    if (!done.empty()) done += '\n';
    done += fmt::format("Moved {} to {}.", m.from, m.to);
  }
  return save(ctx, ws, done);
}

int state_import(Context& ctx, Workspace& ws, const std::string& address, const std::string& id) {
  const config::Instance* inst = ws.config.find(address);
  if (!inst) return report_error(ctx, Error(ErrorCode::InvalidConfig, address + " is not declared in the stack; declare it first"));
  if (ws.state.find(address)) return report_error(ctx, Error(ErrorCode::Conflict, address + " is already in state"));
  auto providers = ws.providers_for({address});
  if (!providers) return report_error(ctx, providers.error());
  // The provider gets the stack's settings for the address too, so that what
  // it reads back is spelled the way the stack spells it.
  auto desired = engine::desired_attributes(ws.config, *inst, [&](const std::string& a, const std::string& attr) {
    return engine::state_attribute(ws.state, a, attr);
  });
  if (!desired) return report_error(ctx, desired.error().with_context("import " + address));
  provider::FindRequest request{inst->block->kind, {ws.config.provider_project(), address}, id, desired->values, {}};
  auto found = providers->at(inst->provider_name)->find(request);
  if (!found) return report_error(ctx, found.error().with_context("import " + address));
  if (!found->found) return report_error(ctx, Error(ErrorCode::NotFound, "provider " + inst->provider_name + " has no " + inst->block->kind + " with id " + id));
  state::ResourceState r;
  r.address = address;
  r.kind = inst->block->kind;
  r.provider = inst->provider_name;
  r.provider_type = inst->provider_type;
  r.id = found->id;
  r.attributes = found->attributes;
  for (const auto& a : inst->schema->attributes)
    if (a.sensitive) r.sensitive.insert(a.name);
  auto deps = ws.config.graph.dependencies(address);
  r.dependencies.assign(deps.begin(), deps.end());
  ws.state.resources[address] = std::move(r);
  return save(ctx, ws, "Imported " + address + " (id " + text::printable(found->id) + ").");
}

const std::vector<std::string>& verbs() {
  static const std::vector<std::string> all = {"list", "show",    "rm",      "mv",   "import",
                                               "rebind", "history", "migrate", "pull", "push"};
  return all;
}

// The state as the backend keeps it (sensitive values sealed with the
// state key), on stdout: a copy to inspect, keep or edit and push.
int state_pull(Context& ctx, Workspace& ws) {
  if (ws.state.lineage.empty())
    return report_error(ctx, Error(ErrorCode::NotFound, "no state in " + ws.store->where() + " to pull"));
  write(ctx.out, state::encode_state(ws.state, ws.store->key()).dump(2) + "\n");
  return kExitOk;
}

// Why `pushed` may not replace `current` without --force; empty when it may.
// As Terraform's state push: the same lineage, and no older than what is
// there (an older serial would undo what ran since it was pulled).
std::string push_refusal(const state::State& pushed, const state::State& current) {
  const bool holds_any = current.serial > 0 || !current.resources.empty();
  if (holds_any && pushed.lineage != current.lineage)
    return fmt::format("it is another state (lineage {}; the state here is lineage {})", pushed.lineage,
                       current.lineage);
  if (pushed.serial < current.serial)
    return fmt::format("it is serial {}, older than the state here (serial {}): something changed the state since "
                       "it was pulled; pull again and make the change on that",
                       pushed.serial, current.serial);
  return {};
}

// Replaces the state with a file's (`keel state pull`'s format, sealed with
// this state's key): saved as the next serial, recorded in the history.
int state_push(Context& ctx, Workspace& ws, const GlobalOptions& g, const std::string& path, bool force) {
  auto text = files::read_regular_file(path, state::kMaxStateBytes);
  if (!text) return report_error(ctx, text.error().with_context("state push " + path));
  auto pushed = state::parse_state_text(*text, path, ws.store->key());
  if (!pushed) return report_error(ctx, pushed.error().with_context("state push"));
  // It must be this stack's: another project's or environment's state
  // planned against this stack would delete all of it. --force does not
  // lift this; a state that records no stack (edited out) is nobody's.
  if (pushed->project.empty())
    return report_error(ctx, Error(ErrorCode::Conflict,
                                   path + " records no project: every state keel saves does, and one without could "
                                          "belong to any stack; nothing was changed"));
  if (auto s = state::check_binding(*pushed, ws.stack.project, g.file, g.environment, path); !s)
    return report_error(ctx, Error(ErrorCode::Conflict, s.error().message() + "; nothing was changed"));
  if (auto why = push_refusal(*pushed, ws.state); !why.empty() && !force)
    return report_error(ctx, Error(ErrorCode::Conflict, fmt::format("{}: {}; nothing was changed (--force pushes it "
                                                                    "anyway)",
                                                                    path, why)));
  pushed->serial = ws.state.serial;  // saved as the next one after what is there
  ws.state = std::move(*pushed);
  state::bind(ws.state, ws.stack.project, g.file, g.environment);
  return save(ctx, ws, "Pushed " + path + ".");
}

int state_history(Context& ctx, Workspace& ws, size_t limit) {
  auto entries = ws.store->history(limit);
  if (!entries) return report_error(ctx, entries.error());
  views::make_state_view(ctx.global.json, streams_of(ctx))->history(*entries, ws.store->where());
  return kExitOk;
}

int state_rebind(Context& ctx, Workspace& ws, const GlobalOptions& g) {
  // Workspace::open has recorded the stack's project and file in memory.
  return save(ctx, ws, "The state now belongs to " + g.file + " (project `" + ws.stack.project + "`" +
                           (g.environment.empty() ? "" : ", environment `" + g.environment + "`") + ").");
}

}  // namespace

int run_state(Context& ctx, const StateOptions& o) {
  const GlobalOptions& g = ctx.global;
  auto need = [&](size_t n) { return o.args.size() == n; };
  bool ok = (o.verb == "list" && need(0)) || (o.verb == "show" && need(1)) || (o.verb == "rm" && !o.args.empty()) ||
            (o.verb == "mv" && need(2)) || (o.verb == "import" && need(2)) || (o.verb == "rebind" && need(0)) ||
            (o.verb == "history" && need(0)) || (o.verb == "migrate" && need(0) && !o.from.empty() && !o.to.empty()) ||
            (o.verb == "pull" && need(0)) || (o.verb == "push" && need(1));
  if (!ok) {
    std::string why;
    if (std::find(verbs().begin(), verbs().end(), o.verb) == verbs().end()) {
      why = "unknown command `state " + o.verb + "`";
      if (auto near = did_you_mean(o.verb, verbs()); !near.empty()) why += "; " + near;
      why += "\n";
    }
    return report_error(ctx, Error(ErrorCode::InvalidConfig,
                                   why + "usage: keel state list | show ADDR | rm ADDR... | mv FROM TO | import ADDR ID | rebind | "
                                         "history | migrate --from WHERE --to WHERE | pull | push FILE [--force]"));
  }
  if (o.serial != 0 && o.verb != "list" && o.verb != "show" && o.verb != "pull")
    return report_error(ctx, Error(ErrorCode::InvalidConfig, "--serial goes with `state list`, `show` and `pull`"));
  if (o.force && o.verb != "push") return report_error(ctx, Error(ErrorCode::InvalidConfig, "--force goes with `state push`"));
  if (o.verb == "migrate") return run_state_migrate(ctx, o.from, o.to);
  // pull only reads: nothing is written, not even a new key or state.
  auto ws = Workspace::open(ctx, g, "keel state " + o.verb, true, o.verb != "rebind", o.verb == "pull");
  if (!ws) return report_error(ctx, ws.error());
  Workspace& w = **ws;
  if (o.serial != 0 && o.serial != w.state.serial) {
    auto older = w.store->load_serial(o.serial);
    if (!older) return report_error(ctx, older.error());
    w.state = std::move(*older);
  }
  if (o.verb == "history") return state_history(ctx, w, o.limit);
  if (o.verb == "list") return state_list(ctx, w);
  if (o.verb == "show") return state_show(ctx, w, o.args[0]);
  if (o.verb == "rm") return state_rm(ctx, w, o.args, o.auto_approve);
  if (o.verb == "mv") return state_mv(ctx, w, o.args[0], o.args[1]);
  if (o.verb == "rebind") return state_rebind(ctx, w, g);
  if (o.verb == "pull") return state_pull(ctx, w);
  if (o.verb == "push") return state_push(ctx, w, g, o.args[0], o.force);
  return state_import(ctx, w, o.args[0], o.args[1]);
}

void setup_state(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "state", "inspect and edit state: list | show ADDR | rm ADDR... | mv FROM TO | import ADDR ID | rebind | history | migrate | pull | push FILE", [](CLI::App* cmd, Context& ctx) {
    auto o = std::make_shared<StateOptions>();
    offer_words(cmd->add_option("verb", o->verb, "what to do")->required(),
                verbs());
    cmd->add_option("args", o->args, "addresses (and an id for import)");
    cmd->add_flag("--auto-approve", o->auto_approve, "rm: do not ask before forgetting what still exists");
    cmd->add_flag("--force", o->force, "push: over another lineage or a newer serial");
    cmd->add_option("--serial", o->serial, "list, show, pull: a saved state of the history (default: the newest)")
        ->type_name("N")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--limit", o->limit, "history: how many saved states (newest first)")
        ->type_name("N")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    cmd->add_option("--from", o->from, "migrate: where the state is now: local, backend, or a postgresql:// URL")
        ->type_name("WHERE");
    cmd->add_option("--to", o->to, "migrate: where to copy it: local, backend, or a postgresql:// URL")
        ->type_name("WHERE");
    cmd->footer(std::string("list: the addresses in state. show ADDR: one resource, sensitive attributes masked.\n"
        "rm ADDR...: forget resources (they keep existing); asks when they still exist.\n"
        "mv FROM TO: rename in state after renaming in the stack. import ADDR ID: adopt an existing resource.\n"
        "rebind: record this stack file and project as the state's owner.\n"
        "history: the saved states (serial, when, who, command, what changed).\n"
        "migrate: copy the state, lineage and serial kept, between .keel/ (local), the stack's backend (backend)\n"
        "and a PostgreSQL URL (docs/backends.md).\n"
        "pull: the state as stored (sensitive values sealed) on stdout. push FILE: replace the state with a pulled\n"
        "one (same lineage, not older; --force: anyway), saved as the next serial.") + "\n\n" +
                help_footer({"keel state list", "keel state show servers.web[0]", "keel state mv files.old files.new",
                             "keel state import files.motd /etc/motd", "keel state rm files.tmp --auto-approve",
                             "keel state history", "keel state show --serial 12 databases.main",
                             "keel state migrate --from local --to backend",
                             "keel state pull > state.json && keel state push state.json"},
                            {{kExitOk, "done"},
                             {kExitError, "error: bad verb or arguments, unknown address, refused or failed change"},
                             {kExitLocked, "the state is locked by another keel (the message names it)"}}));
    on_chosen(*cmd, ctx, o, run_state);
  });
}

}  // namespace keel::commands
