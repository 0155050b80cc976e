// A directory on this host as a backup destination. Objects are written to
// "NAME.partial-RANDOM" beside their final name, fsynced, and renamed over
// NAME at commit (then the directory is fsynced), so a crash leaves either
// nothing or a partial file that list() ignores and cleanup_leftovers()
// removes.
//
// Whoever can write the directory may plant symlinks in it (a job's folder
// pointing at /etc, an object pointing at a secret): below the root, every
// folder is opened with O_NOFOLLOW from the root's descriptor and every
// object with O_NOFOLLOW, so keel-dr never writes, reads or removes through
// a symlink there. A symlink is reported as Corrupt; a name that is not a
// regular file (a fifo, a device) likewise, without blocking on it.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "agent/dr/destination.h"
#include "agent/dr/object_name.h"
#include "core/crypto.h"
#include "core/files.h"

namespace keel::dr {
namespace {

namespace fs = std::filesystem;

std::unexpected<Error> errno_error(const std::string& op, const std::string& path, int err) {
  ErrorCode code = ErrorCode::Internal;
  if (err == ENOENT || err == ENOTDIR) code = ErrorCode::NotFound;
  if (err == EACCES || err == EPERM || err == EROFS) code = ErrorCode::PermissionDenied;
  if (err == ENOSPC || err == EDQUOT) code = ErrorCode::Unavailable;
  if (err == ELOOP) return fail(ErrorCode::Corrupt, fmt::format("{} {}: a symlink in the destination (not followed)", op, path));
  return fail(code, fmt::format("{} {}: {}", op, path, std::generic_category().message(err)));
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

class FileWriter final : public ObjectWriter {
 public:
  FileWriter(Fd dir, int fd, std::string partial, std::string final_name, std::string shown)
      : dir_(std::move(dir)), fd_(fd), partial_(std::move(partial)), final_(std::move(final_name)),
        shown_(std::move(shown)) {}
  ~FileWriter() override { abort(); }

  Status write(std::string_view data) override {
    if (fd_ < 0) return fail(ErrorCode::Internal, "write " + shown_ + ": writer is closed");
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_error("write", shown_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }

  Status commit() override {
    if (fd_ < 0) return fail(ErrorCode::Internal, "commit " + shown_ + ": writer is closed");
    if (::fsync(fd_) != 0) return errno_error("fsync", shown_, errno);
    ::close(fd_);
    fd_ = -1;
    // Renames the name itself: a symlink planted at the final name is
    // replaced, not followed.
    if (::renameat(dir_.get(), partial_.c_str(), dir_.get(), final_.c_str()) != 0) {
      int err = errno;
      ::unlinkat(dir_.get(), partial_.c_str(), 0);
      return errno_error("rename", shown_, err);
    }
    committed_ = true;
    if (::fsync(dir_.get()) != 0) return errno_error("fsync the folder of", shown_, errno);
    return {};
  }

  void abort() override {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (!committed_ && !partial_.empty()) ::unlinkat(dir_.get(), partial_.c_str(), 0);
    partial_.clear();
  }

 private:
  Fd dir_;
  int fd_;
  std::string partial_, final_, shown_;
  bool committed_ = false;
};

class FileReader final : public ObjectReader {
 public:
  FileReader(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FileReader() override { ::close(fd_); }

  Result<std::size_t> read(char* buffer, std::size_t max) override {
    for (;;) {
      ssize_t n = ::read(fd_, buffer, max);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return errno_error("read", path_, errno);
    }
  }

 private:
  int fd_;
  std::string path_;
};

class FileDestination final : public Destination {
 public:
  FileDestination(std::string dir, Fd root) : dir_(std::move(dir)), root_(std::move(root)) {}

  std::string describe() const override { return "file://" + dir_; }

  Result<std::unique_ptr<ObjectWriter>> create(const std::string& name) override {
    if (auto ok = check_object_name(name); !ok) return fail(ok.error());
    auto parent = open_parent(name, true);
    if (!parent) return fail(parent.error());
    std::string base = base_name(name);
    std::string partial = fmt::format("{}{}{}", base, kPartialMarker, crypto::hex_encode(crypto::random_bytes(6)));
    int fd = ::openat(parent->get(), partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return errno_error("create", shown(name) + kPartialMarker.data(), errno);
    return std::make_unique<FileWriter>(std::move(*parent), fd, partial, base, shown(name));
  }

  Result<std::unique_ptr<ObjectReader>> open(const std::string& name) override {
    if (auto ok = check_object_name(name); !ok) return fail(ok.error());
    auto parent = open_parent(name, false);
    if (!parent) return fail(parent.error());
    // O_NONBLOCK: a fifo planted under the name must not block the open.
    Fd fd(::openat(parent->get(), base_name(name).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) return errno_error("open", shown(name), errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errno_error("stat", shown(name), errno);
    if (!S_ISREG(st.st_mode)) return fail(ErrorCode::Corrupt, fmt::format("open {}: not a regular file", shown(name)));
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
    return std::make_unique<FileReader>(fd.release(), shown(name));
  }

  Result<std::vector<ObjectInfo>> list(const std::string& prefix) override {
    return walk(prefix, [](const std::string& name) { return !is_partial_name(name); });
  }

  Status remove(const std::string& name) override {
    if (auto ok = check_object_name(name); !ok) return fail(ok.error());
    auto parent = open_parent(name, false);
    if (!parent) return parent.error().code() == ErrorCode::NotFound ? Status{} : fail(parent.error());
    if (::unlinkat(parent->get(), base_name(name).c_str(), 0) != 0 && errno != ENOENT)
      return errno_error("remove", shown(name), errno);
    return {};
  }

  Status cleanup_leftovers(const std::string& prefix) override {
    auto partials = walk(prefix, is_partial_name);
    if (!partials) return fail(partials.error());
    for (const auto& object : *partials)
      if (auto parent = open_parent(object.name, false))
        ::unlinkat(parent->get(), base_name(object.name).c_str(), 0);
    return {};
  }

 private:
  std::string shown(const std::string& name) const { return dir_ + "/" + name; }
  static std::string base_name(const std::string& name) { return name.substr(name.rfind('/') + 1); }

  // The folder that holds `name`, opened from the root one folder at a
  // time without following symlinks; missing folders made (0700) when
  // `create`.
  Result<Fd> open_parent(const std::string& name, bool create) {
    Fd at(::fcntl(root_.get(), F_DUPFD_CLOEXEC, 0));
    if (at.get() < 0) return errno_error("open", dir_, errno);
    std::size_t start = 0;
    for (std::size_t slash; (slash = name.find('/', start)) != std::string::npos; start = slash + 1) {
      std::string part = name.substr(start, slash - start);
      std::string path = shown(name.substr(0, slash));
      int fd = ::openat(at.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT && create) {
        if (::mkdirat(at.get(), part.c_str(), 0700) != 0 && errno != EEXIST) return errno_error("mkdir", path, errno);
        fd = ::openat(at.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      }
      if (fd < 0) {
        int err = errno;
        struct stat st {};
        if ((err == ENOTDIR || err == ELOOP) && ::fstatat(at.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
          err = ELOOP;
        return errno_error("open", path, err);
      }
      at = Fd(fd);
    }
    return at;
  }

  // Regular files only: symlinks (to files or folders) are not followed.
  template <typename Keep>
  Result<std::vector<ObjectInfo>> walk(const std::string& prefix, Keep keep) {
    std::vector<ObjectInfo> out;
    std::error_code ec;
    fs::recursive_directory_iterator it(dir_, ec), end;
    if (ec) return fail(ErrorCode::Unavailable, fmt::format("list {}: {}", dir_, ec.message()));
    for (; it != end; it.increment(ec)) {
      if (ec) return fail(ErrorCode::Unavailable, fmt::format("list {}: {}", dir_, ec.message()));
      if (!fs::is_regular_file(it->symlink_status(ec))) continue;
      std::string name = fs::relative(it->path(), dir_, ec).generic_string();
      if (!name.starts_with(prefix) || !keep(name)) continue;
      out.push_back({name, static_cast<std::uint64_t>(it->file_size(ec))});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
  }

  std::string dir_;
  Fd root_;
};

}  // namespace

Result<std::unique_ptr<Destination>> open_file_destination(const std::string& dir) {
  if (dir.empty() || dir.front() != '/')
    return fail(ErrorCode::InvalidConfig, fmt::format("file destination `{}`: the directory must be absolute", dir));
  if (auto made = files::make_dirs(dir, 0700); !made) return fail(made.error().with_context("file destination"));
  // The root itself is the operator's path, resolved once as given.
  Fd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return errno_error("open", dir, errno);
  return std::make_unique<FileDestination>(dir, std::move(root));
}

}  // namespace keel::dr
