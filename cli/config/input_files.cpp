#include "cli/config/input_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

namespace keel::config {

namespace {

std::string errno_text(int err) { return std::generic_category().message(err); }

const char* file_type(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISFIFO(mode)) return "a FIFO";
  return "not a regular file";
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

Result<std::string> read_input_file(const std::string& path, size_t max_bytes, Streams streams) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer. The type is
  // checked on the open descriptor, so a swap after a stat cannot fool it.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    const int err = errno;
    return fail(err == ENOENT || err == ENOTDIR ? ErrorCode::NotFound : ErrorCode::InvalidConfig,
                fmt::format("cannot read {}: {}", path, errno_text(err)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(ErrorCode::InvalidConfig, fmt::format("stat {}: {}", path, errno_text(errno)));
  const bool stream = S_ISFIFO(st.st_mode);
  if (!S_ISREG(st.st_mode) && !(stream && streams == Streams::Allowed))
    return fail(ErrorCode::InvalidConfig, fmt::format("{} is {}: keel reads only regular files here", path,
                                                      file_type(st.st_mode)));
  const auto too_big = [&] {
    return fail(ErrorCode::InvalidConfig, fmt::format("{} is larger than {} MiB", path, max_bytes >> 20));
  };
  if (S_ISREG(st.st_mode) && static_cast<unsigned long long>(st.st_size) > max_bytes) return too_big();
  if (stream) ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::InvalidConfig, fmt::format("read {}: {}", path, errno_text(errno)));
    }
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > max_bytes) return too_big();  // a file that grows while read
    out.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace keel::config
