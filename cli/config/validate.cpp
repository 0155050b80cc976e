// Stage 2: Stack -> Configuration, reporting every problem at once.
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

#include "cli/config/agent_setting.h"
#include "cli/config/apps.h"
#include "cli/config/backups.h"
#include "cli/config/configuration.h"
#include "cli/config/expression.h"
#include "core/check_spec.h"
#include "core/text.h"

namespace keel::config {

const Instance* Configuration::find(const std::string& address) const {
  auto it = by_address.find(address);
  return it == by_address.end() ? nullptr : &instances[it->second];
}

std::vector<std::string> Configuration::instances_of(const std::string& resource_address) const {
  // A block's instances are next to each other: found from the first, not
  // by a walk of every instance for each "[*]".
  std::vector<std::string> out;
  auto first = by_address.find(resource_address);
  if (first == by_address.end()) first = by_address.find(resource_address + "[0]");
  if (first == by_address.end()) return out;
  const ResourceBlock* block = instances[first->second].block;
  for (size_t i = first->second; i < instances.size() && instances[i].block == block; ++i)
    out.push_back(instances[i].address);
  return out;
}

std::string Configuration::provider_project() const {
  if (!environment_project.empty()) return environment_project;
  return environment.empty() ? stack->project : stack->project + "-" + environment;
}

EvalContext Configuration::output_context(ResourceLookup lookup) const {
  EvalContext ctx;
  ctx.variables = &variables;
  ctx.stack_dir = stack->dir;
  ctx.lookup = std::move(lookup);
  ctx.instances = [this](const std::string& resource_address) { return instances_of(resource_address); };
  return ctx;
}

EvalContext Configuration::context_for(const Instance& instance, ResourceLookup lookup) const {
  EvalContext ctx = output_context(std::move(lookup));
  ctx.count_index = instance.index;
  return ctx;
}

namespace {

// A value in a message: JSON that never throws (invalid UTF-8 replaced).
std::string shown(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The limits of AttributeSchema (minimum, characters, ...) the value
// breaks; empty when none. `quote`: whether the message may show it.
std::string constraint_problem(const provider::AttributeSchema& schema, const nlohmann::json& v, bool quote) {
  if (v.is_number() && (schema.minimum || schema.maximum)) {
    const double d = v.get<double>();
    if ((schema.minimum && d < *schema.minimum) || (schema.maximum && d > *schema.maximum)) {
      const std::string what = quote ? shown(v) + " is" : "it is";
      if (schema.minimum && schema.maximum)
        return fmt::format("{} out of range: from {} to {}", what, *schema.minimum, *schema.maximum);
      return schema.minimum ? fmt::format("{} below the minimum {}", what, *schema.minimum)
                            : fmt::format("{} above the maximum {}", what, *schema.maximum);
    }
  }
  if (!v.is_string()) return {};
  const std::string& s = v.get_ref<const std::string&>();
  for (const auto& r : schema.reserved) {
    const bool prefix = !r.empty() && r.back() == '*';
    const std::string_view stem = prefix ? std::string_view(r).substr(0, r.size() - 1) : std::string_view(r);
    if (prefix ? s.starts_with(stem) : s == stem)
      return fmt::format("{} is reserved by the provider ({})", quote ? "`" + s + "`" : std::string("the value"), r);
  }
  const std::string what = quote ? "`" + s + "`" : "the value";
  if (schema.min_length && s.size() < *schema.min_length)
    return fmt::format("{} is shorter than {} characters", what, *schema.min_length);
  if (schema.max_length && s.size() > *schema.max_length)
    return fmt::format("{} is longer than {} characters", quote ? "`" + s.substr(0, 64) + "...`" : what,
                       *schema.max_length);
  if (!text::matches_classes(s, schema.first_character, schema.characters)) {
    std::string allowed = schema.characters.empty() ? "any" : "[" + schema.characters + "]";
    if (!schema.first_character.empty()) allowed = "[" + schema.first_character + "] first, then " + allowed;
    return fmt::format("{} holds a character it may not: {} characters are allowed", what, allowed);
  }
  return {};
}

}  // namespace

std::string value_problem(const provider::AttributeSchema& schema, const nlohmann::json& v, bool quote) {
  using provider::AttributeType;
  auto expected = [&](const char* what) { return std::string("expected ") + what + ", got " + v.type_name(); };
  switch (schema.type) {
    case AttributeType::String:
      if (!v.is_string()) return expected("a string");
      if (!schema.one_of.empty() &&
          std::find(schema.one_of.begin(), schema.one_of.end(), v.get<std::string>()) == schema.one_of.end()) {
        std::string allowed;
        for (const auto& o : schema.one_of) allowed += (allowed.empty() ? "" : ", ") + o;
        return (quote ? "`" + v.get<std::string>() + "` is" : "the value is") + " not one of: " + allowed;
      }
      break;
    case AttributeType::Number:
      if (!v.is_number()) return expected("a number");
      break;
    case AttributeType::Integer:
      if (!v.is_number_integer()) return expected("an integer");
      break;
    case AttributeType::Bool: return v.is_boolean() ? "" : expected("true or false");
    case AttributeType::List: return v.is_array() ? "" : expected("a list");
    case AttributeType::Map: return v.is_object() ? "" : expected("a map");
    case AttributeType::Any: return {};
  }
  return constraint_problem(schema, v, quote);
}

namespace {

// Collects every reference inside a raw value (strings nested anywhere).
void collect_references(const nlohmann::json& raw, std::vector<std::pair<Reference, std::string>>& out,
                        std::vector<std::string>& errors) {
  if (raw.is_string()) {
    auto t = parse_template(raw.get<std::string>());
    if (!t) {
      errors.push_back(t.error().message());
      return;
    }
    for (const auto& p : t->parts)
      if (p.reference) out.emplace_back(*p.reference, p.source);
  } else if (raw.is_array() || raw.is_object()) {
    for (const auto& item : raw) collect_references(item, out, errors);
  }
}

// What a value of an attribute type is called in a message ("`path` takes
// a string"); empty for the types that take a whole list or map.
const char* single_value_name(provider::AttributeType type) {
  using provider::AttributeType;
  switch (type) {
    case AttributeType::String: return "a string";
    case AttributeType::Number: return "a number";
    case AttributeType::Integer: return "an integer";
    case AttributeType::Bool: return "true or false";
    case AttributeType::List:
    case AttributeType::Map:
    case AttributeType::Any: return "";
  }
  return "";
}

// The last token of a JSON pointer ("/http/url" -> "url").
std::string last_token(const std::string& pointer) {
  const size_t slash = pointer.rfind('/');
  return slash == std::string::npos ? pointer : pointer.substr(slash + 1);
}

bool is_index_token(const std::string& token) {
  return !token.empty() && token.find_first_not_of("0123456789") == std::string::npos;
}

// Whether `pointer` lies inside a check's value that takes any JSON (a
// GraphQL check's variables, an expected value): lists and maps are fine there.
bool inside_free_json(const std::string& pointer) {
  static const std::set<std::string> free = {"variables", "expect", "expect_json"};
  size_t start = 1;
  for (size_t slash; (slash = pointer.find('/', start)) != std::string::npos; start = slash + 1)
    if (free.count(pointer.substr(start, slash - start))) return true;
  return false;
}

class Validator {
 public:
  Validator(const Stack& stack, const SchemaSource& schemas, const ValidateOptions& options, ValidateResult& out)
      : stack_(stack), schemas_(schemas), options_(options), out_(out), diags_(out.diagnostics) {
    out_.config.stack = &stack;
  }

  void run() {
    resolve_variables();
    check_providers();
    expand_instances();
    for (const auto& instance : out_.config.instances) check_instance(instance);
    for (const auto& check : stack_.checks) check_check(check);
    for (const auto& job : stack_.backups) check_backup(job);
    for (const auto& app : stack_.apps) check_app(app);
    check_outputs();
    check_cycles();
  }

 private:
  std::optional<std::string> env(const std::string& name) const {
    if (options_.env) return options_.env(name);
    const char* v = std::getenv(name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  }

  // --var values arrive as text; a variable whose default is a number or a
  // bool takes them in that type (text that is not one stays text, and the
  // attribute's type check names it).
  static nlohmann::json typed_like(const nlohmann::json& example, const std::string& text) {
    if (example.is_number_integer())
      if (auto i = text::parse_int64(text)) return *i;
    if (example.is_number() && !text.empty()) {
      errno = 0;
      char* end = nullptr;
      const double d = std::strtod(text.c_str(), &end);
      if (end && *end == '\0' && errno != ERANGE && std::isfinite(d)) return d;
    }
    if (example.is_boolean() && (text == "true" || text == "false")) return text == "true";
    return text;
  }

  // A name that says it holds a secret. `sensitive: false` and
  // nonsensitive() are refused for these: a stack (which a pull request
  // may change) cannot print the runner's tokens by asking nicely. A
  // heuristic, and a second line only: the first is that env is sensitive
  // by default.
  static bool looks_like_secret(const std::string& env_name) {
    std::string upper;
    for (char c : env_name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const char* word : {"TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "PRIVATE", "KEY",
                             "AUTH", "COOKIE", "SESSION", "SIGNATURE"})
      if (upper.find(word) != std::string::npos) return true;
    return false;
  }

  void refuse_public_secret(const std::string& env_name, const SourceMark& m, const std::string& what) {
    if (looks_like_secret(env_name))
      diags_.error(m, fmt::format("{}: {} looks like a secret, and stays sensitive", what, env_name),
                   "keel shows it as (sensitive) and seals it in state; leave it sensitive");
  }

  // Text from outside the stack (--var, the environment) becomes JSON
  // strings, which must be UTF-8.
  bool utf8_input(const std::string& value, const SourceMark& m, const std::string& what) {
    if (text::is_valid_utf8(value)) return true;
    diags_.error(m, what + " is not valid UTF-8");
    return false;
  }

  // The environment -e chose, checked against the stack's `environments:`;
  // nullptr when none is chosen or it is not declared.
  const EnvironmentBlock* choose_environment() {
    const std::string& name = options_.environment;
    out_.config.environment = name;
    if (!name.empty()) out_.config.variables[kEnvironmentVariable] = Value{name, false, false};
    if (auto problem = stack_.environment_problem(name); !problem.empty()) {
      std::vector<std::string> names;
      if (spend_on_suggestions(stack_.environments.size()))
        for (const auto& e : stack_.environments) names.push_back(e.name);
      diags_.error(stack_.environments_mark, problem, name.empty() ? std::string() : did_you_mean(name, names));
      return nullptr;
    }
    const EnvironmentBlock* chosen = name.empty() ? nullptr : stack_.find_environment(name);
    if (chosen) out_.config.environment_project = chosen->project;
    return chosen;
  }

  // Values set outside the declarations must name declared variables.
  void check_named(const std::vector<VariableValue>& values, const std::string& where) {
    for (const auto& given : values)
      if (!stack_.find_variable(given.name))
        diags_.error(given.mark, fmt::format("{}: the stack declares no variable `{}`", where, given.name),
                     did_you_mean(given.name, variable_names()));
  }

  void resolve_variables() {
    for (const auto& [name, _] : options_.var_overrides)
      if (!stack_.find_variable(name))
        diags_.error({stack_.file, 0, 0}, "--var " + name + ": the stack declares no variable `" + name + "`",
                     did_you_mean(name, variable_names()));
    const EnvironmentBlock* environment = choose_environment();
    check_named(options_.var_file_values, "--var-file");
    for (const auto& e : stack_.environments) check_named(e.vars, "environment `" + e.name + "`");
    // The last --var-file wins, then the environment's vars.
    std::map<std::string, const VariableValue*> given;
    // A null (`label: ~`) sets nothing: the next source decides, as an
    // unset variable in Terraform.
    if (environment)
      for (const auto& value : environment->vars)
        if (!value.value.is_null()) given[value.name] = &value;
    for (const auto& value : options_.var_file_values)
      if (!value.value.is_null()) given[value.name] = &value;
    for (const auto& v : stack_.variables) {
      Value value{nullptr, false, v.sensitive};
      if (!v.sensitive && !v.env.empty())
        refuse_public_secret(v.env, v.sensitive_mark, fmt::format("variable `{}` has `sensitive: false`", v.name));
      if (auto o = options_.var_overrides.find(v.name); o != options_.var_overrides.end()) {
        if (utf8_input(o->second, {stack_.file, 0, 0}, "--var " + v.name))
          value.value = typed_like(v.default_value, o->second);
      } else if (auto g = given.find(v.name); g != given.end()) {
        value.value = g->second->value;
      } else if (auto e = v.env.empty() ? std::nullopt : env(v.env)) {
        if (utf8_input(*e, v.mark, fmt::format("variable `{}`: environment variable {}", v.name, v.env)))
          value.value = typed_like(v.default_value, *e);
      } else if (v.has_default) {
        value.value = v.default_value;
      } else {
        std::string hint = v.env.empty() ? "pass --var " + v.name + "=VALUE or give it a `default`"
                                         : "set " + v.env + " or pass --var " + v.name + "=VALUE";
        diags_.error(v.mark, "variable `" + v.name + "` has no value", hint);
      }
      out_.config.variables[v.name] = std::move(value);
    }
  }

  std::vector<std::string> variable_names() {
    std::vector<std::string> names;
    if (!spend_on_suggestions(stack_.variables.size())) return names;
    for (const auto& v : stack_.variables) names.push_back(v.name);
    return names;
  }

  // "Did you mean" lists grow with the stack (every resource, every
  // variable), and a stack may hold a hundred thousand bad references: the
  // candidates looked at add up to a budget, past which no more hints are
  // made, and validation stays linear. Lists are built only for an error.
  bool spend_on_suggestions(size_t candidates) {
    if (candidates > suggestion_budget_) return false;
    suggestion_budget_ -= candidates;
    return true;
  }

  // The addresses of the stack's resources of `kind` (every kind when
  // empty), for a hint; empty once the budget is spent.
  std::vector<std::string> resource_addresses(const std::string& kind) {
    std::vector<std::string> out;
    if (!spend_on_suggestions(stack_.resources.size())) return out;
    for (const auto& r : stack_.resources)
      if (kind.empty() || r.kind == kind) out.push_back(r.address());
    return out;
  }

  bool declares_servers() const {
    return std::any_of(stack_.resources.begin(), stack_.resources.end(),
                       [](const ResourceBlock& r) { return r.kind == "servers"; });
  }

  const provider::ProviderSchema* schema_for_type(const std::string& type, const SourceMark& mark) {
    if (auto it = schema_cache_.find(type); it != schema_cache_.end()) return it->second;
    auto s = schemas_(type);
    const provider::ProviderSchema* schema = nullptr;
    if (s) schema = *s;
    else diags_.error(mark, "provider type `" + type + "`: " + s.error().message());
    schema_cache_[type] = schema;
    return schema;
  }

  void check_provider_config(const ProviderBlock& block, const provider::ProviderSchema& schema) {
    std::vector<std::string> names;
    for (const auto& a : schema.config) names.push_back(a.name);
    for (auto it = block.config.begin(); it != block.config.end(); ++it) {
      const SourceMark& m = block.marks.at(it.key());
      auto attr = std::find_if(schema.config.begin(), schema.config.end(),
                               [&](const auto& a) { return a.name == it.key(); });
      if (attr == schema.config.end()) {
        diags_.error(m, "unknown setting `" + it.key() + "` for provider `" + block.name + "` (" + block.type + ")",
                     did_you_mean(it.key(), names));
        continue;
      }
      check_references(it.value(), m, References::NoResources, false);
      check_attribute_shapes(it.value(), *attr, m, "provider `" + block.name + "`: `" + it.key() + "`");
    }
    for (const auto& a : schema.config)
      if (a.required && !block.config.contains(a.name))
        diags_.error(block.mark, "provider `" + block.name + "` needs `" + a.name + "`");
  }

  void check_providers() {
    for (const auto& block : stack_.providers) {
      if (block.type.empty()) continue;
      if (const auto* schema = schema_for_type(block.type, block.mark)) check_provider_config(block, *schema);
    }
  }

  std::optional<int> count_of(const ResourceBlock& block) {
    if (block.count.is_null()) return std::nullopt;
    EvalContext ctx;
    ctx.variables = &out_.config.variables;
    ctx.stack_dir = stack_.dir;
    ctx.env = options_.env;
    auto v = evaluate(block.count, ctx);
    if (!v) {
      diags_.error(block.count_mark, "`count`: " + v.error().message());
      return 0;
    }
    const long long max = static_cast<long long>(kMaxInstances);
    if (!v->value.is_number_integer() || v->value.get<long long>() < 0 || v->value.get<long long>() > max) {
      diags_.error(block.count_mark, fmt::format("`count` must be an integer from 0 to {}, got ", max) +
                                         (v->sensitive ? std::string("a sensitive value") : shown(v->value)));
      return 0;
    }
    return static_cast<int>(v->value.get<long long>());
  }

  void add_instance(const ResourceBlock& block, std::optional<int> index, const ProviderBlock* pblock,
                    const std::string& type, const provider::KindSchema* kind) {
    Instance inst;
    inst.block = &block;
    inst.index = index;
    inst.address = block.address() + (index ? index_suffix(*index) : std::string());
    inst.provider_block = pblock;
    inst.provider_name = block.provider;
    inst.provider_type = type;
    inst.schema = kind;
    out_.config.by_address[inst.address] = out_.config.instances.size();
    instances_of_[&block].push_back(inst.address);
    out_.config.graph.add_node(inst.address);
    out_.config.instances.push_back(std::move(inst));
  }

  void expand_instances() {
    std::set<std::string> seen;
    for (const auto& block : stack_.resources) {
      if (!seen.insert(block.address()).second) {
        diags_.error(block.mark, block.address() + " is declared twice");
        continue;
      }
      const ProviderBlock* pblock = stack_.find_provider(block.provider);
      std::string type = pblock ? pblock->type : block.provider;
      if (!pblock && !is_builtin_provider(block.provider)) {
        std::vector<std::string> names = builtin_provider_types();
        if (spend_on_suggestions(stack_.providers.size()))
          for (const auto& p : stack_.providers) names.push_back(p.name);
        SourceMark m = block.marks.count("provider") ? block.marks.at("provider") : block.mark;
        diags_.error(m, block.address() + ": no provider `" + block.provider + "` in `providers:`",
                     did_you_mean(block.provider, names));
        continue;
      }
      const provider::ProviderSchema* schema = type.empty() ? nullptr : schema_for_type(type, block.mark);
      if (!schema) continue;
      const provider::KindSchema* kind = schema->find_kind(block.kind);
      if (!kind) {
        diags_.error(block.mark, "provider `" + block.provider + "` (" + type + ") does not offer `" + block.kind + "`");
        continue;
      }
      check_attributes(block, *kind);
      auto count = count_of(block);
      if (count && out_.config.instances.size() + *count > kMaxInstances) {
        diags_.error(block.count_mark, fmt::format("{}: the stack would have more than {} resource instances",
                                                   block.address(), kMaxInstances),
                     "`count` adds up over every block of the stack");
        continue;
      }
      if (!count) add_instance(block, std::nullopt, pblock, type, kind);
      for (int i = 0; count && i < *count; ++i) add_instance(block, i, pblock, type, kind);
    }
  }

  void check_attributes(const ResourceBlock& block, const provider::KindSchema& kind) {
    std::vector<std::string> names = {"provider", "count", "depends_on", "lifecycle"};
    for (const auto& a : kind.attributes)
      if (a.settable() && !filled_from_section(block.kind, a.name)) names.push_back(a.name);
    for (auto it = block.attributes.begin(); it != block.attributes.end(); ++it) {
      const SourceMark& m = block.marks.at(it.key());
      const auto* attr = kind.find(it.key());
      if (filled_from_section(block.kind, it.key())) {
        diags_.error(m, "`" + it.key() + "` cannot be set inside " + block.address(),
                     section_hint(block.address(), it.key()));
      } else if (!attr) {
        diags_.error(m, "unknown key `" + it.key() + "` in " + block.address(), did_you_mean(it.key(), names));
      } else if (!attr->settable()) {
        diags_.error(m, "`" + it.key() + "` of " + block.address() + " is computed by the provider and cannot be set");
      }
    }
    for (const auto& a : kind.attributes)
      if (a.required && !block.attributes.contains(a.name))
        diags_.error(block.mark, block.address() + " is missing the required `" + a.name + "`");
    check_ignore_changes(block, kind);
  }

  // lifecycle.ignore_changes names attributes the stack sets (or could).
  void check_ignore_changes(const ResourceBlock& block, const provider::KindSchema& kind) {
    if (block.lifecycle.ignore_changes.empty()) return;  // nearly every block: nothing to build
    std::vector<std::string> settable;
    for (const auto& a : kind.attributes)
      if (a.settable()) settable.push_back(a.name);
    std::set<std::string> seen;
    for (const auto& [name, m] : block.lifecycle.ignore_changes) {
      const auto* attr = kind.find(name);
      if (!attr) {
        diags_.error(m, "`ignore_changes` of " + block.address() + ": " + block.kind + " have no attribute `" + name + "`",
                     did_you_mean(name, settable));
      } else if (!attr->settable()) {
        diags_.error(m, "`ignore_changes` of " + block.address() + ": `" + name +
                            "` is computed by the provider; there is no change of the stack's to ignore");
      } else if (!seen.insert(name).second) {
        diags_.error(m, "`ignore_changes` of " + block.address() + " names `" + name + "` twice");
      }
    }
  }

  // Checks a reference to a resource; returns the instance addresses it
  // depends on.
  std::vector<std::string> check_resource_ref(const ResourceRef& ref, const SourceMark& m) {
    const ResourceBlock* target = stack_.find_resource(ref.kind, ref.name);
    if (!target) {
      diags_.error(m, "reference to `" + ref.resource_address() + "`, which the stack does not declare",
                   did_you_mean(ref.resource_address(), resource_addresses("")));
      return {};
    }
    static const std::vector<std::string> none;
    auto found = instances_of_.find(target);
    const std::vector<std::string>& addresses = found == instances_of_.end() ? none : found->second;
    const Instance* any = addresses.empty() ? nullptr : out_.config.find(addresses.front());
    bool counted = !target->count.is_null();
    if (ref.every_instance) return known_attribute(ref, any, m) ? addresses : std::vector<std::string>{};
    if (counted && !ref.index && !ref.attribute.empty()) {
      diags_.error(m, "`" + ref.resource_address() + "` has `count`: pick an instance, like `" +
                          ref.resource_address() + "[0]." + ref.attribute + "`");
      return {};
    }
    if (!counted && ref.index) {
      diags_.error(m, "`" + ref.resource_address() + "` has no `count`, so it takes no [index]");
      return {};
    }
    if (ref.index && *ref.index >= static_cast<int>(addresses.size())) {
      diags_.error(m, "`" + ref.address() + "` is out of range: `" + ref.resource_address() + "` has " +
                          std::to_string(addresses.size()) + " instances");
      return {};
    }
    if (!ref.attribute.empty() && !known_attribute(ref, any, m)) return {};
    if (ref.index) return {ref.address()};
    return addresses;
  }

  // Does the referenced kind have the attribute? Reports it when not.
  bool known_attribute(const ResourceRef& ref, const Instance* any, const SourceMark& m) {
    if (!any || any->schema->find(ref.attribute)) return true;
    std::vector<std::string> names;
    for (const auto& a : any->schema->attributes) names.push_back(a.name);
    diags_.error(m, fmt::format("`{}` ({}) has no attribute `{}`", ref.resource_address(), any->block->kind, ref.attribute),
                 did_you_mean(ref.attribute, names));
    return false;
  }

  // Where a raw value sits: provider settings may not refer to resources.
  enum class References { NoResources, Resources };

  // What is wrong with reading an ${env.X} or a ${file(PATH)}; empty when
  // nothing. Each is read once however often the stack names it.
  std::string read_problem(const Reference& ref) {
    const auto* f = std::get_if<FileRef>(&ref);
    const std::string key = f ? "file:" + f->path : "env:" + std::get<EnvRef>(ref).name;
    if (auto it = read_problems_.find(key); it != read_problems_.end()) return it->second;
    EvalContext ctx;
    ctx.stack_dir = stack_.dir;
    ctx.env = options_.env;
    auto v = evaluate_reference(ref, ctx);
    return read_problems_[key] = v ? std::string() : v.error().message();
  }

  // Checks every reference in a raw value; returns the instance addresses
  // it depends on.
  std::set<std::string> check_references(const nlohmann::json& raw, const SourceMark& m, References allowed,
                                         bool counted) {
    std::set<std::string> depends_on;
    std::vector<std::pair<Reference, std::string>> refs;
    std::vector<std::string> errors;
    collect_references(raw, refs, errors);
    for (const auto& e : errors) diags_.error(m, e);
    for (const auto& [ref, source] : refs) {
      if (const auto* v = std::get_if<VarRef>(&ref)) {
        if (!stack_.find_variable(v->name))
          diags_.error(m, "reference to `var." + v->name + "`, which the stack does not declare",
                       did_you_mean(v->name, variable_names()));
      } else if (const auto* e = std::get_if<EnvRef>(&ref)) {
        if (!env(e->name)) diags_.error(m, "`${env." + e->name + "}`: environment variable " + e->name + " is not set");
        else if (auto problem = read_problem(ref); !problem.empty()) diags_.error(m, "`${" + source + "}`: " + problem);
        if (!e->sensitive) refuse_public_secret(e->name, m, "`${" + source + "}`");
      } else if (std::holds_alternative<CountIndexRef>(ref)) {
        if (!counted) diags_.error(m, "`count.index` is only available in a resource with `count`");
      } else if (std::holds_alternative<EnvironmentRef>(ref)) {
        // A stack that declares environments was told so once already.
        if (options_.environment.empty() && stack_.environments.empty())
          diags_.error(m, "`${environment}` needs an environment: run with -e NAME or KEEL_ENV",
                       "each environment has its own state (docs/environments.md)");
      } else if (std::holds_alternative<FileRef>(ref)) {
        if (auto problem = read_problem(ref); !problem.empty()) diags_.error(m, problem);
      } else if (const auto* r = std::get_if<ResourceRef>(&ref)) {
        if (allowed == References::NoResources) {
          diags_.error(m, "`${" + source + "}`: provider settings cannot refer to resources");
          continue;
        }
        for (auto& target : check_resource_ref(*r, m)) depends_on.insert(std::move(target));
      }
    }
    return depends_on;
  }

  // ---- lists and maps only where a whole list or map is taken ----

  enum class Shape { Single, List, Map, Unknown };

  // What a reference stands for, known before apply: a `[*]` is a list,
  // KIND.NAME.attr has the type of that attribute in the provider's schema
  // (known or computed alike), var.x its value's. Unknown: an Any
  // attribute, a variable without a value, a reference in error (reported
  // by check_references).
  Shape reference_shape(const Reference& ref) const {
    if (const auto* v = std::get_if<VarRef>(&ref)) {
      auto it = out_.config.variables.find(v->name);
      if (it == out_.config.variables.end()) return Shape::Unknown;
      const nlohmann::json& value = it->second.value;
      if (value.is_array()) return Shape::List;
      if (value.is_object()) return Shape::Map;
      return value.is_null() ? Shape::Unknown : Shape::Single;
    }
    const auto* r = std::get_if<ResourceRef>(&ref);
    if (!r) return Shape::Single;  // env, file(), count.index
    if (r->every_instance) return Shape::List;
    if (r->attribute.empty()) return Shape::Unknown;
    const ResourceBlock* block = stack_.find_resource(r->kind, r->name);
    auto found = block ? instances_of_.find(block) : instances_of_.end();
    if (found == instances_of_.end() || found->second.empty()) return Shape::Unknown;
    const Instance* any = out_.config.find(found->second.front());
    const auto* attr = any ? any->schema->find(r->attribute) : nullptr;
    if (!attr) return Shape::Unknown;
    switch (attr->type) {
      case provider::AttributeType::List: return Shape::List;
      case provider::AttributeType::Map: return Shape::Map;
      case provider::AttributeType::Any: return Shape::Unknown;
      default: return Shape::Single;
    }
  }

  // A list or map from "${...}" where it does not belong, as a message;
  // empty when none. Inside a longer string it would become its JSON text,
  // so it is refused there always; as the whole value, when `takes` says
  // what one value `key` takes instead ("a string"; empty: anything), or a
  // list when `lists_too` (a list's element: no lists of lists).
  std::string shape_problem(const nlohmann::json& raw, const std::string& key, const std::string& takes,
                            bool lists_too = false) {
    if (!raw.is_string()) return {};
    auto t = parse_template(raw.get_ref<const std::string&>());
    if (!t || !t->has_references()) return {};  // a parse error is reported by check_references
    for (const auto& part : t->parts) {
      if (!part.reference) continue;
      const Shape shape = reference_shape(*part.reference);
      if (shape != Shape::List && shape != Shape::Map) continue;
      const char* what = shape == Shape::List ? "a list" : "a map";
      if (!t->is_single_reference())
        return fmt::format("`${{{}}}` is {}: it can only be a whole value, not part of a string", part.source, what);
      if (!takes.empty()) return fmt::format("`${{{}}}` is {}; `{}` takes {}", part.source, what, key, takes);
      if (lists_too && shape == Shape::List)
        return fmt::format("`${{{}}}` is a list; `{}` takes a list of values, not of lists", part.source, key);
    }
    return {};
  }

  // The shapes of the references in an attribute's raw value (or a
  // provider setting's): a String, Number, Integer or Bool takes no list or
  // map, a List's elements no list (an Any attribute takes anything), and
  // no list or map is ever part of a string. Reports at `m`, prefixed with
  // `what`; false when it did.
  bool check_attribute_shapes(const nlohmann::json& raw, const provider::AttributeSchema& attr, const SourceMark& m,
                              const std::string& what) {
    const bool any = attr.type == provider::AttributeType::Any;
    const bool list = attr.type == provider::AttributeType::List;
    std::string problem;
    each_string(raw, "", [&](const nlohmann::json& value, const std::string& pointer) {
      if (!problem.empty()) return;
      const bool whole = pointer.empty();
      const bool element = !any && list && !whole && pointer.find('/', 1) == std::string::npos;
      problem = shape_problem(value, attr.name, whole ? single_value_name(attr.type) : "", element);
    });
    if (!problem.empty()) diags_.error(m, what + ": " + problem);
    return problem.empty();
  }

  // The same for a string at `pointer` in a `checks:` or `backups:` body:
  // the agent takes one value there but for the keys below, whose whole
  // value may be a list (exec's arguments, http's statuses, files) or a map
  // (a check's map form, http's headers, a job's options).
  std::string section_shape_problem(const nlohmann::json& value, const std::string& pointer) {
    static const std::set<std::string> lists = {"exec", "command", "status", "files"};
    static const std::set<std::string> maps = {"http", "tcp", "exec", "postgres", "redis", "disk", "memory", "load",
                                               "process", "graphql", "headers", "expect_headers", "expect_json",
                                               "expect", "variables", "source", "s3", "sftp", "retention", "drill"};
    const std::string key = last_token(pointer);
    if (inside_free_json(pointer)) return shape_problem(value, key, "");
    if (is_index_token(key)) {  // a list's element
      const std::string parent = last_token(pointer.substr(0, pointer.size() - key.size() - 1));
      return shape_problem(value, parent, "a list of single values");
    }
    const Shape shape = [&] {
      auto t = parse_template(value.get_ref<const std::string&>());
      return t && t->is_single_reference() ? reference_shape(*t->parts[0].reference) : Shape::Single;
    }();
    const bool taken = (shape == Shape::List && lists.count(key)) || (shape == Shape::Map && maps.count(key));
    return shape_problem(value, key, taken ? "" : "one value");
  }

  void check_types(const Instance& inst) {
    EvalContext ctx = out_.config.context_for(inst, [](const std::string&, const std::string&) {
      return std::optional<Value>(Value{nullptr, true, false});
    });
    ctx.env = options_.env;
    for (auto it = inst.block->attributes.begin(); it != inst.block->attributes.end(); ++it) {
      const auto* attr = inst.schema->find(it.key());
      if (!attr || !attr->settable()) continue;
      const SourceMark& m = inst.block->marks.at(it.key());
      if (!check_attribute_shapes(it.value(), *attr, m, "`" + it.key() + "` of " + inst.block->address())) continue;
      auto v = evaluate(it.value(), ctx);
      if (!v) continue;  // reference errors are reported by check_references
      if (v->unknown) continue;
      // A sensitive value is named, never shown: a stack must not print the secrets it reads.
      if (auto problem = value_problem(*attr, v->value, !v->sensitive); !problem.empty())
        diags_.error(m, "`" + it.key() + "` of " + inst.block->address() + ": " + problem);
      else if (is_ssh_agent_setting(inst, *attr))
        check_agent_setting(inst, v->value);
    }
  }

  // The `agent` of servers keel installs its agent on over SSH (the `ssh`
  // provider's hosts, cloud servers that join the fleet) takes a map whose
  // keys are keel's own (cli/config/agent_setting.h); the local provider's
  // is a Bool.
  static bool is_ssh_agent_setting(const Instance& inst, const provider::AttributeSchema& attr) {
    return inst.block->kind == "servers" && attr.name == "agent" && attr.type == provider::AttributeType::Any;
  }

  // Reported at the key in error (agent: {health_port: ...}), as the
  // provider would refuse it at apply.
  void check_agent_setting(const Instance& inst, const nlohmann::json& value) {
    AgentSetting setting;
    auto problem = parse_agent_setting(value, setting);
    if (!problem) return;
    const std::string pointer =
        problem->key.empty() ? std::string("/agent") : fmt::format("/agent/{}", pointer_token(problem->key));
    auto at = inst.block->value_marks.find(pointer);
    const SourceMark& m = at != inst.block->value_marks.end() ? at->second : inst.block->marks.at("agent");
    diags_.error(m, inst.block->address() + ": " + problem->message,
                 problem->key == "health_port" ? "for example `agent: { port: 7300, health_port: 7301 }`" : "");
  }

  // About how many bytes a value takes.
  static size_t value_bytes(const nlohmann::json& v) {
    size_t n = 8;
    if (v.is_string()) n += v.get_ref<const std::string&>().size();
    else if (v.is_object())
      for (auto it = v.begin(); it != v.end(); ++it) n += it.key().size() + value_bytes(it.value());
    else if (v.is_array())
      for (const auto& item : v) n += value_bytes(item);
    return n;
  }

  // About what one edge of the graph costs (two set entries and a name).
  static constexpr size_t kEdgeBytes = 64;

  // Values the plan will hold, `count` and `checks:` repeating a block's:
  // 100,000 instances of a 1 MB variable are 100 GB. Adds `bytes` to the
  // stack's total; false (reported once, at `m`) past kMaxExpandedBytes.
  bool charge_expansion(size_t bytes, const SourceMark& m, const std::string& what) {
    expanded_bytes_ += bytes;
    if (expanded_bytes_ <= kMaxExpandedBytes) return true;
    if (!expansion_reported_)
      diags_.error(m, fmt::format("{} makes the stack's values larger than {} MiB once repeated for every instance",
                                  what, kMaxExpandedBytes >> 20),
                   "`count` and `on:` repeat every value of the block; keep large values out of repeated blocks");
    expansion_reported_ = true;
    return false;
  }

  // The attributes of one instance as the plan will hold them, resources
  // standing in as empty strings: what every instance of the block costs.
  size_t instance_bytes(const Instance& inst) {
    EvalContext ctx = out_.config.context_for(inst, [](const std::string&, const std::string&) {
      return std::optional<Value>(Value{"", false, false});
    });
    ctx.env = options_.env;
    size_t bytes = 0;
    for (auto it = inst.block->attributes.begin(); it != inst.block->attributes.end(); ++it)
      if (auto v = evaluate(it.value(), ctx)) bytes += it.key().size() + value_bytes(v->value);
    return bytes;
  }

  // The instance addresses a block's values and depends_on refer to.
  std::set<std::string> block_references(const Instance& inst) {
    std::set<std::string> targets;
    for (auto it = inst.block->attributes.begin(); it != inst.block->attributes.end(); ++it)
      for (auto& target :
           check_references(it.value(), inst.block->marks.at(it.key()), References::Resources, inst.index.has_value()))
        targets.insert(std::move(target));
    for (const auto& [address, m] : inst.block->depends_on) {
      auto ref = parse_address(address);
      if (!ref) {
        diags_.error(m, "depends_on: " + ref.error().message());
        continue;
      }
      for (auto& target : check_resource_ref(*ref, m)) targets.insert(std::move(target));
    }
    return targets;
  }

  // Every instance of a block refers to the same instances (an index in a
  // reference is a literal), so the block is checked at its first instance
  // and the others get its edges: checking each again would cost `count`
  // times the block, and report each problem `count` times.
  void check_instance(const Instance& inst) {
    auto [found, first] = block_references_.try_emplace(inst.block);
    if (first) {
      found->second = block_references(inst);
      check_types(inst);
      // Every instance holds its values and an edge to each instance it
      // refers to: a "[*]" in a block with `count` is count x count edges.
      const size_t instances = instances_of_.at(inst.block).size();
      const size_t bytes = instance_bytes(inst) + found->second.size() * kEdgeBytes;
      const SourceMark& m = inst.block->count.is_null() ? inst.block->mark : inst.block->count_mark;
      if (!charge_expansion(bytes * instances, m, inst.block->address())) found->second.clear();
    }
    for (const auto& target : found->second) out_.config.graph.add_edge(inst.address, target);
  }

  void check_outputs() {
    std::set<std::string> seen;
    for (const auto& o : stack_.outputs) {
      if (!seen.insert(o.name).second) diags_.error(o.mark, "output `" + o.name + "` is declared twice");
      check_references(o.value, o.mark, References::Resources, false);
      // An output takes any value, but a list or map inside a string would be its JSON text.
      each_string(o.value, "", [&](const nlohmann::json& value, const std::string&) {
        if (auto problem = shape_problem(value, "", ""); !problem.empty())
          diags_.error(o.mark, fmt::format("output `{}`: {}", o.name, problem));
      });
    }
  }

  // ---- the top-level `checks:` ----

  // The server instances one `on:` selector picks; errors at its mark.
  std::vector<size_t> select_servers(const CheckBlock& check, const std::string& text, const SourceMark& m) {
    auto ref = parse_address(text);
    if (!ref) {
      diags_.error(m, "check `" + check.name + "`: in `on:`, " + ref.error().message(),
                   "for example `on: servers.web` or `on: \"servers.web[0]\"`");
      return {};
    }
    if (ref->kind != "servers") {
      diags_.error(m, "check `" + check.name + "`: `on:` selects servers, and `" + ref->resource_address() +
                          "` is not one",
                   !declares_servers() ? "declare the hosts under `servers:`"
                                       : did_you_mean("servers." + ref->name, resource_addresses("servers")));
      return {};
    }
    const ResourceBlock* block = stack_.find_resource(ref->kind, ref->name);
    if (!block) {
      diags_.error(m, "check `" + check.name + "`: `on:` selects `" + ref->resource_address() +
                          "`, which the stack does not declare",
                   did_you_mean(ref->resource_address(), resource_addresses("servers")));
      return {};
    }
    auto found = instances_of_.find(block);
    if (found == instances_of_.end()) return {};  // the block itself is in error
    const std::vector<std::string>& addresses = found->second;
    bool counted = !block->count.is_null();
    if (!counted && ref->index) {
      diags_.error(m, "check `" + check.name + "`: `" + ref->resource_address() +
                          "` has no `count`, so it takes no [index]");
      return {};
    }
    if (ref->index && *ref->index >= static_cast<int>(addresses.size())) {
      diags_.error(m, "check `" + check.name + "`: `" + ref->address() + "` is out of range: `" +
                          ref->resource_address() + "` has " + std::to_string(addresses.size()) + " instances");
      return {};
    }
    std::vector<size_t> out;
    for (const auto& a : addresses)
      if (!ref->index || a == ref->address()) out.push_back(out_.config.by_address.at(a));
    if (!out.empty()) {
      const Instance& any = out_.config.instances[out.front()];
      const auto* attr = any.schema->find(kChecksAttribute);
      if (!attr || !attr->settable()) {
        diags_.error(m, "check `" + check.name + "`: " + ref->resource_address() + " cannot run checks: provider `" +
                            any.provider_name + "` (" + any.provider_type + ") has no `checks` for servers");
        return {};
      }
    }
    return out;
  }

  // Calls fn(value, pointer) for every string in a raw value.
  template <typename Fn>
  static void each_string(const nlohmann::json& raw, const std::string& pointer, const Fn& fn) {
    if (raw.is_string()) {
      fn(raw, pointer);
    } else if (raw.is_object()) {
      for (auto it = raw.begin(); it != raw.end(); ++it)
        each_string(it.value(), pointer + "/" + pointer_token(it.key()), fn);
    } else if (raw.is_array()) {
      for (size_t i = 0; i < raw.size(); ++i) each_string(raw[i], pointer + "/" + std::to_string(i), fn);
    }
  }

  void check_check(const CheckBlock& check) {
    size_t problems = diags_.items().size();
    std::vector<size_t> targets;
    std::set<size_t> seen;
    for (const auto& [text, m] : check.on)
      for (size_t i : select_servers(check, text, m))
        if (seen.insert(i).second) targets.push_back(i);
    bool counted = std::all_of(targets.begin(), targets.end(),
                               [&](size_t i) { return out_.config.instances[i].index.has_value(); });
    // References: checked once per check, at the value that holds them; each
    // becomes an edge from every server the check runs on.
    std::map<std::string, SourceMark> depends_on;  // instance address -> first mark
    each_string(check.body, "", [&](const nlohmann::json& value, const std::string& pointer) {
      auto m = check.marks.count(pointer) ? check.marks.at(pointer) : check.mark;
      auto targets = check_references(value, m, References::Resources, counted);
      // A value in error makes no edge: a `[*]` of the check's own servers
      // would otherwise be reported as a cycle.
      if (auto problem = section_shape_problem(value, pointer); !problem.empty()) {
        diags_.error(m, fmt::format("check `{}`: {}", check.name, problem));
        return;
      }
      for (const auto& target : targets) depends_on.emplace(target, m);
    });
    // Every server it is on holds the check and its edges.
    const size_t bytes = value_bytes(check.body) + depends_on.size() * kEdgeBytes;
    if (!charge_expansion(bytes * targets.size(), check.on_mark, fmt::format("check `{}`", check.name))) return;
    for (size_t i : targets) {
      Instance& inst = out_.config.instances[i];
      for (const auto& [target, m] : depends_on) {
        if (target == inst.address) {
          diags_.error(m, "check `" + check.name + "` runs on " + inst.address + " and refers to it",
                       "the agent runs on that server: use 127.0.0.1 or localhost");
          continue;
        }
        if (out_.config.graph.dependencies(inst.address).count(target)) continue;  // the block refers to it too
        out_.config.graph.add_edge(inst.address, target);
        check_edges_.emplace(std::make_pair(inst.address, target), fmt::format("check `{}`", check.name));
      }
      inst.section_attributes[kChecksAttribute][check.name] = check.body;
    }
    if (diags_.items().size() == problems) check_resolved(check, targets);
  }

  // Values that held "${...}" were not type-checked by the loader: once the
  // variables are in, check the definition again as the agent will (values
  // known only after apply are left to the agent).
  void check_resolved(const CheckBlock& check, const std::vector<size_t>& targets) {
    if (targets.empty() || !check.parsed) return;  // the loader reported what is wrong
    EvalContext ctx = out_.config.context_for(out_.config.instances[targets.front()],
                                              [](const std::string&, const std::string&) {
                                                return std::optional<Value>(Value{nullptr, true, false});
                                              });
    ctx.env = options_.env;
    auto v = evaluate(check.body, ctx);
    // Sensitive values stay out of messages; the agent checks those.
    if (!v || v->unknown || v->sensitive || v->value == check.body) return;
    if (auto spec = checks::check_from_json(check.name, v->value); !spec)
      diags_.error(check.mark, "check `" + check.name + "` with its references resolved: " + spec.error().message());
  }

  // ---- the top-level `backups:` ----

  // The one instance `text` names (an address the loader let through);
  // errors at `m`, prefixed with `what`. Null after an error, or when the
  // block itself is in error (reported there).
  const Instance* one_instance(const std::string& what, const std::string& text, const SourceMark& m,
                               const std::string& kind, const std::string& hint) {
    auto ref = parse_address(text);
    if (!ref) {
      diags_.error(m, fmt::format("{}: {}", what, ref.error().message()), hint);
      return nullptr;
    }
    const ResourceBlock* block = stack_.find_resource(ref->kind, ref->name);
    if (!kind.empty() && ref->kind != kind) {
      std::string suggestion = did_you_mean(kind + "." + ref->name, resource_addresses(kind));
      diags_.error(m, fmt::format("{}: `{}` is not one of the stack's {}", what, text, kind),
                   suggestion.empty() ? hint : suggestion);
      return nullptr;
    }
    if (!block) {
      std::string suggestion = did_you_mean(ref->resource_address(), resource_addresses(kind.empty() ? ref->kind : kind));
      diags_.error(m, fmt::format("{}: the stack declares no `{}`", what, ref->resource_address()),
                   suggestion.empty() ? hint : suggestion);
      return nullptr;
    }
    auto found = instances_of_.find(block);
    if (found == instances_of_.end()) return nullptr;
    const bool counted = !block->count.is_null();
    const std::string address = ref->resource_address();
    if (counted && !ref->index) {
      diags_.error(m, fmt::format("{}: `{}` has `count`: name one instance, like `\"{}[0]\"`", what, address, address));
      return nullptr;
    }
    if (!counted && ref->index) {
      diags_.error(m, fmt::format("{}: `{}` has no `count`, so it takes no [index]", what, address));
      return nullptr;
    }
    if (ref->index && *ref->index >= static_cast<int>(found->second.size())) {
      diags_.error(m, fmt::format("{}: `{}` is out of range: `{}` has {} instances", what, ref->address(), address,
                                  found->second.size()));
      return nullptr;
    }
    return out_.config.find(ref->address());
  }

  static bool can_run_backups(const Instance& server) {
    const auto* attr = server.schema->find(kBackupsAttribute);
    return attr && attr->settable();
  }

  // `agent: false` literally: that server's agent is stopped.
  static bool agent_wanted(const Instance& server) {
    auto it = server.block->attributes.find("agent");
    return it == server.block->attributes.end() || *it != false;
  }

  // Without `runs_on`: a job on something of this machine (a local resource,
  // or files) runs on the stack's only local server with an agent.
  const Instance* default_backup_server(const BackupBlock& job, const Instance* source) {
    if (source && source->provider_type != "local") {
      diags_.error(job.mark, fmt::format("backup `{}` has no `runs_on`", job.name),
                   fmt::format("{} is not on this machine: name the server whose agent runs the job, like "
                               "`runs_on: servers.db`",
                               source->address));
      return nullptr;
    }
    if (!local_backup_servers_) {  // once, not once per job
      local_backup_servers_.emplace();
      for (const auto& inst : out_.config.instances)
        if (inst.block->kind == "servers" && inst.provider_type == "local" && can_run_backups(inst) &&
            agent_wanted(inst))
          local_backup_servers_->push_back(&inst);
    }
    const std::vector<const Instance*>& candidates = *local_backup_servers_;
    if (candidates.size() == 1) return candidates.front();
    std::vector<std::string> names;
    for (size_t i = 0; i < candidates.size() && i < 10; ++i) names.push_back(candidates[i]->address);
    if (candidates.size() > 10) names.push_back("...");
    diags_.error(job.mark,
                 fmt::format("backup `{}` has no `runs_on`, and the stack has {} local servers with an agent", job.name,
                             candidates.size()),
                 candidates.empty()
                     ? "the job runs in a server's keel-agent: declare one (`servers: { ops: {} }`) and it is the default"
                     : fmt::format("name the server whose agent runs it: `runs_on: \"{}\"` (one of: {})", names.front(),
                                   fmt::join(names, ", ")));
    return nullptr;
  }

  const Instance* backup_server(const BackupBlock& job, const Instance* source) {
    if (job.runs_on.empty()) return default_backup_server(job, source);
    const Instance* server =
        one_instance(fmt::format("backup `{}`: `runs_on`", job.name), job.runs_on, job.runs_on_mark, "servers",
                     "for example `runs_on: servers.db` or `runs_on: \"servers.web[0]\"`");
    if (server && !can_run_backups(*server)) {
      diags_.error(job.runs_on_mark,
                   fmt::format("backup `{}`: {} cannot run backups: provider `{}` ({}) has no `backups` for servers",
                               job.name, server->address, server->provider_name, server->provider_type));
      return nullptr;
    }
    return server;
  }

  // The engine the source runs, which must be one keel backs up: postgres
  // for databases, redis for caches.
  std::optional<std::string> source_engine(const BackupBlock& job, const Instance& source) {
    const std::string wanted = source.block->kind == "databases" ? "postgres" : "redis";
    nlohmann::json engine;
    if (auto it = source.block->attributes.find("engine"); it != source.block->attributes.end()) {
      EvalContext ctx = out_.config.context_for(source, nullptr);
      ctx.env = options_.env;
      if (auto v = evaluate(*it, ctx); v && !v->unknown && !v->sensitive) engine = v->value;  // never shown when sensitive
    } else if (const auto* attr = source.schema->find("engine")) {
      engine = attr->default_value;
    }
    if (engine.is_string() && engine != wanted) {
      diags_.error(job.source_mark,
                   fmt::format("backup `{}`: {} runs {}, and keel backs up {} {} only", job.name, source.address,
                               engine.get<std::string>(), wanted, source.block->kind),
                   engine == "memcached" ? "memcached keeps nothing on disk to back up" : "");
      return std::nullopt;
    }
    if (!source.schema->find("host") || !source.schema->find("port")) {
      diags_.error(job.source_mark, fmt::format("backup `{}`: provider `{}` does not report the `host` and `port` of {}",
                                                job.name, source.provider_name, source.address));
      return std::nullopt;
    }
    return wanted;
  }

  // S3 keys not in the stack are keel's own AWS_ACCESS_KEY_ID and
  // AWS_SECRET_ACCESS_KEY, as references: resolved at apply, sealed in state.
  void default_s3_keys(const BackupBlock& job, nlohmann::json& body) {
    if (job.scheme != "s3") return;
    nlohmann::json& s3 = body["s3"];
    if (!s3.is_object()) s3 = nlohmann::json::object();
    if (s3.contains("access_key_id")) return;
    if (!env("AWS_ACCESS_KEY_ID") || !env("AWS_SECRET_ACCESS_KEY")) {
      diags_.error(job.marks.count("/to") ? job.marks.at("/to") : job.mark,
                   fmt::format("backup `{}` goes to S3 without keys, and AWS_ACCESS_KEY_ID and "
                               "AWS_SECRET_ACCESS_KEY are not both set",
                               job.name),
                   "set them for keel, or give `s3: { access_key_id: ..., secret_access_key: ... }` "
                   "(from sensitive variables)");
      return;
    }
    s3["access_key_id"] = "${env.AWS_ACCESS_KEY_ID}";
    s3["secret_access_key"] = "${env.AWS_SECRET_ACCESS_KEY}";
  }

  // Every reference of the job becomes an edge from the server that runs it.
  void backup_edges(const BackupBlock& job, const Instance& server, const Instance* source) {
    std::map<std::string, SourceMark> depends_on;  // instance address -> first mark
    each_string(job.body, "", [&](const nlohmann::json& value, const std::string& pointer) {
      auto m = job.marks.count(pointer) ? job.marks.at(pointer) : job.mark;
      auto targets = check_references(value, m, References::Resources, false);
      if (auto problem = section_shape_problem(value, pointer); !problem.empty()) {
        diags_.error(m, fmt::format("backup `{}`: {}", job.name, problem));
        return;
      }
      for (const auto& target : targets) depends_on.emplace(target, m);
    });
    if (source) depends_on.emplace(source->address, job.source_mark);
    for (const auto& [target, m] : depends_on) {
      if (target == server.address) {
        diags_.error(m, fmt::format("backup `{}` runs on {} and refers to it", job.name, server.address),
                     "the agent runs on that server: use 127.0.0.1 or localhost");
        continue;
      }
      if (out_.config.graph.dependencies(server.address).count(target)) continue;
      out_.config.graph.add_edge(server.address, target);
      check_edges_.emplace(std::make_pair(server.address, target), fmt::format("backup `{}`", job.name));
    }
  }

  // Files the job under its server's `backups`, in the agent's shape.
  void check_backup(const BackupBlock& job) {
    const size_t problems = diags_.items().size();
    const Instance* source = nullptr;
    std::optional<std::string> engine;
    if (!job.source.empty()) {
      source = one_instance(fmt::format("backup `{}`: `source`", job.name), job.source, job.source_mark, "",
                            "for example `source: databases.main`");
      if (!source || !(engine = source_engine(job, *source))) return;
    }
    const Instance* server = backup_server(job, source);
    if (!server) return;
    nlohmann::json body = job.body;
    if (source) body["source"] = resource_source(*engine, source->address, *source->schema);
    default_s3_keys(job, body);
    backup_edges(job, *server, source);
    if (diags_.items().size() != problems) return;
    Instance& inst = out_.config.instances[out_.config.by_address.at(server->address)];
    inst.section_attributes[kBackupsAttribute][job.name] = std::move(body);
  }

  // ---- the top-level `apps:` ----

  // The server instances one selector of an app's `servers:` picks, as
  // indexes into the configuration's instances; errors at `m`.
  std::vector<size_t> app_servers(const AppBlock& app, const std::string& text, const SourceMark& m) {
    static const char* kHint = "for example `servers: servers.web` or `servers: \"servers.web[0]\"`";
    const std::string what = fmt::format("app `{}`: `servers`", app.name);
    auto ref = parse_address(text);
    if (!ref) {
      diags_.error(m, fmt::format("{}: {}", what, ref.error().message()), kHint);
      return {};
    }
    if (ref->kind != "servers" || !ref->attribute.empty() || ref->every_instance) {
      diags_.error(m, fmt::format("{}: `{}` is not one of the stack's servers", what, text),
                   !declares_servers() ? "declare the hosts under `servers:`"
                                       : did_you_mean("servers." + ref->name, resource_addresses("servers")));
      return {};
    }
    const ResourceBlock* block = stack_.find_resource(ref->kind, ref->name);
    if (!block) {
      diags_.error(m, fmt::format("{}: the stack declares no `{}`", what, ref->resource_address()),
                   did_you_mean(ref->resource_address(), resource_addresses("servers")));
      return {};
    }
    auto found = instances_of_.find(block);
    if (found == instances_of_.end()) return {};  // the block itself is in error
    const std::vector<std::string>& addresses = found->second;
    if (block->count.is_null() && ref->index) {
      diags_.error(m, fmt::format("{}: `{}` has no `count`, so it takes no [index]", what, ref->resource_address()));
      return {};
    }
    if (ref->index && *ref->index >= static_cast<int>(addresses.size())) {
      diags_.error(m, fmt::format("{}: `{}` is out of range: `{}` has {} instances", what, ref->address(),
                                  ref->resource_address(), addresses.size()));
      return {};
    }
    std::vector<size_t> out;
    for (const auto& a : addresses)
      if (!ref->index || a == ref->address()) out.push_back(out_.config.by_address.at(a));
    return out;
  }

  // String values are evaluated by `keel deploy` with the variables and the
  // environment; apps are deployed to what exists, so they name no resource.
  void check_app_references(const AppBlock& app, const std::string& key, const std::string& value) {
    if (value.empty()) return;
    const SourceMark m = app.marks.count(key) ? app.marks.at(key) : app.mark;
    std::vector<std::pair<Reference, std::string>> refs;
    std::vector<std::string> errors;
    collect_references(value, refs, errors);
    for (const auto& [ref, source] : refs)
      if (std::holds_alternative<ResourceRef>(ref)) {
        diags_.error(m, fmt::format("app `{}`: `{}` cannot refer to resources (`${{{}}}`)", app.name, key, source),
                     "an app takes variables and the environment: `${var.NAME}`, `${env.NAME}`");
        return;
      }
    check_references(value, m, References::Resources, false);
    if (auto problem = shape_problem(value, key, "a string"); !problem.empty())
      diags_.error(m, fmt::format("app `{}`: {}", app.name, problem));
  }

  void check_app(const AppBlock& app) {
    std::vector<size_t> targets;
    std::set<size_t> seen;
    for (const auto& [text, m] : app.servers)
      for (size_t i : app_servers(app, text, m))
        if (seen.insert(i).second) targets.push_back(i);
    for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
             {"artifact", app.artifact}, {"path", app.path}, {"before", app.before}, {"after", app.after},
             {"start", app.start}})
      check_app_references(app, key, value);
    if (checks_by_name_.empty())
      for (const auto& c : stack_.checks) checks_by_name_.emplace(c.name, &c);
    for (const auto& [name, m] : app.health) {
      auto found = checks_by_name_.find(name);
      const CheckBlock* check = found == checks_by_name_.end() ? nullptr : found->second;
      if (!check) {
        std::vector<std::string> check_names;
        if (spend_on_suggestions(stack_.checks.size()))
          for (const auto& c : stack_.checks) check_names.push_back(c.name);
        std::string suggestion = did_you_mean(name, check_names);
        diags_.error(m, fmt::format("app `{}`: `health` names `{}`, which `checks:` does not declare", app.name, name),
                     suggestion.empty() ? "the deploy waits for checks of the stack's `checks:` section to pass on "
                                          "each host"
                                        : suggestion);
        continue;
      }
      // The agent of every host the app runs on must run the check.
      std::vector<std::string> missing;
      for (size_t i : targets) {
        const auto& checks = out_.config.instances[i].section_attributes;
        if (!checks.contains(kChecksAttribute) || !checks[kChecksAttribute].contains(name))
          missing.push_back(out_.config.instances[i].address);
      }
      if (!missing.empty())
        diags_.error(m, fmt::format("app `{}`: health check `{}` does not run on {}", app.name, name,
                                    fmt::join(missing, ", ")),
                     fmt::format("the deploy asks each host's agent: add them to the `on:` of the check at {}",
                                 check->mark.describe()));
    }
  }

  void check_cycles() {
    auto cycle = out_.config.graph.find_cycle();
    if (!cycle) return;
    std::string path;
    for (const auto& a : *cycle) path += (path.empty() ? "" : " -> ") + a;
    const Instance* first = out_.config.find(cycle->front());
    SourceMark m = first ? first->block->mark : SourceMark{stack_.file, 0, 0};
    std::string hint = "break it by removing one of these references";
    for (size_t i = 0; i + 1 < cycle->size(); ++i)
      if (auto e = check_edges_.find({(*cycle)[i], (*cycle)[i + 1]}); e != check_edges_.end()) {
        hint += "; " + e->second + " on " + e->first.first + " refers to " + e->first.second;
        break;
      }
    diags_.error(m, "dependency cycle: " + path, hint);
  }

  const Stack& stack_;
  const SchemaSource& schemas_;
  const ValidateOptions& options_;
  ValidateResult& out_;
  Diagnostics& diags_;
  std::map<std::string, const provider::ProviderSchema*> schema_cache_;
  // (server, target) -> what made the edge: "check `web`", "backup `main`".
  std::map<std::pair<std::string, std::string>, std::string> check_edges_;
  std::map<const ResourceBlock*, std::vector<std::string>> instances_of_;
  std::map<std::string, std::string> read_problems_;  // "env:X" / "file:PATH" -> problem, "" for none
  size_t suggestion_budget_ = 1'000'000;              // see spend_on_suggestions
  std::map<std::string, const CheckBlock*> checks_by_name_;  // for apps' `health`
  std::optional<std::vector<const Instance*>> local_backup_servers_;  // see default_backup_server
  std::map<const ResourceBlock*, std::set<std::string>> block_references_;  // see check_instance
  size_t expanded_bytes_ = 0;
  bool expansion_reported_ = false;
};

}  // namespace

ValidateResult validate(const Stack& stack, const SchemaSource& schemas, const ValidateOptions& options) {
  ValidateResult result;
  Validator(stack, schemas, options, result).run();
  return result;
}

}  // namespace keel::config
