#include "core/files.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
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

std::string octal_mode(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

// The error for an open that failed: ELOOP with O_NOFOLLOW means the last
// component is a symbolic link, which deserves its own words.
std::unexpected<Error> open_error(const std::string& op, const std::string& path, int err) {
  if (err == ELOOP) {
    return fail(ErrorCode::PermissionDenied,
                path + " is a symbolic link; keel does not follow links there (a repository or another user "
                       "could point it anywhere): remove the link");
  }
  return errno_error(op, path, err);
}

// Opens `path` without following a symbolic link in its last component and
// without blocking on a FIFO, and checks that it is a regular file (with no
// other hard links when it is to be written). Returns the descriptor, in
// blocking mode, and its stat.
Result<int> open_regular(const std::string& path, int flags, mode_t create_mode, struct stat& st) {
  int fd = ::open(path.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, create_mode);
  if (fd < 0) return open_error("open", path, errno);
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return errno_error("stat", path, err);
  }
  std::string problem;
  if (!S_ISREG(st.st_mode)) {
    problem = path + " is not a regular file";
  } else if ((flags & O_ACCMODE) != O_RDONLY && st.st_nlink > 1) {
    problem = path + " has " + std::to_string(st.st_nlink) +
              " hard links; keel writes only files that are nowhere else: remove it";
  }
  if (!problem.empty()) {
    ::close(fd);
    return fail(ErrorCode::PermissionDenied, problem);
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
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

}  // namespace

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
  try {
    h.user = j.value("user", "");
    h.host = j.value("host", "");
    h.command = j.value("command", "");
    h.since = j.value("since", "");
    h.pid = j.value("pid", 0L);
  } catch (const nlohmann::json::exception&) {  // a field of the wrong type
    return std::nullopt;
  }
  return h;
}

namespace {

// The error for a lock someone else holds. The holder may have taken the lock
// and not written itself yet (or be a crashed older keel): then the file says
// nothing useful and the message stays generic.
std::unexpected<Error> locked_error(int fd, const std::string& path) {
  std::string text;
  if (::lseek(fd, 0, SEEK_SET) == 0) {
    if (auto content = read_all(fd, path)) text = std::move(*content);
  }
  std::optional<LockHolder> holder = parse_holder(text);
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

bool exists_no_follow(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

Result<std::string> read_regular_file(const std::string& path, size_t max_bytes, unsigned forbidden_mode) {
  struct stat st {};
  auto fd = open_regular(path, O_RDONLY, 0, st);
  if (!fd) return fail(fd.error());
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{*fd};
  if (unsigned bad = st.st_mode & forbidden_mode & 07777; bad != 0) {
    unsigned wanted = st.st_mode & 07777 & ~forbidden_mode;
    return fail(ErrorCode::PermissionDenied,
                path + " has mode " + octal_mode(st.st_mode) + ", which lets other users " +
                    ((bad & 022) ? "write" : "read") + " it, and keel refuses it: run `chmod " +
                    octal_mode(wanted) + " " + path + "` (and, for a key, consider it leaked)");
  }
  if (static_cast<unsigned long long>(st.st_size) > max_bytes) {
    return fail(ErrorCode::InvalidConfig, path + " is " + std::to_string(st.st_size) +
                                              " bytes, more than the " + std::to_string(max_bytes) +
                                              " keel reads");
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(*fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("read", path, errno);
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    // The file may grow while we read it: the limit holds all the same.
    if (out.size() > max_bytes) {
      return fail(ErrorCode::InvalidConfig,
                  path + " is more than the " + std::to_string(max_bytes) + " bytes keel reads");
    }
  }
}

Status write_atomic(const std::string& path, std::string_view data, unsigned mode) {
  return write_atomic(path, data, mode, DirSync::Yes);
}

Status write_atomic(const std::string& path, std::string_view data, unsigned mode, DirSync dir_sync) {
  // Same directory, so that rename() is atomic (same file system); the pid
  // and random part keep concurrent writers off each other's temporaries.
  if (auto ready = crypto::ready(); !ready) return fail(ready.error().with_context("writing " + path));
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

Status check_private_dir(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return errno_error("stat", dir, errno);
  if (S_ISLNK(st.st_mode)) {
    return fail(ErrorCode::PermissionDenied,
                dir + " is a symbolic link; keel keeps state and secrets only in a real directory, because a "
                      "repository can commit a link that sends keel's writes elsewhere. Move the directory "
                      "into place, or bind-mount it there (mount --bind TARGET " + dir + ")");
  }
  if (!S_ISDIR(st.st_mode)) return fail(ErrorCode::PermissionDenied, dir + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    return fail(ErrorCode::PermissionDenied,
                dir + " belongs to uid " + std::to_string(st.st_uid) + ", not to you (uid " +
                    std::to_string(::geteuid()) + "); keel uses only a directory of its own user: run keel as "
                    "its owner, or `chown -R " + std::to_string(::geteuid()) + " " + dir + "`");
  }
  if (st.st_mode & 022) {
    return fail(ErrorCode::PermissionDenied,
                dir + " has mode " + octal_mode(st.st_mode) +
                    ": others can write into it (and plant links that redirect keel's writes); run `chmod go-w " +
                    dir + "`");
  }
  return {};
}

namespace {

// Goes down from `root` to `path`, one directory at a time, refusing any
// that is a link, not a directory, or another user's; with `create_mode`,
// makes the missing ones, else stops at the first missing one.
Status walk_inside(const std::string& root, const std::string& path, std::optional<unsigned> create_mode) {
  const fs::path base = fs::path(root).lexically_normal();
  const fs::path rel = fs::path(path).lexically_normal().lexically_relative(base);
  if (rel.empty() || *rel.begin() == "..") return fail(ErrorCode::Internal, path + " is not inside " + root);
  fs::path current = base;
  for (const auto& part : rel) {
    if (part == "." || part.empty()) continue;
    current /= part;
    const std::string dir = current.string();
    if (create_mode && ::mkdir(dir.c_str(), static_cast<mode_t>(*create_mode)) != 0 && errno != EEXIST) {
      return errno_error("mkdir", dir, errno);
    }
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) {
      if (!create_mode && errno == ENOENT) return {};
      return errno_error("stat", dir, errno);
    }
    if (S_ISLNK(st.st_mode)) {
      return fail(ErrorCode::PermissionDenied, dir + " is a symbolic link; keel does not follow links under " +
                                                   root + " (they could send its writes anywhere): remove it");
    }
    if (!S_ISDIR(st.st_mode)) return fail(ErrorCode::PermissionDenied, dir + " is not a directory");
    if (st.st_uid != ::geteuid()) {
      return fail(ErrorCode::PermissionDenied,
                  dir + " belongs to uid " + std::to_string(st.st_uid) + ", not to keel's user (uid " +
                      std::to_string(::geteuid()) + "): remove it or chown it");
    }
  }
  return {};
}

}  // namespace

Status make_dirs_inside(const std::string& root, const std::string& path, unsigned mode) {
  return walk_inside(root, path, mode);
}

Status check_dirs_inside(const std::string& root, const std::string& path) {
  return walk_inside(root, path, std::nullopt);
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
  struct stat st {};
  auto fd = open_regular(path, O_WRONLY | O_APPEND | O_CREAT, static_cast<mode_t>(mode), st);
  if (!fd) return fail(fd.error());
  AppendFile file(*fd, path);
  // An existing file keeps no wider mode than asked, whatever made it.
  if ((st.st_mode & 07777) != mode && ::fchmod(*fd, static_cast<mode_t>(mode)) != 0) {
    return errno_error("chmod", path, errno);
  }
  return file;
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

std::string LockHolder::user_at_host() const {
  std::string out = user.empty() ? "unknown" : user;
  if (!host.empty()) out += "@" + host;
  return out;
}

std::string LockHolder::describe() const {
  std::string out = user_at_host();
  out += " pid " + std::to_string(pid);
  if (!command.empty()) out += " (" + command + ")";
  if (!since.empty()) out += " since " + since;
  return out;
}

Result<FileLock> FileLock::acquire(const std::string& path, const std::string& command) {
  struct stat st {};
  auto opened = open_regular(path, O_RDWR | O_CREAT, 0644, st);
  if (!opened) return fail(opened.error());
  const int fd = *opened;
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
