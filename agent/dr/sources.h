#pragma once
// What a backup reads and a restore writes: PostgreSQL (pg_dump's custom
// format, pg_restore), Redis (an RDB snapshot; restored key by key), files
// (a tar archive of paths; restored into a directory). Passwords go to the
// tools through their environment (PGPASSWORD, REDISCLI_AUTH), never argv.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace keel::dr {

struct PostgresSource {
  std::string host = "127.0.0.1";
  int port = 5432;
  std::string user, password, database;
};
struct RedisSource {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;
};
struct FilesSource {
  std::vector<std::string> paths;  // absolute
};
using Source = std::variant<PostgresSource, RedisSource, FilesSource>;

// {"postgres": {...}} | {"redis": {...}} | {"files": [...]}, as the agent's
// config has it.
Result<Source> source_from_json(const nlohmann::json& json);
std::string source_type(const Source& source);  // "postgres", "redis", "files"

// The dump, read as a stream.
class DumpStream {
 public:
  virtual ~DumpStream() = default;
  virtual Result<std::size_t> read(char* buffer, std::size_t max) = 0;  // 0 at the end
  virtual Status finish() = 0;  // after the end: did the dump succeed?
};
Result<std::unique_ptr<DumpStream>> start_dump(const Source& source);

// Where a restore writes: the dump's bytes in, then finish().
class RestoreSink {
 public:
  virtual ~RestoreSink() = default;  // gives up (and cleans up) if finish() did not run
  virtual Status write(std::string_view raw) = 0;
  virtual Status finish() = 0;
  virtual std::string target() const = 0;  // for messages: "database app2", "redis 127.0.0.1:6380", "/srv/restore"
};

// Whether `target` is something a restore of `source` may write to
// (restore_target.h): InvalidConfig, saying why, otherwise.
Status check_restore_target(const Source& source, const std::string& target);

// A restore into `target` (empty: the original): a database name, a
// "host:port" Redis instance, or a directory (required for files).
// The target is checked with check_restore_target() first.
// `work_dir` holds temporary files (Redis loads an RDB from a file).
Result<std::unique_ptr<RestoreSink>> start_restore(const Source& source, const std::string& target,
                                                   const std::string& work_dir);

// A restore drill's throwaway target: a new database, a private Redis
// server, or a new directory, removed by the destructor.
class ScratchTarget {
 public:
  virtual ~ScratchTarget() = default;
  virtual RestoreSink& sink() = 0;
  // Runs the drill's `verify` against the restored data. Postgres: a SQL
  // query; Redis: a command ("DBSIZE"); files: a shell command run in the
  // directory. Failure: the query or command fails, or its first value is
  // empty, 0, false or nil.
  struct Verdict {
    bool passed = false;
    std::string output;
  };
  virtual Result<Verdict> verify(const std::string& verify) = 0;
};
Result<std::unique_ptr<ScratchTarget>> make_scratch_target(const Source& source, const std::string& job,
                                                           const std::string& work_dir);

// Shared by the verifiers: is this first value a "no"?
bool value_means_failure(std::string_view value);

}  // namespace keel::dr
