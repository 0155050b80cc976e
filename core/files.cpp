#include "core/files.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "core/crypto.h"

namespace keel::files {
namespace {

namespace fs = std::filesystem;

std::string describe_errno(int err) { return std::generic_category().message(err); }

// "open /x/state.json: Permission denied", with a code callers can act on.
std::unexpected<Error> errno_error(const std::string& op, const std::string& path, int err) {
  ErrorCode code = ErrorCode::Internal;
  if (err == ENOENT || err == ENOTDIR) code = ErrorCode::NotFound;
  if (err == EACCES || err == EPERM || err == EROFS) code = ErrorCode::PermissionDenied;
  return fail(code, op + " " + path + ": " + describe_errno(err));
}

Status write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<std::string> read_all(int fd, const std::string& path) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read", path, errno);
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string basename_of(const std::string& path) {
  size_t end = path.find_last_not_of('/');
  if (end == std::string::npos) return path.empty() ? "" : "/";
  size_t slash = path.rfind('/', end);
  return path.substr(slash == std::string::npos ? 0 : slash + 1,
                     slash == std::string::npos ? end + 1 : end - slash);
}

// Writes, syncs and renames an already-created temporary file; the caller
// removes the temporary if this fails.
Status finish_temp(int fd, const std::string& tmp, const std::string& path,
                   std::string_view data, unsigned mode) {
  if (auto st = write_all(fd, data, tmp); !st) return st;
  if (::fsync(fd) != 0) return errno_error("fsync", tmp, errno);
  // fchmod, not the open mode: the umask must not weaken or widen `mode`.
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) return errno_error("chmod", tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return errno_error("rename", tmp, errno);
  return {};
}

std::string now_rfc3339() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

LockHolder current_holder(const std::string& command) {
  LockHolder holder;
  holder.command = command;
  holder.pid = static_cast<long>(::getpid());
  holder.since = now_rfc3339();
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) holder.host = host;
  // getpwuid is not thread-safe; getpwuid_r with a stack buffer is.
  passwd pw{};
  passwd* found = nullptr;
  char buf[4096];
  if (::getpwuid_r(::geteuid(), &pw, buf, sizeof buf, &found) == 0 && found) {
    holder.user = found->pw_name;
  } else {
    holder.user = std::to_string(::geteuid());
  }
  return holder;
}

std::string holder_json(const LockHolder& h) {
  nlohmann::json j = {{"user", h.user}, {"host", h.host}, {"pid", h.pid},
                      {"command", h.command}, {"since", h.since}};
  return j.dump() + "\n";
}

std::optional<LockHolder> parse_holder(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  LockHolder h;
  h.user = j.value("user", "");
  h.host = j.value("host", "");
  h.command = j.value("command", "");
  h.since = j.value("since", "");
  h.pid = j.value("pid", 0L);
  return h;
}

// The error for a lock someone else holds. The holder may have taken the lock
// and not written itself yet (or be a crashed older keel): then the file says
// nothing useful and the message stays generic.
std::unexpected<Error> locked_error(int fd, const std::string& path) {
  std::string text;
  if (::lseek(fd, 0, SEEK_SET) == 0) {
    if (auto content = read_all(fd, path)) text = std::move(*content);
  }
  std::optional<LockHolder> holder;
  try {
    holder = parse_holder(text);
  } catch (const nlohmann::json::exception&) {  // a field of the wrong type
  }
  std::string who = holder ? holder->describe() : "another process";
  return fail(ErrorCode::Locked,
              path + " is locked by " + who + "; it is released when that process exits");
}

}  // namespace

Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("open", path, errno);
  auto content = read_all(fd, path);
  ::close(fd);
  return content;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

Status write_atomic(const std::string& path, std::string_view data, unsigned mode) {
  return write_atomic(path, data, mode, DirSync::Yes);
}

Status write_atomic(const std::string& path, std::string_view data, unsigned mode, DirSync dir_sync) {
  // Same directory, so that rename() is atomic (same file system); the pid
  // and random part keep concurrent writers off each other's temporaries.
  std::string dir = dirname(path);
  std::string tmp = (dir == "/" ? "" : dir) + "/." + basename_of(path) + ".tmp." +
                    std::to_string(::getpid()) + "." + crypto::hex_encode(crypto::random_bytes(6));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno_error("create", tmp, errno);
  Status st = finish_temp(fd, tmp, path, data, mode);
  if (::close(fd) != 0 && st) st = errno_error("close", tmp, errno);
  if (!st) {
    ::unlink(tmp.c_str());  // after a successful rename it is gone already
    return st;
  }
  if (dir_sync == DirSync::No) return {};
  return fsync_dir(dir);  // makes the rename itself durable
}

Status make_dirs(const std::string& path, unsigned mode) {
  if (path.empty()) return {};
  // Each prefix ending before a '/' is a parent; the path itself comes last.
  for (size_t pos = path.find('/', 1);; pos = path.find('/', pos + 1)) {
    std::string prefix = path.substr(0, pos);
    if (!prefix.empty() && prefix.back() != '/' &&
        ::mkdir(prefix.c_str(), static_cast<mode_t>(mode)) != 0) {
      int err = errno;
      struct stat st {};
      if (err != EEXIST) return errno_error("mkdir", prefix, err);
      if (::stat(prefix.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return errno_error("mkdir", prefix, ENOTDIR);
      }
    }
    if (pos == std::string::npos) return {};
  }
}

Status remove_all(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return errno_error("remove", path, ec.value());
  return {};
}

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error("open", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return errno_error("fsync", dir, err);
  return {};
}

// --- AppendFile ---------------------------------------------------------------

Result<AppendFile> AppendFile::open(const std::string& path, unsigned mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) return errno_error("open", path, errno);
  return AppendFile(fd, path);
}

AppendFile::AppendFile(AppendFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

AppendFile& AppendFile::operator=(AppendFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

AppendFile::~AppendFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status AppendFile::append(std::string_view data) {
  if (fd_ < 0) return fail(ErrorCode::Internal, "append " + path_ + ": file is closed");
  return write_all(fd_, data, path_);
}

Status AppendFile::sync() {
  if (fd_ < 0) return fail(ErrorCode::Internal, "sync " + path_ + ": file is closed");
  if (::fdatasync(fd_) != 0) return errno_error("fdatasync", path_, errno);
  return {};
}

// --- FileLock -----------------------------------------------------------------

std::string LockHolder::describe() const {
  std::string out = user.empty() ? "unknown" : user;
  if (!host.empty()) out += "@" + host;
  out += " pid " + std::to_string(pid);
  if (!command.empty()) out += " (" + command + ")";
  if (!since.empty()) out += " since " + since;
  return out;
}

Result<FileLock> FileLock::acquire(const std::string& path, const std::string& command) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error("open", path, errno);
  FileLock lock(fd);  // closes the fd on every early return
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    auto error = err == EWOULDBLOCK ? locked_error(fd, path) : errno_error("lock", path, err);
    ::close(std::exchange(lock.fd_, -1));  // not ours: the destructor must not truncate
    return error;
  }
  std::string json = holder_json(current_holder(command));
  if (::ftruncate(fd, 0) != 0) return errno_error("truncate", path, errno);
  if (::lseek(fd, 0, SEEK_SET) != 0) return errno_error("seek", path, errno);
  if (auto st = write_all(fd, json, path); !st) return fail(st.error());
  if (::fsync(fd) != 0) return errno_error("fsync", path, errno);
  return lock;
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    FileLock released(std::move(*this));  // runs the destructor on the old lock
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ < 0) return;
  // Empty the file first so that nobody reads a stale holder; closing the
  // last descriptor of the open file description releases the flock.
  (void)::ftruncate(fd_, 0);
  ::close(fd_);
}

// --- paths --------------------------------------------------------------------

std::string expand_home(const std::string& path) {
  if (path != "~" && path.rfind("~/", 0) != 0) return path;
  std::string home;
  if (const char* env = std::getenv("HOME"); env && *env) {
    home = env;
  } else {
    passwd pw{};
    passwd* found = nullptr;
    char buf[4096];
    if (::getpwuid_r(::getuid(), &pw, buf, sizeof buf, &found) == 0 && found) home = found->pw_dir;
  }
  if (home.empty()) return path;
  return home + path.substr(1);
}

std::string absolute(const std::string& path, const std::string& base) {
  fs::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(base) / p, ec);
  if (ec) abs = fs::path(base) / p;  // only fails without a cwd; keep what we have
  return abs.lexically_normal().string();
}

std::string dirname(const std::string& path) {
  // POSIX dirname(3): "a/b" -> "a", "a" -> ".", "/a" -> "/", "a/b/" -> "a".
  size_t end = path.find_last_not_of('/');
  if (end == std::string::npos) return path.empty() ? "." : "/";
  size_t slash = path.rfind('/', end);
  if (slash == std::string::npos) return ".";
  size_t last = path.find_last_not_of('/', slash);
  if (last == std::string::npos) return "/";
  return path.substr(0, last + 1);
}

}  // namespace keel::files
