#pragma once
// Stage 3: the plan, what apply will do. Desired configuration against state
// (refreshed or not): create, update in place, replace, delete, or nothing.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/config/configuration.h"
#include "cli/state/moves.h"
#include "cli/state/state.h"

namespace keel::engine {

enum class Action { NoOp, Create, Update, Replace, Delete };
const char* to_string(Action a);

struct AttributeChange {
  std::string name;
  nlohmann::json before;      // null if none
  nlohmann::json after;       // null if unknown or none (but see after_partial)
  bool after_unknown = false; // "(known after apply)"
  bool sensitive = false;     // "(sensitive)": masked, but for sensitive_paths
  bool forces_replacement = false;
  // A list or map only partly sensitive: the parts to mask, before and after
  // (JSON pointers). Both empty while `sensitive`: mask it whole.
  std::set<std::string> before_sensitive_paths{}, after_sensitive_paths{};
  // A list or map only partly unknown: the known parts and where the unknown
  // ones are.
  nlohmann::json after_partial{};
  std::set<std::string> after_unknown_paths{};
};

struct ResourceChange {
  std::string address;
  std::string kind;
  std::string provider;       // block name
  std::string provider_type;
  Action action = Action::NoOp;
  std::vector<AttributeChange> attributes;  // for create: every attribute; update/replace: changed ones
  std::set<std::string> dependencies;       // instance addresses (desired, or state's for deletes)
  bool adopt = false;         // a crashed run's create: look it up by its tags before creating (or deleting)
  bool data_loss = false;     // a delete or replace of a kind that holds data (config::holds_data)
  bool replace_requested = false;  // Replace because --replace named it (attributes may be unchanged)
};

struct OutputChange {
  std::string name;
  nlohmann::json before, after;
  bool after_unknown = false;
  bool sensitive = false;
  bool changed = false;
};

struct Plan {
  std::string lineage;
  long serial = 0;
  bool destroy = false;
  // The stack's `moved:` entries that this plan applies to state (already
  // applied to the state it was planned against).
  std::vector<state::Move> moved;
  std::vector<ResourceChange> changes;  // every instance, no-ops included, in dependency order
  std::vector<OutputChange> outputs;
  std::string environment;  // -e it was made for; empty: none (shown, never compared)

  bool has_changes() const;
  // Counts for the summary line: to add, change, destroy (a replace counts
  // once in add and once in destroy, as Terraform counts it).
  struct Counts { int add = 0, change = 0, destroy = 0; };
  Counts counts() const;
};

struct PlanOptions {
  bool destroy = false;
  std::set<std::string> targets;  // addresses; empty: everything
  std::set<std::string> replace;  // addresses to replace even when unchanged (Terraform's -replace)
};

// Whether `address` is one of `selectors`, or an instance of one named
// without its index (`servers.web` covers `servers.web[2]`): the rule of
// --target and --replace.
bool matches_address(const std::string& address, const std::set<std::string>& selectors);

// Every --replace address must name a declared instance, within the
// --target selection if there is one. make_plan checks this too; callers
// may check first to fail before refreshing.
Status check_replace(const config::Configuration& config, const PlanOptions& options);

// Plans `config` against `state`. Never talks to providers (refresh is a
// separate step that updates `state` first). An instance --replace names
// that state does not hold yet is planned as a create.
Result<Plan> make_plan(const config::Configuration& config, const state::State& state, const PlanOptions& options);

// The attributes of `instance` evaluated against `state`: values of
// resources that exist are known; of resources being created, unknown.
struct DesiredAttributes {
  nlohmann::json values = nlohmann::json::object();  // unknown ones absent
  std::set<std::string> unknown;
  std::set<std::string> sensitive;  // attribute names: sealed in state, masked in plans
  // A list or map attribute only partly sensitive (a server's `checks` with
  // one database URI in them): the sensitive parts, as JSON pointers. The
  // attribute is in `sensitive` too (sealed whole in state); plans mask only
  // these parts. Absent: the whole attribute is masked.
  std::map<std::string, std::set<std::string>> sensitive_paths;
  // A list or map attribute only partly unknown: the known parts (null where
  // unknown) and where the unknown parts are, for the plan to show.
  std::map<std::string, nlohmann::json> partial;
  std::map<std::string, std::set<std::string>> unknown_paths;
};
// lifecycle.ignore_changes of an instance that exists: state's value of
// each ignored attribute replaces the stack's in `desired` (none when state
// has none), so that planning and applying an update leave it as it is.
void keep_ignored(const config::Instance& instance, const state::ResourceState& current, DesiredAttributes& desired);

// An attribute's value as state holds it: unknown while the resource is
// missing or pending, sensitive as state marks it.
std::optional<config::Value> state_attribute(const state::State& state, const std::string& address,
                                             const std::string& attribute);

Result<DesiredAttributes> desired_attributes(const config::Configuration& config, const config::Instance& instance,
                                             const config::ResourceLookup& lookup);

}  // namespace keel::engine
