#pragma once
// Attribute plumbing shared by the kinds of every provider written with the
// kit (keel-provider-digitalocean, keel-provider-aws): a
// schema builder, readers of the user's attributes whose errors name the
// attribute (InvalidConfig), safe readers of API JSON (which never throw on
// a missing or mistyped field), and the rule for reporting what the cloud
// holds without inventing drift: when the cloud's value means the same as
// what keel knows, keel's spelling is answered back.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/provider.h"

namespace keel::kit {

using nlohmann::json;
using provider::AttributeSchema;
using provider::AttributeType;

// Builds one schema entry as a readable chain:
//   Attr("size", AttributeType::String, "...").required().force_new()
class Attr {
 public:
  Attr(std::string name, AttributeType type, std::string description);
  Attr& required();
  Attr& optional();
  Attr& computed();
  Attr& force_new();
  Attr& sensitive();
  Attr& default_to(json value);
  Attr& one_of(std::vector<std::string> values);
  // Values refused although they fit; "pg_*" refuses a prefix.
  Attr& reserved(std::vector<std::string> values);
  // Number, Integer: from `min` to `max`, inclusive (keel validate checks it).
  Attr& range(double min, double max);
  // String: `min` to `max` bytes, the first character in `first`, the
  // others in `rest` (classes like "a-z0-9.-"; empty `first`: as `rest`).
  Attr& text(size_t min, size_t max, std::string first, std::string rest);
  operator AttributeSchema() const { return schema_; }

 private:
  AttributeSchema schema_;
};

// --- the user's attributes (config, prior state) -----------------------------------------------

// The value of `name`, null when absent (or `a` is not an object).
json value_of(const json& a, const std::string& name);
bool is_set(const json& a, const std::string& name);

Result<std::optional<std::string>> optional_string(const json& a, const std::string& name);
Result<std::string> required_string(const json& a, const std::string& name);
Result<std::optional<long long>> optional_integer(const json& a, const std::string& name);
Result<bool> boolean(const json& a, const std::string& name, bool fallback);
// A list of strings (absent: empty).
Result<std::vector<std::string>> string_list(const json& a, const std::string& name);
// A numeric id given as 42 or "42"; `what` names it in the error.
Result<long long> numeric_id(const json& v, const std::string& what);
// A list of numeric ids (absent: empty), as numbers.
Result<std::vector<long long>> id_list(const json& a, const std::string& name);

// --- API JSON ----------------------------------------------------------------------------------

std::string field_string(const json& j, const std::string& key);  // "" unless a string
std::optional<long long> field_integer(const json& j, const std::string& key);
const json& field(const json& j, const std::string& key);  // null unless present

// --- reporting without inventing drift -----------------------------------------------------------

// `known` when it is set and `canonical(known) == canonical(cloud)`, else
// `cloud`.
json prefer_known(const json& known, const json& cloud, const std::function<json(const json&)>& canonical);
// The same with plain equality.
json prefer_known(const json& known, const json& cloud);
// Sorted copy of a JSON array (null -> []).
json sorted(const json& list);
// Sorted ids, those given as "42" as numbers: droplet ids as the user may
// write them and as the API answers them compare equal.
json canonical_ids(const json& ids);

}  // namespace keel::kit
