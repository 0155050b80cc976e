#pragma once
// YAML values as JSON, typed the way YAML 1.2's core schema types them:
// the one conversion shared by the stack loader (cli/config/yaml_values.h)
// and the check parser (core/check_spec.h), so that a stack and an agent
// config read `200`, `"200"` and `true` alike.

#include <cstddef>
#include <optional>

#include <nlohmann/json.hpp>

namespace YAML {
class Node;
}

namespace keel::yamljson {

// A quoted scalar (yaml-cpp's tag "!") or one tagged `!!str` is a string;
// other scalars are null, booleans, 64-bit integers or finite doubles when
// they read as one, and strings otherwise.
bool is_string_scalar(const YAML::Node& node);
nlohmann::json scalar_to_json(const YAML::Node& node);

// The whole node. Unbounded: for trees already checked for size (the
// stack's check_yaml_tree).
nlohmann::json to_json(const YAML::Node& node);

// The same within a budget, for trees nobody checked (an agent config from
// PUT /v1/config): an alias is expanded at each use, so a small text can
// stand for an enormous tree. nullopt when it holds more than `max_values`
// values or nests deeper than `max_depth`.
std::optional<nlohmann::json> to_json(const YAML::Node& node, size_t max_values, size_t max_depth);

}  // namespace keel::yamljson
