#include "core/check_spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <re2/re2.h>

#include "core/text.h"
#include "core/time.h"
#include "core/yaml_json.h"

namespace keel::checks {

// ---- status ---------------------------------------------------------------

const char* to_string(CheckStatus status) {
  switch (status) {
    case CheckStatus::Passing: return "passing";
    case CheckStatus::Warning: return "warning";
    case CheckStatus::Critical: return "critical";
    case CheckStatus::Unknown: return "unknown";
  }
  return "unknown";
}

std::optional<CheckStatus> status_from_string(std::string_view text) {
  for (auto s : {CheckStatus::Passing, CheckStatus::Warning, CheckStatus::Critical, CheckStatus::Unknown})
    if (text == to_string(s)) return s;
  return std::nullopt;
}

CheckStatus status_from_exit_code(int code) {
  switch (code) {
    case 0: return CheckStatus::Passing;
    case 1: return CheckStatus::Warning;
    case 2: return CheckStatus::Critical;
    default: return CheckStatus::Unknown;
  }
}

int exit_code(CheckStatus status) {
  switch (status) {
    case CheckStatus::Passing: return 0;
    case CheckStatus::Warning: return 1;
    case CheckStatus::Critical: return 2;
    case CheckStatus::Unknown: return 3;
  }
  return 3;
}

int severity(CheckStatus status) {
  switch (status) {
    case CheckStatus::Passing: return 0;
    case CheckStatus::Warning: return 1;
    case CheckStatus::Unknown: return 2;
    case CheckStatus::Critical: return 3;
  }
  return 3;
}

CheckStatus worst(CheckStatus a, CheckStatus b) { return severity(a) >= severity(b) ? a : b; }

// ---- types ----------------------------------------------------------------

const char* to_string(CheckType type) {
  switch (type) {
    case CheckType::Http: return "http";
    case CheckType::Tcp: return "tcp";
    case CheckType::Exec: return "exec";
    case CheckType::Postgres: return "postgres";
    case CheckType::Redis: return "redis";
    case CheckType::Disk: return "disk";
    case CheckType::Memory: return "memory";
    case CheckType::Load: return "load";
    case CheckType::Process: return "process";
    case CheckType::Graphql: return "graphql";
    case CheckType::Dr: return "dr";
  }
  return "?";
}

const std::vector<std::string>& check_type_names() {
  static const std::vector<std::string> names = {"http", "tcp",    "exec", "postgres", "redis",
                                                 "disk", "memory", "load", "process", "graphql"};
  return names;
}

bool valid_check_name(std::string_view name) { return text::is_name(name, 64, "_", "_.-"); }

namespace {

using Json = nlohmann::json;

const std::vector<std::string> kCommonKeys = {"interval", "timeout", "success_before_passing",
                                              "failures_before_critical"};

// The options each type takes in its map form; the first is the target that
// the scalar form sets (empty for types without one).
const std::map<std::string, std::vector<std::string>>& type_options() {
  static const std::map<std::string, std::vector<std::string>> options = {
      {"http", {"url", "method", "status", "body_contains", "headers", "expect_headers", "expect_json",
                "cert_days_warning", "tls_verify", "ca_file"}},
      {"graphql", {"url", "query", "variables", "expect", "headers", "cert_days_warning", "tls_verify", "ca_file"}},
      {"tcp", {"address"}},
      {"exec", {"command"}},
      {"postgres", {"conninfo", "query"}},
      {"redis", {"address", "username", "password", "role"}},
      {"disk", {"path", "warning", "critical"}},
      {"memory", {"", "warning", "critical"}},
      {"load", {"", "warning", "critical", "per_cpu"}},
      {"process", {"name", "min", "max"}},
  };
  return options;
}

bool is_template(const YAML::Node& node) {
  return node.IsScalar() && node.Scalar().find("${") != std::string::npos;
}

// An HTTP field name (RFC 9110's token).
bool valid_header_name(std::string_view name) {
  return !name.empty() && name.size() <= 256 &&
         std::all_of(name.begin(), name.end(), [](char c) { return text::in_class(c, "A-Za-z0-9!#$%&'*+.^_`|~-"); });
}

// Why RE2 refuses `pattern`; empty when it compiles.
std::string pattern_problem(const std::string& pattern) {
  RE2 re(pattern, RE2::Quiet);
  return re.ok() ? std::string() : fmt::format("invalid regular expression: {}", re.error());
}

// [scheme://][user[:password]@]host[:port][/db], the host a name or an
// [IPv6] literal (brackets taken off): tcp and redis addresses. Parsed by
// hand, in one pass (core/text.h says why not std::regex).
struct HostAddress {
  std::string host;
  std::string port;  // 1 to 5 digits; empty when not given
  std::optional<std::string> user, password;
};

std::optional<HostAddress> parse_host_address(std::string_view s) {
  HostAddress out;
  size_t letters = 0;
  while (letters < s.size() && text::is_alpha(s[letters])) ++letters;
  if (letters > 0 && s.substr(letters, 3) == "://") s.remove_prefix(letters + 3);
  if (size_t at = s.find('@'); at != std::string_view::npos && s.substr(0, at).find('/') == std::string_view::npos) {
    const std::string_view info = s.substr(0, at);
    const size_t colon = info.find(':');
    out.user = std::string(info.substr(0, colon));
    if (colon != std::string_view::npos) out.password = std::string(info.substr(colon + 1));
    s.remove_prefix(at + 1);
  }
  if (!s.empty() && s.front() == '[') {
    const size_t close = s.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    out.host = std::string(s.substr(1, close - 1));
    s.remove_prefix(close + 1);
  } else {
    const size_t end = std::min(s.find_first_of(":/[]"), s.size());
    if (end == 0 || (end < s.size() && (s[end] == '[' || s[end] == ']'))) return std::nullopt;
    out.host = std::string(s.substr(0, end));
    s.remove_prefix(end);
  }
  if (!s.empty() && s.front() == ':') {
    const size_t digits = std::min(s.find('/'), s.size()) - 1;
    if (!text::is_digits(s.substr(1, digits), 1, 5)) return std::nullopt;
    out.port = std::string(s.substr(1, digits));
    s.remove_prefix(1 + digits);
  }
  if (!s.empty() && (s.front() != '/' || !text::is_digits(s.substr(1), 0, s.size()))) return std::nullopt;
  return out;
}

// Reads one check's YAML into a flat option map (type options and common
// ones side by side), checking keys; then typed readers pull values out.
class CheckParser {
 public:
  CheckParser(std::string name, const ParseOptions& options, Diagnostics& diags)
      : name_(std::move(name)), options_(options), diags_(diags) {}

  std::optional<CheckSpec> parse(const YAML::Node& node) {
    where_ = mark(node);
    if (!valid_check_name(name_))
      diags_.error(where_, fmt::format("check name `{}` must hold only letters, digits, `_`, `-` and `.` "
                                       "(at most 64)", name_));
    if (!node.IsMap()) {
      diags_.error(where_, fmt::format("check `{}` must be a map with one of: {}", name_,
                                       fmt::join(check_type_names(), ", ")));
      return std::nullopt;
    }
    collect(node);
    if (type_.empty()) {
      diags_.error(where_, fmt::format("check `{}` has no type", name_),
                   fmt::format("add one of: {}", fmt::join(check_type_names(), ", ")));
      return std::nullopt;
    }
    CheckSpec spec;
    spec.name = name_;
    read_common(spec);
    read_params(spec);
    if (errors_ > 0) return std::nullopt;
    return spec;
  }

 private:
  SourceMark mark(const YAML::Node& node) const {
    auto m = node.Mark();
    if (m.line < 0) return {options_.file, 0, 0};
    return {options_.file, m.line + 1, m.column + 1};
  }

  void error(const YAML::Node& node, std::string summary, std::string hint = {}) {
    ++errors_;
    diags_.error(mark(node), std::move(summary), std::move(hint));
  }

  std::vector<std::string> allowed_keys() const {
    std::vector<std::string> keys = kCommonKeys;
    for (const auto& t : check_type_names()) keys.push_back(t);
    if (!type_.empty())
      for (const auto& o : type_options().at(type_))
        if (!o.empty()) keys.push_back(o);
    for (const auto& k : options_.extra_keys) keys.push_back(k);
    return keys;
  }

  void collect(const YAML::Node& node) {
    // First pass: the type key, so that its options are known.
    for (const auto& kv : node) {
      const std::string& key = kv.first.Scalar();
      if (std::find(check_type_names().begin(), check_type_names().end(), key) == check_type_names().end())
        continue;
      if (!type_.empty()) {
        error(kv.first, fmt::format("check `{}` has two types, `{}` and `{}`", name_, type_, key),
              "a check is one of http, tcp, exec, ...; split it into two checks");
        continue;
      }
      type_ = key;
      type_node_ = kv.first;
      const std::string& target = type_options().at(key).front();
      if (kv.second.IsMap()) {
        for (const auto& option : kv.second) add_option(option.first, option.second, /*type_only=*/true);
      } else if (!target.empty()) {
        values_[target] = kv.second;
      } else if (!kv.second.IsNull() && !(kv.second.IsScalar() && kv.second.Scalar() == "true")) {
        error(kv.second, fmt::format("`{}:` takes `true` or a map of options", key));
      }
    }
    for (const auto& kv : node) {
      const std::string& key = kv.first.Scalar();
      if (key == type_) continue;
      if (std::find(options_.extra_keys.begin(), options_.extra_keys.end(), key) != options_.extra_keys.end())
        continue;
      add_option(kv.first, kv.second, /*type_only=*/false);
    }
  }

  void add_option(const YAML::Node& key_node, const YAML::Node& value, bool type_only) {
    const std::string& key = key_node.Scalar();
    const auto& own = type_options().at(type_.empty() ? "http" : type_);
    bool is_own = !type_.empty() && std::find(own.begin(), own.end(), key) != own.end() && !key.empty();
    bool is_common = std::find(kCommonKeys.begin(), kCommonKeys.end(), key) != kCommonKeys.end();
    if (is_own || (is_common && !type_only)) {
      if (values_.count(key)) error(key_node, fmt::format("`{}` is given twice in check `{}`", key, name_));
      values_[key] = value;
      return;
    }
    std::vector<std::string> others;
    for (const auto& [other, keys] : type_options())
      if (other != type_ && std::find(keys.begin(), keys.end(), key) != keys.end() && !key.empty())
        others.push_back(other);
    if (!others.empty()) {
      error(key_node, fmt::format("`{}` is an option of {} checks, not of {} checks", key, fmt::join(others, " and "), type_));
      return;
    }
    if (std::find(check_type_names().begin(), check_type_names().end(), key) != check_type_names().end()) return;
    error(key_node, fmt::format("unknown key `{}` in check `{}`", key, name_), did_you_mean(key, allowed_keys()));
  }

  const YAML::Node* find(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : &it->second;
  }

  // Typed readers: each returns false when the key is absent or templated
  // (the caller keeps its default), and reports wrong types.
  bool skip(const YAML::Node* node) const { return !node || (options_.allow_templates && is_template(*node)); }

  bool read_string(const std::string& key, std::string& out) {
    const YAML::Node* node = find(key);
    if (!node) return false;
    if (!node->IsScalar()) {
      error(*node, fmt::format("`{}` must be a string", key));
      return false;
    }
    out = node->Scalar();
    return true;
  }

  bool read_number(const std::string& key, double& out, double min, double max) {
    const YAML::Node* node = find(key);
    if (skip(node)) return false;
    try {
      double v = node->as<double>();
      if (!std::isfinite(v) || v < min || v > max) {  // .nan compares false to both
        error(*node, fmt::format("`{}` must be between {} and {}", key, min, max));
        return false;
      }
      out = v;
      return true;
    } catch (const YAML::Exception&) {
      error(*node, fmt::format("`{}` must be a number", key));
      return false;
    }
  }

  bool read_int(const std::string& key, int& out, int min, int max) {
    double v = out;
    if (!read_number(key, v, min, max)) return false;
    if (v != static_cast<int>(v)) {
      error(*find(key), fmt::format("`{}` must be a whole number", key));
      return false;
    }
    out = static_cast<int>(v);
    return true;
  }

  bool read_bool(const std::string& key, bool& out) {
    const YAML::Node* node = find(key);
    if (skip(node)) return false;
    try {
      out = node->as<bool>();
      return true;
    } catch (const YAML::Exception&) {
      error(*node, fmt::format("`{}` must be true or false", key));
      return false;
    }
  }

  bool read_duration(const std::string& key, std::chrono::milliseconds& out) {
    const YAML::Node* node = find(key);
    if (skip(node)) return false;
    if (!node->IsScalar()) {
      error(*node, fmt::format("`{}` must be a duration like 10s", key));
      return false;
    }
    auto d = timeutil::parse_duration(node->Scalar());
    if (!d) {
      error(*node, fmt::format("`{}`: {}", key, d.error().message()));
      return false;
    }
    if (d->count() < 100) {
      error(*node, fmt::format("`{}` must be at least 100ms", key));
      return false;
    }
    out = *d;
    return true;
  }

  // A required target: present and non-empty.
  bool require(const std::string& key, const char* example) {
    const YAML::Node* node = find(key);
    if (node && !(node->IsScalar() && node->Scalar().empty()) && !node->IsNull()) return true;
    error(type_node_, fmt::format("{} check `{}` needs `{}`", type_, name_, key), fmt::format("for example {}", example));
    return false;
  }

  void read_common(CheckSpec& spec) {
    read_duration("interval", spec.interval);
    if (!read_duration("timeout", spec.timeout)) spec.timeout = std::min(spec.timeout, spec.interval);
    read_int("success_before_passing", spec.success_before_passing, 0, 1000);
    read_int("failures_before_critical", spec.failures_before_critical, 0, 1000);
  }

  // "host:port" (or "[v6]:port"); a templated value is left for later.
  void read_address(const std::string& key, std::string& host, int& port, bool port_required) {
    const YAML::Node* node = find(key);
    if (skip(node)) return;
    std::string value;
    if (!read_string(key, value)) return;
    auto address = parse_host_address(value);
    if (!address || (port_required && address->port.empty())) {
      error(*node, fmt::format("`{}` must look like host:port, got `{}`", key, value));
      return;
    }
    host = address->host;
    if (!address->port.empty()) {
      port = std::stoi(address->port);  // 1 to 5 digits
      if (port < 1 || port > 65535) error(*node, fmt::format("`{}`: port {} is out of range", key, port));
    }
    if (address->user) user_ = *address->user;
    if (address->password) password_ = *address->password;
  }

  void read_params(CheckSpec& spec) {
    if (type_ == "http") {
      spec.type = CheckType::Http;
      HttpCheck http;
      read_url("http://127.0.0.1:8080/healthz", http.url);
      read_string("method", http.method);
      std::transform(http.method.begin(), http.method.end(), http.method.begin(), ::toupper);
      if (const YAML::Node* status = find("status"); !skip(status)) {
        auto add = [&](const YAML::Node& n) {
          try {
            int code = n.as<int>();
            if (code < 100 || code > 599) throw YAML::Exception(n.Mark(), "range");
            http.expect_status.push_back(code);
          } catch (const YAML::Exception&) {
            error(n, "`status` must be an HTTP status code (100-599) or a list of them");
          }
        };
        if (status->IsSequence())
          for (const auto& n : *status) add(n);
        else
          add(*status);
      }
      read_string("body_contains", http.body_contains);
      read_request_headers(http.headers);
      read_expect_headers(http.expect_headers);
      read_json_expectations("expect_json", http.expect_json);
      read_int("cert_days_warning", http.cert_days_warning, 0, 3650);
      read_bool("tls_verify", http.tls_verify);
      read_string("ca_file", http.ca_file);
      spec.params = http;
    } else if (type_ == "graphql") {
      spec.type = CheckType::Graphql;
      GraphqlCheck graphql;
      read_url("http://127.0.0.1:8080/graphql", graphql.url);
      if (require("query", "\"{ status }\"")) read_string("query", graphql.query);
      read_variables(graphql.variables);
      read_json_expectations("expect", graphql.expect);
      read_request_headers(graphql.headers);
      read_int("cert_days_warning", graphql.cert_days_warning, 0, 3650);
      read_bool("tls_verify", graphql.tls_verify);
      read_string("ca_file", graphql.ca_file);
      spec.params = graphql;
    } else if (type_ == "tcp") {
      spec.type = CheckType::Tcp;
      TcpCheck tcp;
      if (require("address", "127.0.0.1:5432")) read_address("address", tcp.host, tcp.port, true);
      spec.params = tcp;
    } else if (type_ == "exec") {
      spec.type = CheckType::Exec;
      ExecCheck exec;
      if (require("command", "[/usr/lib/nagios/plugins/check_tcp, -H, 127.0.0.1, -p, \"22\"]")) {
        const YAML::Node& command = *find("command");
        if (command.IsSequence()) {
          for (const auto& a : command) {
            if (!a.IsScalar()) error(a, "`exec` arguments must be strings");
            else exec.argv.push_back(a.Scalar());
          }
        } else if (command.IsScalar()) {
          // A string is split on spaces (no shell, no quoting): use a list
          // for arguments that hold spaces.
          std::string word;
          for (char c : command.Scalar() + " ") {
            if (c == ' ' || c == '\t') {
              if (!word.empty()) exec.argv.push_back(word);
              word.clear();
            } else {
              word += c;
            }
          }
        } else {
          error(command, "`exec` must be a list of arguments (or a string split on spaces)");
        }
        if (exec.argv.empty()) error(command, "`exec` has no command");
      }
      spec.params = exec;
    } else if (type_ == "postgres") {
      spec.type = CheckType::Postgres;
      PostgresCheck pg;
      if (require("conninfo", "\"host=127.0.0.1 port=5432 dbname=app user=app\"")) read_string("conninfo", pg.conninfo);
      read_string("query", pg.query);
      spec.params = pg;
    } else if (type_ == "redis") {
      spec.type = CheckType::Redis;
      RedisCheck redis;
      if (require("address", "127.0.0.1:6379")) read_address("address", redis.host, redis.port, false);
      redis.username = user_;
      redis.password = password_;
      read_string("username", redis.username);
      read_string("password", redis.password);
      read_string("role", redis.role);
      if (!redis.role.empty() && redis.role != "master" && redis.role != "replica" && redis.role != "slave")
        error(*find("role"), "`role` must be master or replica");
      spec.params = redis;
    } else if (type_ == "disk") {
      spec.type = CheckType::Disk;
      DiskCheck disk;
      read_string("path", disk.path);
      read_thresholds(disk.warning, disk.critical, 100, /*lower_is_worse=*/true);
      spec.params = disk;
    } else if (type_ == "memory") {
      spec.type = CheckType::Memory;
      MemoryCheck memory;
      read_thresholds(memory.warning, memory.critical, 100, true);
      spec.params = memory;
    } else if (type_ == "load") {
      spec.type = CheckType::Load;
      LoadCheck load;
      read_thresholds(load.warning, load.critical, 1e6, false);
      read_bool("per_cpu", load.per_cpu);
      spec.params = load;
    } else if (type_ == "process") {
      spec.type = CheckType::Process;
      ProcessCheck process;
      if (require("name", "nginx")) read_string("name", process.name);
      read_int("min", process.min, 0, 1'000'000);
      read_int("max", process.max, -1, 1'000'000);
      if (process.max >= 0 && process.max < process.min)
        error(*find("max"), "`max` must be at least `min`");
      spec.params = process;
    }
  }

  // The required `url` of http and graphql checks: http:// or https://.
  void read_url(const char* example, std::string& url) {
    if (!require("url", example) || !read_string("url", url) || skip(find("url"))) return;
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
      error(*find("url"), fmt::format("`{}` is not an http:// or https:// URL", url));
  }

  // A map of header name -> string; null when absent or templated.
  const YAML::Node* header_map(const std::string& key) {
    const YAML::Node* node = find(key);
    if (skip(node) || node->IsNull()) return nullptr;
    if (node->IsMap()) return node;
    error(*node, fmt::format("`{}` must be a map of header name to value", key));
    return nullptr;
  }

  // The headers sent with the request.
  void read_request_headers(std::map<std::string, std::string>& out) {
    if (const YAML::Node* headers = header_map("headers"))
      for (const auto& h : *headers) out[h.first.Scalar()] = h.second.IsScalar() ? h.second.Scalar() : "";
  }

  // Response header name -> RE2 pattern; a pattern that does not compile is
  // an error here, at its line, not a check that fails on every run.
  void read_expect_headers(std::map<std::string, std::string>& out) {
    const YAML::Node* headers = header_map("expect_headers");
    if (!headers) return;
    for (const auto& h : *headers) {
      const std::string& name = h.first.Scalar();
      if (!valid_header_name(name)) {
        error(h.first, fmt::format("`expect_headers`: `{}` is not a header name", text::printable(name)),
              "a header name is letters, digits and !#$%&'*+-.^_`|~, like Cache-Control");
        continue;
      }
      if (!h.second.IsScalar()) {
        error(h.second, fmt::format("`expect_headers.{}` must be a regular expression (a string)", name));
        continue;
      }
      if (!(options_.allow_templates && is_template(h.second))) {
        if (auto problem = pattern_problem(h.second.Scalar()); !problem.empty()) {
          error(h.second, fmt::format("`expect_headers.{}`: {}", name, problem),
                "patterns use RE2 syntax, the syntax of Go's regexp package");
          continue;
        }
      }
      out[name] = h.second.Scalar();
    }
  }

  // A map of JSONPath -> expected JSON value (core/json_expect.h).
  void read_json_expectations(const std::string& key, JsonExpectations& out) {
    const YAML::Node* node = find(key);
    if (skip(node) || node->IsNull()) return;
    if (!node->IsMap()) {
      error(*node, fmt::format("`{}` must be a map of JSONPath to the value expected there", key),
            "for example `{ \"$.data.status\": ok }`");
      return;
    }
    for (const auto& kv : *node) {
      const std::string& path = kv.first.Scalar();
      if (auto pointer = json_path_pointer(path); !pointer) {
        error(kv.first, fmt::format("`{}`: {}", key, pointer.error().message()));
        continue;
      }
      if (auto value = bounded_json(kv.second, key)) out[path] = std::move(*value);
    }
  }

  // GraphQL variables: a map, sent as a JSON object.
  void read_variables(nlohmann::json& out) {
    const YAML::Node* node = find("variables");
    if (skip(node) || node->IsNull()) return;
    if (!node->IsMap()) {
      error(*node, "`variables` must be a map of variable name to value", "for example `{ id: 42 }`");
      return;
    }
    if (auto value = bounded_json(*node, "variables")) out = std::move(*value);
  }

  // A value as JSON; the bound keeps an alias-expanded tree (a small file
  // standing for billions of values) from being walked.
  std::optional<nlohmann::json> bounded_json(const YAML::Node& node, const std::string& key) {
    constexpr size_t kMaxValues = 10'000, kMaxDepth = 32;
    auto value = yamljson::to_json(node, kMaxValues, kMaxDepth);
    if (!value)
      error(node, fmt::format("`{}` is too large: more than {} values or {} levels of nesting", key, kMaxValues, kMaxDepth));
    return value;
  }

  void read_thresholds(double& warning, double& critical, double max, bool lower_is_worse) {
    read_number("warning", warning, 0, max);
    read_number("critical", critical, 0, max);
    bool ordered = lower_is_worse ? critical <= warning : critical >= warning;
    if (!ordered) {
      const YAML::Node* node = find("critical") ? find("critical") : find("warning");
      if (node) error(*node, lower_is_worse ? "`critical` must be at most `warning` (they are free %)"
                                            : "`critical` must be at least `warning`");
    }
  }

  std::string name_;
  const ParseOptions& options_;
  Diagnostics& diags_;
  SourceMark where_;
  std::string type_;
  YAML::Node type_node_;
  std::map<std::string, YAML::Node> values_;
  std::string user_, password_;  // from a redis://user:password@ address
  int errors_ = 0;
};

struct ParamsToJson {
  Json operator()(const HttpCheck& c) const {
    return {{"url", c.url},         {"method", c.method},   {"status", c.expect_status},
            {"body_contains", c.body_contains}, {"headers", c.headers}, {"expect_headers", c.expect_headers},
            {"expect_json", c.expect_json},     {"cert_days_warning", c.cert_days_warning},
            {"tls_verify", c.tls_verify},       {"ca_file", c.ca_file}};
  }
  Json operator()(const GraphqlCheck& c) const {
    return {{"url", c.url},         {"query", c.query},     {"variables", c.variables},
            {"expect", c.expect},   {"headers", c.headers}, {"cert_days_warning", c.cert_days_warning},
            {"tls_verify", c.tls_verify}, {"ca_file", c.ca_file}};
  }
  Json operator()(const TcpCheck& c) const { return {{"address", fmt::format("{}:{}", c.host, c.port)}}; }
  Json operator()(const ExecCheck& c) const { return {{"command", c.argv}}; }
  Json operator()(const PostgresCheck& c) const { return {{"conninfo", c.conninfo}, {"query", c.query}}; }
  Json operator()(const RedisCheck& c) const {
    return {{"address", fmt::format("{}:{}", c.host, c.port)}, {"username", c.username},
            {"password", c.password}, {"role", c.role}};
  }
  Json operator()(const DiskCheck& c) const { return {{"path", c.path}, {"warning", c.warning}, {"critical", c.critical}}; }
  Json operator()(const MemoryCheck& c) const { return {{"warning", c.warning}, {"critical", c.critical}}; }
  Json operator()(const LoadCheck& c) const {
    return {{"warning", c.warning}, {"critical", c.critical}, {"per_cpu", c.per_cpu}};
  }
  Json operator()(const ProcessCheck& c) const { return {{"name", c.name}, {"min", c.min}, {"max", c.max}}; }
  Json operator()(const DrCheck& c) const { return {{"job", c.job}}; }
};

}  // namespace

nlohmann::json CheckSpec::to_json() const {
  Json out = Json::object();
  out[checks::to_string(type)] = std::visit(ParamsToJson{}, params);
  out["interval"] = timeutil::format_duration(interval);
  out["timeout"] = timeutil::format_duration(timeout);
  out["success_before_passing"] = success_before_passing;
  out["failures_before_critical"] = failures_before_critical;
  return out;
}

std::optional<CheckSpec> parse_check(const std::string& name, const YAML::Node& node, const ParseOptions& options,
                                     Diagnostics& diags) {
  CheckParser parser(name, options, diags);
  return parser.parse(node);
}

Result<CheckSpec> check_from_json(const std::string& name, const nlohmann::json& body) {
  YAML::Node node;
  try {
    node = YAML::Load(body.dump());
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::InvalidConfig, fmt::format("check `{}`: {}", name, e.msg));
  } catch (const nlohmann::json::exception&) {  // dump() refuses strings that are not UTF-8
    return fail(ErrorCode::InvalidConfig, fmt::format("check `{}`: a value is not valid UTF-8", name));
  }
  Diagnostics diags;
  auto spec = parse_check(name, node, ParseOptions{}, diags);
  if (!spec) {
    std::vector<std::string> problems;
    for (const auto& d : diags.items()) problems.push_back(d.hint.empty() ? d.summary : d.summary + " (" + d.hint + ")");
    return fail(ErrorCode::InvalidConfig, fmt::format("{}", fmt::join(problems, "; ")));
  }
  return *spec;
}

}  // namespace keel::checks
