#pragma once
// Shared parts of the local provider: where a resource's files live, its
// records, pid files, ports, waiting with a deadline, finding server binaries,
// and the Server interface that each engine (postgres, redis, memcached)
// implements.
//
// Layout: every resource owns WORK_DIR/local/<kind>/<name>/, and that absolute
// path is its id. In it:
//   secrets.json  the secret attributes (mode 0600), so that `find` can return
//                 full attributes when adopting after a crash
//   meta.json     project, address, kind and the non-secret facts (engine,
//                 port, ...); written last by create, so a directory without
//                 a complete meta.json is the leftover of a crashed create
//
// Nothing here keeps global state: the port pool lives in the Context that
// the provider owns, and every function is safe to call from several threads
// on different resources.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/process.h"
#include "core/provider.h"

namespace keel::providers::local {

using Json = nlohmann::json;

// Ports handed out by one provider. free_local_port() only says a port was
// free a moment ago; two concurrent creates could be given the same one, so
// the pool never hands a port out twice.
class PortPool {
 public:
  Result<int> take() const;

 private:
  mutable std::mutex mutex_;
  mutable std::set<int> taken_;
};

// What every operation needs; set once by configure.
struct Context {
  std::string work_dir;  // absolute path of the stack's .keel directory
  std::string project;
  PortPool ports;
};

// One resource as recorded in its directory.
struct Instance {
  std::string dir;  // also the resource's id
  std::string kind;
  provider::ResourceTags tags;
  Json facts = Json::object();    // non-secret, kept in meta.json: engine, port, ...
  Json secrets = Json::object();  // kept in secrets.json (0600): password

  int port() const;
};

// A server program behind `databases` and `caches` resources. The provider's
// shared code (local_provider.cpp) handles directories, records, ports and the
// `running` flag; a Server knows how to set up, start and stop its program.
// Implementations hold no state: one object serves every resource, from
// several threads at once.
class Server {
 public:
  virtual ~Server() = default;
  // Checks the user's settings and fills the facts of a new instance
  // (everything but the port). Finds the binaries: a missing one is an
  // Unavailable error naming the Debian package.
  virtual Status plan(const provider::CreateRequest& request, Instance& instance) const = 0;
  // One-time setup in the new, empty resource directory (data directories,
  // initdb, the generated password).
  virtual Status init(Instance& instance) const = 0;
  // Writes the configuration for instance.port() and starts the server,
  // returning once it answers. Fails with ErrorCode::Conflict exactly when
  // another process holds the port, so the caller may retry on another.
  virtual Status start(const Instance& instance) const = 0;
  // Runs once, after the very first start (e.g. creating the database).
  virtual Status after_first_start(const Instance&) const { return {}; }
  // Stops whatever of this program runs from `dir`, tolerating "not
  // running". Works from the directory alone (no meta.json needed), so that
  // the leftovers of a crashed create can be cleaned up too.
  virtual Status stop(const std::string& dir) const = 0;
  // Is the recorded process alive and does its port answer?
  virtual bool running(const Instance& instance) const = 0;
  // Directories outside `dir` that belong to the resource (removed with it).
  virtual std::vector<std::string> external_dirs(const std::string&) const { return {}; }
  // Every attribute except `running`, secrets included.
  virtual provider::Attributes attributes(const Instance& instance) const = 0;
};

// --- names and places ---

// The resource's name from its address: "databases.main" -> "main",
// "databases.db[2]" -> "db" + index_separator + "2". Characters that do not
// belong in a file or database name become '_'.
Result<std::string> resource_name(const std::string& address, char index_separator);
// WORK_DIR/local/KIND/NAME for the resource with that address, once
// check_resource_dir has passed for it.
Result<std::string> resource_dir(const Context& context, const std::string& kind, const std::string& address);
// WORK_DIR (when it exists) is a private directory of keel's user
// (files::check_private_dir), and no directory below it on the way to `dir`
// is a link or another user's: a repository can commit `.keel/local` as a
// link, and creating, writing or removing through it would reach elsewhere.
Status check_resource_dir(const Context& context, const std::string& dir);
std::string join(const std::string& dir, const std::string& name);

// --- records ---

// The instance recorded in `dir`; nullopt when meta.json or secrets.json is
// missing or incomplete (the leftover of a crashed create, or no resource).
std::optional<Instance> load_instance(const std::string& dir);
// Writes secrets.json, then meta.json, each atomically.
Status save_instance(const Instance& instance);

// Before a create: refuses a directory that holds a complete resource
// (Conflict, with what to do), and wipes the leftover of a crashed create
// after calling `stop_leftovers` to end any server still running from it.
Status clear_for_create(const std::string& dir, const std::string& kind, const provider::ResourceTags& tags,
                        const std::function<void(const std::string& dir)>& stop_leftovers);

// Refuses to delete a directory that is neither under WORK_DIR/local/KIND
// (reached through no link) nor a recorded resource of that kind: an id from
// a hand-edited state must never make remove wipe an unrelated tree.
Status check_removable(const Context& context, const std::string& kind, const std::string& dir);

// Looks a resource up for FindRequest: by id (import) when set, else by the
// address's directory, whose record must name the same project and address.
std::optional<Instance> find_instance(const Context& context, const provider::FindRequest& request);

// --- settings from the user's config ---

Result<std::string> string_setting(const Json& config, const std::string& key, const std::string& fallback);
Result<bool> bool_setting(const Json& config, const std::string& key, bool fallback);
// The `port` setting; nullopt when unset (the provider picks one).
Result<std::optional<int>> port_setting(const Json& config);

// --- processes ---

// Where a server program is, or an Unavailable error such as
// "local caches need Redis: redis-server not found; install the Debian
// package redis-server (apt-get install redis-server)".
Result<std::string> find_binary(const std::string& program, const std::string& needed_by,
                                const std::string& package);
std::string missing_package_message(const std::string& needed_by, const std::string& what,
                                    const std::string& package);

// Options for running `argv` as `account` (nullopt: as ourselves). From "/",
// because the account may not be able to read our working directory, and with
// its own HOME, so that clients do not look for dotfiles in root's home.
process::Options command(std::vector<std::string> argv, const std::optional<process::UserIds>& account,
                         std::chrono::milliseconds timeout);
Status chown_to(const std::string& path, const process::UserIds& account);

// The pid in the first line of a pid file; nullopt when missing, garbled, a
// link or not a regular file (pid files may sit in a server account's
// directory).
std::optional<long> read_pid_file(const std::string& path);
// Live (non-zombie) processes whose command line contains `part`.
std::vector<long> processes_matching(const std::string& part);
// SIGKILLs every process whose command line names one of `paths` (what an
// interrupted create left working there: an orphaned initdb, a half-started
// server) and waits, with a deadline, until they are gone.
void kill_processes_using(const std::vector<std::string>& paths);
// Does process `pid` hold a listening TCP socket on `port`? Tells our server
// apart from another process that took the port meanwhile.
bool listens_on(long pid, int port);
// Sends `signal` and waits until the process is gone; SIGKILL after `timeout`.
// A process that is not alive (or is not `name` any more) is fine.
Status stop_process(long pid, const std::string& name, int signal, std::chrono::milliseconds timeout);

// Polls `ready` until it answers true or fails, or `timeout` passes (then a
// Timeout error naming `what`). Polls quickly at first, then every 100 ms.
Status wait_for(std::chrono::milliseconds timeout, const std::function<Result<bool>()>& ready,
                const std::string& what);

// --- logs ---

// Size of a file, 0 when missing: a start remembers where the log ended, so
// that it only looks at what this start wrote.
std::size_t file_size(const std::string& path);
// The file's content from `offset` on, at most its last 256 KiB ("" when
// missing, a link or not a regular file).
std::string read_from(const std::string& path, std::size_t offset);
// The last `n` lines of `text`, for error messages.
std::string last_lines(const std::string& text, std::size_t n);

}  // namespace keel::providers::local
