// Stage 3: configuration + state -> plan.
#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/engine/plan.h"

namespace keel::engine {

const char* to_string(Action a) {
  switch (a) {
    case Action::NoOp: return "no-op";
    case Action::Create: return "create";
    case Action::Update: return "update";
    case Action::Replace: return "replace";
    case Action::Delete: return "delete";
  }
  return "?";
}

bool Plan::has_changes() const {
  if (!moved.empty()) return true;
  for (const auto& c : changes)
    if (c.action != Action::NoOp) return true;
  for (const auto& o : outputs)
    if (o.changed) return true;
  return false;
}

Plan::Counts Plan::counts() const {
  Counts n;
  for (const auto& c : changes) {
    if (c.action == Action::Create || c.action == Action::Replace) ++n.add;
    if (c.action == Action::Update) ++n.change;
    if (c.action == Action::Delete || c.action == Action::Replace) ++n.destroy;
  }
  return n;
}

namespace {

// A number or bool referenced into a string attribute becomes its text
// ("${files.a.size}" into `content`), as Terraform converts primitives.
nlohmann::json coerce(const provider::AttributeSchema& attr, nlohmann::json value) {
  if (attr.type == provider::AttributeType::String && (value.is_number() || value.is_boolean()))
    return config::to_text(value);
  return value;
}

}  // namespace

std::optional<config::Value> state_attribute(const state::State& state, const std::string& address,
                                             const std::string& attribute) {
  const state::ResourceState* r = state.find(address);
  if (!r || r->pending()) return config::Value{nullptr, true, false};
  auto it = r->attributes.find(attribute);
  return config::Value{it == r->attributes.end() ? nlohmann::json() : *it, false, r->sensitive.count(attribute) > 0};
}

Result<DesiredAttributes> desired_attributes(const config::Configuration& config, const config::Instance& instance,
                                             const config::ResourceLookup& lookup) {
  DesiredAttributes out;
  auto ctx = config.context_for(instance, lookup);
  // The block's own attributes, and those filled from top-level sections
  // (a server's `checks`); validation keeps the two apart.
  auto raw_value = [&](const std::string& name) -> const nlohmann::json* {
    for (const auto* raw : {&instance.block->attributes, &instance.section_attributes})
      if (auto it = raw->find(name); it != raw->end()) return &*it;
    return nullptr;
  };
  for (const auto& attr : instance.schema->attributes) {
    if (!attr.settable()) continue;
    const nlohmann::json* raw = raw_value(attr.name);
    if (!raw) {
      if (!attr.default_value.is_null()) out.values[attr.name] = attr.default_value;
      if (attr.sensitive) out.sensitive.insert(attr.name);
      continue;
    }
    auto v = config::evaluate(*raw, ctx);
    if (!v) return fail(v.error().with_context(instance.address + "." + attr.name));
    if (v->sensitive || attr.sensitive) out.sensitive.insert(attr.name);
    if (v->sensitive && !attr.sensitive && !v->sensitive_paths.empty())
      out.sensitive_paths[attr.name] = std::move(v->sensitive_paths);
    if (v->unknown && !v->unknown_paths.empty()) {
      out.partial[attr.name] = std::move(v->partial);
      out.unknown_paths[attr.name] = std::move(v->unknown_paths);
    }
    if (v->unknown) out.unknown.insert(attr.name);
    else out.values[attr.name] = coerce(attr, std::move(v->value));
  }
  return out;
}

void keep_ignored(const config::Instance& instance, const state::ResourceState& current, DesiredAttributes& desired) {
  for (const auto& [name, mark] : instance.block->lifecycle.ignore_changes) {
    desired.unknown.erase(name);
    desired.partial.erase(name);
    desired.unknown_paths.erase(name);
    desired.sensitive_paths.erase(name);
    if (auto it = current.attributes.find(name); it != current.attributes.end()) desired.values[name] = *it;
    else desired.values.erase(name);
    if (current.sensitive.count(name)) desired.sensitive.insert(name);
    if (auto paths = current.sensitive_paths.find(name); paths != current.sensitive_paths.end())
      desired.sensitive_paths[name] = paths->second;
  }
}

bool matches_address(const std::string& address, const std::set<std::string>& selectors) {
  if (selectors.count(address)) return true;
  auto bracket = address.find('[');
  return bracket != std::string::npos && selectors.count(address.substr(0, bracket));
}

namespace {

// The declared instances a plan covers: everything, or the targets and what
// they depend on.
std::set<std::string> selected_instances(const config::Configuration& config, const std::set<std::string>& targets) {
  std::set<std::string> roots;
  for (const auto& inst : config.instances)
    if (targets.empty() || matches_address(inst.address, targets)) roots.insert(inst.address);
  return targets.empty() ? roots : config.graph.closure(roots);
}

}  // namespace

Status check_replace(const config::Configuration& config, const PlanOptions& options) {
  if (options.replace.empty()) return {};
  auto selected = selected_instances(config, options.targets);
  for (const auto& address : options.replace) {
    bool declared = false, in_selection = false;
    for (const auto& inst : config.instances) {
      if (!matches_address(inst.address, {address})) continue;
      declared = true;
      in_selection |= selected.count(inst.address) > 0;
    }
    // A typo must not pass for "nothing to replace".
    if (!declared)
      return fail(ErrorCode::InvalidConfig, fmt::format("--replace {}: no such resource in the stack", address));
    if (!in_selection)
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("--replace {}: outside the --target selection; target it too, or drop the --replace",
                              address));
  }
  return {};
}

namespace {

class Planner {
 public:
  Planner(const config::Configuration& config, const state::State& state, const PlanOptions& options)
      : config_(config), state_(state), options_(options) {}

  Result<Plan> run() {
    plan_.lineage = state_.lineage;
    plan_.serial = state_.serial;
    plan_.destroy = options_.destroy;
    if (!options_.destroy) {
      if (auto s = check_replace(config_, options_); !s) return fail(s.error());
      auto selected = selected_instances(config_, options_.targets);
      for (const auto& address : config_.graph.topological_order()) {
        if (!selected.count(address)) continue;
        auto s = plan_instance(*config_.find(address));
        if (!s) return fail(s.error());
      }
    }
    plan_deletes();
    for (auto& c : plan_.changes)
      c.data_loss = (c.action == Action::Delete || c.action == Action::Replace) && config::holds_data(c.kind);
    if (auto s = check_prevent_destroy(); !s) return fail(s.error());
    if (options_.targets.empty()) {
      if (auto s = plan_outputs(); !s) return fail(s.error());
    }
    return std::move(plan_);
  }

  // lifecycle.prevent_destroy, as Terraform has it: a plan that would delete
  // or replace a protected resource the stack declares is refused, and so
  // is one that deletes instances a lowered `count` left out of a protected
  // block. Every protected resource the plan would touch is named.
  Status check_prevent_destroy() const {
    std::vector<std::string> refused;
    for (const auto& c : plan_.changes) {
      if (c.action != Action::Delete && c.action != Action::Replace) continue;
      const config::ResourceBlock* block = declaring_block(c);
      if (!block || !block->lifecycle.prevent_destroy) continue;
      std::string why;
      if (c.action == Action::Delete) why = config_.find(c.address) ? "destroy it" : "destroy it (its block's `count` no longer includes it)";
      else if (c.replace_requested) why = "replace it, as --replace asks";
      else
        for (const auto& a : c.attributes)
          if (a.forces_replacement) why = "replace it, because `" + a.name + "` changed and cannot change in place";
      refused.push_back(fmt::format("{} has lifecycle.prevent_destroy set ({}), and this plan would {}", c.address,
                                    block->lifecycle.mark.describe(), why));
    }
    if (refused.empty()) return {};
    return fail(ErrorCode::InvalidConfig,
                fmt::format("{}. Set prevent_destroy to false first if you mean it, or leave it out of the plan "
                            "(--target)",
                            fmt::join(refused, "; ")));
  }

  // The stack's block of a change's resource, also for an instance its
  // `count` no longer makes; null once the stack does not declare it.
  const config::ResourceBlock* declaring_block(const ResourceChange& c) const {
    if (const config::Instance* inst = config_.find(c.address)) return inst->block;
    const std::string resource = c.address.substr(0, c.address.find('['));
    const auto dot = resource.find('.');
    if (dot == std::string::npos) return nullptr;
    return config_.stack->find_resource(resource.substr(0, dot), resource.substr(dot + 1));
  }

 private:
  // Values other resources see while planning: existing resources' state,
  // and for resources being (re)created their known desired values only.
  std::optional<config::Value> lookup(const std::string& address, const std::string& attribute) const {
    const config::Instance* inst = config_.find(address);
    if (!inst) return std::nullopt;
    const auto* schema = inst->schema->find(attribute);
    if (!schema) return std::nullopt;
    bool sensitive = schema->sensitive;
    auto planned = planned_.find(address);
    if (planned != planned_.end()) {
      const PlannedInstance& p = planned->second;
      sensitive |= p.desired.sensitive.count(attribute) > 0;
      bool recreated = p.action == Action::Create || p.action == Action::Replace;
      if (p.desired.values.contains(attribute) && (recreated || p.action == Action::Update) && !schema->computed)
        return config::Value{p.desired.values.at(attribute), false, sensitive};
      // An update to a value known only after apply leaves it unknown too,
      // so that the unknown carries on down a chain of references.
      bool unknown_update = p.action == Action::Update && p.desired.unknown.count(attribute) > 0;
      if (recreated || unknown_update) return config::Value{nullptr, true, sensitive};
    }
    auto value = state_attribute(state_, address, attribute);
    value->sensitive |= sensitive;
    return value;
  }

  void diff(const config::Instance& inst, const DesiredAttributes& desired, const state::ResourceState& r,
            ResourceChange& change) {
    bool replace = false;
    for (const auto& attr : inst.schema->attributes) {
      if (!attr.settable()) continue;
      bool unknown = desired.unknown.count(attr.name) > 0;
      bool set = unknown || desired.values.contains(attr.name);
      nlohmann::json before = r.attributes.contains(attr.name) ? r.attributes.at(attr.name) : nlohmann::json();
      if (!set && attr.computed) continue;  // the provider chose it
      nlohmann::json after = set && !unknown ? desired.values.at(attr.name) : nlohmann::json();
      if (!unknown && after == before) continue;
      bool sensitive = desired.sensitive.count(attr.name) > 0 || attr.sensitive || r.sensitive.count(attr.name) > 0;
      AttributeChange c{attr.name, before, after, unknown, sensitive, attr.force_new};
      if (sensitive) masks(attr.name, desired, r, c);
      partly_known(attr.name, desired, c);
      replace |= attr.force_new;
      change.attributes.push_back(std::move(c));
    }
    if (!change.attributes.empty()) change.action = replace ? Action::Replace : Action::Update;
  }

  // An ignored attribute takes the stack's value with a new resource, but
  // it is not what forces the replacement: the plan must not say it is.
  static void not_forced_by_ignored(const config::Instance& inst, ResourceChange& change) {
    for (auto& a : change.attributes)
      for (const auto& [name, mark] : inst.block->lifecycle.ignore_changes)
        if (a.name == name) a.forces_replacement = false;
  }

  void creation_attributes(const config::Instance& inst, const DesiredAttributes& desired, ResourceChange& change) {
    static const state::ResourceState nothing;
    for (const auto& attr : inst.schema->attributes) {
      bool unknown = desired.unknown.count(attr.name) > 0 || (attr.computed && !desired.values.contains(attr.name));
      if (!unknown && !desired.values.contains(attr.name)) continue;
      AttributeChange c{attr.name, nullptr, unknown ? nlohmann::json() : desired.values.at(attr.name), unknown,
                        desired.sensitive.count(attr.name) > 0 || attr.sensitive, false};
      if (c.sensitive) masks(attr.name, desired, nothing, c);
      partly_known(attr.name, desired, c);
      change.attributes.push_back(std::move(c));
    }
  }

  // The parts of a partly sensitive list or map to mask, before and after.
  // When either side is sensitive as a whole, both are masked whole.
  static void masks(const std::string& name, const DesiredAttributes& desired, const state::ResourceState& r,
                    AttributeChange& c) {
    auto after = desired.sensitive_paths.find(name);
    bool after_whole = desired.sensitive.count(name) > 0 && after == desired.sensitive_paths.end();
    auto before = r.sensitive_paths.find(name);
    bool before_whole = r.sensitive.count(name) > 0 && before == r.sensitive_paths.end();
    if (after_whole || before_whole) return;  // both path sets stay empty: mask it whole
    if (after != desired.sensitive_paths.end()) c.after_sensitive_paths = after->second;
    if (before != r.sensitive_paths.end()) c.before_sensitive_paths = before->second;
  }

  static void partly_known(const std::string& name, const DesiredAttributes& desired, AttributeChange& c) {
    auto partial = desired.partial.find(name);
    if (!c.after_unknown || partial == desired.partial.end()) return;
    c.after_partial = partial->second;
    c.after_unknown_paths = desired.unknown_paths.at(name);
  }

  Status plan_instance(const config::Instance& inst) {
    auto desired = desired_attributes(config_, inst, [this](const std::string& a, const std::string& attr) {
      return lookup(a, attr);
    });
    if (!desired) return fail(desired.error());
    ResourceChange change;
    change.address = inst.address;
    change.kind = inst.block->kind;
    change.provider = inst.provider_name;
    change.provider_type = inst.provider_type;
    change.dependencies = config_.graph.dependencies(inst.address);
    const state::ResourceState* r = state_.find(inst.address);
    if (!r || r->pending()) {
      change.action = Action::Create;
      change.adopt = r != nullptr;
      creation_attributes(inst, *desired, change);
    } else if (matches_address(inst.address, options_.replace)) {
      diff(inst, *desired, *r, change);
      change.action = Action::Replace;
      change.replace_requested = true;
      not_forced_by_ignored(inst, change);
    } else if (inst.block->lifecycle.ignore_changes.empty()) {
      diff(inst, *desired, *r, change);
    } else {
      DesiredAttributes kept = *desired;
      keep_ignored(inst, *r, kept);
      diff(inst, kept, *r, change);
      // A replacement makes the resource anew from the stack, ignored
      // attributes included: the plan shows (and dependents see) those.
      if (change.action == Action::Replace) {
        change.attributes.clear();
        diff(inst, *desired, *r, change);
        not_forced_by_ignored(inst, change);
      } else {
        *desired = std::move(kept);
      }
    }
    planned_[inst.address] = {change.action, std::move(*desired)};
    plan_.changes.push_back(std::move(change));
    return {};
  }

  // What state holds and the configuration no longer declares (or all of it
  // when destroying), dependents before their dependencies. Only those are
  // nodes: a dependency the stack still declares is never pulled in, however
  // many deleted resources depended on it.
  void plan_deletes() {
    auto going = [&](const std::string& address) { return options_.destroy || !config_.find(address); };
    Graph g;
    for (const auto& [address, r] : state_.resources) {
      if (!going(address)) continue;
      g.add_node(address);
      for (const auto& d : r.dependencies)
        if (state_.find(d) && going(d)) g.add_edge(d, address);  // reversed: a dependency waits for its dependents
    }
    std::set<std::string> selected;
    if (!options_.targets.empty()) {
      std::set<std::string> roots;
      for (const auto& [address, _] : g.nodes())
        if (matches_address(address, options_.targets)) roots.insert(address);
      selected = g.closure(roots);  // on the reversed graph: the targets and their dependents
    }
    for (const auto& address : g.topological_order()) {
      if (!options_.targets.empty() && !selected.count(address)) continue;
      const state::ResourceState& r = state_.resources.at(address);
      ResourceChange change;
      change.address = address;
      change.kind = r.kind;
      change.provider = r.provider;
      change.provider_type = r.provider_type;
      change.action = Action::Delete;
      change.adopt = r.pending();  // looked up by its tags first: what the interrupted create made, if anything
      change.dependencies = g.dependencies(address);
      plan_.changes.push_back(std::move(change));
    }
  }

  Status plan_outputs() {
    auto fn = [this](const std::string& a, const std::string& attr) { return lookup(a, attr); };
    for (const auto& o : config_.stack->outputs) {
      OutputChange c;
      c.name = o.name;
      if (state_.outputs.contains(o.name)) c.before = state_.outputs.at(o.name);
      if (!options_.destroy) {
        auto v = config::evaluate(o.value, config_.output_context(fn));
        if (!v) return fail(v.error().with_context("output " + o.name));
        c.after = v->value;
        c.after_unknown = v->unknown;
        c.sensitive = o.sensitive || v->sensitive;
      }
      c.changed = c.after_unknown || c.after != c.before;
      plan_.outputs.push_back(std::move(c));
    }
    for (auto it = state_.outputs.begin(); it != state_.outputs.end(); ++it) {
      bool declared = std::any_of(config_.stack->outputs.begin(), config_.stack->outputs.end(),
                                  [&](const auto& o) { return o.name == it.key(); });
      if (!declared || options_.destroy) {
        if (declared) continue;  // already listed with after = null
        plan_.outputs.push_back({it.key(), it.value(), nullptr, false, state_.sensitive_outputs.count(it.key()) > 0, true});
      }
    }
    return {};
  }

  struct PlannedInstance {
    Action action;
    DesiredAttributes desired;
  };
  const config::Configuration& config_;
  const state::State& state_;
  const PlanOptions& options_;
  Plan plan_;
  std::map<std::string, PlannedInstance> planned_;
};

}  // namespace

Result<Plan> make_plan(const config::Configuration& config, const state::State& state, const PlanOptions& options) {
  return Planner(config, state, options).run();
}

}  // namespace keel::engine
