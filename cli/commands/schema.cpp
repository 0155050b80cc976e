// keel schema: a JSON Schema (draft 2020-12) of the stack format, for editors
// (yaml-language-server: `# yaml-language-server: $schema=keel.schema.json`).
// Kinds carry the attributes of the built-in `local` provider and of every
// provider type the stack in -f names (when it can be read).
#include <cstdio>

#include "cli/commands/commands.h"
#include "cli/config/stack.h"
#include "cli/providers/registry.h"
#include "core/files.h"

namespace keel::commands {

namespace {

using nlohmann::json;

json attribute_schema(const provider::AttributeSchema& a) {
  static const std::map<provider::AttributeType, const char*> types = {
      {provider::AttributeType::String, "string"}, {provider::AttributeType::Number, "number"},
      {provider::AttributeType::Integer, "integer"}, {provider::AttributeType::Bool, "boolean"},
      {provider::AttributeType::List, "array"}, {provider::AttributeType::Map, "object"}};
  json s = {{"description", a.description}};
  auto t = types.find(a.type);
  // A "${...}" reference may stand for any value, so strings are always allowed.
  if (t != types.end()) s["anyOf"] = json::array({{{"type", t->second}}, {{"type", "string"}, {"pattern", "\\$\\{"}}});
  if (!a.one_of.empty()) s["anyOf"][0]["enum"] = a.one_of;
  if (!a.default_value.is_null()) s["default"] = a.default_value;
  return s;
}

json resource_schema(const std::vector<const provider::KindSchema*>& kinds) {
  json props = {
      {"provider", {{"type", "string"}, {"description", "provider block name; `local` when omitted"}}},
      {"count", {{"anyOf", json::array({{{"type", "integer"}, {"minimum", 0}}, {{"type", "string"}}})}}},
      {"depends_on", {{"type", "array"}, {"items", {{"type", "string"}}}}},
  };
  for (const auto* k : kinds)
    for (const auto& a : k->attributes)
      if (a.settable()) props[a.name] = attribute_schema(a);
  return {{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
}

json stack_schema(const std::map<std::string, std::vector<const provider::KindSchema*>>& kinds) {
  json variable = {{"anyOf", json::array({{{"type", "object"},
                                            {"properties",
                                             {{"default", json::object()},
                                              {"env", {{"type", "string"}}},
                                              {"sensitive", {{"type", "boolean"}}},
                                              {"description", {{"type", "string"}}}}},
                                            {"additionalProperties", false}},
                                           {{"type", json::array({"string", "number", "boolean"})}}})}};
  json output = {{"anyOf", json::array({{{"type", "object"},
                                          {"properties",
                                           {{"value", json::object()},
                                            {"sensitive", {{"type", "boolean"}}},
                                            {"description", {{"type", "string"}}}}},
                                          {"required", {"value"}},
                                          {"additionalProperties", false}},
                                         {{"type", json::array({"string", "number", "boolean", "array"})}}})}};
  json provider_block = json::object();
  provider_block["type"] = "object";
  provider_block["required"] = json::array({"type"});
  provider_block["properties"]["type"]["type"] = "string";
  json props = {
      {"keel", {{"const", 1}, {"description", "stack format version"}}},
      {"project", {{"type", "string"}}},
      {"variables", {{"type", "object"}, {"additionalProperties", variable}}},
      {"providers", {{"type", "object"}, {"additionalProperties", provider_block}}},
      {"outputs", {{"type", "object"}, {"additionalProperties", output}}},
  };
  for (const auto& kind : config::resource_kinds()) {
    auto it = kinds.find(kind);
    props[kind] = {{"type", "object"},
                   {"additionalProperties", resource_schema(it == kinds.end() ? std::vector<const provider::KindSchema*>{} : it->second)}};
  }
  return {{"$schema", "https://json-schema.org/draft/2020-12/schema"},
          {"title", "Keel stack"},
          {"type", "object"},
          {"required", {"keel", "project"}},
          {"properties", props},
          {"additionalProperties", false}};
}

}  // namespace

int run_schema(const GlobalOptions& g) {
  std::string work_dir = files::dirname(files::absolute(g.file, ".")) + "/.keel";
  providers::Registry registry(providers::default_plugin_dirs(work_dir));
  std::set<std::string> types = {"local"};
  if (files::exists(g.file)) {
    auto loaded = config::load_stack_file(g.file);
    for (const auto& p : loaded.stack.providers)
      if (!p.type.empty()) types.insert(p.type);
  }
  std::map<std::string, std::vector<const provider::KindSchema*>> kinds;
  for (const auto& type : types) {
    auto s = registry.schema(type);
    if (!s) {
      std::fprintf(stderr, "warning: %s\n", s.error().message().c_str());
      continue;
    }
    for (const auto& k : (*s)->kinds) kinds[k.kind].push_back(&k);
  }
  std::printf("%s\n", stack_schema(kinds).dump(2).c_str());
  return kExitOk;
}

}  // namespace keel::commands
