#pragma once
// Files: whole-file reads, atomic durable writes, and advisory locks.
//
// Files under a directory that someone else may have prepared (a
// repository's .keel, committed by a pull request; a data directory another
// account owns) are read and written without following symbolic links:
// read_regular_file, AppendFile, FileLock and write_atomic never act on the
// target of a link in the last component, and check_private_dir /
// make_dirs_inside guard the directories above.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace keel::files {

Result<std::string> read_file(const std::string& path);
bool exists(const std::string& path);
// Like exists, but a symbolic link counts as itself (dangling or not).
bool exists_no_follow(const std::string& path);

// Reads a file that must be a regular file of at most `max_bytes`: a
// symbolic link in the last component is refused, never followed (a
// repository can commit `.keel/state.json -> /etc/shadow`), and so is a
// FIFO or a device (which could block or never end) and anything larger.
// A file with any of the permission bits `forbidden_mode` (e.g. 077 for a
// key) is refused, with the chmod that fixes it. Errors: NotFound,
// PermissionDenied, InvalidConfig (not a regular file, too large).
Result<std::string> read_regular_file(const std::string& path, size_t max_bytes, unsigned forbidden_mode = 0);

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

// A directory keel keeps secrets in and writes through (the stack's .keel):
// it must be a real directory, not a symbolic link, owned by the effective
// user and not writable by group or others; otherwise PermissionDenied,
// saying what to do. A link is refused even when it points somewhere
// harmless: a repository can commit one, and keel's writes would follow it.
Status check_private_dir(const std::string& dir);
// Like make_dirs, for `path` inside `root` (which the caller checked with
// check_private_dir): creates what is missing below root with `mode`, and
// refuses any component below root that is a symbolic link, not a
// directory, or owned by another user, so that nothing planted under root
// can redirect keel's writes (or a remove_all) elsewhere.
Status make_dirs_inside(const std::string& root, const std::string& path, unsigned mode);
// The same checks without making anything: every directory from below root
// down to `path` that exists must be a real one of keel's user (before a
// remove_all, say). Missing ones are fine.
Status check_dirs_inside(const std::string& root, const std::string& path);
// Removes a file or a directory tree; missing is fine.
Status remove_all(const std::string& path);
Status fsync_dir(const std::string& dir);

// An append-only file whose appends can be made durable (fdatasync). open()
// refuses a symbolic link, anything but a regular file, and a file with
// other hard links; the file gets `mode` whatever the umask.
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
  int fd() const { return fd_; }  // still owned by the AppendFile

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
  std::string user_at_host() const;
};
// This process, running `command`, now.
LockHolder current_holder(const std::string& command);
// As JSON (one line) and back; nullopt for text that is not a holder.
std::string holder_json(const LockHolder& h);
std::optional<LockHolder> parse_holder(const std::string& text);

// An exclusive lock on a file (flock), bound to the open file description:
// the operating system releases it when the holder exits, even by kill -9.
// The holder's identity is written into the file, which is why a lock path
// that is a symbolic link, not a regular file, or a file with other hard
// links is refused before anything is written (else its target would be
// truncated).
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
