// Loading the stack's `backups:` section: every key and value checked alone,
// each problem at its line and column. What needs the other sections
// (`source`, `runs_on`, S3 keys from the environment) is the validator's.
#include <yaml-cpp/yaml.h>

#include <set>

#include <fmt/format.h>

#include "cli/config/backups.h"
#include "cli/config/expression.h"
#include "cli/config/yaml_values.h"
#include "core/cron.h"
#include "core/text.h"
#include "core/time.h"

namespace keel::config {

namespace {

const std::vector<std::string> kJobKeys = {"source", "runs_on", "schedule", "to",   "s3",
                                           "sftp",   "retention", "rpo",    "drill"};
const std::vector<std::string> kS3Keys = {"endpoint", "region", "path_style", "access_key_id", "secret_access_key"};
const std::vector<std::string> kSftpKeys = {"key", "known_hosts"};
const std::vector<std::string> kRetentionKeys = {"keep_last", "keep_hourly", "keep_daily", "keep_weekly",
                                                 "keep_monthly"};
const std::vector<std::string> kDrillKeys = {"every", "verify"};
constexpr const char* kSourceHint = "for example `source: databases.main`, `source: caches.sessions` or "
                                    "`source: { files: [/etc/app, /var/lib/app] }`";
constexpr const char* kToHint = "use file:///DIR, s3://BUCKET/PREFIX or sftp://USER@HOST[:PORT]/DIR";

bool is_template(const YAML::Node& node) {
  return node.IsScalar() && node.Scalar().find("${") != std::string::npos;
}

bool contains(const std::vector<std::string>& list, const std::string& word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

// One job: its keys in any order, then the checks between them.
class JobLoader {
 public:
  JobLoader(const std::string& file, Diagnostics& diags, BackupBlock& job) : file_(file), diags_(diags), job_(job) {}

  void load(const YAML::Node& body) {
    if (!body.IsMap()) {
      error(body.IsNull() ? job_.mark : mark(body), "must be a map with `source:` and `to:`",
            "for example `main: { source: databases.main, to: file:///var/backups/keel }`");
      return;
    }
    for (const auto& kv : body) load_key(kv.first, kv.second);
    if (!seen_.count("source")) error(job_.mark, "has no `source:`", kSourceHint);
    if (!seen_.count("to")) error(job_.mark, "has no `to:` (where the backups go)", kToHint);
    check_destination_options();
  }

 private:
  SourceMark mark(const YAML::Node& node) const { return yaml_mark(node, file_); }

  void error(const SourceMark& where, const std::string& summary, const std::string& hint = {}) {
    diags_.error(where, fmt::format("backup `{}`: {}", job_.name, summary), hint);
  }
  void error(const YAML::Node& node, const std::string& summary, const std::string& hint = {}) {
    error(mark(node), summary, hint);
  }

  // Keeps the value in the agent's body, with the marks of all it holds.
  void keep(const std::string& key, const YAML::Node& value, nlohmann::json json) {
    job_.body[key] = std::move(json);
    record_yaml_marks(value, fmt::format("/{}", pointer_token(key)), file_, job_.marks);
  }

  bool non_empty_string(const YAML::Node& node, const std::string& what) {
    if (node.IsScalar() && !node.Scalar().empty()) return true;
    error(node.IsNull() ? key_mark_ : mark(node), fmt::format("`{}` must be a non-empty string", what));
    return false;
  }

  void load_key(const YAML::Node& key, const YAML::Node& value) {
    const std::string& name = key.Scalar();
    key_mark_ = mark(key);
    if (!contains(kJobKeys, name)) {
      error(key, fmt::format("unknown key `{}`", name), did_you_mean(name, kJobKeys));
      return;
    }
    seen_[name] = key_mark_;
    if (name == "source") load_source(value);
    else if (name == "runs_on") load_runs_on(value);
    else if (name == "schedule") load_schedule(value);
    else if (name == "to") load_to(value);
    else if (name == "s3") load_s3(value);
    else if (name == "sftp") load_sftp(value);
    else if (name == "retention") load_retention(value);
    else if (name == "rpo") load_duration("rpo", value, [&](std::string text) { keep("rpo", value, text); });
    else if (name == "drill") load_drill(value);
  }

  void load_source(const YAML::Node& value) {
    job_.source_mark = mark(value);
    if (value.IsScalar() && !value.Scalar().empty()) {
      auto ref = parse_address(value.Scalar());
      if (!ref) {
        error(value, fmt::format("`source`: {}", ref.error().message()), kSourceHint);
      } else if (ref->kind != "databases" && ref->kind != "caches") {
        std::string hint = did_you_mean(ref->kind, {"databases", "caches"});
        error(value, fmt::format("`source: {}`: a backup reads a database, a cache or files", value.Scalar()),
              hint.empty() ? kSourceHint : hint);
      } else {
        job_.source = value.Scalar();
      }
      return;
    }
    if (!value.IsMap()) {
      error(value.IsNull() ? key_mark_ : mark(value), "`source` must be a database, a cache or `{ files: [...] }`",
            kSourceHint);
      return;
    }
    bool has_files = false;
    for (const auto& kv : value) {
      if (kv.first.Scalar() != "files") {
        error(kv.first, fmt::format("unknown key `{}` in `source`", kv.first.Scalar()),
              did_you_mean(kv.first.Scalar(), {"files"}));
        continue;
      }
      has_files = true;
      load_files(kv.first, kv.second);
    }
    if (!has_files) error(value, "`source` as a map takes `files: [ABSOLUTE PATH, ...]`", kSourceHint);
  }

  void load_files(const YAML::Node& key, const YAML::Node& list) {
    if (!list.IsSequence() || list.size() == 0) {
      error(list.IsNull() ? mark(key) : mark(list), "`files` must be a non-empty list of absolute paths",
            "for example `files: [/etc/app, /var/lib/app]`");
      return;
    }
    for (const auto& item : list) {
      if (!item.IsScalar() || (!is_template(item) && (item.Scalar().empty() || item.Scalar().front() != '/')))
        error(item, fmt::format("`files`: `{}` is not an absolute path", item.IsScalar() ? item.Scalar() : "?"),
              "paths are read on the server that runs the job: write them from the root, like /var/lib/app");
    }
    nlohmann::json files = nlohmann::json::array();
    for (const auto& item : list) files.push_back(item.IsScalar() ? item.Scalar() : std::string());
    job_.body["source"] = {{"files", files}};
    record_yaml_marks(list, "/source/files", file_, job_.marks);
  }

  void load_runs_on(const YAML::Node& value) {
    if (!non_empty_string(value, "runs_on")) return;
    job_.runs_on = value.Scalar();
    job_.runs_on_mark = mark(value);
  }

  void load_schedule(const YAML::Node& value) {
    if (!non_empty_string(value, "schedule")) return;
    if (!is_template(value)) {
      if (auto problem = schedule_problem(value.Scalar()); !problem.empty())
        error(value, fmt::format("`schedule`: {}", problem),
              "5 fields (minute hour day-of-month month day-of-week), like \"0 3 * * *\", or @daily; "
              "an optional \"TZ=Europe/Berlin \" prefix names the time zone");
    }
    keep("schedule", value, value.Scalar());
  }

  void load_to(const YAML::Node& value) {
    if (!non_empty_string(value, "to")) return;
    if (!is_template(value)) {
      auto scheme = destination_scheme(value.Scalar());
      if (!scheme) error(value, fmt::format("`to`: {}", scheme.error().message()), kToHint);
      else job_.scheme = *scheme;
    }
    keep("to", value, value.Scalar());
  }

  // A map of options whose keys are all in `allowed`; calls `each` for each.
  template <typename Fn>
  bool load_options(const std::string& what, const YAML::Node& value, const std::vector<std::string>& allowed,
                    const Fn& each) {
    if (!value.IsMap()) {
      error(value.IsNull() ? key_mark_ : mark(value), fmt::format("`{}` must be a map of: {}", what,
                                                                 fmt::join(allowed, ", ")));
      return false;
    }
    for (const auto& kv : value) {
      const std::string& key = kv.first.Scalar();
      if (!contains(allowed, key)) error(kv.first, fmt::format("unknown key `{}` in `{}`", key, what),
                                         did_you_mean(key, allowed));
      else each(key, kv.second);
    }
    return true;
  }

  void load_s3(const YAML::Node& value) {
    nlohmann::json out = nlohmann::json::object();
    bool ok = load_options("s3", value, kS3Keys, [&](const std::string& key, const YAML::Node& v) {
      if (key == "path_style") {
        auto b = yaml_to_json(v);
        if (!b.is_boolean() && !is_template(v)) error(v, "`s3.path_style` must be true or false");
        out[key] = b;
        return;
      }
      if (!non_empty_string(v, fmt::format("s3.{}", key))) return;
      if (key == "endpoint" && !is_template(v) && v.Scalar().rfind("http://", 0) != 0 &&
          v.Scalar().rfind("https://", 0) != 0)
        error(v, fmt::format("`s3.endpoint`: `{}` is not an http:// or https:// URL", v.Scalar()),
              "for example `endpoint: https://s3.eu-central-1.amazonaws.com` or `http://127.0.0.1:9000`");
      out[key] = v.Scalar();
    });
    if (!ok) return;
    if (out.contains("access_key_id") != out.contains("secret_access_key"))
      error(value, "`s3` needs both `access_key_id` and `secret_access_key`, or neither",
            "without them keel hands on AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from its environment");
    keep("s3", value, out);
  }

  void load_sftp(const YAML::Node& value) {
    nlohmann::json out = nlohmann::json::object();
    bool ok = load_options("sftp", value, kSftpKeys, [&](const std::string& key, const YAML::Node& v) {
      if (!non_empty_string(v, fmt::format("sftp.{}", key))) return;
      if (!is_template(v) && v.Scalar().front() != '/')
        error(v, fmt::format("`sftp.{}`: `{}` is not an absolute path", key, v.Scalar()),
              "the path is read by the agent on the server that runs the job, like /root/.ssh/id_ed25519");
      out[key] = v.Scalar();
    });
    if (ok) keep("sftp", value, out);
  }

  void load_retention(const YAML::Node& value) {
    nlohmann::json out = nlohmann::json::object();
    bool ok = load_options("retention", value, kRetentionKeys, [&](const std::string& key, const YAML::Node& v) {
      auto n = yaml_to_json(v);
      if (!is_template(v) && (!n.is_number_integer() || n.get<long long>() < 0))
        error(v, fmt::format("`retention.{}` must be a whole number, 0 or more", key),
              "how many snapshots to keep, as restic's `forget --keep-*` counts them");
      out[key] = n;
    });
    // All counts 0 would mean "keep nothing"; the agent refuses that, and
    // restic refuses to forget without a policy. Leaving `retention` out
    // keeps every backup.
    bool keeps_nothing = !out.empty();
    for (auto& [key, n] : out.items()) keeps_nothing = keeps_nothing && n.is_number_integer() && n.get<long long>() == 0;
    if (ok && keeps_nothing) {
      error(value, "`retention` keeps nothing: every count is 0",
            "leave `retention` out to keep every backup, or set a count such as `keep_last: 7`");
      return;
    }
    if (ok) keep("retention", value, out);
  }

  template <typename Fn>
  void load_duration(const std::string& what, const YAML::Node& value, const Fn& on_ok) {
    if (!non_empty_string(value, what)) return;
    if (!is_template(value)) {
      auto d = timeutil::parse_duration(value.Scalar());
      if (!d) {
        error(value, fmt::format("`{}`: {}", what, d.error().message()));
        return;
      }
      if (d->count() <= 0) {
        error(value, fmt::format("`{}` must be longer than 0", what));
        return;
      }
    }
    on_ok(value.Scalar());
  }

  void load_drill(const YAML::Node& value) {
    nlohmann::json out = nlohmann::json::object();
    bool ok = load_options("drill", value, kDrillKeys, [&](const std::string& key, const YAML::Node& v) {
      if (key == "every") load_duration("drill.every", v, [&](std::string text) { out[key] = text; });
      else if (non_empty_string(v, "drill.verify")) out[key] = v.Scalar();
    });
    if (ok) keep("drill", value, out);
  }

  // `s3:` and `sftp:` belong to their kind of `to`.
  void check_destination_options() {
    if (job_.scheme.empty()) return;
    for (const char* option : {"s3", "sftp"}) {
      auto it = seen_.find(option);
      if (it != seen_.end() && job_.scheme != option)
        error(it->second, fmt::format("`{}:` is for `to: {}://...`, and this job goes to {}://", option, option,
                                      job_.scheme));
    }
  }

  const std::string& file_;
  Diagnostics& diags_;
  BackupBlock& job_;
  SourceMark key_mark_;
  std::map<std::string, SourceMark> seen_;  // keys given -> where
};

}  // namespace

bool valid_backup_name(std::string_view name) { return text::is_name(name, 61, "_", "_.-"); }

namespace {

// [a-z0-9][a-z0-9.-]{1,61}[a-z0-9]
bool valid_bucket(std::string_view name) {
  return name.size() >= 3 && name.size() <= 63 && text::matches_classes(name, "a-z0-9", "a-z0-9.-") &&
         text::in_class(name.back(), "a-z0-9");
}

// sftp://USER@HOST[:PORT]/DIR, with a directory of at least one character
// and no line break; the port's digits in `port` (empty when not given).
bool valid_sftp_url(std::string_view to, std::string& port) {
  if (!to.starts_with("sftp://")) return false;
  std::string_view rest = to.substr(7);
  const size_t at = rest.find_first_of("@/:");
  if (at == 0 || at == std::string_view::npos || rest[at] != '@') return false;
  rest.remove_prefix(at + 1);
  const size_t host_end = std::min(rest.find_first_of(":/@"), rest.size());
  if (host_end == 0 || (host_end < rest.size() && rest[host_end] == '@')) return false;
  rest.remove_prefix(host_end);
  if (!rest.empty() && rest.front() == ':') {
    const size_t digits = std::min(rest.find('/'), rest.size()) - 1;
    if (!text::is_digits(rest.substr(1, digits), 1, 5)) return false;
    port = std::string(rest.substr(1, digits));
    rest.remove_prefix(1 + digits);
  }
  return rest.size() >= 2 && rest.front() == '/' && rest.find_first_of("\r\n") == std::string_view::npos;
}

}  // namespace

Result<std::string> destination_scheme(const std::string& to) {
  const auto scheme_end = to.find("://");
  if (scheme_end == std::string::npos)
    return fail(ErrorCode::InvalidConfig, fmt::format("`{}` is not a URL", to));
  const std::string scheme = to.substr(0, scheme_end);
  const std::string rest = to.substr(scheme_end + 3);
  if (scheme == "file") {
    if (rest.empty() || rest.front() != '/')
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("`{}`: file:// takes an absolute directory, like file:///var/backups/keel", to));
    return scheme;
  }
  if (scheme == "s3") {
    const std::string name = rest.substr(0, rest.find('/'));
    if (!valid_bucket(name))
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("`{}`: `{}` is not a bucket name (3 to 63 lower-case letters, digits, `.` and `-`)",
                              to, name));
    return scheme;
  }
  if (scheme == "sftp") {
    std::string port;
    if (!valid_sftp_url(to, port))
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("`{}`: sftp:// needs a user, a host and a directory, like sftp://backup@host:22/srv/keel",
                              to));
    if (!port.empty() && (std::stoi(port) < 1 || std::stoi(port) > 65535))
      return fail(ErrorCode::InvalidConfig, fmt::format("`{}`: port {} is out of range 1-65535", to, port));
    return scheme;
  }
  return fail(ErrorCode::InvalidConfig, fmt::format("unsupported destination `{}://`", scheme));
}

std::string schedule_problem(const std::string& schedule) {
  auto parsed = cron::parse(schedule);
  return parsed ? std::string() : parsed.error().message();
}

void load_backups(const YAML::Node& node, const std::string& file, Stack& stack, Diagnostics& diags) {
  if (node.IsNull()) return;
  if (!node.IsMap()) {
    diags.error(yaml_mark(node, file), "`backups` must be a map of job name -> job");
    return;
  }
  std::set<std::string> seen;
  for (const auto& kv : node) {
    BackupBlock job;
    job.name = kv.first.Scalar();
    job.mark = yaml_mark(kv.first, file);
    if (!seen.insert(job.name).second) {
      diags.error(job.mark, fmt::format("backup `{}` is declared twice", job.name));
      continue;
    }
    if (!valid_backup_name(job.name))
      diags.error(job.mark, fmt::format("backup name `{}` must hold only letters, digits, `_`, `-` and `.` "
                                        "(at most 61)",
                                        job.name));
    JobLoader(file, diags, job).load(kv.second);
    stack.backups.push_back(std::move(job));
  }
}

}  // namespace keel::config
