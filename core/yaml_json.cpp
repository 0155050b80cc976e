#include "core/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <limits>

#include "core/text.h"

namespace keel::yamljson {
namespace {

// Walks the tree, charging each value to the budget; false once it is spent.
bool convert(const YAML::Node& node, size_t depth, size_t& values_left, size_t max_depth, nlohmann::json& out) {
  if (values_left == 0 || depth > max_depth) return false;
  --values_left;
  switch (node.Type()) {
    case YAML::NodeType::Scalar: out = scalar_to_json(node); return true;
    case YAML::NodeType::Sequence:
      out = nlohmann::json::array();
      for (const auto& item : node) {
        nlohmann::json value;
        if (!convert(item, depth + 1, values_left, max_depth, value)) return false;
        out.push_back(std::move(value));
      }
      return true;
    case YAML::NodeType::Map:
      out = nlohmann::json::object();
      for (const auto& kv : node) {
        nlohmann::json value;
        if (!convert(kv.second, depth + 1, values_left, max_depth, value)) return false;
        out[kv.first.Scalar()] = std::move(value);
      }
      return true;
    default: out = nullptr; return true;
  }
}

}  // namespace

bool is_string_scalar(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  return tag == "!" || tag == "tag:yaml.org,2002:str";
}

nlohmann::json scalar_to_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (is_string_scalar(node)) return s;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (auto i = text::parse_int64(s)) return *i;
  if (auto d = text::parse_finite_double(s)) return *d;
  return s;
}

nlohmann::json to_json(const YAML::Node& node) {
  return *to_json(node, std::numeric_limits<size_t>::max(), std::numeric_limits<size_t>::max());
}

std::optional<nlohmann::json> to_json(const YAML::Node& node, size_t max_values, size_t max_depth) {
  nlohmann::json out;
  size_t values_left = max_values;
  if (!convert(node, 0, values_left, max_depth, out)) return std::nullopt;
  return out;
}

}  // namespace keel::yamljson
