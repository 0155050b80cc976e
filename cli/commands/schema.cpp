// keel schema: a JSON Schema (draft 2020-12) of the stack format, for editors
// (yaml-language-server: `# yaml-language-server: $schema=keel.schema.json`).
// Kinds carry the attributes of the built-in `local` provider and of every
// provider type the stack in -f names (when it can be read).
#include <cstdio>
#include <tuple>

#include "cli/commands/app.h"
#include "cli/commands/commands.h"
#include "cli/commands/workspace.h"
#include "cli/config/apps.h"
#include "cli/config/backups.h"
#include "cli/config/stack.h"
#include "cli/providers/registry.h"
#include "cli/views/render.h"
#include "core/files.h"

namespace keel::commands {

namespace {

using nlohmann::json;

// A character class of the provider schema ("A-Za-z0-9_-") inside a JSON
// Schema pattern's brackets.
std::string bracket(const std::string& cls) {
  std::string out = "[";
  for (char c : cls) {
    if (c == ']' || c == '\\' || c == '^' || c == '[') out += '\\';
    out += c;
  }
  return out + "]";
}

// The provider's value limits (core/provider.h) in JSON Schema's words.
void add_limits(const provider::AttributeSchema& a, json& s) {
  if (a.minimum) s["minimum"] = *a.minimum;
  if (a.maximum) s["maximum"] = *a.maximum;
  if (a.min_length) s["minLength"] = *a.min_length;
  if (a.max_length) s["maxLength"] = *a.max_length;
  if (!a.characters.empty() || !a.first_character.empty()) {
    const std::string rest = a.characters.empty() ? "." : bracket(a.characters);
    s["pattern"] = "^(" + (a.first_character.empty() ? rest : bracket(a.first_character)) + rest + "*)?$";
  }
}

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
  if (t != types.end()) add_limits(a, s["anyOf"][0]);
  if (!a.default_value.is_null()) s["default"] = a.default_value;
  return s;
}

json resource_schema(const std::vector<const provider::KindSchema*>& kinds) {
  json props = {
      {"provider", {{"type", "string"}, {"description", "provider block name; `local` when omitted"}}},
      {"count", {{"anyOf", json::array({{{"type", "integer"}, {"minimum", 0}}, {{"type", "string"}}})}}},
      {"depends_on", {{"type", "array"}, {"items", {{"type", "string"}}}}},
      {"lifecycle",
       {{"type", "object"},
        {"additionalProperties", false},
        {"properties",
         {{"prevent_destroy", {{"type", "boolean"}, {"description", "a plan that would delete or replace it fails"}}},
          {"ignore_changes",
           {{"type", "array"},
            {"items", {{"type", "string"}}},
            {"description", "attributes that keep what state holds once the resource exists"}}}}}}},
  };
  for (const auto* k : kinds)
    for (const auto& a : k->attributes)
      if (a.settable() && !config::filled_from_section(k->kind, a.name)) props[a.name] = attribute_schema(a);
  return {{"type", "object"}, {"properties", props}, {"additionalProperties", false}};
}

// A value, or a "${...}" reference standing for one.
json or_reference(json schema) {
  if (schema == json{{"type", "string"}}) return schema;
  return {{"anyOf", json::array({std::move(schema), {{"type", "string"}, {"pattern", "\\$\\{"}}})}};
}

// One entry of `checks:` (core/check_spec.h): `on`, exactly one type key
// (its target, or a map of its options), the type's options beside it, and
// the common timing keys. Per-type rules (which options go with which type,
// threshold order) are left to `keel validate`.
json check_schema() {
  json text = {{"type", "string"}};
  json number = {{"type", "number"}, {"minimum", 0}};
  json integer = {{"type", "integer"}, {"minimum", 0}};
  json duration = {{"description", "a duration: 500ms, 10s, 1m30s, 2h (a bare number is seconds)"},
                   {"anyOf", json::array({{{"type", "string"}, {"pattern", "^([0-9.]+(ms|s|m|h|d))+$"}},
                                          {{"type", "integer"}, {"minimum", 0}}})}};
  json status = {{"anyOf", json::array({{{"type", "integer"}, {"minimum", 100}, {"maximum", 599}},
                                        {{"type", "array"}, {"items", {{"type", "integer"}}}}})}};
  json argv = {{"anyOf", json::array({text, {{"type", "array"}, {"items", text}}})}};
  std::map<std::string, json> options = {
      {"url", text},           {"method", text},          {"status", status},
      {"body_contains", text}, {"headers", {{"type", "object"}, {"additionalProperties", text}}},
      {"expect_headers",
       {{"description", "response header name -> RE2 pattern found in its value"},
        {"type", "object"}, {"additionalProperties", text}}},
      {"expect_json", {{"description", "JSONPath ($, .name, [N]) -> the JSON value expected there"},
                       {"type", "object"}, {"propertyNames", {{"pattern", "^\\$"}}}}},
      {"expect", {{"description", "JSONPath ($, .name, [N]) -> the JSON value expected there"},
                  {"type", "object"}, {"propertyNames", {{"pattern", "^\\$"}}}}},
      {"variables", {{"description", "GraphQL variables, sent as a JSON object"}, {"type", "object"}}},
      {"cert_days_warning", integer}, {"tls_verify", {{"type", "boolean"}}}, {"ca_file", text},
      {"address", text},       {"command", argv},         {"conninfo", text},
      {"query", text},         {"username", text},        {"password", text},
      {"role", {{"enum", {"master", "replica", "slave"}}}},
      {"path", text},          {"warning", number},       {"critical", number},
      {"per_cpu", {{"type", "boolean"}}}, {"name", text}, {"min", integer},
      {"max", {{"type", "integer"}, {"minimum", -1}}},
  };
  // Type -> (the schema of its short form, its options).
  std::vector<std::tuple<std::string, json, std::vector<std::string>>> types = {
      {"http",
       text,
       {"url", "method", "status", "body_contains", "headers", "expect_headers", "expect_json", "cert_days_warning",
        "tls_verify", "ca_file"}},
      {"graphql",
       text,
       {"url", "query", "variables", "expect", "headers", "cert_days_warning", "tls_verify", "ca_file"}},
      {"tcp", text, {"address"}},
      {"exec", argv, {"command"}},
      {"postgres", text, {"conninfo", "query"}},
      {"redis", text, {"address", "username", "password", "role"}},
      {"disk", text, {"path", "warning", "critical"}},
      {"memory", {{"enum", {true, nullptr}}}, {"warning", "critical"}},
      {"load", {{"enum", {true, nullptr}}}, {"warning", "critical", "per_cpu"}},
      {"process", text, {"name", "min", "max"}},
  };
  json on_address = {{"type", "string"}, {"pattern", "^servers\\.[A-Za-z_][A-Za-z0-9_-]*(\\[[0-9]+\\])?$"}};
  json props = {
      {"on", {{"description", "the servers that run it: servers.NAME (every instance), servers.NAME[i], or a list"},
              {"anyOf", json::array({on_address, {{"type", "array"}, {"minItems", 1}, {"items", on_address}}})}}},
      {"interval", or_reference(duration)},
      {"timeout", or_reference(duration)},
      {"success_before_passing", or_reference(integer)},
      {"failures_before_critical", or_reference(integer)},
  };
  json one_type = json::array();
  for (const auto& [type, short_form, names] : types) {
    json own = json::object();
    for (const auto& n : names) {
      own[n] = or_reference(options.at(n));
      props[n] = own[n];
    }
    json long_form = {{"type", "object"}, {"properties", own}, {"additionalProperties", false}};
    props[type] = {{"anyOf", json::array({or_reference(short_form), long_form})}};
    one_type.push_back({{"required", {type}}});
  }
  return {{"type", "object"},
          {"required", {"on"}},
          {"properties", props},
          {"oneOf", one_type},
          {"additionalProperties", false}};
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
      {"checks",
       {{"type", "object"},
        {"description", "health checks the servers' agents run"},
        {"additionalProperties", check_schema()}}},
      {"backups",
       {{"type", "object"},
        {"description", "backup jobs the servers' agents run"},
        {"additionalProperties", config::backup_json_schema()}}},
      {"apps",
       {{"type", "object"},
        {"description", "applications keel deploy rolls out over SSH"},
        {"additionalProperties", config::app_json_schema()}}}
  };
  json postgres_long = {{"type", "object"},
                        {"properties", {{"url", {{"type", "string"}}}, {"key", {{"type", "string"}}}}},
                        {"required", {"url"}},
                        {"additionalProperties", false}};
  json postgres_short = {{"type", "string"}, {"description", "the database's URL, e.g. \"${env.KEEL_PG_URL}\""}};
  props["backend"] = {{"type", "object"},
                      {"description", "where the state is kept (docs/backends.md); default: .keel/ beside the stack"},
                      {"properties", {{"postgres", {{"anyOf", json::array({postgres_short, postgres_long})}}}}},
                      {"additionalProperties", false}};
  json environment = {{"type", "object"},
                      {"properties",
                       {{"vars", {{"type", "object"}, {"description", "variable values in this environment"}}},
                        {"project",
                         {{"type", "string"},
                          {"description", "the project providers tag this environment's resources with; default PROJECT-NAME"}}},
                        {"description", {{"type", "string"}}}}},
                      {"additionalProperties", false}};
  props["environments"] = {
      {"type", "object"},
      {"description", "one state per environment, chosen with keel -e NAME (docs/environments.md)"},
      {"propertyNames", {{"pattern", "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"}}},
      {"additionalProperties", environment}};
  json moved_entry = {{"type", "object"},
                      {"properties", {{"from", {{"type", "string"}}}, {"to", {{"type", "string"}}}}},
                      {"required", {"from", "to"}},
                      {"additionalProperties", false}};
  props["moved"] = {{"type", "array"},
                    {"description", "renames: what state holds at `from` is now at `to`"},
                    {"items", moved_entry}};
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

int run_schema(Context& ctx) {
  const GlobalOptions& g = ctx.global;
  const std::string work_dir = work_dir_of(g);
  providers::Registry registry(providers::default_plugin_dirs(work_dir));
  std::set<std::string> types(config::builtin_provider_types().begin(), config::builtin_provider_types().end());
  if (files::exists(g.file)) {
    auto loaded = config::load_stack_file(g.file);
    for (const auto& p : loaded.stack.providers)
      if (!p.type.empty()) types.insert(p.type);
  }
  std::map<std::string, std::vector<const provider::KindSchema*>> kinds;
  for (const auto& type : types) {
    auto s = registry.schema(type);
    if (!s) {
      write(ctx.err, "warning: " + s.error().message() + "\n");
      continue;
    }
    for (const auto& k : (*s)->kinds) kinds[k.kind].push_back(&k);
  }
  write(ctx.out, views::json_document(stack_schema(kinds), 2) + "\n");
  return kExitOk;
}

namespace {

struct NoOptions {};

}  // namespace

void setup_schema(CLI::App& app, Context& ctx) {
  declare_command(app, ctx, "schema", "print a JSON Schema of the stack format", [](CLI::App* cmd, Context& ctx) {
    cmd->footer(std::string("For editors: `# yaml-language-server: $schema=keel.schema.json` at the top of keel.yaml.\n"
                     "Covers the built-in providers and the plugins the stack names.") + "\n\n" +
                help_footer({"keel schema > keel.schema.json"}, {{kExitOk, "the schema was printed"}}));
    on_chosen(*cmd, ctx, std::make_shared<NoOptions>(), [](Context& c, const NoOptions&) { return run_schema(c); });
  });
}

}  // namespace keel::commands
