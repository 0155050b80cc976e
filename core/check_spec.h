#pragma once
// Health checks as written: the one definition shared by the stack's
// `checks:` entries (which add `on:`) and the agent's config file. The CLI
// validates them at `keel validate` time (values with "${...}" are checked
// again by the agent once resolved); the agent runs them.
//
//   web-http: { http: "http://127.0.0.1:8080/healthz", status: 200, interval: 10s }
//   api:      { graphql: "http://127.0.0.1:8080/graphql", query: "{ status }", expect: { "$.data.status": ok } }
//   pg:       { postgres: "host=127.0.0.1 port=5432 dbname=app", query: "SELECT 1" }
//   nagios:   { exec: ["/usr/lib/nagios/plugins/check_tcp", "-H", "127.0.0.1", "-p", "22"] }
//   root:     { disk: /, warning: 20, critical: 10 }      # free %
//
// Exactly one type key; its value is the check's target, or a map of the
// type's options (`disk: { path: /, warning: 20 }`).

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/diagnostics.h"
#include "core/error.h"
#include "core/json_expect.h"

namespace YAML {
class Node;
}

namespace keel::checks {

// ---- status ---------------------------------------------------------------

// Nagios plugin convention: exit 0 passing, 1 warning, 2 critical, 3 (or any
// other) unknown.
enum class CheckStatus { Passing, Warning, Critical, Unknown };

const char* to_string(CheckStatus status);  // "passing", "warning", "critical", "unknown"
std::optional<CheckStatus> status_from_string(std::string_view text);
CheckStatus status_from_exit_code(int code);
int exit_code(CheckStatus status);  // 0, 1, 2, 3
// Ordering for "worst of": passing < warning < unknown < critical.
int severity(CheckStatus status);
CheckStatus worst(CheckStatus a, CheckStatus b);

// ---- definitions ----------------------------------------------------------

// Dr is the agent's built-in check of a backup job (`dr-NAME`, one per job in
// its `backups:`): it is never written in a file, so check_type_names() and
// the parser leave it out.
enum class CheckType { Http, Tcp, Exec, Postgres, Redis, Disk, Memory, Load, Process, Graphql, Dr };
const char* to_string(CheckType type);
const std::vector<std::string>& check_type_names();  // the types a file may use

struct HttpCheck {
  std::string url;
  std::string method = "GET";
  std::vector<int> expect_status;      // empty: any 2xx passes (429 warns, as Consul does)
  std::string body_contains;           // empty: not checked
  std::map<std::string, std::string> headers;  // sent with the request
  // Response header name -> RE2 pattern that must match somewhere in its
  // value (a partial match, as grep and Nagios's check_http do); a missing
  // header fails. The values of a repeated header are joined with ", ".
  std::map<std::string, std::string> expect_headers;
  JsonExpectations expect_json;        // the body parsed as JSON (core/json_expect.h)
  int cert_days_warning = 14;          // https: warn when the certificate expires sooner
  bool tls_verify = true;
  std::string ca_file;                 // empty: the system's CAs
};
// A GraphQL query, POSTed as {"query": ..., "variables": ...}: passing on
// HTTP 200 with a JSON body that has `data` and no (non-empty) `errors`,
// and meets `expect` (paths from the answer's root: `$.data.status`). The
// request options are an http check's.
struct GraphqlCheck {
  std::string url;
  std::string query;
  nlohmann::json variables = nlohmann::json::object();  // empty: not sent
  JsonExpectations expect;
  std::map<std::string, std::string> headers;
  int cert_days_warning = 14;
  bool tls_verify = true;
  std::string ca_file;
};
struct TcpCheck {
  std::string host;
  int port = 0;
};
struct ExecCheck {
  std::vector<std::string> argv;       // argv[0] searched on PATH; never through a shell
};
struct PostgresCheck {
  std::string conninfo;                // libpq keyword/value string or postgresql:// URI
  std::string query = "SELECT 1";
};
struct RedisCheck {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string username, password;
  std::string role;                    // "master" or "replica"/"slave"; empty: any
};
struct DiskCheck {
  std::string path = "/";
  double warning = 20, critical = 10;  // free % at or below which the check warns / fails
};
struct MemoryCheck {
  double warning = 10, critical = 5;   // available % at or below which it warns / fails
};
struct LoadCheck {
  double warning = 2, critical = 4;    // 1-minute load average (per CPU when per_cpu)
  bool per_cpu = true;
};
struct ProcessCheck {
  std::string name;                    // matches /proc/PID/comm, or argv[0]'s base name
  int min = 1;                         // fewer running: critical
  int max = -1;                        // more running: warning; -1 no limit
};

struct DrCheck {
  std::string job;                     // the backup job whose run history it judges
};

using CheckParams = std::variant<HttpCheck, TcpCheck, ExecCheck, PostgresCheck, RedisCheck, DiskCheck,
                                 MemoryCheck, LoadCheck, ProcessCheck, GraphqlCheck, DrCheck>;

struct CheckSpec {
  std::string name;
  CheckType type = CheckType::Tcp;
  std::chrono::milliseconds interval{10'000};
  std::chrono::milliseconds timeout{10'000};  // default: 10s, or the interval if shorter
  int success_before_passing = 0;   // consecutive passing results needed (0 and 1: the first)
  int failures_before_critical = 0; // consecutive failing results needed (0 and 1: the first)
  CheckParams params;

  // Canonical JSON with every default filled in. Two specs are the same
  // check when their JSON is equal (the agent keeps a check's state across a
  // reload when it is).
  nlohmann::json to_json() const;
};

struct ParseOptions {
  std::string file;                 // for marks in diagnostics
  // Stack files: a string holding "${" is not type-checked here (the agent
  // checks it once it is resolved).
  bool allow_templates = false;
  std::vector<std::string> extra_keys;  // keys the caller handles ("on")
};

// Parses one check (a YAML map). Every problem goes to `diags` with its
// file:line:column; nullopt when there was any.
std::optional<CheckSpec> parse_check(const std::string& name, const YAML::Node& node, const ParseOptions& options,
                                     Diagnostics& diags);

// The same from JSON (API bodies, configs the CLI renders). The error
// message lists every problem.
Result<CheckSpec> check_from_json(const std::string& name, const nlohmann::json& body);

// Check names: letters, digits, '_', '-', '.'; at most 64 characters.
bool valid_check_name(std::string_view name);

}  // namespace keel::checks
