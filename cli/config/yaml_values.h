#pragma once
// YAML nodes as the stack loader reads them: typed values and where they
// were written. Shared by the loader's sections (loader.cpp, backups_loader.cpp).
//
// A stack may come from anyone (a pull request), so the whole tree is
// checked once, by check_yaml_tree, before any of this reads it: the other
// functions here walk it without limits of their own.

#include <cstddef>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "core/diagnostics.h"

namespace YAML {
class Node;
}

namespace keel::config {

// What one stack file may hold once its aliases are expanded. yaml-cpp
// shares an aliased node, and every walk of the tree (conversion to JSON,
// the marks) visits it once per use: ten nested lists of ten aliases are
// 10^10 values from a 1 KB file. Real stacks stay far below these.
struct YamlLimits {
  size_t max_depth = 64;              // maps and lists nested in each other
  size_t max_values = 2'000'000;      // nodes, an alias counted at each use
  size_t max_bytes = size_t{64} << 20;  // bytes of keys and scalars, likewise
};

// Checks every node of the tree: nesting and expanded size within `limits`,
// keys that are strings and unique in their map (yaml-cpp keeps both and
// the last one would win), scalars that are UTF-8 without NUL, numbers
// that fit (an integer in 64 bits, a float short of infinity). Reports each
// problem at its line and column; false when there was any, and then the
// tree must not be read further.
bool check_yaml_tree(const YAML::Node& root, const std::string& file, Diagnostics& diags,
                     const YamlLimits& limits = {});

// Where `node` was written (1-based; 0:0 when yaml-cpp has no mark).
SourceMark yaml_mark(const YAML::Node& node, const std::string& file);

// The node as JSON. yaml-cpp scalars carry no type: plain ones are typed
// the way YAML 1.2's core schema types them, quoted ones stay strings.
// A number check_yaml_tree refuses stays a string here (core/yaml_json.h).
nlohmann::json yaml_to_json(const YAML::Node& node);

// Where every value under `node` was written, by JSON pointer from `pointer`.
void record_yaml_marks(const YAML::Node& node, const std::string& pointer, const std::string& file,
                       std::map<std::string, SourceMark>& marks);

}  // namespace keel::config
