#include "cli/ssh/libssh_session.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include "core/log.h"

#include "cli/ssh/channel_pump.h"
#include "core/crypto.h"
#include "core/files.h"
#include "core/net_fence.h"
#include "core/ssh/host_key.h"

namespace keel::ssh {

namespace {

using namespace std::chrono_literals;

// libssh 0.10 sends a whole sftp_write() as one packet, and OpenSSH closes
// the session on a packet over 256 KiB.
constexpr std::size_t kSftpChunk = 128 * 1024;
constexpr std::size_t kReadChunk = 32 * 1024;

struct SessionFree {
  void operator()(ssh_session s) const {
    ssh_disconnect(s);
    ssh_free(s);
  }
};
using SessionHandle = std::unique_ptr<std::remove_pointer_t<ssh_session>, SessionFree>;

struct ChannelFree {
  void operator()(ssh_channel c) const {
    ssh_channel_close(c);
    ssh_channel_free(c);
  }
};
using ChannelHandle = std::unique_ptr<std::remove_pointer_t<ssh_channel>, ChannelFree>;

std::string known_hosts_file(const Target& t) {
  return files::expand_home(t.known_hosts.empty() ? std::string("~/.ssh/known_hosts") : t.known_hosts);
}

// The host key against known_hosts, as `policy` says. A changed key is
// refused whatever the policy: that is what the policy protects against.
Status verify_host_key(ssh_session session, const Target& t) {
  const std::string file = known_hosts_file(t);
  const std::string where = t.describe();
  switch (ssh_session_is_known_server(session)) {
    case SSH_KNOWN_HOSTS_OK: return {};
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
      return fail(ErrorCode::Conflict,
                  fmt::format("{}: the host key has CHANGED: the server offers {}, which does not match {}. This can "
                              "be a man-in-the-middle attack; if the host was reinstalled, check the new fingerprint "
                              "out of band and remove the old line (ssh-keygen -R '[{}]:{}' -f {})",
                              where, ssh_keys::server_key_fingerprint(session), file, t.host, t.port, file));
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
      if (t.host_key_policy == HostKeyPolicy::AcceptNew) {
        if (auto made = files::make_dirs(std::filesystem::path(file).parent_path().string(), 0700); !made)
          return made;
        if (ssh_session_update_known_hosts(session) != SSH_OK)
          return fail(ErrorCode::Internal,
                      fmt::format("{}: cannot add its host key to {}: {}", where, file, ssh_get_error(session)));
        // As OpenSSH does ("Permanently added ..."): trusting a key is worth a line.
        logging::warn(fmt::runtime("ssh: added the host key of {} ({}) to {}"), where,
                     ssh_keys::server_key_fingerprint(session), file);
        return {};
      }
      return fail(ErrorCode::NotFound,
                  fmt::format("{}: its host key is not in {} (the server offers {}); check that fingerprint and add "
                              "it (ssh-keyscan -p {} {} >> {}), or set host_key_check: accept-new",
                              where, file, ssh_keys::server_key_fingerprint(session), t.port, t.host, file));
    case SSH_KNOWN_HOSTS_ERROR: break;
  }
  return fail(ErrorCode::InvalidConfig,
              fmt::format("{}: cannot check its host key against {}: {}", where, file, ssh_get_error(session)));
}

Status authenticate(ssh_session session, const Target& t) {
  int rc = SSH_AUTH_ERROR;
  std::string with;
  if (!t.key_file.empty()) {
    const std::string path = files::expand_home(t.key_file);
    if (!files::exists(path))
      return fail(ErrorCode::NotFound, fmt::format("{}: the private key {} does not exist", t.describe(), path));
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(path.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK)
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("{}: cannot read the private key {} (missing, unreadable, or protected by a passphrase: "
                              "load such a key into ssh-agent and leave `key` out)",
                              t.describe(), path));
    rc = ssh_userauth_publickey(session, nullptr, key);
    ssh_key_free(key);
    with = fmt::format("the key {}", path);
  } else {
    // ssh-agent ($SSH_AUTH_SOCK) first, then ~/.ssh/id_* without passphrase.
    rc = ssh_userauth_publickey_auto(session, nullptr, nullptr);
    with = "ssh-agent and the default keys";
  }
  if (rc == SSH_AUTH_SUCCESS) return {};
  if (rc == SSH_AUTH_ERROR)
    return fail(ErrorCode::Unavailable, fmt::format("{}: authentication: {}", t.describe(), ssh_get_error(session)));
  return fail(ErrorCode::PermissionDenied,
              fmt::format("{}: the server refused {} for user {}", t.describe(), with, t.effective_user()));
}

Result<SessionHandle> new_session(const Target& t, int fd) {
  SessionHandle session(ssh_new());
  if (!session) return fail(ErrorCode::Internal, "ssh_new failed");
  long timeout = static_cast<long>(t.timeout.count());
  int port = t.port;
  // ~/.ssh/config is not read: what keel does follows from the stack alone.
  bool process_config = false;
  // Only the named file decides, so that errors can name it.
  const char* no_global_known_hosts = "/dev/null";
  const std::string user = t.effective_user();
  const std::string known = known_hosts_file(t);
  bool ok = ssh_options_set(session.get(), SSH_OPTIONS_PROCESS_CONFIG, &process_config) == 0 &&
            ssh_options_set(session.get(), SSH_OPTIONS_HOST, t.host.c_str()) == 0 &&
            ssh_options_set(session.get(), SSH_OPTIONS_PORT, &port) == 0 &&
            ssh_options_set(session.get(), SSH_OPTIONS_USER, user.c_str()) == 0 &&
            ssh_options_set(session.get(), SSH_OPTIONS_TIMEOUT, &timeout) == 0 &&
            ssh_options_set(session.get(), SSH_OPTIONS_KNOWNHOSTS, known.c_str()) == 0 &&
            ssh_options_set(session.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, no_global_known_hosts) == 0;
  if (ok && fd >= 0) ok = ssh_options_set(session.get(), SSH_OPTIONS_FD, &fd) == 0;
  if (!ok) return fail(ErrorCode::InvalidConfig, fmt::format("{}: ssh options: {}", t.describe(), ssh_get_error(session.get())));
  return session;
}

// Connects (over `fd` when given: a jump host's channel), verifies and
// authenticates.
Result<SessionHandle> open_session(const Target& t, int fd) {
  // Through a jump host too: the fence lists what keel may reach at all.
  if (auto allowed = net_fence::allow_host(t.host, t.describe()); !allowed) return fail(allowed.error());
  auto session = new_session(t, fd);
  if (!session) return fail(session.error());
  if (ssh_connect(session->get()) != SSH_OK)
    return fail(ErrorCode::Unavailable,
                fmt::format("{}: cannot connect: {}", t.describe(), ssh_get_error(session->get())));
  if (auto st = verify_host_key(session->get(), t); !st) return fail(st.error());
  if (auto st = authenticate(session->get(), t); !st) return fail(st.error());
  return std::move(*session);
}

// A connection to `t`, through its jump host when it has one: the jump
// host's session carries the inner one over a direct-tcpip channel, pumped
// between a socketpair on a thread of its own.
struct Connection {
  // Member order matters: `session` (the inner connection) is torn down
  // before `jump`, its carrier.
  std::unique_ptr<ChannelPump> jump;
  SessionHandle session;
};

Result<Connection> connect_to(const Target& t) {
  Connection c;
  if (!t.jump) {
    auto s = open_session(t, -1);
    if (!s) return fail(s.error());
    c.session = std::move(*s);
    return c;
  }
  auto carrier = open_session(*t.jump, -1);
  if (!carrier) return fail(carrier.error().with_context(fmt::format("jump host for {}", t.describe())));
  ChannelHandle channel(ssh_channel_new(carrier->get()));
  if (!channel || ssh_channel_open_forward(channel.get(), t.host.c_str(), t.port, "127.0.0.1", 0) != SSH_OK)
    return fail(ErrorCode::Unavailable, fmt::format("{}: the jump host {} cannot reach it: {}", t.describe(),
                                                    t.jump->describe(), ssh_get_error(carrier->get())));
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    return fail(ErrorCode::Internal, fmt::format("socketpair: {}", std::strerror(errno)));
  c.jump = std::make_unique<ChannelPump>(carrier->release(), -1, nullptr);
  c.jump->add(pair[1], channel.release());
  c.jump->start();
  Target inner = t;
  inner.jump.reset();
  auto s = open_session(inner, pair[0]);
  if (!s) {
    ::close(pair[0]);
    return fail(s.error());
  }
  c.session = std::move(*s);
  return c;
}

class LocalForward final : public Forward {
 public:
  LocalForward(int port, std::unique_ptr<ChannelPump> pump, std::unique_ptr<Connection> carrier_jump)
      : port_(port), carrier_jump_(std::move(carrier_jump)), pump_(std::move(pump)) {}
  ~LocalForward() override {
    pump_.reset();
    carrier_jump_.reset();
  }
  int local_port() const override { return port_; }

 private:
  int port_;
  std::unique_ptr<Connection> carrier_jump_;  // the jump host's pump, when the target has one
  std::unique_ptr<ChannelPump> pump_;
};

}  // namespace

// A connection and its SFTP subsystem, opened on first use.
struct Link {
  Connection connection;
  sftp_session sftp = nullptr;

  ssh_session ssh() const { return connection.session.get(); }
  Link() = default;
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link() {
    if (sftp) sftp_free(sftp);
  }
};

class LibsshSession final : public Session {
 public:
  LibsshSession(Target target, Connection connection) : Session(std::move(target)) {
    link_.connection = std::move(connection);
  }
  Result<int> exec(const std::string& command, const OutputFn& on_output, std::string_view input,
                   std::chrono::milliseconds timeout) override;
  Status write_file(const std::string& remote_path, std::string_view content, unsigned mode) override;
  Status upload(const std::string& local_path, const std::string& remote_path, unsigned mode) override;
  Result<std::unique_ptr<Forward>> forward(const std::string& remote_host, int remote_port) override;

 private:
  Link link_;
};

Result<int> LibsshSession::exec(const std::string& command, const OutputFn& on_output, std::string_view input,
                          std::chrono::milliseconds timeout) {
  ssh_session s = link_.ssh();
  ChannelHandle channel(ssh_channel_new(s));
  if (!channel || ssh_channel_open_session(channel.get()) != SSH_OK ||
      ssh_channel_request_exec(channel.get(), command.c_str()) != SSH_OK)
    return fail(ssh_is_connected(s) ? ErrorCode::Internal : ErrorCode::Transient,
                fmt::format("{}: cannot start a command: {}", target().describe(), ssh_get_error(s)));
  while (!input.empty()) {
    int n = ssh_channel_write(channel.get(), input.data(), static_cast<uint32_t>(std::min(input.size(), kReadChunk)));
    if (n == SSH_ERROR)
      return fail(ErrorCode::Transient, fmt::format("{}: writing the command's input: {}", target().describe(), ssh_get_error(s)));
    input.remove_prefix(static_cast<size_t>(n));
  }
  ssh_channel_send_eof(channel.get());

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[kReadChunk];
  for (;;) {
    bool got = false;
    for (int is_stderr : {0, 1}) {
      int n = ssh_channel_read_nonblocking(channel.get(), buf, sizeof buf, is_stderr);
      if (n == SSH_ERROR)
        return fail(ErrorCode::Transient,
                    fmt::format("{}: the connection broke during `{}`: {}", target().describe(), command, ssh_get_error(s)));
      if (n > 0) {
        got = true;
        if (on_output) on_output(is_stderr ? Stream::Stderr : Stream::Stdout, std::string_view(buf, static_cast<size_t>(n)));
      }
    }
    if (got) continue;
    if (ssh_channel_is_eof(channel.get()) || ssh_channel_is_closed(channel.get())) break;
    if (timeout.count() > 0 && std::chrono::steady_clock::now() >= deadline)
      return fail(ErrorCode::Timeout, fmt::format("{}: `{}` did not finish within {} ms", target().describe(), command,
                                                  timeout.count()));
    // Waits for stdout data or the end; stderr data is read on the next lap.
    if (ssh_channel_poll_timeout(channel.get(), 20, 0) == SSH_ERROR)
      return fail(ErrorCode::Transient,
                  fmt::format("{}: the connection broke during `{}`: {}", target().describe(), command, ssh_get_error(s)));
  }
  int status = ssh_channel_get_exit_status(channel.get());
  // No exit-status: the command died of a signal (libssh 0.10 does not say
  // which), as OpenSSH's client reports it.
  if (status < 0) {
    if (on_output) on_output(Stream::Stderr, "the command ended without an exit status (killed by a signal?)\n");
    return 255;
  }
  return status;
}

namespace {

Result<sftp_session> ensure_sftp(Link& link, const Target& t) {
  if (link.sftp) return link.sftp;
  sftp_session sftp = sftp_new(link.ssh());
  if (!sftp || sftp_init(sftp) != SSH_OK) {
    if (sftp) sftp_free(sftp);
    return fail(ErrorCode::Unavailable, fmt::format("{}: cannot start SFTP: {}", t.describe(), ssh_get_error(link.ssh())));
  }
  link.sftp = sftp;
  return sftp;
}

std::string temp_path_for(const std::string& remote_path) {
  const auto slash = remote_path.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : remote_path.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? remote_path : remote_path.substr(slash + 1);
  return fmt::format("{}.{}.keel-{}", dir, name, crypto::random_alnum(8));
}

}  // namespace

// Writes what `next` yields to a temporary file, sets its mode, and renames
// it over `remote_path` (mv -f on the host: SFTP v3's rename refuses an
// existing target).
static Status write_via_sftp(Session& session, Link& link, const std::string& remote_path, unsigned mode,
                             const std::function<Result<std::string_view>()>& next) {
  const Target& t = session.target();
  auto sftp = ensure_sftp(link, t);
  if (!sftp) return fail(sftp.error());
  const std::string temp = temp_path_for(remote_path);
  sftp_file file = sftp_open(*sftp, temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (!file)
    return fail(sftp_get_error(*sftp) == SSH_FX_PERMISSION_DENIED ? ErrorCode::PermissionDenied : ErrorCode::NotFound,
                fmt::format("{}: cannot create {}: {}", t.describe(), temp, ssh_get_error(link.ssh())));
  auto abandon = [&](Error e) {
    sftp_close(file);
    sftp_unlink(*sftp, temp.c_str());
    return fail(std::move(e));
  };
  for (;;) {
    auto chunk = next();
    if (!chunk) return abandon(chunk.error());
    if (chunk->empty()) break;
    for (std::string_view rest = *chunk; !rest.empty();) {
      const size_t n = std::min(rest.size(), kSftpChunk);
      if (sftp_write(file, rest.data(), n) != static_cast<ssize_t>(n))
        return abandon(Error(ErrorCode::Transient,
                             fmt::format("{}: writing {}: {}", t.describe(), temp, ssh_get_error(link.ssh()))));
      rest.remove_prefix(n);
    }
  }
  if (sftp_close(file) != SSH_OK || sftp_chmod(*sftp, temp.c_str(), mode) != SSH_OK) {
    sftp_unlink(*sftp, temp.c_str());
    return fail(ErrorCode::Transient, fmt::format("{}: finishing {}: {}", t.describe(), temp, ssh_get_error(link.ssh())));
  }
  auto moved = session.run(fmt::format("mv -f -- {} {}", shell_quote(temp), shell_quote(remote_path)));
  if (!moved) return fail(moved.error());
  if (moved->exit_status != 0) {
    sftp_unlink(*sftp, temp.c_str());
    return fail(ErrorCode::PermissionDenied,
                fmt::format("{}: cannot move the upload into place at {}: {}", t.describe(), remote_path, moved->output));
  }
  return {};
}

Status LibsshSession::write_file(const std::string& remote_path, std::string_view content, unsigned mode) {
  bool sent = false;
  return write_via_sftp(*this, link_, remote_path, mode, [&]() -> Result<std::string_view> {
    if (sent) return std::string_view();
    sent = true;
    return content.empty() ? std::string_view() : content;
  });
}

Status LibsshSession::upload(const std::string& local_path, const std::string& remote_path, unsigned mode) {
  std::ifstream in(local_path, std::ios::binary);
  if (!in) return fail(ErrorCode::NotFound, fmt::format("cannot read {}", local_path));
  std::string buf(1024 * 1024, '\0');
  return write_via_sftp(*this, link_, remote_path, mode, [&]() -> Result<std::string_view> {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.bad()) return fail(ErrorCode::Internal, fmt::format("reading {}", local_path));
    return std::string_view(buf.data(), static_cast<size_t>(in.gcount()));
  });
}

Result<std::unique_ptr<Forward>> LibsshSession::forward(const std::string& remote_host, int remote_port) {
  auto connection = std::make_unique<Connection>();
  {
    auto c = connect_to(target());
    if (!c) return fail(c.error().with_context("port forward"));
    *connection = std::move(*c);
  }
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener, 64) != 0 || ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (listener >= 0) ::close(listener);
    return fail(ErrorCode::Internal, fmt::format("port forward: cannot listen on 127.0.0.1: {}", std::strerror(errno)));
  }
  const int port = ntohs(addr.sin_port);
  ssh_session carrier = connection->session.release();
  const Target self = target();
  auto open = [carrier, remote_host, remote_port, port, self]() -> ssh_channel {
    ssh_channel channel = ssh_channel_new(carrier);
    if (channel && ssh_channel_open_forward(channel, remote_host.c_str(), remote_port, "127.0.0.1", port) == SSH_OK)
      return channel;
    // The local client sees its connection closed; a caller waiting for a
    // service to come up expects refusals, so this is not a warning.
    logging::debug(fmt::runtime("ssh {}: cannot forward to {}:{}: {}"), self.describe(), remote_host, remote_port,
                  ssh_get_error(carrier));
    if (channel) ssh_channel_free(channel);
    return nullptr;
  };
  auto pump = std::make_unique<ChannelPump>(carrier, listener, open);
  pump->start();
  return std::unique_ptr<Forward>(std::make_unique<LocalForward>(port, std::move(pump), std::move(connection)));
}

Result<std::unique_ptr<Session>> connect_with_libssh(const Target& target) {
  auto connection = connect_to(target);
  if (!connection) return fail(connection.error());
  return std::unique_ptr<Session>(std::make_unique<LibsshSession>(target, std::move(*connection)));
}

}  // namespace keel::ssh
