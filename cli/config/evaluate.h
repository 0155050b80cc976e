#pragma once
// Evaluating raw stack values: every "${...}" in a value (strings, nested in
// lists and maps) replaced by what it refers to. A value depending on
// something only known after apply is `unknown`; one derived from a
// sensitive variable or attribute, or from `${env.X}` or `${file(PATH)}`
// outside nonsensitive(), is `sensitive`.

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/config/expression.h"
#include "core/error.h"

namespace keel::config {

struct Value {
  nlohmann::json value;  // null when unknown
  bool unknown = false;
  bool sensitive = false;
  // Inside a list or map, which parts are sensitive or unknown, as JSON
  // pointers from the value ("/database/postgres"), so that a plan can show
  // the rest. Empty for a scalar, and for a list or map whose sensitive
  // (unknown) parts are not known apart: then the whole is.
  std::set<std::string> sensitive_paths{};
  std::set<std::string> unknown_paths{};
  // A list or map with unknown parts: the known parts, null where unknown
  // (`value` is null, as for any unknown value).
  nlohmann::json partial{};
};

// Looks up an attribute of a resource instance ("files.a[1]", "sha256").
// nullopt: no such instance or attribute (an error for the caller to name).
using ResourceLookup = std::function<std::optional<Value>(const std::string& address, const std::string& attribute)>;

// The key of `variables` that holds the environment's name (-e) for
// "${environment}": no variable can be named so.
inline constexpr const char* kEnvironmentVariable = "@environment";

struct EvalContext {
  const std::map<std::string, Value>* variables = nullptr;
  std::string stack_dir;            // file() paths are relative to it
  std::optional<int> count_index;   // inside a resource with count
  ResourceLookup lookup;            // may be empty: resource references then fail
  // The instance addresses of a resource ("files.a" -> "files.a[0]",
  // "files.a[1]"; itself when it has no count), for "[*]" references.
  std::function<std::vector<std::string>(const std::string& resource_address)> instances;
  // Environment lookup; defaults to getenv. Tests inject their own.
  std::function<std::optional<std::string>(const std::string&)> env;
};

Result<Value> evaluate(const nlohmann::json& raw, const EvalContext& ctx);

// One parsed reference's value.
Result<Value> evaluate_reference(const Reference& reference, const EvalContext& ctx);

// Text form of a value inside a larger string ("port ${x}" with x = 5).
std::string to_text(const nlohmann::json& value);

}  // namespace keel::config
