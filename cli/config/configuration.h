#pragma once
// Stage 2: a validated stack. Every provider attribute checked against its
// provider's schema, variables given their values, `count` expanded into
// instances, references checked and turned into dependency edges, cycles
// refused. Nothing is sent to any provider API before this succeeds.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/config/evaluate.h"
#include "cli/config/stack.h"
#include "cli/engine/graph.h"
#include "core/provider.h"

namespace keel::config {

// The most resource instances a stack may have, `count` added up over its
// blocks (one block's count is at most as many): twice the largest stacks
// keel is measured with (bench/), and what validates in well under a second
// even under the fuzzer's instrumentation.
inline constexpr size_t kMaxInstances = 20'000;

// The most bytes of values a stack may hold once `count` and `checks:`
// have repeated them for every instance: what `keel plan` keeps in memory.
inline constexpr size_t kMaxExpandedBytes = size_t{256} << 20;

struct Instance {
  std::string address;            // "files.a" or "files.a[2]"
  const ResourceBlock* block = nullptr;
  std::optional<int> index;       // with count
  const ProviderBlock* provider_block = nullptr;  // null for the implicit `local`
  std::string provider_name;      // block name ("local" when implicit)
  std::string provider_type;      // "local", "example", ...
  const provider::KindSchema* schema = nullptr;
  // Raw attributes the engine fills from top-level sections, evaluated in
  // this instance's context like the block's own: `checks` of a server, an
  // object of check name -> definition from the `checks:` entries whose
  // `on:` selects it. Absent when none does.
  nlohmann::json section_attributes = nlohmann::json::object();
};

struct Configuration {
  const Stack* stack = nullptr;
  std::string environment;  // -e; empty: none
  std::string environment_project;  // its `project:` in `environments:`; empty: none given
  std::map<std::string, Value> variables;
  std::vector<Instance> instances;  // file order, indexes ascending
  std::map<std::string, size_t> by_address;
  engine::Graph graph;              // instance addresses; edges from references and depends_on

  const Instance* find(const std::string& address) const;
  // The project as providers know it, in their tags and default names: the
  // stack's `project`, and "-ENVIRONMENT" with -e, so that two environments
  // in one cloud account never take each other's resources for their own
  // (unless the environment names its own `project:`).
  std::string provider_project() const;
  // The evaluation context for one instance's attributes.
  EvalContext context_for(const Instance& instance, ResourceLookup lookup) const;
  // The evaluation context for the stack's outputs: no count.index.
  EvalContext output_context(ResourceLookup lookup) const;
  // The instance addresses of "KIND.NAME" (for "${KIND.NAME[*].attr}").
  std::vector<std::string> instances_of(const std::string& resource_address) const;
};

// Where validation gets provider schemas from: by provider *type*. Returns
// nullptr (and an error message) for an unknown type.
using SchemaSource = std::function<Result<const provider::ProviderSchema*>(const std::string& type)>;

struct ValidateOptions {
  // -e: empty for none. A stack that declares `environments:` needs one of
  // them; "${environment}" needs one.
  std::string environment;
  // A variable's value comes from the first of: --var, the --var-files
  // (the last given first), the environment's `vars:`, its `env:`, its
  // `default`.
  std::map<std::string, std::string> var_overrides;  // --var name=value
  std::vector<VariableValue> var_file_values;        // --var-file, in the order given
  std::function<std::optional<std::string>(const std::string&)> env;  // default getenv
};

struct ValidateResult {
  Configuration config;
  Diagnostics diagnostics;
};

ValidateResult validate(const Stack& stack, const SchemaSource& schemas, const ValidateOptions& options);

// What is wrong with an attribute's value for its schema: its type, a
// value outside `one_of`, or a limit it breaks ("expected an integer, got
// a string", "70000 is out of range: from 1 to 65535"). Empty when fine.
// `quote`: whether the message may show the value (not when sensitive).
std::string value_problem(const provider::AttributeSchema& schema, const nlohmann::json& value, bool quote = true);

}  // namespace keel::config
