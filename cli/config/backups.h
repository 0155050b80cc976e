#pragma once
// The stack's `backups:` section (docs/stack.md#backups): disaster-recovery
// jobs that the agent of one server runs.
//
//   backups:
//     main:
//       source: databases.main          # caches.NAME, or { files: [/abs, ...] }
//       runs_on: servers.db             # default: the stack's only local server with an agent
//       schedule: "0 3 * * *"
//       to: file:///var/backups/keel    # s3://bucket/prefix, sftp://user@host:port/dir
//       retention: { keep_last: 3, keep_daily: 7 }
//       rpo: 24h
//       drill: { every: 7d, verify: "SELECT count(*) FROM users" }
//
// Loading (structure, every error with its line and column) is here; the
// validator (validate.cpp) resolves `source` and `runs_on` against the
// resources, adds the graph edges, and files each job under its server's
// `backups` attribute in the shape the agent's config takes.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cli/config/configuration.h"
#include "cli/config/stack.h"
#include "core/diagnostics.h"

namespace YAML {
class Node;
}

namespace keel::config {

// Loads the section into stack.backups, reporting every problem.
void load_backups(const YAML::Node& node, const std::string& file, Stack& stack, Diagnostics& diags);

// Job names: letters, digits, '_', '-', '.' (at most 61: the agent names
// the job's check `dr-NAME`): they are URL path segments of the agent's API.
bool valid_backup_name(std::string_view name);

// `to`: "file", "s3" or "sftp" for a destination the agent takes, else an
// error message saying what is wrong.
Result<std::string> destination_scheme(const std::string& to);

// A cron schedule as far as keel checks it (the agent parses it fully): an
// optional "TZ=Zone " prefix, then 5 fields or an @-form. Empty when fine,
// else what is wrong.
std::string schedule_problem(const std::string& schedule);

// The agent's `source` of a job reading `address` (an instance address) of
// `kind` ("databases" with engine postgres, "caches" with engine redis): its
// connection settings as references to the resource's attributes, those that
// `schema` offers.
nlohmann::json resource_source(const std::string& engine, const std::string& address,
                               const provider::KindSchema& schema);

// Whether any server runs backups, and handing those servers the stack's
// backup key (their `backup_key` attribute), which lives in state.
bool runs_backups(const Configuration& config);
void attach_backup_key(Configuration& config, const std::string& key_text);

// One entry of `backups:` as JSON Schema, for `keel schema`.
nlohmann::json backup_json_schema();

}  // namespace keel::config
