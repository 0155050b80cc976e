// Stage 1: YAML text -> config::Stack, with structural diagnostics.
#include <yaml-cpp/yaml.h>

#include <regex>
#include <set>

#include <fmt/format.h>

#include "cli/config/apps.h"
#include "cli/config/backups.h"
#include "cli/config/stack.h"
#include "cli/config/yaml_values.h"
#include "core/check_spec.h"
#include "core/files.h"
#include "core/text.h"

namespace keel::config {

const std::vector<std::string>& resource_kinds() {
  static const std::vector<std::string> kinds = {"servers", "databases", "caches", "files",
                                                 "load_balancers", "firewalls", "volumes"};
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
  for (const auto& v : variables)
    if (v.name == n) return &v;
  return nullptr;
}

const ProviderBlock* Stack::find_provider(const std::string& n) const {
  for (const auto& p : providers)
    if (p.name == n) return &p;
  return nullptr;
}

const ResourceBlock* Stack::find_resource(const std::string& k, const std::string& n) const {
  auto it = resource_index.find(k + "." + n);
  return it == resource_index.end() ? nullptr : &resources[it->second];
}

SourceMark yaml_mark(const YAML::Node& node, const std::string& file) {
  auto m = node.Mark();
  if (m.line < 0) return {file, 0, 0};
  return {file, m.line + 1, m.column + 1};  // yaml-cpp marks are 0-based
}

namespace {

nlohmann::json yaml_scalar(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;
  static const std::regex integer("[-+]?[0-9]+");
  static const std::regex real("[-+]?([0-9]+\\.[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?");
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (std::regex_match(s, integer) && s.size() < 18) return std::stoll(s);
  if (std::regex_match(s, real)) return std::stod(s);
  return s;
}

}  // namespace

nlohmann::json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return yaml_scalar(node);
    case YAML::NodeType::Sequence: {
      auto arr = nlohmann::json::array();
      for (const auto& item : node) arr.push_back(yaml_to_json(item));
      return arr;
    }
    case YAML::NodeType::Map: {
      auto obj = nlohmann::json::object();
      for (const auto& kv : node) obj[kv.first.Scalar()] = yaml_to_json(kv.second);
      return obj;
    }
    default: return nullptr;
  }
}

void record_yaml_marks(const YAML::Node& node, const std::string& pointer, const std::string& file,
                       std::map<std::string, SourceMark>& marks) {
  marks[pointer] = yaml_mark(node, file);
  if (node.IsMap()) {
    for (const auto& kv : node)
      record_yaml_marks(kv.second, pointer + "/" + pointer_token(kv.first.Scalar()), file, marks);
  } else if (node.IsSequence()) {
    size_t i = 0;
    for (const auto& item : node) record_yaml_marks(item, pointer + "/" + std::to_string(i++), file, marks);
  }
}

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
          } else if (key == "description") {
            if (auto s = string_value(field.second, "`description`")) v.description = *s;
          } else {
            unknown_key(field.first, "variable `" + v.name + "`", keys);
          }
        }
      } else if (!kv.second.IsNull()) {
        // `name: value` is shorthand for a default.
        v.default_value = to_json(kv.second);
        v.has_default = true;
      }
      stack.variables.push_back(std::move(v));
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
        } else {
          p.config[key] = to_json(field.second);
          p.marks[key] = mark(field.second);
        }
      }
      if (p.type.empty()) diags_.error(p.mark, "provider `" + p.name + "` has no `type`", "for example `type: local`");
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
      if (field.first.Scalar() != "prevent_destroy") {
        unknown_key(field.first, "`lifecycle` of " + r.address(), {"prevent_destroy"});
        continue;
      }
      auto b = to_json(field.second);
      if (!b.is_boolean()) diags_.error(mark(field.second), "`prevent_destroy` must be true or false");
      else r.lifecycle.prevent_destroy = b.get<bool>();
      r.lifecycle.mark = mark(field.second);
    }
  }

  // `moved: [{ from: servers.web, to: servers.app }, ...]`.
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
    static const std::regex name_pattern("[A-Za-z_][A-Za-z0-9_-]*");
    if (!std::regex_match(r.name, name_pattern))
      diags_.error(r.mark, "resource name `" + r.name + "` must start with a letter and hold only letters, digits, `_` and `-`");
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
    std::vector<std::string> top = {"keel", "project", "variables", "providers", "checks", "backups", "apps", "moved", "outputs"};
    for (const auto& k : resource_kinds()) top.push_back(k);
    bool saw_version = false;
    for (const auto& kv : root) {
      const std::string& key = kv.first.Scalar();
      if (key == "keel") {
        saw_version = true;
        auto v = to_json(kv.second);
        if (v != 1) diags_.error(mark(kv.second), "unsupported stack format `keel: " + kv.second.Scalar() + "`", "this keel reads `keel: 1`");
      } else if (key == "project") {
        if (auto s = string_value(kv.second, "`project`")) stack.project = *s;
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

LoadResult load_stack_text(const std::string& text, const std::string& file, const std::string& dir) {
  LoadResult result;
  result.stack.file = file;
  result.stack.dir = dir;
  Loader loader(file, result.diagnostics);
  try {
    YAML::Node root = YAML::Load(text);
    loader.load_root(root, result.stack);
  } catch (const YAML::Exception& e) {
    // e.msg is the bare message; e.mark is 0-based.
    result.diagnostics.error({file, e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
  }
  return result;
}

LoadResult load_stack_file(const std::string& path) {
  auto text = files::read_file(path);
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
