#pragma once
// One SSH connection to a host (libssh 0.10): connect with host-key
// verification, authenticate with a key file or ssh-agent, run commands with
// streamed output, upload files over SFTP, and forward a local port to an
// address on the host (its 127.0.0.1, where keel-agent listens).
//
// Host keys (what OpenSSH users expect):
//   strict      the key must already be in the known_hosts file (default)
//   accept-new  an unknown host's key is added to the file; a known one must
//               still match
// A key that differs from the recorded one is always an error that says so,
// with both fingerprints' file and the line to remove.
//
// Authentication: the `key` file when given (never sent anywhere: only its
// signature is), else the keys ssh-agent ($SSH_AUTH_SOCK) offers, else
// ~/.ssh/id_ed25519, id_ecdsa, id_rsa.
//
// Jump host: `jump` is reached first and the target through a direct-tcpip
// channel on it (ProxyJump); the jump host's key is verified the same way.
//
// Threads: a Session may be used from one thread at a time (libssh sessions
// are not thread-safe); a Forward runs on its own connection and thread.
//
// Errors: Unavailable (cannot connect, host down), PermissionDenied (key
// refused), Conflict (host key changed), NotFound (unknown host key under
// strict; a missing local file), Timeout, Transient (connection lost
// mid-command), Internal. Messages name the host as user@host:port.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/error.h"

namespace keel::ssh {

enum class HostKeyPolicy { Strict, AcceptNew };
const char* to_string(HostKeyPolicy policy);  // "strict" | "accept-new"
std::optional<HostKeyPolicy> host_key_policy_from_string(const std::string& name);

// Where and how to connect.
struct Target {
  std::string host;
  int port = 22;
  std::string user;         // empty: the local user's name
  std::string key_file;     // empty: ssh-agent, then ~/.ssh/id_*; "~/" is expanded
  std::string known_hosts;  // empty: ~/.ssh/known_hosts; "~/" is expanded
  HostKeyPolicy host_key_policy = HostKeyPolicy::Strict;
  std::shared_ptr<const Target> jump;  // reach the host through this one
  std::chrono::seconds timeout{15};    // connect, and each read or write

  std::string describe() const;        // "user@host:port" (and " via JUMP")
  std::string effective_user() const;  // `user`, or the local user's name when empty
};

// "user@host:port", "host:port", "user@host", "host" (port 22) -> Target,
// for jump hosts; key and known_hosts come from `base`.
Result<Target> parse_destination(const std::string& text, const Target& base);

// Output of a command, as it arrives.
enum class Stream { Stdout, Stderr };
using OutputFn = std::function<void(Stream stream, std::string_view data)>;

struct CommandResult {
  int exit_status = -1;  // the command's; 255 and a signal name when killed
  std::string output;    // stdout and stderr as they interleaved (run() only)
};

class Forward;

// An open connection. Session::connect is defined twice: with libssh
// directly (cli/ssh/connect.cpp, for the tests) and, in keel, through the
// module keel-ssh.so loaded on the first connection (cli/ssh/connect_lazy.cpp),
// so that commands that reach no host never load libssh.
class Session {
 public:
  // Connects, verifies the host key and authenticates.
  static Result<std::unique_ptr<Session>> connect(const Target& target);
  virtual ~Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Target& target() const { return target_; }

  // Runs `command` with /bin/sh on the host, `input` on its stdin (then
  // EOF), calling `on_output` for each chunk; returns the exit status. A
  // non-zero status is a result, not an error. `timeout` zero: none.
  virtual Result<int> exec(const std::string& command, const OutputFn& on_output, std::string_view input = {},
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) = 0;
  // exec() collecting stdout and stderr together.
  Result<CommandResult> run(const std::string& command, std::string_view input = {},
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  // Writes `content` to `remote_path` with `mode`, atomically: a temporary
  // file beside it, chmod, then renamed over it. The directory must exist.
  virtual Status write_file(const std::string& remote_path, std::string_view content, unsigned mode) = 0;
  // Uploads a local file the same way, streamed.
  virtual Status upload(const std::string& local_path, const std::string& remote_path, unsigned mode) = 0;

  // Listens on 127.0.0.1:(a free port) here and forwards each connection to
  // remote_host:remote_port as the host sees it, over a second connection
  // to the same target (so that commands on this one are not held up).
  virtual Result<std::unique_ptr<Forward>> forward(const std::string& remote_host, int remote_port) = 0;

 protected:
  explicit Session(Target target) : target_(std::move(target)) {}

 private:
  Target target_;
};

// A local port forwarded to an address on a host; closes when destroyed.
class Forward {
 public:
  virtual ~Forward() = default;
  virtual int local_port() const = 0;
  // "https://127.0.0.1:LOCAL_PORT" style URL helper.
  std::string local_url(const std::string& scheme) const;
};

// Quotes a string for /bin/sh: 'it'\''s'.
std::string shell_quote(std::string_view text);

}  // namespace keel::ssh
