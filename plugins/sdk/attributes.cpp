#include "plugins/sdk/attributes.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

namespace keel::kit {

// --- Attr ----------------------------------------------------------------------------------------

Attr::Attr(std::string name, AttributeType type, std::string description) {
  schema_.name = std::move(name);
  schema_.type = type;
  schema_.description = std::move(description);
}
Attr& Attr::required() {
  schema_.required = true;
  return *this;
}
Attr& Attr::optional() {
  schema_.optional = true;
  return *this;
}
Attr& Attr::computed() {
  schema_.computed = true;
  return *this;
}
Attr& Attr::force_new() {
  schema_.force_new = true;
  return *this;
}
Attr& Attr::sensitive() {
  schema_.sensitive = true;
  return *this;
}
Attr& Attr::default_to(json value) {
  schema_.default_value = std::move(value);
  return *this;
}
Attr& Attr::one_of(std::vector<std::string> values) {
  schema_.one_of = std::move(values);
  return *this;
}

Attr& Attr::reserved(std::vector<std::string> values) {
  schema_.reserved = std::move(values);
  return *this;
}

Attr& Attr::range(double min, double max) {
  schema_.minimum = min;
  schema_.maximum = max;
  return *this;
}

Attr& Attr::text(size_t min, size_t max, std::string first, std::string rest) {
  schema_.min_length = min;
  schema_.max_length = max;
  schema_.first_character = std::move(first);
  schema_.characters = std::move(rest);
  return *this;
}

// --- the user's attributes ---------------------------------------------------------------------

json value_of(const json& a, const std::string& name) {
  if (!a.is_object()) return json();
  auto it = a.find(name);
  return it == a.end() ? json() : *it;
}

bool is_set(const json& a, const std::string& name) { return !value_of(a, name).is_null(); }

Result<std::optional<std::string>> optional_string(const json& a, const std::string& name) {
  json v = value_of(a, name);
  if (v.is_null()) return std::optional<std::string>();
  if (!v.is_string()) return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be a string, not {}", name, v.dump()));
  return std::optional<std::string>(v.get<std::string>());
}

Result<std::string> required_string(const json& a, const std::string& name) {
  auto v = optional_string(a, name);
  if (!v) return fail(v.error());
  if (!*v || (*v)->empty()) return fail(ErrorCode::InvalidConfig, fmt::format("`{}` is required", name));
  return **v;
}

Result<std::optional<long long>> optional_integer(const json& a, const std::string& name) {
  json v = value_of(a, name);
  if (v.is_null()) return std::optional<long long>();
  if (v.is_number_integer()) return std::optional<long long>(v.get<long long>());
  if (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<long long>(v.get<double>())))
    return std::optional<long long>(static_cast<long long>(v.get<double>()));
  return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be an integer, not {}", name, v.dump()));
}

Result<bool> boolean(const json& a, const std::string& name, bool fallback) {
  json v = value_of(a, name);
  if (v.is_null()) return fallback;
  if (!v.is_boolean()) return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be true or false, not {}", name, v.dump()));
  return v.get<bool>();
}

Result<std::vector<std::string>> string_list(const json& a, const std::string& name) {
  json v = value_of(a, name);
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (!v.is_array()) return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be a list of strings", name));
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string())
      return fail(ErrorCode::InvalidConfig, fmt::format("`{}[{}]` must be a string, not {}", name, i, v[i].dump()));
    out.push_back(v[i].get<std::string>());
  }
  return out;
}

Result<long long> numeric_id(const json& v, const std::string& what) {
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    long long n = 0;
    auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (!s.empty() && error == std::errc() && end == s.data() + s.size() && n > 0) return n;
  }
  return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be a numeric id (like 3164444), not {}", what, v.dump()));
}

Result<std::vector<long long>> id_list(const json& a, const std::string& name) {
  json v = value_of(a, name);
  std::vector<long long> out;
  if (v.is_null()) return out;
  if (!v.is_array()) return fail(ErrorCode::InvalidConfig, fmt::format("`{}` must be a list of ids", name));
  for (size_t i = 0; i < v.size(); ++i) {
    auto id = numeric_id(v[i], fmt::format("{}[{}]", name, i));
    if (!id) return fail(id.error());
    out.push_back(*id);
  }
  return out;
}

// --- API JSON ----------------------------------------------------------------------------------

std::string field_string(const json& j, const std::string& key) {
  const json& v = field(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::optional<long long> field_integer(const json& j, const std::string& key) {
  const json& v = field(j, key);
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_number_float()) return static_cast<long long>(v.get<double>());
  return std::nullopt;
}

const json& field(const json& j, const std::string& key) {
  static const json null_value;
  if (!j.is_object()) return null_value;
  auto it = j.find(key);
  return it == j.end() ? null_value : *it;
}

// --- reporting ---------------------------------------------------------------------------------

json prefer_known(const json& known, const json& cloud, const std::function<json(const json&)>& canonical) {
  if (!known.is_null() && canonical(known) == canonical(cloud)) return known;
  return cloud;
}

json prefer_known(const json& known, const json& cloud) {
  return prefer_known(known, cloud, [](const json& v) { return v; });
}

json sorted(const json& list) {
  if (!list.is_array()) return json::array();
  json out = list;
  std::sort(out.begin(), out.end());
  return out;
}

json canonical_ids(const json& ids) {
  json out = json::array();
  if (!ids.is_array()) return out;
  for (const json& id : ids) {
    auto n = numeric_id(id, "id");
    out.push_back(n ? json(*n) : id);
  }
  return sorted(out);
}

}  // namespace keel::kit
