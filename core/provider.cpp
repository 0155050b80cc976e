#include "core/provider.h"

namespace keel::provider {

const char* to_string(AttributeType type) {
  switch (type) {
    case AttributeType::String: return "string";
    case AttributeType::Number: return "number";
    case AttributeType::Integer: return "integer";
    case AttributeType::Bool: return "bool";
    case AttributeType::List: return "list";
    case AttributeType::Map: return "map";
    case AttributeType::Any: return "any";
  }
  return "any";
}

std::optional<AttributeType> attribute_type_from_string(const std::string& name) {
  for (auto t : {AttributeType::String, AttributeType::Number, AttributeType::Integer,
                 AttributeType::Bool, AttributeType::List, AttributeType::Map, AttributeType::Any}) {
    if (name == to_string(t)) return t;
  }
  return std::nullopt;
}

const AttributeSchema* KindSchema::find(const std::string& name) const {
  for (const auto& a : attributes)
    if (a.name == name) return &a;
  return nullptr;
}

const KindSchema* ProviderSchema::find_kind(const std::string& k) const {
  for (const auto& s : kinds)
    if (s.kind == k) return &s;
  return nullptr;
}

}  // namespace keel::provider
