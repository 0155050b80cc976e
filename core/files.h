#pragma once
// Files: whole-file reads, atomic durable writes, and advisory locks.

#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace keel::files {

Result<std::string> read_file(const std::string& path);
bool exists(const std::string& path);

// Writes `data` to a temporary file beside `path`, fsyncs it, renames it over
// `path` and fsyncs the directory: after it returns, either the old or the new
// content is on disk, never a mix. `mode` applies to the new file.
Status write_atomic(const std::string& path, std::string_view data, unsigned mode = 0644);

// Whether write_atomic also fsyncs the directory. Skipping it is for a
// caller that writes several files in one directory and makes the last
// write (or its own fsync_dir) cover the renames before it.
enum class DirSync { Yes, No };
Status write_atomic(const std::string& path, std::string_view data, unsigned mode, DirSync dir_sync);

// Creates the directory and its parents (like mkdir -p) with `mode`.
Status make_dirs(const std::string& path, unsigned mode = 0755);
// Removes a file or a directory tree; missing is fine.
Status remove_all(const std::string& path);
Status fsync_dir(const std::string& dir);

// An append-only file whose appends can be made durable (fdatasync).
class AppendFile {
 public:
  static Result<AppendFile> open(const std::string& path, unsigned mode = 0600);
  AppendFile(AppendFile&& other) noexcept;
  AppendFile& operator=(AppendFile&& other) noexcept;
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;
  ~AppendFile();

  Status append(std::string_view data);  // whole write, retried on EINTR
  Status sync();                         // fdatasync
  const std::string& path() const { return path_; }

 private:
  AppendFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

// Who holds a lock, written into the lock file for the error message of the
// next one who tries.
struct LockHolder {
  std::string user, host, command, since;  // since: RFC 3339 UTC
  long pid = 0;
  std::string describe() const;  // "root@host pid 42 (keel apply) since 2026-..."
};

// An exclusive lock on a file (flock), bound to the open file description:
// the operating system releases it when the holder exits, even by kill -9.
// The holder's identity is written into the file.
class FileLock {
 public:
  // Fails at once with ErrorCode::Locked, naming the holder, when taken.
  static Result<FileLock> acquire(const std::string& path, const std::string& command);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();  // releases

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Expands a leading "~/" with $HOME.
std::string expand_home(const std::string& path);
// The absolute, lexically normal form of `path` relative to `base`.
std::string absolute(const std::string& path, const std::string& base);
std::string dirname(const std::string& path);

}  // namespace keel::files
