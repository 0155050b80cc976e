#include "agent/jobs/job_config.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include "agent/dr/restore_target.h"
#include "core/check_spec.h"
#include "core/crypto.h"
#include "core/files.h"
#include "core/text.h"
#include "core/time.h"

namespace keel::agent {

namespace {

using Json = nlohmann::json;

const std::vector<std::string> kJobKeys = {"source", "schedule", "to", "s3", "sftp", "retention", "rpo", "drill"};
const std::vector<std::string> kSourceKinds = {"postgres", "redis", "files"};
const std::vector<std::string> kPostgresKeys = {"host", "port", "user", "password", "database"};
const std::vector<std::string> kRedisKeys = {"host", "port", "password"};
const std::vector<std::string> kS3Keys = {"endpoint", "region", "path_style", "access_key_id", "secret_access_key"};
const std::vector<std::string> kSftpKeys = {"key", "known_hosts"};
const std::vector<std::string> kRetentionKeys = {"keep_last",   "keep_hourly",  "keep_daily",
                                                 "keep_weekly", "keep_monthly", "keep_yearly"};
const std::vector<std::string> kDrillKeys = {"every", "verify"};

bool contains(const std::vector<std::string>& list, const std::string& word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

std::string scheme_of(const std::string& url) {
  auto colon = url.find("://");
  return colon == std::string::npos ? std::string() : url.substr(0, colon);
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// The destination URL's shape, by hand (no std::regex on input):
//   file:///PATH
//   s3://BUCKET[/PREFIX]                     BUCKET without `/`, `@`, `:`
//   sftp://[USER@]HOST[:PORT][/PATH]         USER without `/`, `@`; HOST without `/`, `@`, `:`
bool well_formed_url(const std::string& scheme, std::string_view url) {
  if (has_control(url)) return false;
  std::string_view rest = url.substr(scheme.size() + 3);
  std::string_view authority = rest.substr(0, rest.find('/'));
  auto plain = [](std::string_view part, std::string_view banned) {
    return !part.empty() && part.find_first_of(banned) == std::string_view::npos;
  };
  if (scheme == "file") return authority.empty() && rest.starts_with("/");
  if (scheme == "s3") return plain(authority, "@:");
  if (scheme != "sftp") return false;
  if (auto at = authority.find('@'); at != std::string_view::npos) {
    if (!plain(authority.substr(0, at), "@")) return false;
    authority.remove_prefix(at + 1);
  }
  auto colon = authority.find(':');
  if (colon != std::string_view::npos) {
    std::string_view port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), text::is_digit)) return false;
    authority = authority.substr(0, colon);
  }
  return plain(authority, "@:");
}

// Reads one job. Every reader reports its own problems and counts them, so
// that a job with any problem is dropped whole.
class JobParser {
 public:
  JobParser(std::string name, const std::string& file, const std::string& base_dir, Diagnostics& diags)
      : name_(std::move(name)), file_(file), base_dir_(base_dir), diags_(diags) {}

  std::optional<BackupJob> parse(const YAML::Node& key, const YAML::Node& node) {
    if (!valid_job_name(name_))
      error(key, fmt::format("backup name `{}` must hold only letters, digits, `_`, `-` and `.` (at most 61, not `.` or `..`)", name_));
    if (!node.IsMap()) {
      error(node, fmt::format("backup `{}` must be a map with `source` and `to`", name_));
      return std::nullopt;
    }
    BackupJob job;
    job.name = name_;
    job.definition = Json{{"name", name_}};
    std::optional<YAML::Node> s3, sftp;  // checked against `to` once it is known
    for (const auto& kv : node) {
      const std::string& k = kv.first.Scalar();
      if (k == "source") {
        read_source(kv.second, job);
      } else if (k == "schedule") {
        read_schedule(kv.second, job);
      } else if (k == "to") {
        read_to(kv.second, job);
      } else if (k == "s3") {
        s3 = kv.second;
        job.definition["s3"] = read_s3(kv.second);
      } else if (k == "sftp") {
        sftp = kv.second;
        job.definition["sftp"] = read_sftp(kv.second);
      } else if (k == "retention") {
        read_retention(kv.second, job);
      } else if (k == "rpo") {
        job.rpo = positive_duration(kv.second, "rpo");
        if (job.rpo) job.definition["rpo"] = timeutil::format_duration(*job.rpo);
      } else if (k == "drill") {
        read_drill(kv.second, job);
      } else {
        error(kv.first, fmt::format("unknown key `{}` in backup `{}`", k, name_), did_you_mean(k, kJobKeys));
      }
    }
    if (!job.definition.contains("source"))
      error(node, fmt::format("backup `{}` has no `source`", name_), "add one of: postgres, redis, files");
    if (!job.definition.contains("to"))
      error(node, fmt::format("backup `{}` has no `to`", name_), "for example to: file:///var/backups/keel");
    const std::string scheme = scheme_of(job.to);
    if (s3 && scheme != "s3" && !job.to.empty())
      error(*s3, fmt::format("`s3` applies to an s3:// destination; backup `{}` goes to {}://", name_, scheme));
    if (sftp && scheme != "sftp" && !job.to.empty())
      error(*sftp, fmt::format("`sftp` applies to an sftp:// destination; backup `{}` goes to {}://", name_, scheme));
    if (errors_ > 0) return std::nullopt;
    return job;
  }

 private:
  SourceMark mark(const YAML::Node& node) const {
    auto m = node.Mark();
    if (m.line < 0) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
  }

  void error(const YAML::Node& node, std::string summary, std::string hint = {}) {
    ++errors_;
    diags_.error(mark(node), std::move(summary), std::move(hint));
  }

  // `where` names the key in messages, e.g. "source.postgres.host".
  std::string where(const std::string& key) const { return fmt::format("backups.{}.{}", name_, key); }

  bool is_map(const YAML::Node& node, const std::string& key, const std::string& what) {
    if (node.IsMap()) return true;
    error(node, fmt::format("`{}` must be a map {}", where(key), what));
    return false;
  }

  std::string string(const YAML::Node& node, const std::string& key) {
    if (node.IsScalar() && !node.Scalar().empty()) return node.Scalar();
    error(node, fmt::format("`{}` must be a non-empty string", where(key)));
    return {};
  }

  std::string path(const YAML::Node& node, const std::string& key) {
    std::string p = string(node, key);
    return p.empty() ? p : files::absolute(files::expand_home(p), base_dir_);
  }

  std::optional<long long> integer(const YAML::Node& node, const std::string& key, long long min, long long max) {
    try {
      long long value = node.as<long long>();
      if (value >= min && value <= max) return value;
    } catch (const YAML::Exception&) {
    }
    error(node, fmt::format("`{}` must be a whole number from {} to {}", where(key), min, max));
    return std::nullopt;
  }

  std::optional<bool> boolean(const YAML::Node& node, const std::string& key) {
    try {
      return node.as<bool>();
    } catch (const YAML::Exception&) {
      error(node, fmt::format("`{}` must be true or false", where(key)));
      return std::nullopt;
    }
  }

  std::optional<std::chrono::milliseconds> positive_duration(const YAML::Node& node, const std::string& key) {
    auto d = timeutil::parse_duration(node.IsScalar() ? node.Scalar() : "");
    if (!d) {
      error(node, fmt::format("`{}`: {}", where(key), d.error().message()));
      return std::nullopt;
    }
    if (d->count() <= 0) {
      error(node, fmt::format("`{}` must be longer than zero", where(key)));
      return std::nullopt;
    }
    return *d;
  }

  void unknown_key(const YAML::Node& key_node, const std::string& in, const std::vector<std::string>& allowed) {
    error(key_node, fmt::format("unknown key `{}` in `{}`", key_node.Scalar(), where(in)),
          did_you_mean(key_node.Scalar(), allowed));
  }

  void read_source(const YAML::Node& node, BackupJob& job) {
    if (!is_map(node, "source", "with one of: postgres, redis, files")) return;
    std::string kind;
    for (const auto& kv : node) {
      const std::string& k = kv.first.Scalar();
      if (!contains(kSourceKinds, k)) {
        unknown_key(kv.first, "source", kSourceKinds);
        continue;
      }
      if (!kind.empty()) {
        error(kv.first, fmt::format("`{}` has two sources, `{}` and `{}`", where("source"), kind, k),
              "a backup job has one source; split it into two jobs");
        continue;
      }
      kind = k;
      Json params;
      if (k == "postgres") job.source = SourceKind::Postgres, params = read_postgres(kv.second);
      else if (k == "redis") job.source = SourceKind::Redis, params = read_redis(kv.second);
      else job.source = SourceKind::Files, params = read_files(kv.second);
      job.definition["source"] = Json{{k, params}};
    }
    if (kind.empty()) error(node, fmt::format("`{}` is empty", where("source")), "add one of: postgres, redis, files");
  }

  // host and port default to the local server, as the checks' do.
  Json read_server(const YAML::Node& node, const std::string& kind, const std::vector<std::string>& keys,
                   int default_port) {
    Json out = {{"host", "127.0.0.1"}, {"port", default_port}};
    if (!is_map(node, "source." + kind, fmt::format("({})", fmt::join(keys, ", ")))) return out;
    for (const auto& kv : node) {
      const std::string& k = kv.first.Scalar();
      const std::string key = fmt::format("source.{}.{}", kind, k);
      if (!contains(keys, k)) unknown_key(kv.first, "source." + kind, keys);
      else if (k == "port") out[k] = integer(kv.second, key, 1, 65535).value_or(default_port);
      else out[k] = string(kv.second, key);
    }
    return out;
  }

  Json read_postgres(const YAML::Node& node) {
    Json out = read_server(node, "postgres", kPostgresKeys, 5432);
    for (const char* required : {"user", "database"})
      if (node.IsMap() && !out.contains(required))
        error(node, fmt::format("`{}` needs `{}`", where("source.postgres"), required));
    return out;
  }

  Json read_redis(const YAML::Node& node) { return read_server(node, "redis", kRedisKeys, 6379); }

  Json read_files(const YAML::Node& node) {
    Json out = Json::array();
    if (!node.IsSequence() || node.size() == 0) {
      error(node, fmt::format("`{}` must be a list of paths", where("source.files")));
      return out;
    }
    for (const auto& item : node) out.push_back(path(item, "source.files[]"));
    return out;
  }

  void read_schedule(const YAML::Node& node, BackupJob& job) {
    std::string text = string(node, "schedule");
    if (text.empty()) return;
    auto schedule = cron::parse(text);
    if (!schedule) {
      error(node, fmt::format("`{}`: {}", where("schedule"), schedule.error().message()),
            "five fields: minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\"");
      return;
    }
    job.schedule = std::move(*schedule);
    job.definition["schedule"] = text;
  }

  // The URL is not quoted in messages: it may hold credentials.
  void read_to(const YAML::Node& node, BackupJob& job) {
    std::string url = string(node, "to");
    if (url.empty()) return;
    const std::string scheme = scheme_of(url);
    bool ok = (scheme == "file" || scheme == "s3" || scheme == "sftp") && well_formed_url(scheme, url);
    if (!ok) {
      error(node,
            scheme == "file" || scheme == "s3" || scheme == "sftp"
                ? fmt::format("`{}` is not a well-formed {}:// URL", where("to"), scheme)
                : fmt::format("`{}` must be a file://, s3:// or sftp:// URL", where("to")),
            "file:///var/backups/keel, s3://bucket/prefix or sftp://user@host:22/dir");
      return;
    }
    job.to = url;
    job.definition["to"] = url;
  }

  Json read_s3(const YAML::Node& node) {
    Json out = Json::object();
    if (!is_map(node, "s3", fmt::format("({})", fmt::join(kS3Keys, ", ")))) return out;
    for (const auto& kv : node) {
      const std::string& k = kv.first.Scalar();
      if (!contains(kS3Keys, k)) unknown_key(kv.first, "s3", kS3Keys);
      else if (k == "path_style") out[k] = boolean(kv.second, "s3.path_style").value_or(false);
      else out[k] = string(kv.second, "s3." + k);
    }
    if (out.contains("access_key_id") != out.contains("secret_access_key"))
      error(node, fmt::format("`{}` needs both `access_key_id` and `secret_access_key`, or neither", where("s3")));
    return out;
  }

  Json read_sftp(const YAML::Node& node) {
    Json out = Json::object();
    if (!is_map(node, "sftp", "(key, known_hosts)")) return out;
    for (const auto& kv : node) {
      const std::string& k = kv.first.Scalar();
      if (!contains(kSftpKeys, k)) unknown_key(kv.first, "sftp", kSftpKeys);
      else out[k] = path(kv.second, "sftp." + k);
    }
    return out;
  }

  // Only the keys given go to the worker; a policy that keeps nothing is
  // refused rather than read as "delete every backup".
  void read_retention(const YAML::Node& node, BackupJob& job) {
    if (!is_map(node, "retention", fmt::format("({})", fmt::join(kRetentionKeys, ", ")))) return;
    Json out = Json::object();
    long long total = 0;
    for (const auto& kv : node) {
      const std::string& k = kv.first.Scalar();
      if (!contains(kRetentionKeys, k)) {
        unknown_key(kv.first, "retention", kRetentionKeys);
        continue;
      }
      auto n = integer(kv.second, "retention." + k, 0, 1'000'000);
      if (!n) continue;
      out[k] = *n;
      total += *n;
    }
    if (total == 0) {
      error(node, fmt::format("`{}` keeps no backup", where("retention")),
            "set keep_last (or keep_daily, ...) above 0, or leave `retention` out to keep every backup");
      return;
    }
    job.definition["retention"] = out;
  }

  void read_drill(const YAML::Node& node, BackupJob& job) {
    Json out = Json::object();
    job.drill = true;
    if (node.IsNull()) {  // `drill:` alone: on demand, no verify query
      job.definition["drill"] = out;
      return;
    }
    if (!is_map(node, "drill", "(every, verify)")) return;
    for (const auto& kv : node) {
      const std::string& k = kv.first.Scalar();
      if (k == "every") {
        job.drill_every = positive_duration(kv.second, "drill.every");
        if (job.drill_every) out[k] = timeutil::format_duration(*job.drill_every);
      } else if (k == "verify") {
        out[k] = string(kv.second, "drill.verify");
      } else {
        unknown_key(kv.first, "drill", kDrillKeys);
      }
    }
    job.definition["drill"] = out;
  }

  std::string name_;
  const std::string& file_;
  const std::string& base_dir_;
  Diagnostics& diags_;
  int errors_ = 0;
};

}  // namespace

const char* to_string(SourceKind kind) {
  switch (kind) {
    case SourceKind::Postgres: return "postgres";
    case SourceKind::Redis: return "redis";
    case SourceKind::Files: return "files";
  }
  return "?";
}

bool valid_job_name(const std::string& name) {
  // A folder of the destination: never `.` or `..`.
  return text::is_name(name, 61, "_.-", "_.-") && name != "." && name != "..";
}

std::string dr_check_name(const std::string& job) { return fmt::format("dr-{}", job); }

std::vector<BackupJob> parse_backup_jobs(const YAML::Node& node, const std::string& file, const std::string& base_dir,
                                         Diagnostics& diags) {
  std::vector<BackupJob> jobs;
  if (node.IsNull()) return jobs;
  if (!node.IsMap()) {
    auto m = node.Mark();
    diags.error({file, m.line + 1, m.column + 1}, "`backups` must be a map of job name to definition");
    return jobs;
  }
  std::set<std::string> seen;
  for (const auto& kv : node) {
    const std::string& name = kv.first.Scalar();
    if (!seen.insert(name).second) {
      auto m = kv.first.Mark();
      diags.error({file, m.line + 1, m.column + 1}, fmt::format("backup `{}` is defined twice", name));
      continue;
    }
    JobParser parser(name, file, base_dir, diags);
    if (auto job = parser.parse(kv.first, kv.second)) jobs.push_back(std::move(*job));
  }
  return jobs;
}

Result<std::string> read_backup_key(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0077) != 0)
    return fail(ErrorCode::PermissionDenied,
                fmt::format("backup key file {} is readable by others (mode {:o}); chmod 600 it", path,
                            st.st_mode & 0777));
  auto text = files::read_file(path);
  if (!text) return fail(text.error().with_context("backup key file"));
  std::string key = *text;
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  key.erase(key.begin(), std::find_if(key.begin(), key.end(), not_space));
  key.erase(std::find_if(key.rbegin(), key.rend(), not_space).base(), key.end());
  auto raw = crypto::base64_decode(key);
  if (key.size() != 44 || !raw || raw->size() != crypto::kKeySize)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("backup key file {} must hold a key of 32 bytes as base64 (44 characters)", path));
  return key;
}

Status check_restore_target(const BackupJob& job, const std::string& target) {
  const char* kind = to_string(job.source);
  std::string host;
  if (auto source = job.definition.find("source"); source != job.definition.end() && source->is_object())
    if (auto params = source->find(kind); params != source->end() && params->is_object())
      if (auto h = params->find("host"); h != params->end() && h->is_string()) host = h->get<std::string>();
  return dr::check_restore_target(kind, host, target);
}

std::string public_destination(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const size_t host_start = scheme_end + 3;
  const size_t path_start = std::min(url.find('/', host_start), url.size());
  const size_t at = url.rfind('@', path_start);
  if (at == std::string::npos || at < host_start) return url;
  const size_t colon = url.find(':', host_start);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon) + url.substr(at);
}

}  // namespace keel::agent
