// Stage 1: YAML text -> config::Stack, with structural diagnostics.
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <set>

#include <fmt/format.h>

#include "cli/config/apps.h"
#include "cli/config/backups.h"
#include "cli/config/input_files.h"
#include "cli/config/stack.h"
#include "cli/config/yaml_parse.h"
#include "cli/config/yaml_values.h"
#include "core/check_spec.h"
#include "core/files.h"
#include "core/text.h"

namespace keel::config {

const std::vector<std::string>& resource_kinds() {
  static const std::vector<std::string> kinds = {"servers", "databases", "caches", "files",
                                                 "load_balancers", "firewalls", "volumes", "networks", "subnets",
                                                 "server_groups"};
  return kinds;
}

bool holds_data(const std::string& kind) {
  return kind == "databases" || kind == "caches" || kind == "volumes";
}

const std::vector<std::string>& future_kinds() {
  static const std::vector<std::string> kinds = {};
  return kinds;
}

bool filled_from_section(const std::string& kind, const std::string& attribute) {
  return kind == "servers" && (attribute == kChecksAttribute || attribute == kBackupsAttribute ||
                               attribute == kBackupKeyAttribute);
}

std::string section_hint(const std::string& address, const std::string& attribute) {
  if (attribute == kBackupsAttribute)
    return fmt::format("declare them in the top-level `backups:` section with `runs_on: {}`", address);
  if (attribute == kBackupKeyAttribute)
    return "keel makes the stack's backup key itself; `keel backup key export` prints it";
  return fmt::format("declare them in the top-level `checks:` section with `on: {}`", address);
}

std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

const Variable* Stack::find_variable(const std::string& n) const {
  auto it = variable_index.find(n);
  return it == variable_index.end() ? nullptr : &variables[it->second];
}

const ProviderBlock* Stack::find_provider(const std::string& n) const {
  auto it = provider_index.find(n);
  return it == provider_index.end() ? nullptr : &providers[it->second];
}

const ResourceBlock* Stack::find_resource(const std::string& k, const std::string& n) const {
  auto it = resource_index.find(k + "." + n);
  return it == resource_index.end() ? nullptr : &resources[it->second];
}

const EnvironmentBlock* Stack::find_environment(const std::string& n) const {
  for (const auto& e : environments)
    if (e.name == n) return &e;
  return nullptr;
}

std::string Stack::environment_problem(const std::string& environment) const {
  if (environments.empty() || find_environment(environment)) return {};
  // A few names say enough; a stack may declare thousands.
  std::vector<std::string> names;
  for (const auto& e : environments) {
    if (names.size() == 10) {
      names.push_back(fmt::format("and {} more", environments.size() - 10));
      break;
    }
    names.push_back(e.name);
  }
  if (environment.empty())
    return fmt::format("{} declares environments ({}): choose one with -e NAME or KEEL_ENV (each has its own state)",
                       file, fmt::join(names, ", "));
  return fmt::format("environment `{}` (-e or KEEL_ENV): {} declares no such environment (it declares {})",
                     environment, file, fmt::join(names, ", "));
}

bool is_environment_name(const std::string& name) { return text::is_name(name, 32, "", "_-"); }

namespace {

class Loader {
 public:
  Loader(std::string file, Diagnostics& diags) : file_(std::move(file)), diags_(diags) {}

  SourceMark mark(const YAML::Node& node) const { return yaml_mark(node, file_); }

  nlohmann::json to_json(const YAML::Node& node) const { return yaml_to_json(node); }

  bool expect_map(const YAML::Node& node, const std::string& what) {
    if (node.IsMap()) return true;
    if (node.IsNull()) return false;  // an empty section is fine
    diags_.error(mark(node), what + " must be a map");
    return false;
  }

  std::optional<std::string> string_value(const YAML::Node& node, const std::string& what) {
    if (node.IsScalar()) return node.Scalar();
    diags_.error(mark(node), what + " must be a string");
    return std::nullopt;
  }

  void unknown_key(const YAML::Node& key, const std::string& where, const std::vector<std::string>& allowed) {
    diags_.error(mark(key), "unknown key `" + key.Scalar() + "` in " + where,
                 did_you_mean(key.Scalar(), allowed));
  }

  void load_variables(const YAML::Node& node, Stack& stack) {
    if (!expect_map(node, "`variables`")) return;
    static const std::vector<std::string> keys = {"default", "env", "sensitive", "description"};
    for (const auto& kv : node) {
      Variable v;
      v.name = kv.first.Scalar();
      v.mark = mark(kv.first);
      bool sensitive_given = false;
      if (kv.second.IsMap()) {
        for (const auto& field : kv.second) {
          const std::string& key = field.first.Scalar();
          if (key == "default") {
            v.default_value = to_json(field.second);
            v.has_default = true;
          } else if (key == "env") {
            if (auto s = string_value(field.second, "`env`")) v.env = *s;
          } else if (key == "sensitive") {
            auto b = to_json(field.second);
            if (!b.is_boolean()) diags_.error(mark(field.second), "`sensitive` must be true or false");
            else v.sensitive = b.get<bool>();
            sensitive_given = b.is_boolean();
            v.sensitive_mark = mark(field.second);
          } else if (key == "description") {
            if (auto s = string_value(field.second, "`description`")) v.description = *s;
          } else {
            unknown_key(field.first, "variable `" + v.name + "`", keys);
          }
        }
        // Read from the environment, as ${env.X} is: sensitive unless the
        // stack says `sensitive: false`.
        if (!v.env.empty() && !sensitive_given) v.sensitive = true;
      } else if (!kv.second.IsNull()) {
        // `name: value` is shorthand for a default.
        v.default_value = to_json(kv.second);
        v.has_default = true;
      }
      stack.variable_index.emplace(v.name, stack.variables.size());
      stack.variables.push_back(std::move(v));
    }
  }

  // A project's name (the stack's, an environment's): it names and tags what
  // keel makes, on this machine and in clouds. Reported where bad.
  std::string project_value(const YAML::Node& node) {
    auto name = string_value(node, "`project`");
    if (name && !name->empty() && !text::is_name(*name, 64, "", "_.-"))
      diags_.error(mark(node), fmt::format("project `{}` must start with a letter or a digit and hold only letters, "
                                           "digits, `_`, `-` and `.` (at most 64)",
                                           *name));
    return name.value_or("");
  }

  // `VARIABLE: VALUE` pairs (an environment's `vars:`, a --var-file).
  std::vector<VariableValue> load_variable_values(const YAML::Node& node, const std::string& what) {
    std::vector<VariableValue> out;
    if (!node.IsMap()) {
      if (!node.IsNull()) diags_.error(mark(node), what + " must be a map of variable names to values");
      return out;
    }
    for (const auto& kv : node) out.push_back({kv.first.Scalar(), to_json(kv.second), mark(kv.first)});
    return out;
  }

  void load_environments(const YAML::Node& node, Stack& stack) {
    stack.environments_mark = mark(node);
    if (!expect_map(node, "`environments`")) return;
    static const std::vector<std::string> keys = {"vars", "project", "description"};
    for (const auto& kv : node) {
      EnvironmentBlock e;
      e.name = kv.first.Scalar();
      e.mark = mark(kv.first);
      if (!is_environment_name(e.name))
        diags_.error(e.mark, fmt::format("environment `{}`: a name starts with a letter or a digit and holds only "
                                         "letters, digits, `_` and `-` (at most 32)",
                                         e.name));
      if (kv.second.IsMap()) {
        for (const auto& field : kv.second) {
          const std::string& key = field.first.Scalar();
          if (key == "vars") e.vars = load_variable_values(field.second, "`vars` of environment `" + e.name + "`");
          else if (key == "project") e.project = project_value(field.second);
          else if (key == "description") {
            if (auto s = string_value(field.second, "`description`")) e.description = *s;
          } else unknown_key(field.first, "environment `" + e.name + "`", keys);
        }
      } else if (!kv.second.IsNull()) {
        diags_.error(mark(kv.second), "environment `" + e.name + "` must be a map like `{ vars: { replicas: 3 } }`");
      }
      stack.environments.push_back(std::move(e));
    }
  }

  void load_providers(const YAML::Node& node, Stack& stack) {
    if (!expect_map(node, "`providers`")) return;
    for (const auto& kv : node) {
      ProviderBlock p;
      p.name = kv.first.Scalar();
      p.mark = mark(kv.first);
      if (!kv.second.IsMap()) {
        diags_.error(mark(kv.second), "provider `" + p.name + "` must be a map with a `type`");
        continue;
      }
      for (const auto& field : kv.second) {
        const std::string& key = field.first.Scalar();
        if (key == "type") {
          if (auto s = string_value(field.second, "`type`")) p.type = *s;
          p.marks[key] = mark(field.second);
        } else {
          p.config[key] = to_json(field.second);
          p.marks[key] = mark(field.second);
        }
      }
      if (p.type.empty()) diags_.error(p.mark, "provider `" + p.name + "` has no `type`", "for example `type: local`");
      // The type names a program, keel-provider-TYPE: a plain name, never a path.
      else if (!text::is_name(p.type, 64, "", "_-"))
        diags_.error(p.marks.count("type") ? p.marks.at("type") : p.mark,
                     fmt::format("provider `{}`: `type: {}` is not a provider name", p.name, p.type),
                     "letters, digits, `_` and `-`, like `digitalocean`");
      stack.provider_index.emplace(p.name, stack.providers.size());
      stack.providers.push_back(std::move(p));
    }
  }

  void load_depends_on(const YAML::Node& node, ResourceBlock& r) {
    if (!node.IsSequence()) {
      diags_.error(mark(node), "`depends_on` must be a list of addresses");
      return;
    }
    for (const auto& item : node) {
      if (!item.IsScalar()) diags_.error(mark(item), "`depends_on` entries must be addresses like `databases.main`");
      else r.depends_on.emplace_back(item.Scalar(), mark(item));
    }
  }

  void load_lifecycle(const YAML::Node& node, ResourceBlock& r) {
    if (!node.IsMap()) {
      diags_.error(mark(node), "`lifecycle` must be a map", "for example `lifecycle: { prevent_destroy: true }`");
      return;
    }
    for (const auto& field : node) {
      if (field.first.Scalar() == "ignore_changes") {
        load_ignore_changes(field.second, r);
        continue;
      }
      if (field.first.Scalar() != "prevent_destroy") {
        unknown_key(field.first, "`lifecycle` of " + r.address(), {"prevent_destroy", "ignore_changes"});
        continue;
      }
      auto b = to_json(field.second);
      if (!b.is_boolean()) diags_.error(mark(field.second), "`prevent_destroy` must be true or false");
      else r.lifecycle.prevent_destroy = b.get<bool>();
      r.lifecycle.mark = mark(field.second);
    }
  }

  // `ignore_changes: [label, tags]`: attribute names (validate checks them
  // against the kind's schema).
  void load_ignore_changes(const YAML::Node& node, ResourceBlock& r) {
    static const char* kHint = "for example `lifecycle: { ignore_changes: [tags] }`";
    if (!node.IsSequence()) {
      diags_.error(mark(node), "`ignore_changes` must be a list of attribute names", kHint);
      return;
    }
    for (const auto& item : node) {
      if (!item.IsScalar() || item.Scalar().empty()) diags_.error(mark(item), "`ignore_changes` entries must be attribute names", kHint);
      else r.lifecycle.ignore_changes.emplace_back(item.Scalar(), mark(item));
    }
  }

  // `moved: [{ from: servers.web, to: servers.app }, ...]`.
  // backend: { postgres: URL } or { postgres: { url: URL, key: NAME } }.
  void load_backend(const YAML::Node& node, Stack& stack) {
    if (!expect_map(node, "`backend`")) return;
    static const std::vector<std::string> types = {"postgres"};
    BackendBlock& b = stack.backend;
    b.mark = mark(node);
    for (const auto& kv : node) {
      const std::string& type = kv.first.Scalar();
      if (type != "postgres") {
        unknown_key(kv.first, "`backend` (one of: postgres; the default is the local .keel/)", types);
        continue;
      }
      if (!b.type.empty()) {
        diags_.error(mark(kv.first), "`backend` names more than one backend");
        continue;
      }
      b.type = type;
      if (kv.second.IsScalar()) {
        b.url = to_json(kv.second);
        b.url_mark = mark(kv.second);
      } else if (kv.second.IsMap()) {
        static const std::vector<std::string> keys = {"url", "key"};
        for (const auto& field : kv.second) {
          const std::string& key = field.first.Scalar();
          if (key == "url") {
            b.url = to_json(field.second);
            b.url_mark = mark(field.second);
          } else if (key == "key") {
            if (auto s = string_value(field.second, "`key`")) {
              b.key = *s;
              if (!text::is_name(b.key, 128, "", "_.-"))
                diags_.error(mark(field.second), fmt::format("backend key `{}` must start with a letter or a digit "
                                                             "and hold only letters, digits, `_`, `-` and `.` (at "
                                                             "most 128)",
                                                             b.key));
            }
          } else {
            unknown_key(field.first, "`backend.postgres`", keys);
          }
        }
      }
      if (!b.url.is_string() || b.url.get<std::string>().empty())
        diags_.error(b.url.is_null() ? mark(kv.second) : b.url_mark,
                     "`backend.postgres` needs the database's URL, e.g. \"${env.KEEL_PG_URL}\"",
                     "keep the password out of the stack: in the URL from the environment, PGPASSWORD or ~/.pgpass");
    }
  }

  void load_moved(const YAML::Node& node, Stack& stack) {
    static const char* kHint = "for example `moved: [{ from: servers.web, to: servers.app }]`";
    if (node.IsNull()) return;
    if (!node.IsSequence()) {
      diags_.error(mark(node), "`moved` must be a list of `{ from: ADDRESS, to: ADDRESS }`", kHint);
      return;
    }
    for (const auto& item : node) {
      MovedBlock m;
      m.mark = mark(item);
      if (!item.IsMap()) {
        diags_.error(m.mark, "a `moved` entry must be `{ from: ADDRESS, to: ADDRESS }`", kHint);
        continue;
      }
      for (const auto& field : item) {
        const std::string& key = field.first.Scalar();
        if (key != "from" && key != "to") {
          unknown_key(field.first, "a `moved` entry", {"from", "to"});
          continue;
        }
        auto value = string_value(field.second, "`" + key + "`");
        if (!value) continue;
        if (!is_address(*value)) {
          diags_.error(mark(field.second), "`" + key + ": " + *value + "` is not a resource address",
                       "like `servers.web` or `servers.web[1]`");
          continue;
        }
        (key == "from" ? m.from : m.to) = *value;
      }
      if (m.from.empty() || m.to.empty()) {
        if (item.size() == 2) continue;  // a bad value, reported above
        diags_.error(m.mark, "a `moved` entry needs both `from` and `to`", kHint);
        continue;
      }
      if (m.from.substr(0, m.from.find('.')) != m.to.substr(0, m.to.find('.')))
        diags_.error(m.mark, "cannot move " + m.from + " to " + m.to + ": the kind must stay the same");
      else if (m.from.find('[') == std::string::npos && m.to.find('[') != std::string::npos)
        diags_.error(m.mark, "cannot move every instance of " + m.from + " to the one instance " + m.to);
      else if (m.from == m.to)
        diags_.error(m.mark, "`from` and `to` are the same address");
      else
        stack.moved.push_back(std::move(m));
    }
  }

  // KIND.NAME or KIND.NAME[INDEX], KIND one of the resource kinds.
  static bool is_address(const std::string& s) {
    auto dot = s.find('.');
    if (dot == std::string::npos) return false;
    const auto& kinds = resource_kinds();
    if (std::find(kinds.begin(), kinds.end(), s.substr(0, dot)) == kinds.end()) return false;
    std::string name = s.substr(dot + 1);
    auto bracket = name.find('[');
    if (bracket != std::string::npos) {
      if (name.back() != ']' || bracket + 2 >= name.size()) return false;
      for (size_t i = bracket + 1; i + 1 < name.size(); ++i)
        if (!text::is_digit(name[i])) return false;
      name = name.substr(0, bracket);
    }
    return text::is_name(name, 256, "_", "_-");
  }

  void load_resource(const std::string& kind, const YAML::Node& key, const YAML::Node& body, Stack& stack) {
    ResourceBlock r;
    r.kind = kind;
    r.name = key.Scalar();
    r.mark = mark(key);
    r.provider = "local";
    if (!text::is_identifier(r.name, kMaxResourceName))
      diags_.error(r.mark, fmt::format("resource name `{}` must start with a letter or `_` and hold only letters, "
                                       "digits, `_` and `-` (at most {})",
                                       r.name, kMaxResourceName));
    if (!body.IsMap() && !body.IsNull()) {
      diags_.error(mark(body), r.address() + " must be a map of settings");
      return;
    }
    if (body.IsMap()) {
      for (const auto& field : body) {
        const std::string& k = field.first.Scalar();
        if (k == "provider") {
          if (auto s = string_value(field.second, "`provider`")) r.provider = *s;
        } else if (k == "count") {
          r.count = to_json(field.second);
          r.count_mark = mark(field.second);
        } else if (k == "depends_on") {
          load_depends_on(field.second, r);
        } else if (k == "lifecycle") {
          load_lifecycle(field.second, r);
        } else {
          r.attributes[k] = to_json(field.second);
          r.marks[k] = mark(field.first);
          if (field.second.IsMap()) record_marks(field.second, "/" + pointer_token(k), r.value_marks);
        }
      }
    }
    stack.resource_index.emplace(r.address(), stack.resources.size());
    stack.resources.push_back(std::move(r));
  }

  void record_marks(const YAML::Node& node, const std::string& pointer,
                    std::map<std::string, SourceMark>& marks) const {
    record_yaml_marks(node, pointer, file_, marks);
  }

  void load_check_on(const YAML::Node& key, const YAML::Node& value, CheckBlock& c) {
    c.on_mark = mark(key);
    static const char* kHint =
        "for example `on: servers.web`, `on: \"servers.web[0]\"` or `on: [servers.web, servers.db]`";
    if (value.IsScalar() && !value.Scalar().empty()) {
      c.on.emplace_back(value.Scalar(), mark(value));
    } else if (value.IsSequence()) {
      for (const auto& item : value) {
        if (item.IsScalar() && !item.Scalar().empty()) c.on.emplace_back(item.Scalar(), mark(item));
        else diags_.error(mark(item), "check `" + c.name + "`: `on:` entries must be server addresses", kHint);
      }
      if (value.size() == 0) diags_.error(mark(value), "check `" + c.name + "`: `on:` selects no server", kHint);
    } else {
      diags_.error(value.IsNull() ? c.on_mark : mark(value),
                   "check `" + c.name + "`: `on:` must be a server address or a list of them", kHint);
    }
  }

  // The top-level `checks:`: each entry is parsed by the agent's own check
  // parser (so the stack and the agent accept the same definitions), and
  // kept raw for the engine, which evaluates its references per server.
  void load_checks(const YAML::Node& node, Stack& stack) {
    if (!expect_map(node, "`checks`")) return;
    std::set<std::string> seen;
    for (const auto& kv : node) {
      CheckBlock c;
      c.name = kv.first.Scalar();
      c.mark = mark(kv.first);
      if (!seen.insert(c.name).second) {
        diags_.error(c.mark, "check `" + c.name + "` is declared twice");
        continue;
      }
      checks::ParseOptions options;
      options.file = file_;
      options.allow_templates = true;
      options.extra_keys = {"on"};
      c.parsed = checks::parse_check(c.name, kv.second, options, diags_).has_value();
      if (!kv.second.IsMap()) continue;  // parse_check reported it
      bool has_on = false;
      for (const auto& field : kv.second) {
        const std::string& key = field.first.Scalar();
        if (key == "on") {
          has_on = true;
          load_check_on(field.first, field.second, c);
          continue;
        }
        c.body[key] = to_json(field.second);
        record_marks(field.second, "/" + pointer_token(key), c.marks);
      }
      if (!has_on)
        diags_.error(c.mark, "check `" + c.name + "` has no `on:`",
                     "name the servers that run it, like `on: servers.web`");
      stack.checks.push_back(std::move(c));
    }
  }

  void load_outputs(const YAML::Node& node, Stack& stack) {
    if (!expect_map(node, "`outputs`")) return;
    static const std::vector<std::string> keys = {"value", "sensitive", "description"};
    for (const auto& kv : node) {
      Output o;
      o.name = kv.first.Scalar();
      o.mark = mark(kv.second);
      bool long_form = kv.second.IsMap() && kv.second["value"];
      if (!long_form) {
        o.value = to_json(kv.second);
        stack.outputs.push_back(std::move(o));
        continue;
      }
      for (const auto& field : kv.second) {
        const std::string& k = field.first.Scalar();
        if (k == "value") {
          o.value = to_json(field.second);
          o.mark = mark(field.second);
        } else if (k == "sensitive") {
          auto b = to_json(field.second);
          if (!b.is_boolean()) diags_.error(mark(field.second), "`sensitive` must be true or false");
          else o.sensitive = b.get<bool>();
        } else if (k == "description") {
          if (auto s = string_value(field.second, "`description`")) o.description = *s;
        } else {
          unknown_key(field.first, "output `" + o.name + "`", keys);
        }
      }
      stack.outputs.push_back(std::move(o));
    }
  }

  void load_root(const YAML::Node& root, Stack& stack) {
    if (!root.IsMap()) {
      diags_.error(mark(root), "a stack file must be a map with `keel: 1` and `project:` at the top");
      return;
    }
    std::vector<std::string> top = {"keel",  "project", "variables", "providers", "checks",      "backups",
                                    "apps",  "moved",   "outputs",   "backend",   "environments"};
    for (const auto& k : resource_kinds()) top.push_back(k);
    bool saw_version = false;
    for (const auto& kv : root) {
      const std::string& key = kv.first.Scalar();
      if (key == "keel") {
        saw_version = true;
        auto v = to_json(kv.second);
        if (v != 1) diags_.error(mark(kv.second), "unsupported stack format `keel: " + kv.second.Scalar() + "`", "this keel reads `keel: 1`");
      } else if (key == "project") {
        stack.project = project_value(kv.second);
      } else if (key == "variables") {
        load_variables(kv.second, stack);
      } else if (key == "providers") {
        load_providers(kv.second, stack);
      } else if (key == "checks") {
        load_checks(kv.second, stack);
      } else if (key == "backups") {
        load_backups(kv.second, file_, stack, diags_);
      } else if (key == "apps") {
        load_apps(kv.second, file_, stack, diags_);
      } else if (key == "outputs") {
        load_outputs(kv.second, stack);
      } else if (key == "moved") {
        load_moved(kv.second, stack);
      } else if (key == "backend") {
        load_backend(kv.second, stack);
      } else if (key == "environments") {
        load_environments(kv.second, stack);
      } else if (std::find(resource_kinds().begin(), resource_kinds().end(), key) != resource_kinds().end()) {
        if (!expect_map(kv.second, "`" + key + "`")) continue;
        for (const auto& r : kv.second) load_resource(key, r.first, r.second, stack);
      } else if (std::find(future_kinds().begin(), future_kinds().end(), key) != future_kinds().end()) {
        diags_.error(mark(kv.first), "`" + key + "` is not supported by keel " KEEL_VERSION " yet");
      } else {
        unknown_key(kv.first, "the stack", top);
      }
    }
    if (!saw_version) diags_.error({file_, 1, 1}, "missing `keel: 1` at the top of the stack");
    if (stack.project.empty()) diags_.error({file_, 1, 1}, "missing `project: NAME`", "every resource keel creates is tagged with it");
  }

 private:
  std::string file_;
  Diagnostics& diags_;
};

}  // namespace

namespace {

// Where byte `offset` of `text` is, 1-based, the column in characters.
SourceMark text_mark(const std::string& text, size_t offset, const std::string& file) {
  int line = 1, column = 1;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {  // not a continuation byte
      ++column;
    }
  }
  return {file, line, column};
}

// YAML's printable characters (YAML 1.2, c-printable): no control
// characters but tab and line breaks, none of the C1 ones but NEL. One
// written raw is a mistake or an attack on whoever reads the stack in a
// terminal; a double-quoted string can still hold one as an escape ("\e").
size_t first_unprintable(const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) return i;
    if (c == 0xC2 && i + 1 < text.size()) {
      const auto next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x80 && next <= 0x9F && next != 0x85) return i;
    }
  }
  return std::string::npos;
}

// The text is UTF-8 of YAML's printable characters; else one error at the
// first place it is not.
bool check_text(const std::string& text, const std::string& file, Diagnostics& diags) {
  if (size_t bad = text::invalid_utf8_offset(text); bad != std::string::npos) {
    diags.error(text_mark(text, bad, file),
                fmt::format("the stack is not valid UTF-8 (byte 0x{:02x})", static_cast<unsigned char>(text[bad])),
                "keel reads stacks as UTF-8 text");
    return false;
  }
  if (size_t bad = first_unprintable(text); bad != std::string::npos) {
    const unsigned c = static_cast<unsigned char>(text[bad]) == 0xC2 ? static_cast<unsigned char>(text[bad + 1])
                                                                     : static_cast<unsigned char>(text[bad]);
    diags.error(text_mark(text, bad, file), fmt::format("the stack holds the control character U+{:04X}", c),
                "YAML allows only tab and line breaks raw; write others as escapes in a double-quoted string, "
                "like \"\\e\"");
    return false;
  }
  return true;
}

}  // namespace

LoadResult load_stack_text(const std::string& text, const std::string& file, const std::string& dir) {
  LoadResult result;
  result.stack.file = file;
  result.stack.dir = dir;
  if (!check_text(text, file, result.diagnostics)) return result;
  Loader loader(file, result.diagnostics);
  try {
    YAML::Node root = parse_yaml(text);
    if (check_yaml_tree(root, file, result.diagnostics)) loader.load_root(root, result.stack);
  } catch (const YAML::Exception& e) {
    // e.msg is the bare message; e.mark is 0-based.
    result.diagnostics.error({file, e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
  }
  return result;
}

VarFileResult load_var_text(const std::string& text, const std::string& file) {
  VarFileResult result;
  result.text = text;
  if (!check_text(text, file, result.diagnostics)) return result;
  Loader loader(file, result.diagnostics);
  try {
    YAML::Node root = parse_yaml(text);
    if (!check_yaml_tree(root, file, result.diagnostics)) return result;
    if (root.IsNull()) return result;  // an empty file sets nothing
    result.values = loader.load_variable_values(root, "a var file");
  } catch (const YAML::Exception& e) {
    result.diagnostics.error({file, e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
  }
  return result;
}

VarFileResult load_var_file(const std::string& path) {
  auto text = read_input_file(path, kMaxStackBytes, Streams::Allowed);
  if (!text) {
    VarFileResult result;
    result.diagnostics.error({path, 0, 0}, "cannot read the var file: " + text.error().message());
    return result;
  }
  return load_var_text(*text, path);
}

LoadResult load_stack_file(const std::string& path) {
  auto text = read_input_file(path, kMaxStackBytes, Streams::Allowed);
  if (!text) {
    LoadResult result;
    result.stack.file = path;
    result.diagnostics.error({path, 0, 0}, "cannot read the stack: " + text.error().message(),
                             "pass another file with -f FILE");
    return result;
  }
  return load_stack_text(*text, path, files::dirname(files::absolute(path, ".")));
}

}  // namespace keel::config
