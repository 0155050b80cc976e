// Loading the stack's `apps:` section: every key and value checked alone,
// each problem at its line and column. What needs the other sections
// (`servers`, `health`) is the validator's.
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <set>

#include <fmt/format.h>

#include "cli/config/apps.h"
#include "cli/config/yaml_values.h"
#include "core/text.h"
#include "core/time.h"

namespace keel::config {

namespace {

const std::vector<std::string> kAppKeys = {"servers", "artifact", "path",           "before",  "after",
                                           "start",   "health",   "health_timeout", "rollout", "keep_releases"};
const std::vector<std::string> kRolloutKeys = {"batch"};
constexpr const char* kServersHint =
    "for example `servers: servers.web`, `servers: \"servers.web[0]\"` or `servers: [servers.web, servers.api]`";
constexpr const char* kBatchHint = "a number of hosts (`batch: 2`) or a share of them (`batch: \"25%\"`)";

bool is_template(const YAML::Node& node) {
  return node.IsScalar() && node.Scalar().find("${") != std::string::npos;
}

bool contains(const std::vector<std::string>& list, const std::string& word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

class AppLoader {
 public:
  AppLoader(const std::string& file, Diagnostics& diags, AppBlock& app) : file_(file), diags_(diags), app_(app) {}

  void load(const YAML::Node& body) {
    if (!body.IsMap()) {
      error(body.IsNull() ? app_.mark : mark(body), "must be a map with `servers:` and `artifact:`",
            "for example `api: { servers: servers.web, artifact: ./dist/api.tar.gz, start: systemctl restart api }`");
      return;
    }
    for (const auto& kv : body) load_key(kv.first, kv.second);
    if (!seen_.count("servers")) error(app_.mark, "has no `servers:` (where it is deployed)", kServersHint);
    if (!seen_.count("artifact"))
      error(app_.mark, "has no `artifact:` (what is deployed)",
            "a .tar.gz, .tgz or .tar file, or a directory, relative to the stack file");
  }

 private:
  SourceMark mark(const YAML::Node& node) const { return yaml_mark(node, file_); }

  void error(const SourceMark& where, const std::string& summary, const std::string& hint = {}) {
    diags_.error(where, fmt::format("app `{}`: {}", app_.name, summary), hint);
  }
  void error(const YAML::Node& node, const std::string& summary, const std::string& hint = {}) {
    error(mark(node), summary, hint);
  }

  // A non-empty string; reports otherwise.
  std::optional<std::string> text(const YAML::Node& node, const std::string& what) {
    if (node.IsScalar() && !node.Scalar().empty()) return node.Scalar();
    error(node.IsNull() || !node.IsDefined() ? key_mark_ : mark(node),
          fmt::format("`{}` must be a non-empty string", what));
    return std::nullopt;
  }

  void load_key(const YAML::Node& key, const YAML::Node& value) {
    const std::string& name = key.Scalar();
    key_mark_ = mark(key);
    if (!contains(kAppKeys, name)) {
      error(key, fmt::format("unknown key `{}`", name), did_you_mean(name, kAppKeys));
      return;
    }
    seen_[name] = key_mark_;
    app_.marks[name] = value.IsNull() ? key_mark_ : mark(value);
    if (name == "servers") load_names(value, "servers", app_.servers, kServersHint);
    else if (name == "artifact") load_string(value, "artifact", app_.artifact);
    else if (name == "path") load_path(value);
    else if (name == "before") load_string(value, "before", app_.before);
    else if (name == "after") load_string(value, "after", app_.after);
    else if (name == "start") load_string(value, "start", app_.start);
    else if (name == "health")
      load_names(value, "health", app_.health, "the name of a check in `checks:`, or a list of them");
    else if (name == "health_timeout") load_timeout(value);
    else if (name == "rollout") load_rollout(value);
    else if (name == "keep_releases") load_keep(value);
  }

  void load_string(const YAML::Node& value, const std::string& what, std::string& out) {
    if (auto s = text(value, what)) out = *s;
  }

  // One name or a non-empty list of them.
  void load_names(const YAML::Node& value, const std::string& what,
                  std::vector<std::pair<std::string, SourceMark>>& out, const std::string& hint) {
    if (value.IsScalar() && !value.Scalar().empty()) {
      out.emplace_back(value.Scalar(), mark(value));
      return;
    }
    if (!value.IsSequence() || value.size() == 0) {
      error(value.IsNull() ? key_mark_ : mark(value),
            fmt::format("`{}` must be a name or a non-empty list of names", what), hint);
      return;
    }
    std::set<std::string> seen;
    for (const auto& item : value) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        error(item, fmt::format("`{}` entries must be names", what), hint);
      } else if (!seen.insert(item.Scalar()).second) {
        error(item, fmt::format("`{}` names `{}` twice", what, item.Scalar()));
      } else {
        out.emplace_back(item.Scalar(), mark(item));
      }
    }
  }

  void load_path(const YAML::Node& value) {
    auto s = text(value, "path");
    if (!s) return;
    if (!is_template(value)) {
      if (s->front() != '/') {
        error(value, fmt::format("`path`: `{}` is not an absolute path", *s),
              "the app's root on the host, like /opt/keel/apps/" + app_.name);
        return;
      }
      if (s->find_first_not_of('/') == std::string::npos) {
        error(value, "`path` cannot be `/`: keel keeps releases/ and current in it, and prunes old releases");
        return;
      }
      if (s->find_first_of(" \t\n'\"\\") != std::string::npos)
        error(value, fmt::format("`path`: `{}` holds a space, a quote or a backslash", *s),
              "use a plain directory name, like /opt/keel/apps/" + app_.name);
    }
    app_.path = *s;
  }

  void load_timeout(const YAML::Node& value) {
    auto s = text(value, "health_timeout");
    if (!s) return;
    auto d = timeutil::parse_duration(*s);
    if (!d) {
      error(value, fmt::format("`health_timeout`: {}", d.error().message()));
      return;
    }
    if (d->count() <= 0) {
      error(value, "`health_timeout` must be longer than 0");
      return;
    }
    app_.health_timeout_ms = d->count();
  }

  void load_rollout(const YAML::Node& value) {
    if (!value.IsMap()) {
      error(value.IsNull() ? key_mark_ : mark(value), "`rollout` must be a map like `{ batch: 2 }`", kBatchHint);
      return;
    }
    for (const auto& kv : value) {
      const std::string& key = kv.first.Scalar();
      if (!contains(kRolloutKeys, key)) {
        error(kv.first, fmt::format("unknown key `{}` in `rollout`", key), did_you_mean(key, kRolloutKeys));
        continue;
      }
      app_.marks["rollout/batch"] = kv.second.IsNull() ? mark(kv.first) : mark(kv.second);
      auto batch = parse_batch(yaml_to_json(kv.second));
      if (!batch) {
        error(kv.second.IsNull() ? mark(kv.first) : mark(kv.second),
              fmt::format("`rollout.batch` must be a whole number from 1 or a percentage from 1% to 100%, got `{}`",
                          kv.second.IsScalar() ? kv.second.Scalar() : std::string("?")),
              kBatchHint);
        continue;
      }
      app_.batch = batch->value;
      app_.batch_percent = batch->percent;
    }
  }

  void load_keep(const YAML::Node& value) {
    auto n = yaml_to_json(value);
    if (!n.is_number_integer() || n.get<long long>() < 1 || n.get<long long>() > 1000) {
      error(value.IsNull() ? key_mark_ : mark(value), "`keep_releases` must be a whole number from 1 to 1000",
            "how many releases stay on each host; the current one and the one before it are always kept");
      return;
    }
    app_.keep_releases = static_cast<int>(n.get<long long>());
  }

  const std::string& file_;
  Diagnostics& diags_;
  AppBlock& app_;
  SourceMark key_mark_;
  std::map<std::string, SourceMark> seen_;
};

}  // namespace

bool valid_app_name(std::string_view name) { return text::is_name(name, 64, "", "_.-"); }

std::string default_app_path(const std::string& name) { return fmt::format("/opt/keel/apps/{}", name); }

std::optional<BatchSize> parse_batch(const nlohmann::json& value) {
  if (value.is_number_integer()) {
    const long long n = value.get<long long>();
    if (n < 1 || n > 100000) return std::nullopt;
    return BatchSize{static_cast<int>(n), false};
  }
  if (!value.is_string()) return std::nullopt;
  // "25%", spaces allowed around the number and the sign.
  std::string_view s = value.get_ref<const std::string&>();
  auto trim = [](std::string_view t) {
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
    return t;
  };
  s = trim(s);
  if (s.empty() || s.back() != '%') return std::nullopt;
  const std::string_view digits = trim(s.substr(0, s.size() - 1));
  if (!text::is_digits(digits, 1, 3)) return std::nullopt;
  const int n = std::stoi(std::string(digits));
  if (n < 1 || n > 100) return std::nullopt;
  return BatchSize{n, true};
}

const AppBlock* find_app(const Stack& stack, const std::string& name) {
  for (const auto& app : stack.apps)
    if (app.name == name) return &app;
  return nullptr;
}

void load_apps(const YAML::Node& node, const std::string& file, Stack& stack, Diagnostics& diags) {
  if (node.IsNull()) return;
  if (!node.IsMap()) {
    diags.error(yaml_mark(node, file), "`apps` must be a map of app name -> app");
    return;
  }
  std::set<std::string> seen;
  for (const auto& kv : node) {
    AppBlock app;
    app.name = kv.first.Scalar();
    app.mark = yaml_mark(kv.first, file);
    if (!seen.insert(app.name).second) {
      diags.error(app.mark, fmt::format("app `{}` is declared twice", app.name));
      continue;
    }
    if (!valid_app_name(app.name))
      diags.error(app.mark, fmt::format("app name `{}` must start with a letter or a digit and hold only letters, "
                                        "digits, `_`, `-` and `.` (at most 64)",
                                        app.name));
    app.path = default_app_path(app.name);
    AppLoader(file, diags, app).load(kv.second);
    stack.apps.push_back(std::move(app));
  }
}

nlohmann::json app_json_schema() {
  using nlohmann::json;
  json names = {{"anyOf", json::array({{{"type", "string"}},
                                       {{"type", "array"}, {"items", {{"type", "string"}}}, {"minItems", 1}}})}};
  json props = {
      {"servers", names},
      {"artifact", {{"type", "string"}, {"description", "a .tar.gz, .tgz or .tar file, or a directory"}}},
      {"path", {{"type", "string"}, {"description", "the app's root on the host (default /opt/keel/apps/NAME)"}}},
      {"before", {{"type", "string"}, {"description", "run in the new release before the switch"}}},
      {"after", {{"type", "string"}, {"description", "run in the new release after a healthy start"}}},
      {"start", {{"type", "string"}, {"description", "run after the switch"}}},
      {"health", names},
      {"health_timeout", {{"type", "string"}, {"description", "a duration (default 60s)"}}},
      {"rollout",
       {{"type", "object"},
        {"properties",
         {{"batch",
           {{"anyOf", json::array({{{"type", "integer"}, {"minimum", 1}},
                                   {{"type", "string"}, {"pattern", "^[0-9]{1,3}%$"}}})}}}}},
        {"additionalProperties", false}}},
      {"keep_releases", {{"type", "integer"}, {"minimum", 1}}},
  };
  return {{"type", "object"},
          {"required", json::array({"servers", "artifact"})},
          {"properties", props},
          {"additionalProperties", false}};
}

}  // namespace keel::config
