#include "agent/config.h"

#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/files.h"
#include "core/text.h"
#include "core/time.h"

namespace keel::agent {

bool AgentConfig::same_listener(const AgentConfig& other) const {
  auto tls_key = [](const std::optional<TlsConfig>& t) {
    return t ? t->cert_file + "\n" + t->key_file : std::string();
  };
  return listen_host == other.listen_host && listen_port == other.listen_port && tls_key(tls) == tls_key(other.tls) &&
         health_listen == other.health_listen;
}

namespace {

const std::vector<std::string> kTopKeys = {"listen",    "token_file",      "tls",           "state_dir",
                                           "checks",    "webhook",         "backups",       "dr_worker",
                                           "backup_key_file", "remote_config", "exec_allowed", "health_listen"};

// Whether `exec_allowed` (when set) lists the command of an exec check; by
// exact path, so that PATH cannot pick another program of the same name.
bool exec_permitted(const AgentConfig& config, const checks::CheckSpec& check) {
  if (!config.exec_allowed || check.type != checks::CheckType::Exec) return true;
  const auto& argv = std::get<checks::ExecCheck>(check.params).argv;
  const auto& allowed = *config.exec_allowed;
  return !argv.empty() && std::find(allowed.begin(), allowed.end(), argv.front()) != allowed.end();
}

std::string exec_not_allowed_message(const checks::CheckSpec& check) {
  const auto& argv = std::get<checks::ExecCheck>(check.params).argv;
  return fmt::format("exec check `{}` runs `{}`, which `exec_allowed` does not list", check.name,
                     argv.empty() ? std::string() : argv.front());
}

// "host:port" or "[v6-address]:port"; port 0 means any free one. By hand,
// not with std::regex: the text comes from PUT /v1/config bodies, and
// libstdc++'s matcher overflows the stack on long input.
std::optional<std::pair<std::string, int>> parse_host_port(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.empty() || host.find_first_of("[]") != std::string_view::npos) return std::nullopt;
  } else if (host.empty() || host.find_first_of(":[]") != std::string_view::npos) {
    return std::nullopt;
  }
  if (port.empty() || port.size() > 5) return std::nullopt;
  int number = 0;
  for (char c : port) {
    if (!text::is_digit(c)) return std::nullopt;
    number = number * 10 + (c - '0');
  }
  if (number > 65535) return std::nullopt;
  return std::pair{std::string(host), number};
}

class ConfigParser {
 public:
  ConfigParser(std::string file, std::string base_dir, Diagnostics& diags)
      : file_(std::move(file)), base_dir_(std::move(base_dir)), diags_(diags) {}

  void parse(const YAML::Node& root, AgentConfig& config, std::set<std::string>& keys) {
    if (!root.IsMap()) {
      diags_.error(mark(root), "an agent config must be a map (listen, token_file, checks, ...)");
      return;
    }
    for (const auto& kv : root) {
      const std::string& key = kv.first.Scalar();
      keys.insert(key);
      if (key == "listen") parse_listen(kv.second, config);
      else if (key == "health_listen") parse_health_listen(kv.second, config);
      else if (key == "token_file") config.token_file = path(kv.second, "token_file");
      else if (key == "tls") parse_tls(kv.second, config);
      else if (key == "state_dir") config.state_dir = path(kv.second, "state_dir");
      else if (key == "checks") parse_checks(kv.second, config);
      else if (key == "webhook") parse_webhook(kv.second, config);
      else if (key == "backups") parse_backups(kv.second, config);
      else if (key == "backup_key_file") config.backup_key_file = path(kv.second, "backup_key_file");
      else if (key == "dr_worker") config.dr_worker = path(kv.second, "dr_worker");
      else if (key == "remote_config") parse_remote_config(kv.second, config);
      else if (key == "exec_allowed") parse_exec_allowed(kv.second, config);
      else diags_.error(mark(kv.first), fmt::format("unknown key `{}` in the agent config", key), did_you_mean(key, kTopKeys));
    }
    if (config.token_file.empty())
      diags_.error({file_, 1, 1}, "missing `token_file`", "the agent refuses to serve its API without a token");
    if (config.state_dir.empty()) config.state_dir = base_dir_;
    check_backups(config);
    check_exec_allowed(config);
  }

 private:
  SourceMark mark(const YAML::Node& node) const {
    auto m = node.Mark();
    if (m.line < 0) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
  }

  std::string scalar(const YAML::Node& node, const std::string& what) {
    if (node.IsScalar() && !node.Scalar().empty()) return node.Scalar();
    diags_.error(mark(node), fmt::format("`{}` must be a non-empty string", what));
    return {};
  }

  std::string path(const YAML::Node& node, const std::string& what) {
    std::string p = scalar(node, what);
    if (p.empty()) return p;
    return files::absolute(files::expand_home(p), base_dir_);
  }

  void parse_backups(const YAML::Node& node, AgentConfig& config) {
    backups_ = node;
    config.backups = parse_backup_jobs(node, file_, base_dir_, diags_);
  }

  // What ties the backups to the rest of the file: the key, and the names of
  // their built-in checks.
  void check_backups(const AgentConfig& config) {
    if (!backups_ || !backups_->IsMap() || backups_->size() == 0) return;
    if (config.backup_key_file.empty())
      diags_.error(mark(*backups_), "`backups` needs `backup_key_file`",
                   "a file (mode 0600) holding 32 random bytes as base64: head -c 32 /dev/urandom | base64");
    for (const auto& job : config.backups)
      for (const auto& check : config.checks)
        if (check.name == dr_check_name(job.name))
          diags_.error(mark(*backups_),
                       fmt::format("check `{}` has the name of backup `{}`'s built-in check", check.name, job.name),
                       "rename the check");
  }

  void parse_listen(const YAML::Node& node, AgentConfig& config) {
    std::string text = scalar(node, "listen");
    if (text.empty()) return;
    auto listen = parse_host_port(text);
    if (!listen) {
      diags_.error(mark(node), fmt::format("`listen` must be host:port, got `{}`", text), "for example 127.0.0.1:7300");
      return;
    }
    config.listen_host = listen->first;
    config.listen_port = listen->second;
  }

  // Off unless set; `false` or an empty value say so explicitly.
  void parse_health_listen(const YAML::Node& node, AgentConfig& config) {
    std::string text = scalar(node, "health_listen");
    if (text.empty() || text == "false") return;
    auto listen = parse_host_port(text);
    if (!listen) {
      diags_.error(mark(node), fmt::format("`health_listen` must be host:port, got `{}`", text),
                   "for example 0.0.0.0:7301, for a load balancer's health checks");
      return;
    }
    config.health_listen = std::move(*listen);
  }

  void parse_remote_config(const YAML::Node& node, AgentConfig& config) {
    if (node.IsScalar() && (node.Scalar() == "true" || node.Scalar() == "false")) {
      config.remote_config = node.Scalar() == "true";
      return;
    }
    diags_.error(mark(node), "`remote_config` must be true or false",
                 "false refuses PUT /v1/config: the config then changes only through this file and SIGHUP");
  }

  void parse_exec_allowed(const YAML::Node& node, AgentConfig& config) {
    if (!node.IsSequence()) {
      diags_.error(mark(node), "`exec_allowed` must be a list of commands (absolute paths)",
                   "for example [/usr/lib/nagios/plugins/check_tcp]; [] allows no exec check");
      return;
    }
    std::vector<std::string> allowed;
    for (const auto& item : node) {
      if (!item.IsScalar() || item.Scalar().empty() || item.Scalar().front() != '/') {
        diags_.error(mark(item), "each `exec_allowed` entry must be an absolute path",
                     "exec checks must then name their command by that same path");
        continue;
      }
      allowed.push_back(item.Scalar());
    }
    config.exec_allowed = std::move(allowed);
  }

  // After the whole file: the list may come before or after the checks.
  void check_exec_allowed(const AgentConfig& config) {
    for (const auto& check : config.checks) {
      if (exec_permitted(config, check)) continue;
      auto where = check_marks_.find(check.name);
      diags_.error(where == check_marks_.end() ? SourceMark{file_, 1, 1} : where->second, exec_not_allowed_message(check),
                   "add its absolute path to `exec_allowed` in the agent's file, or drop the check");
    }
  }

  void parse_tls(const YAML::Node& node, AgentConfig& config) {
    if (!node.IsMap()) {
      diags_.error(mark(node), "`tls` must be a map with `cert` and `key`");
      return;
    }
    TlsConfig tls;
    for (const auto& kv : node) {
      const std::string& key = kv.first.Scalar();
      if (key == "cert") tls.cert_file = path(kv.second, "tls.cert");
      else if (key == "key") tls.key_file = path(kv.second, "tls.key");
      else diags_.error(mark(kv.first), fmt::format("unknown key `{}` in `tls`", key), did_you_mean(key, {"cert", "key"}));
    }
    if (tls.cert_file.empty() || tls.key_file.empty()) {
      diags_.error(mark(node), "`tls` needs both `cert` and `key` (PEM files)");
      return;
    }
    config.tls = tls;
  }

  void parse_checks(const YAML::Node& node, AgentConfig& config) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      diags_.error(mark(node), "`checks` must be a map of check name to definition");
      return;
    }
    std::set<std::string> seen;
    checks::ParseOptions options;
    options.file = file_;
    for (const auto& kv : node) {
      const std::string& name = kv.first.Scalar();
      if (!seen.insert(name).second) {
        diags_.error(mark(kv.first), fmt::format("check `{}` is defined twice", name));
        continue;
      }
      check_marks_[name] = mark(kv.second);
      if (auto spec = checks::parse_check(name, kv.second, options, diags_)) config.checks.push_back(std::move(*spec));
    }
  }

  void parse_webhook(const YAML::Node& node, AgentConfig& config) {
    if (node.IsNull()) return;
    WebhookConfig hook;
    if (node.IsScalar()) {
      hook.url = node.Scalar();
    } else if (node.IsMap()) {
      for (const auto& kv : node) {
        const std::string& key = kv.first.Scalar();
        if (key == "url") {
          hook.url = scalar(kv.second, "webhook.url");
        } else if (key == "timeout") {
          auto d = timeutil::parse_duration(kv.second.IsScalar() ? kv.second.Scalar() : "");
          if (!d) diags_.error(mark(kv.second), fmt::format("`webhook.timeout`: {}", d.error().message()));
          else hook.timeout = *d;
        } else if (key == "attempts") {
          try {
            hook.attempts = kv.second.as<int>();
            if (hook.attempts < 1 || hook.attempts > 100) throw YAML::Exception(kv.second.Mark(), "range");
          } catch (const YAML::Exception&) {
            diags_.error(mark(kv.second), "`webhook.attempts` must be a whole number from 1 to 100");
          }
        } else {
          diags_.error(mark(kv.first), fmt::format("unknown key `{}` in `webhook`", key),
                       did_you_mean(key, {"url", "timeout", "attempts"}));
        }
      }
    }
    if (hook.url.rfind("http://", 0) != 0 && hook.url.rfind("https://", 0) != 0) {
      diags_.error(mark(node), "`webhook.url` must be an http:// or https:// URL");
      return;
    }
    config.webhook = hook;
  }

  std::string file_;
  std::string base_dir_;
  Diagnostics& diags_;
  std::optional<YAML::Node> backups_;
  std::map<std::string, SourceMark> check_marks_;  // where each check is defined
};

// yaml-cpp's emitter drops the quotes of a quoted scalar (tag "!"), and a
// quoted "200" would read back as the number 200 where a check reads values
// as JSON (core/yaml_json.h). Tagged !!str, such a scalar is written with
// its tag and read back as a string. False past `budget` nodes: an alias is
// visited at each of its uses.
bool keep_quoted_strings(YAML::Node node, size_t& budget) {
  if (budget == 0) return false;
  --budget;
  if (node.IsScalar() && node.Tag() == "!") node.SetTag("tag:yaml.org,2002:str");
  if (node.IsSequence())
    for (auto item : node)
      if (!keep_quoted_strings(item, budget)) return false;
  if (node.IsMap())
    for (auto kv : node)
      if (!keep_quoted_strings(kv.second, budget)) return false;
  return true;
}

}  // namespace

ConfigLoad parse_agent_config(const std::string& text, const std::string& file, const std::string& base_dir) {
  ConfigLoad load;
  load.config.file = file;
  std::string dir = !base_dir.empty() ? base_dir : files::dirname(files::absolute(file.empty() ? "." : file, "."));
  // YAML is Unicode: a config that is not valid UTF-8 is refused before
  // parsing, rather than having its bytes changed when PUT /v1/config
  // writes it back out with the host's settings (found by fuzz_agent_config).
  if (!text::is_valid_utf8(text)) {
    int line = 1;
    for (std::string_view rest = text; !rest.empty(); ++line) {
      size_t nl = rest.find('\n');
      if (!text::is_valid_utf8(rest.substr(0, nl))) break;
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
    load.diagnostics.error({file, line, 1}, "the config is not valid UTF-8 (YAML must be)");
    return load;
  }
  ConfigParser parser(file, dir, load.diagnostics);
  try {
    parser.parse(YAML::Load(text), load.config, load.keys);
  } catch (const YAML::Exception& e) {
    load.diagnostics.error({file, e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
  }
  return load;
}

std::string format_host_port(const std::pair<std::string, int>& listen) {
  if (listen.first.find(':') != std::string::npos) return fmt::format("[{}]:{}", listen.first, listen.second);
  return fmt::format("{}:{}", listen.first, listen.second);
}

ConfigLoad load_agent_config(const std::string& path) {
  auto text = files::read_file(path);
  if (!text) {
    ConfigLoad load;
    load.diagnostics.error({path, 0, 0}, fmt::format("cannot read the agent config: {}", text.error().message()));
    return load;
  }
  return parse_agent_config(*text, path);
}

std::optional<std::string> host_only_change(const ConfigLoad& body, const AgentConfig& host) {
  const AgentConfig& next = body.config;
  for (const auto& key : kHostOnlyKeys) {
    if (!body.keys.contains(key)) continue;
    const bool same = key == "remote_config"   ? next.remote_config == host.remote_config
                      : key == "exec_allowed"  ? next.exec_allowed == host.exec_allowed
                      : key == "health_listen" ? next.health_listen == host.health_listen
                                               : next.dr_worker == host.dr_worker;
    if (!same)
      return fmt::format("`{}` can only be changed in the agent's own file on the host; "
                         "PUT /v1/config may leave it out or repeat it unchanged",
                         key);
  }
  return std::nullopt;
}

Result<std::string> with_host_settings(const std::string& text, const AgentConfig& host) {
  if (host.remote_config && !host.exec_allowed && host.dr_worker.empty() && !host.health_listen) return text;
  try {
    YAML::Node doc = YAML::Load(text);
    if (size_t budget = 2'000'000; !keep_quoted_strings(doc, budget))
      return fail(ErrorCode::InvalidConfig, "request body: too large once its aliases are expanded");
    if (!host.remote_config) doc["remote_config"] = false;
    if (host.exec_allowed) doc["exec_allowed"] = *host.exec_allowed;
    if (!host.dr_worker.empty()) doc["dr_worker"] = host.dr_worker;
    if (host.health_listen) doc["health_listen"] = format_host_port(*host.health_listen);
    YAML::Emitter out;
    out << doc;
    if (!out.good()) return fail(ErrorCode::Internal, fmt::format("writing the config: {}", out.GetLastError()));
    return std::string("# Written by PUT /v1/config, with this host's own settings (remote_config, exec_allowed,\n"
                       "# dr_worker, health_listen) kept from the file it replaced.\n") +
           out.c_str() + "\n";
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::InvalidConfig, fmt::format("request body: {}", e.what()));
  }
}

std::vector<std::string> exec_checks_not_allowed(const AgentConfig& config) {
  std::vector<std::string> problems;
  for (const auto& check : config.checks)
    if (!exec_permitted(config, check)) problems.push_back(exec_not_allowed_message(check));
  return problems;
}

std::string default_dr_worker() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto beside = self.parent_path() / "keel-dr";
    if (::access(beside.c_str(), X_OK) == 0) return beside.string();
  }
  return "keel-dr";
}

Result<std::string> read_token(const std::string& path) {
  // A token is a short line; anything else named here (a device, a log
  // file, through a PUT /v1/config body) must not be read into memory.
  constexpr off_t kMaxTokenFile = 4096;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0077) != 0)
    return fail(ErrorCode::PermissionDenied,
                fmt::format("token file {} is readable by others (mode {:o}); chmod 600 it", path, st.st_mode & 0777));
  if (::stat(path.c_str(), &st) == 0 && (!S_ISREG(st.st_mode) || st.st_size > kMaxTokenFile))
    return fail(ErrorCode::InvalidConfig,
                fmt::format("token file {} is not a regular file of at most {} bytes", path, kMaxTokenFile));
  auto text = files::read_file(path);
  if (!text) return fail(text.error().with_context("token file"));
  std::string token = *text;
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) token.erase(token.begin());
  if (token.size() < 16)
    return fail(ErrorCode::InvalidConfig, fmt::format("token file {} holds no token of at least 16 characters", path));
  return token;
}

}  // namespace keel::agent
