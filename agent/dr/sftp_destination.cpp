// A directory on an SSH server, reached over SFTP (libssh 0.10), as a backup
// destination. Objects are written to "NAME.partial-RANDOM" beside their
// final name, fsynced on the server (fsync@openssh.com) and renamed over NAME
// at commit with posix-rename@openssh.com, so that readers see the old or the
// new object, never a mix, and an interrupted writer leaves only a partial
// file that list() ignores and cleanup_leftovers() removes.
//
// The host key must already be in the known_hosts file: there is no
// accept-new here, a backup job runs unattended and must not trust a server
// it has never seen.
//
// One SSH session per destination. libssh sessions are not thread-safe, so
// every call into libssh holds the connection's mutex; writers and readers
// share the connection (and keep it alive) through a shared_ptr.

#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include "agent/dr/destination.h"
#include "agent/dr/object_name.h"
#include "core/crypto.h"
#include "core/files.h"
#include "core/net_fence.h"
#include "core/ssh/host_key.h"

namespace keel::dr {
namespace {

// Connect, read and write timeout of the SSH session.
constexpr long kTimeoutSeconds = 30;
// What every SFTP server must accept in one read or write (draft-ietf-secsh-
// filexfer-02 §3); used when the server does not announce its limits.
constexpr std::size_t kSafeTransferSize = 32 * 1024;
// libssh 0.10 sends a whole sftp_write() as one packet, and OpenSSH closes
// the session on a packet over 256 KiB: never send more than this, whatever
// a server announces.
constexpr std::size_t kMaxTransferSize = 255 * 1024;

// ---------------------------------------------------------------------------
// Errors

ErrorCode code_for_sftp_status(int status) {
  switch (status) {
    case SSH_FX_NO_SUCH_FILE:
    case SSH_FX_NO_SUCH_PATH: return ErrorCode::NotFound;
    case SSH_FX_PERMISSION_DENIED:
    case SSH_FX_WRITE_PROTECT: return ErrorCode::PermissionDenied;
    case SSH_FX_NO_CONNECTION:
    case SSH_FX_CONNECTION_LOST: return ErrorCode::Transient;
    case SSH_FX_FILE_ALREADY_EXISTS: return ErrorCode::Conflict;
    case SSH_FX_BAD_MESSAGE: return ErrorCode::Protocol;
    case SSH_FX_OP_UNSUPPORTED: return ErrorCode::Unavailable;
    default: return ErrorCode::Internal;
  }
}

// ---------------------------------------------------------------------------
// SFTP packets of our own, for the extensions libssh 0.10 has no call for
// (posix-rename@openssh.com, limits@openssh.com; 0.11 has both).

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
void put_string(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

// Reads big-endian fields off the front of a reply; fails softly (ok() turns
// false) on a short reply instead of reading past it.
class Cursor {
 public:
  explicit Cursor(std::string_view data) : data_(data) {}
  std::uint64_t uint(int bytes) {
    if (data_.size() < static_cast<std::size_t>(bytes)) {
      ok_ = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(data_[static_cast<std::size_t>(i)]);
    data_.remove_prefix(static_cast<std::size_t>(bytes));
    return v;
  }
  std::string_view string() {
    auto n = static_cast<std::size_t>(uint(4));
    if (!ok_ || data_.size() < n) {
      ok_ = false;
      return {};
    }
    auto s = data_.substr(0, n);
    data_.remove_prefix(n);
    return s;
  }
  bool ok() const { return ok_; }

 private:
  std::string_view data_;
  bool ok_ = true;
};

struct ExtendedReply {
  int type = 0;          // SSH_FXP_STATUS or SSH_FXP_EXTENDED_REPLY
  std::string payload;   // after the request id
};

// ---------------------------------------------------------------------------
// The connection: one SSH session with its SFTP channel.

struct Endpoint {
  std::string user, host;
  int port = 22;
  std::string describe() const { return fmt::format("{}@{}:{}", user, host, port); }
};

class Connection {
 public:
  Connection(Endpoint endpoint, ssh_session session) : endpoint_(std::move(endpoint)), session_(session) {}
  ~Connection() {
    if (sftp_) sftp_free(sftp_);
    ssh_disconnect(session_);
    ssh_free(session_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Every libssh call on this session happens under this lock.
  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(mutex_); }

  ssh_session session() const { return session_; }
  sftp_session sftp() const { return sftp_; }
  const Endpoint& endpoint() const { return endpoint_; }
  std::size_t read_size() const { return read_size_; }
  std::size_t write_size() const { return write_size_; }
  bool can_fsync() const { return can_fsync_; }

  Status start_sftp();

  // An error for a failed libssh call: what was done to which path, where,
  // and libssh's own message.
  std::unexpected<Error> error(const std::string& op, const std::string& path) const {
    ErrorCode code = ssh_is_connected(session_) ? code_for_sftp_status(sftp_get_error(sftp_)) : ErrorCode::Transient;
    return fail(code, fmt::format("sftp {}: {} {}: {}", endpoint_.describe(), op, path, ssh_get_error(session_)));
  }
  std::unexpected<Error> error(ErrorCode code, const std::string& op, const std::string& path,
                               const std::string& what) const {
    return fail(code, fmt::format("sftp {}: {} {}: {}", endpoint_.describe(), op, path, what));
  }

  // rename(2) on the server: replaces `to` atomically when it exists.
  // Not sftp_rename(): libssh 0.10 sends a plain SSH_FXP_RENAME (SFTP v3),
  // which OpenSSH refuses with "Failure" when `to` exists.
  Status rename_over(const std::string& from, const std::string& to);

 private:
  Result<ExtendedReply> extended_request(const std::string& name, std::string_view args);
  Status send_all(std::string_view packet);
  Result<std::string> receive_exactly(std::size_t n);
  void read_limits();

  std::mutex mutex_;
  Endpoint endpoint_;
  ssh_session session_;
  sftp_session sftp_ = nullptr;
  std::size_t read_size_ = kSafeTransferSize;
  std::size_t write_size_ = kSafeTransferSize;
  bool can_fsync_ = false;
  std::uint32_t next_request_id_ = 0x6b000000;  // ours, apart from libssh's (which count from 0)
};

Status Connection::start_sftp() {
  sftp_ = sftp_new(session_);
  if (!sftp_ || sftp_init(sftp_) != 0)
    return fail(ErrorCode::Unavailable,
                fmt::format("sftp {}: start the sftp subsystem: {}", endpoint_.describe(), ssh_get_error(session_)));
  can_fsync_ = sftp_extension_supported(sftp_, "fsync@openssh.com", "1") == 1;
  read_limits();
  return {};
}

void Connection::read_limits() {
  if (sftp_extension_supported(sftp_, "limits@openssh.com", "1") != 1) return;
  auto reply = extended_request("limits@openssh.com", {});
  if (!reply || reply->type != SSH_FXP_EXTENDED_REPLY) return;  // keep the safe sizes
  Cursor c(reply->payload);
  c.uint(8);  // max packet length
  auto max_read = c.uint(8), max_write = c.uint(8);
  if (!c.ok()) return;
  // 0 means "no limit" in the extension.
  auto pick = [](std::uint64_t announced) {
    return announced == 0 ? kMaxTransferSize : std::clamp<std::size_t>(announced, 1024, kMaxTransferSize);
  };
  read_size_ = pick(max_read);
  write_size_ = pick(max_write);
}

Status Connection::send_all(std::string_view packet) {
  while (!packet.empty()) {
    int n = ssh_channel_write(sftp_->channel, packet.data(), static_cast<std::uint32_t>(packet.size()));
    if (n <= 0) return fail(ErrorCode::Transient, ssh_get_error(session_));
    packet.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<std::string> Connection::receive_exactly(std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    int r = ssh_channel_read_timeout(sftp_->channel, out.data() + got, static_cast<std::uint32_t>(n - got), 0,
                                     static_cast<int>(kTimeoutSeconds * 1000));
    if (r < 0) return fail(ErrorCode::Transient, ssh_get_error(session_));
    if (r == 0) {
      if (ssh_channel_is_eof(sftp_->channel)) return fail(ErrorCode::Transient, "the server closed the sftp channel");
      return fail(ErrorCode::Timeout, fmt::format("no answer within {} s", kTimeoutSeconds));
    }
    got += static_cast<std::size_t>(r);
  }
  return out;
}

// Sends SSH_FXP_EXTENDED `name` with `args` (already encoded) and returns the
// reply. Safe beside libssh's own use of the channel because every other
// request here is synchronous under the lock: no reply of libssh's is in
// flight, and libssh 0.10 reads the channel packet by packet, buffering
// nothing between requests.
Result<ExtendedReply> Connection::extended_request(const std::string& name, std::string_view args) {
  std::uint32_t id = next_request_id_++;
  std::string body;
  body.push_back(static_cast<char>(SSH_FXP_EXTENDED));
  put_u32(body, id);
  put_string(body, name);
  body.append(args);
  std::string packet;
  put_u32(packet, static_cast<std::uint32_t>(body.size()));
  packet += body;
  if (auto sent = send_all(packet); !sent) return fail(sent.error());

  auto header = receive_exactly(4);
  if (!header) return fail(header.error());
  auto length = static_cast<std::size_t>(Cursor(*header).uint(4));
  if (length < 5 || length > 256 * 1024) return fail(ErrorCode::Protocol, fmt::format("reply of {} bytes", length));
  auto reply = receive_exactly(length);
  if (!reply) return fail(reply.error());
  Cursor c(*reply);
  ExtendedReply out;
  out.type = static_cast<int>(c.uint(1));
  if (c.uint(4) != id) return fail(ErrorCode::Protocol, "reply to another request");
  out.payload = reply->substr(5);
  return out;
}

Status Connection::rename_over(const std::string& from, const std::string& to) {
  if (sftp_extension_supported(sftp_, "posix-rename@openssh.com", "1") != 1) {
    // Plain SSH_FXP_RENAME (SFTP v3, all libssh 0.10 sends) refuses an
    // existing target. Without the extension the best left is
    // remove-then-rename: a reader may find no object for a moment, and a
    // crash between the two leaves only the partial file. Both are rare:
    // every OpenSSH since 4.8 has the extension.
    if (sftp_unlink(sftp_, to.c_str()) != 0 && sftp_get_error(sftp_) != SSH_FX_NO_SUCH_FILE)
      return error("replace", to);
    if (sftp_rename(sftp_, from.c_str(), to.c_str()) != 0) return error("rename to", to);
    return {};
  }
  std::string args;
  put_string(args, from);
  put_string(args, to);
  auto reply = extended_request("posix-rename@openssh.com", args);
  if (!reply) return error(reply.error().code(), "rename to", to, reply.error().message());
  Cursor c(reply->payload);
  auto status = static_cast<int>(c.uint(4));
  auto message = c.string();
  if (reply->type != SSH_FXP_STATUS || !c.ok())
    return error(ErrorCode::Protocol, "rename to", to, "unexpected reply to posix-rename@openssh.com");
  if (status != SSH_FX_OK)
    return error(code_for_sftp_status(status), "rename to", to, fmt::format("SFTP server: {}", message));
  return {};
}

// ---------------------------------------------------------------------------
// Opening the session: connect, verify the host key, authenticate.

struct SessionDeleter {
  void operator()(ssh_session s) const { ssh_free(s); }
};
using SessionPtr = std::unique_ptr<std::remove_pointer_t<ssh_session>, SessionDeleter>;

Result<SessionPtr> configure_session(const Endpoint& ep, const std::string& known_hosts) {
  SessionPtr session(ssh_new());
  if (!session) return fail(ErrorCode::Internal, "ssh_new failed");
  long timeout = kTimeoutSeconds;
  int port = ep.port;
  // No ~/.ssh/config: what the agent does must follow from its own config
  // alone, not from whatever the account running it has set up for people.
  bool process_config = false;
  // The system-wide file is left out so that the check is exactly what the
  // error message says: the key is in `known_hosts`, or it is refused.
  const char* no_global_known_hosts = "/dev/null";
  if (ssh_options_set(session.get(), SSH_OPTIONS_PROCESS_CONFIG, &process_config) != 0 ||
      ssh_options_set(session.get(), SSH_OPTIONS_HOST, ep.host.c_str()) != 0 ||
      ssh_options_set(session.get(), SSH_OPTIONS_PORT, &port) != 0 ||
      ssh_options_set(session.get(), SSH_OPTIONS_USER, ep.user.c_str()) != 0 ||
      ssh_options_set(session.get(), SSH_OPTIONS_TIMEOUT, &timeout) != 0 ||
      ssh_options_set(session.get(), SSH_OPTIONS_KNOWNHOSTS, known_hosts.c_str()) != 0 ||
      ssh_options_set(session.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, no_global_known_hosts) != 0)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("sftp {}: ssh options: {}", ep.describe(), ssh_get_error(session.get())));
  return session;
}

Status verify_host_key(ssh_session session, const Endpoint& ep, const std::string& known_hosts) {
  std::string where = fmt::format("{}:{}", ep.host, ep.port);
  switch (ssh_session_is_known_server(session)) {
    case SSH_KNOWN_HOSTS_OK: return {};
    case SSH_KNOWN_HOSTS_CHANGED:
      return fail(ErrorCode::PermissionDenied,
                  fmt::format("host key of {} has CHANGED: the server offers {}, which does not match {}; this can "
                              "be a man-in-the-middle attack. If the server was reinstalled, check the new "
                              "fingerprint out of band and replace its line in {}",
                              where, ssh_keys::server_key_fingerprint(session), known_hosts, known_hosts));
    case SSH_KNOWN_HOSTS_OTHER:
      return fail(ErrorCode::PermissionDenied,
                  fmt::format("host key of {} has CHANGED: {} holds a key of another type for it, the server offers "
                              "{}; this can be a man-in-the-middle attack",
                              where, known_hosts, ssh_keys::server_key_fingerprint(session)));
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("host key of {} is not in {} (the server offers {}); check that fingerprint and add "
                              "the key, e.g. ssh-keyscan -p {} {} >> {}",
                              where, known_hosts, ssh_keys::server_key_fingerprint(session), ep.port, ep.host,
                              known_hosts));
    case SSH_KNOWN_HOSTS_ERROR: break;
  }
  return fail(ErrorCode::InvalidConfig,
              fmt::format("host key of {}: cannot check it against {}: {}", where, known_hosts, ssh_get_error(session)));
}

Status authenticate(ssh_session session, const Endpoint& ep, const std::string& key_file) {
  int rc = SSH_AUTH_ERROR;
  std::string with;
  if (!key_file.empty()) {
    ssh_key key = nullptr;
    // No passphrase: the agent runs unattended; an encrypted key fails here.
    if (ssh_pki_import_privkey_file(key_file.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK)
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("sftp {}: cannot read private key {} (missing, unreadable, or protected by a "
                              "passphrase)", ep.describe(), key_file));
    rc = ssh_userauth_publickey(session, nullptr, key);
    ssh_key_free(key);
    with = "key " + key_file;
  } else {
    // ssh-agent first (SSH_AUTH_SOCK), then ~/.ssh/id_* without passphrase.
    rc = ssh_userauth_publickey_auto(session, nullptr, nullptr);
    with = "ssh-agent or the default keys";
  }
  if (rc == SSH_AUTH_SUCCESS) return {};
  if (rc == SSH_AUTH_ERROR)
    return fail(ErrorCode::Transient, fmt::format("sftp {}: authentication: {}", ep.describe(), ssh_get_error(session)));
  return fail(ErrorCode::PermissionDenied,
              fmt::format("sftp {}: authentication with {} denied by the server", ep.describe(), with));
}

Result<std::shared_ptr<Connection>> open_connection(const Endpoint& ep, const SftpSettings& settings) {
  std::string known_hosts = files::expand_home(
      settings.known_hosts_file.empty() ? std::string("~/.ssh/known_hosts") : settings.known_hosts_file);
  if (auto allowed = net_fence::allow_host(ep.host, fmt::format("sftp {}", ep.describe())); !allowed)
    return fail(allowed.error());
  auto session = configure_session(ep, known_hosts);
  if (!session) return fail(session.error());
  if (ssh_connect(session->get()) != SSH_OK)
    return fail(ErrorCode::Unavailable,
                fmt::format("sftp {}: connect: {}", ep.describe(), ssh_get_error(session->get())));
  // From here the Connection owns the session and disconnects it.
  auto conn = std::make_shared<Connection>(ep, session->release());
  if (auto ok = verify_host_key(conn->session(), ep, known_hosts); !ok)
    return fail(ok.error().with_context(fmt::format("sftp {}", ep.describe())));
  if (auto ok = authenticate(conn->session(), ep, files::expand_home(settings.key_file)); !ok)
    return fail(ok.error());
  if (auto ok = conn->start_sftp(); !ok) return fail(ok.error());
  return conn;
}

// ---------------------------------------------------------------------------
// Writers and readers

class SftpWriter final : public ObjectWriter {
 public:
  SftpWriter(std::shared_ptr<Connection> conn, sftp_file file, std::string partial, std::string final_path)
      : conn_(std::move(conn)), file_(file), partial_(std::move(partial)), final_(std::move(final_path)) {}
  ~SftpWriter() override { abort(); }

  Status write(std::string_view data) override {
    auto lock = conn_->lock();
    if (!file_) return conn_->error(ErrorCode::Internal, "write", final_, "the writer is closed");
    while (!data.empty()) {
      std::size_t n = std::min(data.size(), conn_->write_size());
      if (sftp_write(file_, data.data(), n) != static_cast<ssize_t>(n)) return conn_->error("write", partial_);
      data.remove_prefix(n);
    }
    return {};
  }

  Status commit() override {
    auto lock = conn_->lock();
    if (!file_) return conn_->error(ErrorCode::Internal, "commit", final_, "the writer is closed");
    if (conn_->can_fsync() && sftp_fsync(file_) != 0) return conn_->error("fsync", partial_);
    int closed = sftp_close(file_);
    file_ = nullptr;
    if (closed != 0) return conn_->error("close", partial_);
    if (auto renamed = conn_->rename_over(partial_, final_); !renamed) {
      sftp_unlink(conn_->sftp(), partial_.c_str());
      partial_.clear();
      return renamed;
    }
    partial_.clear();
    return {};
  }

  void abort() override {
    auto lock = conn_->lock();
    if (file_) sftp_close(file_);
    file_ = nullptr;
    // Best effort: if the connection is gone, cleanup_leftovers() removes it later.
    if (!partial_.empty()) sftp_unlink(conn_->sftp(), partial_.c_str());
    partial_.clear();
  }

 private:
  std::shared_ptr<Connection> conn_;
  sftp_file file_;
  std::string partial_, final_;  // partial_ empty once committed or aborted
};

class SftpReader final : public ObjectReader {
 public:
  SftpReader(std::shared_ptr<Connection> conn, sftp_file file, std::string path)
      : conn_(std::move(conn)), file_(file), path_(std::move(path)) {}
  ~SftpReader() override {
    auto lock = conn_->lock();
    sftp_close(file_);
  }

  Result<std::size_t> read(char* buffer, std::size_t max) override {
    auto lock = conn_->lock();
    ssize_t n = sftp_read(file_, buffer, std::min(max, conn_->read_size()));
    if (n < 0) return conn_->error("read", path_);
    return static_cast<std::size_t>(n);
  }

 private:
  std::shared_ptr<Connection> conn_;
  sftp_file file_;
  std::string path_;
};

// ---------------------------------------------------------------------------
// The destination

// "a/b/c" -> "a/b"; "c" -> "".
std::string parent_of(const std::string& name) {
  auto slash = name.rfind('/');
  return slash == std::string::npos ? std::string() : name.substr(0, slash);
}

class SftpDestination final : public Destination {
 public:
  SftpDestination(std::shared_ptr<Connection> conn, std::string dir) : conn_(std::move(conn)), dir_(std::move(dir)) {}

  std::string describe() const override {
    const auto& ep = conn_->endpoint();
    return fmt::format("sftp://{}@{}:{}{}", ep.user, ep.host, ep.port, dir_);
  }

  Result<std::unique_ptr<ObjectWriter>> create(const std::string& name) override {
    if (auto ok = check_object_name(name); !ok) return fail(ok.error());
    std::string path = path_of(name);
    std::string partial = fmt::format("{}{}{}", path, kPartialMarker, crypto::hex_encode(crypto::random_bytes(6)));
    auto lock = conn_->lock();
    if (auto made = make_dirs(files::dirname(path)); !made) return fail(made.error());
    sftp_file file = sftp_open(conn_->sftp(), partial.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (!file) return conn_->error("create", partial);
    return std::make_unique<SftpWriter>(conn_, file, partial, path);
  }

  Result<std::unique_ptr<ObjectReader>> open(const std::string& name) override {
    if (auto ok = check_object_name(name); !ok) return fail(ok.error());
    std::string path = path_of(name);
    auto lock = conn_->lock();
    sftp_file file = sftp_open(conn_->sftp(), path.c_str(), O_RDONLY, 0);
    if (!file) return conn_->error("open", path);
    return std::make_unique<SftpReader>(conn_, file, path);
  }

  Result<std::vector<ObjectInfo>> list(const std::string& prefix) override {
    return walk(prefix, [](const std::string& name) { return !is_partial_name(name); });
  }

  Status remove(const std::string& name) override {
    if (auto ok = check_object_name(name); !ok) return fail(ok.error());
    std::string path = path_of(name);
    auto lock = conn_->lock();
    if (sftp_unlink(conn_->sftp(), path.c_str()) != 0 && sftp_get_error(conn_->sftp()) != SSH_FX_NO_SUCH_FILE)
      return conn_->error("remove", path);
    return {};
  }

  Status cleanup_leftovers(const std::string& prefix) override {
    auto partials = walk(prefix, is_partial_name);
    if (!partials) return fail(partials.error());
    auto lock = conn_->lock();
    for (const auto& object : *partials) {
      std::string path = path_of(object.name);
      if (sftp_unlink(conn_->sftp(), path.c_str()) != 0 && sftp_get_error(conn_->sftp()) != SSH_FX_NO_SUCH_FILE)
        return conn_->error("remove leftover", path);
    }
    return {};
  }

 private:
  std::string path_of(const std::string& name) const { return dir_ == "/" ? "/" + name : dir_ + "/" + name; }

  // mkdir -p on the server (lock held). Stats first: the parents of a new
  // object usually exist already, and that costs one round trip.
  Status make_dirs(const std::string& path) {
    if (path.empty() || path == "/") return {};
    if (sftp_attributes attr = sftp_stat(conn_->sftp(), path.c_str())) {
      bool is_dir = attr->type == SSH_FILEXFER_TYPE_DIRECTORY;
      sftp_attributes_free(attr);
      if (is_dir) return {};
      return conn_->error(ErrorCode::Conflict, "mkdir", path, "exists and is not a directory");
    }
    if (sftp_get_error(conn_->sftp()) != SSH_FX_NO_SUCH_FILE) return conn_->error("stat", path);
    if (auto parent = make_dirs(files::dirname(path)); !parent) return parent;
    // Another writer may have made it in between: that is fine.
    if (sftp_mkdir(conn_->sftp(), path.c_str(), 0700) != 0 &&
        sftp_get_error(conn_->sftp()) != SSH_FX_FILE_ALREADY_EXISTS)
      return conn_->error("mkdir", path);
    return {};
  }

  // Every regular file below dir_ whose name starts with `prefix` and passes
  // `keep`, sorted. The walk starts at the prefix's directory part and only
  // descends where names can still match, so listing one job's backups does
  // not read every other job's directory.
  template <typename Keep>
  Result<std::vector<ObjectInfo>> walk(const std::string& prefix, Keep keep) {
    std::vector<ObjectInfo> out;
    auto lock = conn_->lock();
    if (auto ok = walk_dir(parent_of(prefix), prefix, keep, out); !ok) return fail(ok.error());
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
  }

  template <typename Keep>
  Status walk_dir(const std::string& rel, const std::string& prefix, Keep& keep, std::vector<ObjectInfo>& out) {
    std::string path = rel.empty() ? dir_ : path_of(rel);
    sftp_dir dir = sftp_opendir(conn_->sftp(), path.c_str());
    if (!dir) {
      if (sftp_get_error(conn_->sftp()) == SSH_FX_NO_SUCH_FILE) return {};  // nothing stored there yet
      return conn_->error("list", path);
    }
    std::vector<std::string> subdirs;
    while (sftp_attributes attr = sftp_readdir(conn_->sftp(), dir)) {
      std::string entry = attr->name ? attr->name : "";
      std::string name = rel.empty() ? entry : rel + "/" + entry;
      if (entry == "." || entry == "..") {
        // skip
      } else if (attr->type == SSH_FILEXFER_TYPE_DIRECTORY) {
        if ((name + "/").starts_with(prefix) || prefix.starts_with(name + "/")) subdirs.push_back(name);
      } else if (attr->type == SSH_FILEXFER_TYPE_REGULAR && name.starts_with(prefix) && keep(name)) {
        out.push_back({name, attr->size});
      }
      sftp_attributes_free(attr);
    }
    bool complete = sftp_dir_eof(dir) == 1;
    sftp_closedir(dir);
    if (!complete) return conn_->error("list", path);
    for (const auto& sub : subdirs)
      if (auto ok = walk_dir(sub, prefix, keep, out); !ok) return ok;
    return {};
  }

  std::shared_ptr<Connection> conn_;
  std::string dir_;
};

std::string current_user() {
  const passwd* pw = ::getpwuid(::geteuid());
  return pw && pw->pw_name ? pw->pw_name : "root";
}

}  // namespace

Result<std::unique_ptr<Destination>> open_sftp_destination(const std::string& user, const std::string& host,
                                                           const std::string& dir, const SftpSettings& settings) {
  Endpoint ep;
  ep.user = user.empty() ? current_user() : user;
  ep.host = host;
  ep.port = settings.port;
  if (host.empty())
    return fail(ErrorCode::InvalidConfig, "sftp destination: no host (expected sftp://user@host[:port]/dir)");
  if (dir.empty() || dir.front() != '/')
    return fail(ErrorCode::InvalidConfig,
                fmt::format("sftp destination {}: the directory `{}` must be absolute", ep.describe(), dir));
  if (ep.port <= 0 || ep.port > 65535)
    return fail(ErrorCode::InvalidConfig, fmt::format("sftp destination {}: bad port", ep.describe()));
  std::string root = dir;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  auto conn = open_connection(ep, settings);
  if (!conn) return fail(conn.error());
  return std::make_unique<SftpDestination>(*conn, root);
}

}  // namespace keel::dr
