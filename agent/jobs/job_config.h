#pragma once
// Backup jobs as the agent config declares them (`backups:` in agent.yaml):
//
//   backup_key_file: backup.key        # required with backups; mode 0600; base64 of 32 bytes
//   dr_worker: /usr/lib/keel/keel-dr   # optional; default: keel-dr beside keel-agent, else PATH
//   backups:
//     app-db:
//       source: { postgres: { host: 127.0.0.1, port: 5432, user: app, password: "...", database: app } }
//       schedule: "0 3 * * *"          # cron (core/cron.h); without it: on demand only
//       to: s3://bucket/prefix          # or file:///dir, sftp://user@host:port/dir
//       s3: { endpoint: ..., region: ..., path_style: true, access_key_id: ..., secret_access_key: ... }
//       retention: { keep_last: 3, keep_daily: 7 }
//       rpo: 24h
//       drill: { every: 7d, verify: "SELECT count(*) FROM users" }
//
// The parser checks everything the agent can know without I/O and keeps each
// job's definition as JSON, with defaults filled in, for keel-dr. That JSON
// holds passwords: it goes to the worker's stdin and nowhere else.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/cron.h"
#include "core/diagnostics.h"
#include "core/error.h"

namespace YAML {
class Node;
}

namespace keel::agent {

enum class SourceKind { Postgres, Redis, Files };
const char* to_string(SourceKind kind);  // "postgres", "redis", "files"

struct BackupJob {
  std::string name;
  SourceKind source = SourceKind::Files;
  std::string to;                                     // the destination URL as written
  std::optional<cron::Schedule> schedule;             // none: on demand only
  std::optional<std::chrono::milliseconds> rpo;       // none: the dr check ignores backup age
  bool drill = false;                                 // `drill:` is configured
  std::optional<std::chrono::milliseconds> drill_every;  // none: drills on demand only
  nlohmann::json definition;                          // for keel-dr; holds secrets
};

// Job names: [A-Za-z0-9_.-]+, short enough that `dr-NAME` is a check name.
bool valid_job_name(const std::string& name);
// The job's built-in check (check names allow no ':').
std::string dr_check_name(const std::string& job);

// Parses the `backups:` map. Problems go to `diags` with file:line:column;
// a job with any problem is left out. Relative paths are made absolute
// against `base_dir`.
std::vector<BackupJob> parse_backup_jobs(const YAML::Node& node, const std::string& file, const std::string& base_dir,
                                         Diagnostics& diags);

// The backup key file: not readable by group or others (it decrypts every
// backup), holding the key as base64 text of 32 bytes. Answers that text,
// trimmed. Errors never quote the file's content.
Result<std::string> read_backup_key(const std::string& path);

// Whether `target` may be the target of a restore of `job`: the rule of
// agent/dr/restore_target.h (a plain database name for postgres, a port of
// the job's own host for redis, an absolute directory for files; empty:
// the original). InvalidConfig, saying why, otherwise.
Status check_restore_target(const BackupJob& job, const std::string& target);

// A destination URL fit for logs and API answers: a password in its user
// info is dropped ("sftp://u:pw@h/d" -> "sftp://u@h/d").
std::string public_destination(const std::string& url);

}  // namespace keel::agent
