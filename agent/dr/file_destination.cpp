// A directory on this host as a backup destination. Objects are written to
// "NAME.partial-RANDOM" beside their final name, fsynced, and renamed over
// NAME at commit (then the directory is fsynced), so a crash leaves either
// nothing or a partial file that list() ignores and cleanup_leftovers()
// removes.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>

#include <spdlog/fmt/fmt.h>

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
  return fail(code, fmt::format("{} {}: {}", op, path, std::generic_category().message(err)));
}

class FileWriter final : public ObjectWriter {
 public:
  FileWriter(int fd, std::string partial, std::string final_path)
      : fd_(fd), partial_(std::move(partial)), final_(std::move(final_path)) {}
  ~FileWriter() override { abort(); }

  Status write(std::string_view data) override {
    if (fd_ < 0) return fail(ErrorCode::Internal, "write " + final_ + ": writer is closed");
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_error("write", partial_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }

  Status commit() override {
    if (fd_ < 0) return fail(ErrorCode::Internal, "commit " + final_ + ": writer is closed");
    if (::fsync(fd_) != 0) return errno_error("fsync", partial_, errno);
    ::close(fd_);
    fd_ = -1;
    if (::rename(partial_.c_str(), final_.c_str()) != 0) {
      int err = errno;
      ::unlink(partial_.c_str());
      return errno_error("rename", final_, err);
    }
    committed_ = true;
    return files::fsync_dir(files::dirname(final_));
  }

  void abort() override {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (!committed_ && !partial_.empty()) ::unlink(partial_.c_str());
    partial_.clear();
  }

 private:
  int fd_;
  std::string partial_, final_;
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
  explicit FileDestination(std::string dir) : dir_(std::move(dir)) {}

  std::string describe() const override { return "file://" + dir_; }

  Result<std::unique_ptr<ObjectWriter>> create(const std::string& name) override {
    if (auto ok = check_object_name(name); !ok) return fail(ok.error());
    std::string path = dir_ + "/" + name;
    if (auto made = files::make_dirs(files::dirname(path), 0700); !made) return fail(made.error());
    std::string partial = fmt::format("{}{}{}", path, kPartialMarker, crypto::hex_encode(crypto::random_bytes(6)));
    int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return errno_error("create", partial, errno);
    return std::make_unique<FileWriter>(fd, partial, path);
  }

  Result<std::unique_ptr<ObjectReader>> open(const std::string& name) override {
    if (auto ok = check_object_name(name); !ok) return fail(ok.error());
    std::string path = dir_ + "/" + name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_error("open", path, errno);
    return std::make_unique<FileReader>(fd, path);
  }

  Result<std::vector<ObjectInfo>> list(const std::string& prefix) override {
    return walk(prefix, [](const std::string& name) { return !is_partial_name(name); });
  }

  Status remove(const std::string& name) override {
    if (auto ok = check_object_name(name); !ok) return fail(ok.error());
    std::string path = dir_ + "/" + name;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_error("remove", path, errno);
    return {};
  }

  Status cleanup_leftovers(const std::string& prefix) override {
    auto partials = walk(prefix, is_partial_name);
    if (!partials) return fail(partials.error());
    for (const auto& object : *partials) ::unlink((dir_ + "/" + object.name).c_str());
    return {};
  }

 private:
  template <typename Keep>
  Result<std::vector<ObjectInfo>> walk(const std::string& prefix, Keep keep) {
    std::vector<ObjectInfo> out;
    std::error_code ec;
    fs::recursive_directory_iterator it(dir_, ec), end;
    if (ec) return fail(ErrorCode::Unavailable, fmt::format("list {}: {}", dir_, ec.message()));
    for (; it != end; it.increment(ec)) {
      if (ec) return fail(ErrorCode::Unavailable, fmt::format("list {}: {}", dir_, ec.message()));
      if (!it->is_regular_file(ec)) continue;
      std::string name = fs::relative(it->path(), dir_, ec).generic_string();
      if (!name.starts_with(prefix) || !keep(name)) continue;
      out.push_back({name, static_cast<std::uint64_t>(it->file_size(ec))});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return out;
  }

  std::string dir_;
};

}  // namespace

Result<std::unique_ptr<Destination>> open_file_destination(const std::string& dir) {
  if (dir.empty() || dir.front() != '/')
    return fail(ErrorCode::InvalidConfig, fmt::format("file destination `{}`: the directory must be absolute", dir));
  if (auto made = files::make_dirs(dir, 0700); !made) return fail(made.error().with_context("file destination"));
  return std::make_unique<FileDestination>(dir);
}

}  // namespace keel::dr
