// keel state list | show ADDR | rm ADDR... | mv FROM TO | import ADDR ID
#include <cstdio>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands/workspace.h"
#include "cli/engine/plan.h"
#include "cli/state/moves.h"
#include "cli/views/render.h"

namespace keel::commands {

namespace {

int state_list(Workspace& ws, bool json) {
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& [address, r] : ws.state.resources)
      arr.push_back({{"address", address}, {"kind", r.kind}, {"provider", r.provider}, {"id", r.id}, {"pending", r.pending()}});
    std::printf("%s\n", nlohmann::json({{"serial", ws.state.serial}, {"lineage", ws.state.lineage}, {"resources", arr}}).dump().c_str());
    return kExitOk;
  }
  for (const auto& [address, r] : ws.state.resources)
    std::printf("%s%s\n", address.c_str(), r.pending() ? "  (create interrupted; adopted or created by the next apply)" : "");
  return kExitOk;
}

int state_show(Workspace& ws, const std::string& address, bool json) {
  const state::ResourceState* r = ws.state.find(address);
  if (!r) return report_error(Error(ErrorCode::NotFound, "no " + address + " in state"), json);
  nlohmann::json attrs = views::masked_attributes(*r);
  if (json) {
    std::printf("%s\n", nlohmann::json({{"address", r->address}, {"kind", r->kind}, {"provider", r->provider},
                                        {"id", r->id}, {"attributes", attrs}, {"dependencies", r->dependencies},
                                        {"sensitive_attributes", r->sensitive}})
                            .dump(2)
                            .c_str());
    return kExitOk;
  }
  std::printf("# %s  (provider %s, id %s)\n", r->address.c_str(), r->provider.c_str(), r->id.c_str());
  for (auto it = attrs.begin(); it != attrs.end(); ++it)
    std::printf("  %s = %s\n", it.key().c_str(),
                it.value() == views::kSensitive ? views::kSensitive : views::render_value(it.value()).c_str());
  return kExitOk;
}

int save(Workspace& ws, bool json, const std::string& done) {
  if (auto s = ws.store->save(ws.state); !s) return report_error(s.error(), json);
  if (json) std::printf("%s\n", nlohmann::json({{"ok", true}, {"serial", ws.state.serial}}).dump().c_str());
  else std::printf("%s\n", done.c_str());
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
    auto got = providers->at(r->provider)->read({r->kind, r->id, r->attributes, {}});
    if (!got) out.push_back(a + " (cannot read it: " + got.error().message() + ")");
    else if (got->found) out.push_back(a + " (id " + r->id + ")");
  }
  return out;
}

int state_rm(Workspace& ws, const std::vector<std::string>& addresses, bool json, bool auto_approve) {
  for (const auto& a : addresses)
    if (!ws.state.find(a)) return report_error(Error(ErrorCode::NotFound, "no " + a + " in state"), json);
  if (!auto_approve) {
    auto existing = still_existing(ws, addresses);
    if (!existing.empty()) {
      std::string list;
      for (const auto& e : existing) list += "\n  " + e;
      std::string what = "these still exist, and keel would stop managing them (it does not delete them):" + list;
      if (!isatty(STDIN_FILENO))
        return report_error(Error(ErrorCode::InvalidConfig,
                                  what + "\nNot on a terminal, so nobody can approve: pass --auto-approve"),
                            json);
      std::printf("keel state rm: %s\n", what.c_str());
      if (!confirm("Do you want to remove them from state?")) {
        std::printf("Cancelled; the state is unchanged.\n");
        return kExitError;
      }
    }
  }
  for (const auto& a : addresses) ws.state.resources.erase(a);
  return save(ws, json, "Removed " + std::to_string(addresses.size()) + " resource(s) from state; they still exist where they are.");
}

int state_mv(Workspace& ws, const std::string& from, const std::string& to, bool json) {
  auto moved = state::move_resource(ws.state, from, to);
  if (!moved) return report_error(moved.error(), json);
  std::string done;
  for (const auto& m : *moved) {
    if (!done.empty()) done += '\n';
    done += fmt::format("Moved {} to {}.", m.from, m.to);
  }
  return save(ws, json, done);
}

int state_import(Workspace& ws, const std::string& address, const std::string& id, bool json) {
  const config::Instance* inst = ws.config.find(address);
  if (!inst) return report_error(Error(ErrorCode::InvalidConfig, address + " is not declared in the stack; declare it first"), json);
  if (ws.state.find(address)) return report_error(Error(ErrorCode::Conflict, address + " is already in state"), json);
  auto providers = ws.providers_for({address});
  if (!providers) return report_error(providers.error(), json);
  // The provider gets the stack's settings for the address too, so that what
  // it reads back is spelled the way the stack spells it.
  auto desired = engine::desired_attributes(ws.config, *inst, [&](const std::string& a, const std::string& attr) {
    return engine::state_attribute(ws.state, a, attr);
  });
  if (!desired) return report_error(desired.error().with_context("import " + address), json);
  provider::FindRequest request{inst->block->kind, {ws.stack.project, address}, id, desired->values, {}};
  auto found = providers->at(inst->provider_name)->find(request);
  if (!found) return report_error(found.error().with_context("import " + address), json);
  if (!found->found) return report_error(Error(ErrorCode::NotFound, "provider " + inst->provider_name + " has no " + inst->block->kind + " with id " + id), json);
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
  return save(ws, json, "Imported " + address + " (id " + found->id + ").");
}

int state_rebind(Workspace& ws, const GlobalOptions& g, bool json) {
  // Workspace::open has recorded the stack's project and file in memory.
  return save(ws, json, "The state now belongs to " + g.file + " (project `" + ws.stack.project + "`).");
}

}  // namespace

int run_state(const GlobalOptions& g, const StateOptions& o) {
  auto need = [&](size_t n) { return o.args.size() == n; };
  bool ok = (o.verb == "list" && need(0)) || (o.verb == "show" && need(1)) || (o.verb == "rm" && !o.args.empty()) ||
            (o.verb == "mv" && need(2)) || (o.verb == "import" && need(2)) || (o.verb == "rebind" && need(0));
  if (!ok)
    return report_error(Error(ErrorCode::InvalidConfig, "usage: keel state list | show ADDR | rm ADDR... | mv FROM TO | import ADDR ID | rebind"), g.json);
  auto ws = Workspace::open(g, "keel state " + o.verb, true, o.verb != "rebind");
  if (!ws) return report_error(ws.error(), g.json);
  Workspace& w = **ws;
  if (o.verb == "list") return state_list(w, g.json);
  if (o.verb == "show") return state_show(w, o.args[0], g.json);
  if (o.verb == "rm") return state_rm(w, o.args, g.json, o.auto_approve);
  if (o.verb == "mv") return state_mv(w, o.args[0], o.args[1], g.json);
  if (o.verb == "rebind") return state_rebind(w, g, g.json);
  return state_import(w, o.args[0], o.args[1], g.json);
}

}  // namespace keel::commands
