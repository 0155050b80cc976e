#pragma once
// YAML nodes as the stack loader reads them: typed values and where they
// were written. Shared by the loader's sections (loader.cpp, backups_loader.cpp).

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "core/diagnostics.h"

namespace YAML {
class Node;
}

namespace keel::config {

// Where `node` was written (1-based; 0:0 when yaml-cpp has no mark).
SourceMark yaml_mark(const YAML::Node& node, const std::string& file);

// The node as JSON. yaml-cpp scalars carry no type: plain ones are typed
// the way YAML 1.2's core schema types them, quoted ones stay strings.
nlohmann::json yaml_to_json(const YAML::Node& node);

// Where every value under `node` was written, by JSON pointer from `pointer`.
void record_yaml_marks(const YAML::Node& node, const std::string& pointer, const std::string& file,
                       std::map<std::string, SourceMark>& marks);

}  // namespace keel::config
