#include "agent/dr/tar_extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/files.h"

namespace keel::dr {
namespace {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

using Parts = std::vector<std::string>;

std::unexpected<Error> sys_error(const std::string& op, const std::string& path, int err) {
  ErrorCode code = ErrorCode::Internal;
  if (err == EACCES || err == EPERM || err == EROFS) code = ErrorCode::PermissionDenied;
  if (err == ENOSPC || err == EDQUOT) code = ErrorCode::Unavailable;
  return fail(code, fmt::format("restore: {} {}: {}", op, path, std::generic_category().message(err)));
}

// "./srv/app/x" -> {"srv", "app", "x"}; "./" -> {}.
Result<Parts> split_member_name(std::string_view name) {
  if (name.starts_with("/"))
    return fail(ErrorCode::Corrupt, fmt::format("restore: the archive holds an absolute name `{}`", name));
  Parts parts;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = std::min(name.find('/', start), name.size());
    std::string_view part = name.substr(start, end - start);
    if (part == "..") return fail(ErrorCode::Corrupt, fmt::format("restore: the archive holds a name with `..`: `{}`", name));
    if (!part.empty() && part != ".") parts.emplace_back(part);
    start = end + 1;
  }
  return parts;
}

// The owner, mode and modification time an entry asks for.
struct Meta {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;
  timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};  // atime, mtime
};

struct CreatedDir {
  Parts parts;
  Meta meta;
};

// Writes the entries of one archive under one directory descriptor.
class Writer {
 public:
  Writer(Fd root, std::string root_path, mode_t umask)
      : root_(std::move(root)), root_path_(std::move(root_path)), as_root_(::geteuid() == 0), umask_(umask) {}

  Status entry(archive* a, archive_entry* e) {
    const char* pathname = archive_entry_pathname(e);
    auto parts = split_member_name(pathname ? pathname : "");
    if (!parts) return fail(parts.error());
    if (parts->empty()) return {};  // "./": the target itself keeps what it has
    auto parent = parent_of(*parts);
    if (!parent) return fail(parent.error());
    if (const char* link = archive_entry_hardlink(e)) return hardlink(*parent, *parts, link);
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR: return directory(*parent, *parts, e);
      case AE_IFREG: return regular(a, *parent, *parts, e);
      case AE_IFLNK: return symlink(*parent, *parts, e);
      case AE_IFIFO:
      case AE_IFCHR:
      case AE_IFBLK: return node(*parent, *parts, e);
      default:
        return fail(ErrorCode::Corrupt, fmt::format("restore: {}: an entry of unknown type", shown(*parts)));
    }
  }

  // The directories' owners, modes and times, deepest first, now that
  // nothing more is written into them.
  Status finish() {
    cached_.clear();
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) {
      auto parent = open_parent(it->parts);
      if (!parent) return fail(parent.error());
      auto dir = open_dir(parent->get(), it->parts, it->parts.size() - 1, false);
      if (!dir) return fail(dir.error());
      if (auto ok = apply(dir->get(), it->meta, shown(it->parts)); !ok) return ok;
    }
    return {};
  }

 private:
  std::string shown(const Parts& parts, std::size_t count = SIZE_MAX) const {
    std::string out = root_path_;
    for (std::size_t i = 0; i < parts.size() && i < count; ++i) out += "/" + parts[i];
    return out;
  }

  // parts[i], a directory under `at`, opened without following a symlink;
  // created (0755, as tar makes missing parents) when missing and `create`.
  Result<Fd> open_dir(int at, const Parts& parts, std::size_t i, bool create) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      int fd = ::openat(at, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) return Fd(fd);
      int err = errno;
      if (err == ELOOP || err == ENOTDIR)
        return fail(ErrorCode::Conflict,
                    fmt::format("restore: {} is a symlink or not a directory: keel does not write through symlinks in "
                                "a restore's target (restore into an empty directory and move what you need)",
                                shown(parts, i + 1)));
      if (err != ENOENT || !create) return sys_error("open", shown(parts, i + 1), err);
      if (::mkdirat(at, parts[i].c_str(), 0755) != 0 && errno != EEXIST)
        return sys_error("mkdir", shown(parts, i + 1), errno);
    }
    return sys_error("open", shown(parts, i + 1), ENOENT);
  }

  // The directory that holds the entry `parts`, walked from the target;
  // the walk of the previous entry is reused (archives list a directory's
  // entries together).
  Result<int> parent_of(const Parts& parts) {
    std::size_t depth = parts.size() - 1, common = 0;
    while (common < cached_.size() && common < depth && cached_[common].first == parts[common]) ++common;
    cached_.resize(common);
    for (std::size_t i = common; i < depth; ++i) {
      auto fd = open_dir(i == 0 ? root_.get() : cached_[i - 1].second.get(), parts, i, true);
      if (!fd) return fail(fd.error());
      cached_.emplace_back(parts[i], std::move(*fd));
    }
    return depth == 0 ? root_.get() : cached_[depth - 1].second.get();
  }

  // The same walk, not cached and creating nothing.
  Result<Fd> open_parent(const Parts& parts) {
    Fd at(::fcntl(root_.get(), F_DUPFD_CLOEXEC, 0));
    if (at.get() < 0) return sys_error("open", root_path_, errno);
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      auto next = open_dir(at.get(), parts, i, false);
      if (!next) return fail(next.error());
      at = std::move(*next);
    }
    return at;
  }

  // Removes whatever is at the entry's name (a symlink itself, never what
  // it points to); a directory there is an error.
  Status make_room(int parent, const Parts& parts) {
    if (::unlinkat(parent, parts.back().c_str(), 0) == 0 || errno == ENOENT) return {};
    if (errno == EISDIR)
      return fail(ErrorCode::Conflict,
                  fmt::format("restore: {} is a directory, where the backup has a file", shown(parts)));
    return sys_error("remove", shown(parts), errno);
  }

  Meta meta_of(archive_entry* e) const {
    Meta m;
    m.uid = static_cast<uid_t>(archive_entry_uid(e));
    m.gid = static_cast<gid_t>(archive_entry_gid(e));
    // By name where this host knows it, as GNU tar does.
    if (const char* user = archive_entry_uname(e); user && *user) {
      passwd pw{}, *found = nullptr;
      char buf[4096];
      if (::getpwnam_r(user, &pw, buf, sizeof buf, &found) == 0 && found) m.uid = found->pw_uid;
    }
    if (const char* group = archive_entry_gname(e); group && *group) {
      ::group gr{}, *found = nullptr;
      char buf[4096];
      if (::getgrnam_r(group, &gr, buf, sizeof buf, &found) == 0 && found) m.gid = found->gr_gid;
    }
    mode_t perm = archive_entry_perm(e);
    m.mode = as_root_ ? (perm & 07777) : (perm & 0777 & ~umask_);
    if (archive_entry_mtime_is_set(e)) m.times[1] = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
    return m;
  }

  // Owner (as root), then mode (chown clears set-id bits), then times.
  Status apply(int fd, const Meta& m, const std::string& path) const {
    if (as_root_ && ::fchown(fd, m.uid, m.gid) != 0) return sys_error("chown", path, errno);
    if (::fchmod(fd, m.mode) != 0) return sys_error("chmod", path, errno);
    if (::futimens(fd, m.times) != 0) return sys_error("set times of", path, errno);
    return {};
  }

  // The same by name for what cannot be opened for writing (symlinks,
  // fifos, devices): each call refuses to follow a symlink at the name.
  Status apply_at(int parent, const Parts& parts, const Meta& m, bool is_symlink) const {
    const char* name = parts.back().c_str();
    if (as_root_ && ::fchownat(parent, name, m.uid, m.gid, AT_SYMLINK_NOFOLLOW) != 0)
      return sys_error("chown", shown(parts), errno);
    if (!is_symlink && ::fchmodat(parent, name, m.mode, AT_SYMLINK_NOFOLLOW) != 0)
      return sys_error("chmod", shown(parts), errno);
    if (::utimensat(parent, name, m.times, AT_SYMLINK_NOFOLLOW) != 0) return sys_error("set times of", shown(parts), errno);
    return {};
  }

  Status directory(int parent, const Parts& parts, archive_entry* e) {
    struct stat st {};
    if (::fstatat(parent, parts.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(st.st_mode)) return {};  // an existing directory keeps its owner and mode
      if (auto ok = make_room(parent, parts); !ok) return ok;
    } else if (errno != ENOENT) {
      return sys_error("stat", shown(parts), errno);
    }
    if (::mkdirat(parent, parts.back().c_str(), 0700) != 0) return sys_error("mkdir", shown(parts), errno);
    created_.push_back({parts, meta_of(e)});
    return {};
  }

  Status regular(archive* a, int parent, const Parts& parts, archive_entry* e) {
    if (auto ok = make_room(parent, parts); !ok) return ok;
    Fd fd(::openat(parent, parts.back().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd.get() < 0) return sys_error("create", shown(parts), errno);
    for (;;) {
      const void* data = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      int r = archive_read_data_block(a, &data, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        return fail(ErrorCode::Corrupt, fmt::format("restore: {}: {}", shown(parts), archive_error_string(a)));
      // Data blocks come with their offsets: holes of a sparse file stay holes.
      const char* p = static_cast<const char*>(data);
      while (size > 0) {
        ssize_t n = ::pwrite(fd.get(), p, size, offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("write", shown(parts), errno);
        p += n;
        size -= static_cast<size_t>(n);
        offset += n;
      }
    }
    if (::ftruncate(fd.get(), archive_entry_size(e)) != 0) return sys_error("write", shown(parts), errno);
    return apply(fd.get(), meta_of(e), shown(parts));
  }

  Status symlink(int parent, const Parts& parts, archive_entry* e) {
    const char* target = archive_entry_symlink(e);
    if (target == nullptr) return fail(ErrorCode::Corrupt, fmt::format("restore: {}: a symlink without a target", shown(parts)));
    if (auto ok = make_room(parent, parts); !ok) return ok;
    if (::symlinkat(target, parent, parts.back().c_str()) != 0) return sys_error("symlink", shown(parts), errno);
    return apply_at(parent, parts, meta_of(e), true);
  }

  Status node(int parent, const Parts& parts, archive_entry* e) {
    if (auto ok = make_room(parent, parts); !ok) return ok;
    if (::mknodat(parent, parts.back().c_str(), archive_entry_filetype(e) | 0600, archive_entry_rdev(e)) != 0)
      return sys_error("mknod", shown(parts), errno);
    return apply_at(parent, parts, meta_of(e), false);
  }

  Status hardlink(int parent, const Parts& parts, const char* link) {
    auto source = split_member_name(link);
    if (!source) return fail(source.error());
    if (source->empty()) return fail(ErrorCode::Corrupt, fmt::format("restore: {}: a hard link to nothing", shown(parts)));
    if (*source == parts) return {};
    auto source_parent = open_parent(*source);
    if (!source_parent) return fail(source_parent.error());
    if (auto ok = make_room(parent, parts); !ok) return ok;
    if (::linkat(source_parent->get(), source->back().c_str(), parent, parts.back().c_str(), 0) != 0)
      return sys_error("link " + shown(*source) + " to", shown(parts), errno);
    return {};
  }

  Fd root_;
  std::string root_path_;
  bool as_root_;
  mode_t umask_;
  std::vector<std::pair<std::string, Fd>> cached_;  // the directories of the last entry's parent path
  std::vector<CreatedDir> created_;
};

// Reads the archive from `fd` to its end and writes its entries.
Status extract(int fd, Fd root, const std::string& root_path, mode_t umask) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(a.get());
  if (archive_read_open_fd(a.get(), fd, 64 * 1024) != ARCHIVE_OK)
    return fail(ErrorCode::Corrupt, fmt::format("restore: {}", archive_error_string(a.get())));
  Writer writer(std::move(root), root_path, umask);
  for (;;) {
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      return fail(ErrorCode::Corrupt, fmt::format("restore: reading the archive: {}", archive_error_string(a.get())));
    if (auto ok = writer.entry(a.get(), entry); !ok) return ok;
  }
  return writer.finish();
}

}  // namespace

struct TarExtractor::State {
  int write_fd = -1;
  std::thread reader;
  std::mutex mutex;
  std::optional<Error> error;  // the extraction's first error
  bool done = false;

  ~State() {
    if (write_fd >= 0) ::close(write_fd);
    if (reader.joinable()) reader.join();
  }
};

TarExtractor::TarExtractor(std::unique_ptr<State> state) : state_(std::move(state)) {}
TarExtractor::~TarExtractor() = default;

Result<std::unique_ptr<TarExtractor>> TarExtractor::start(const std::string& target_dir) {
  if (auto made = files::make_dirs(target_dir, 0700); !made) return fail(made.error().with_context("restore directory"));
  Fd root(::open(target_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return sys_error("open", target_dir, errno);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sys_error("pipe for", target_dir, errno);
  auto state = std::make_unique<State>();
  state->write_fd = fds[1];
  State* s = state.get();
  int read_fd = fds[0];
  // Read here, before the thread starts: umask() can only be read by
  // setting it.
  mode_t umask = ::umask(077);
  ::umask(umask);
  s->reader = std::thread([s, read_fd, root = std::move(root), target_dir, umask]() mutable {
    Status result = extract(read_fd, std::move(root), target_dir, umask);
    if (!result) {
      std::lock_guard lock(s->mutex);
      s->error = result.error();
    }
    // Drain what the writer still sends (after a failure, or the padding
    // after the archive's end), so that it never blocks on a full pipe.
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(read_fd, buf, sizeof buf);
      if (n > 0 || (n < 0 && errno == EINTR)) continue;
      break;
    }
    ::close(read_fd);
  });
  return std::unique_ptr<TarExtractor>(new TarExtractor(std::move(state)));
}

Status TarExtractor::write(std::string_view bytes) {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->error) return fail(*state_->error);
  }
  while (!bytes.empty()) {
    ssize_t n = ::write(state_->write_fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("write to the extraction of", "the archive", errno);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Status TarExtractor::finish() {
  if (state_->write_fd >= 0) ::close(state_->write_fd);
  state_->write_fd = -1;
  if (state_->reader.joinable()) state_->reader.join();
  std::lock_guard lock(state_->mutex);
  if (state_->error) return fail(*state_->error);
  return {};
}

}  // namespace keel::dr
