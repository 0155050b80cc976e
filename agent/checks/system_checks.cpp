// The system checks: disk, memory, load and process. Each reads the
// kernel's numbers once (statvfs, /proc) and compares them with the
// thresholds; none blocks, so none needs a timeout. A number that cannot be
// read is "unknown" (the Nagios meaning: the check itself could not look).

#include <dirent.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include "agent/checks/check.h"

namespace keel::agent {
namespace {

using checks::CheckStatus;

std::string errno_text(int err) { return std::generic_category().message(err); }

// Reads up to `size` bytes of a small file (a /proc entry) into `buf`;
// the byte count, or -1 with errno set.
ssize_t read_small(const char* path, char* buf, size_t size) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t total = 0;
  while (total < size) {
    ssize_t n = ::read(fd, buf + total, size - total);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    total += static_cast<size_t>(n);
  }
  int err = errno;
  ::close(fd);
  errno = err;
  return static_cast<ssize_t>(total);
}

std::string human_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  size_t unit = 0;
  while (bytes >= 1024 && unit + 1 < std::size(kUnits)) {
    bytes /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{:.0f} B", bytes);
  return fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

// Free space and memory: the less there is, the worse.
CheckStatus at_or_below(double value, double warning, double critical) {
  if (value <= critical) return CheckStatus::Critical;
  if (value <= warning) return CheckStatus::Warning;
  return CheckStatus::Passing;
}

// Load: the more there is, the worse.
CheckStatus at_or_above(double value, double warning, double critical) {
  if (value >= critical) return CheckStatus::Critical;
  if (value >= warning) return CheckStatus::Warning;
  return CheckStatus::Passing;
}

// The value of a "Key:   123 kB" line of /proc/meminfo, in kB.
std::optional<double> meminfo_kb(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string_view line = text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':') {
      std::string_view value = line.substr(key.size() + 1);
      value.remove_prefix(std::min(value.find_first_not_of(' '), value.size()));
      unsigned long long kb = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), kb);
      if (ec != std::errc()) return std::nullopt;
      return static_cast<double>(kb);
    }
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return std::nullopt;
}

// What /proc/PID says about a process: its comm and whether it is a zombie.
struct ProcInfo {
  std::string_view comm;
  bool zombie = false;
};

// "/proc/PID/stat" is "pid (comm) S ...": comm may hold spaces and
// parentheses, so it ends at the last ')'.
std::optional<ProcInfo> parse_stat(std::string_view stat) {
  size_t open = stat.find('(');
  size_t close = stat.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
  ProcInfo info;
  info.comm = stat.substr(open + 1, close - open - 1);
  info.zombie = close + 2 < stat.size() && stat[close + 2] == 'Z';
  return info;
}

// Does argv[0]'s base name equal `name`? (comm holds only 15 characters,
// and interpreters show up as "python3" there.)
bool argv0_matches(const std::string& dir, const std::string& name) {
  char buf[4096];
  ssize_t n = read_small(fmt::format("{}/cmdline", dir).c_str(), buf, sizeof buf);
  if (n <= 0) return false;
  std::string_view argv0(buf, ::strnlen(buf, static_cast<size_t>(n)));
  size_t slash = argv0.rfind('/');
  if (slash != std::string_view::npos) argv0.remove_prefix(slash + 1);
  return argv0 == name;
}

bool process_matches(const char* pid, const std::string& name) {
  const std::string dir = fmt::format("/proc/{}", pid);
  char buf[1024];
  ssize_t n = read_small(fmt::format("{}/stat", dir).c_str(), buf, sizeof buf);
  if (n <= 0) return false;  // gone meanwhile
  auto info = parse_stat(std::string_view(buf, static_cast<size_t>(n)));
  if (!info || info->zombie) return false;  // a zombie is not running
  return info->comm == name || argv0_matches(dir, name);
}

bool all_digits(const char* text) {
  if (!*text) return false;
  for (; *text; ++text) {
    if (*text < '0' || *text > '9') return false;
  }
  return true;
}

}  // namespace

CheckResult run_disk_check(const checks::DiskCheck& check) {
  struct statvfs st {};
  if (::statvfs(check.path.c_str(), &st) != 0) {
    return {CheckStatus::Unknown, fmt::format("{}: {}", check.path, errno_text(errno))};
  }
  if (st.f_blocks == 0) return {CheckStatus::Unknown, fmt::format("{}: the file system reports no size", check.path)};
  const double free_pct = 100.0 * static_cast<double>(st.f_bavail) / static_cast<double>(st.f_blocks);
  const double unit = static_cast<double>(st.f_frsize ? st.f_frsize : st.f_bsize);
  return {at_or_below(free_pct, check.warning, check.critical),
          fmt::format("{:.1f}% free ({} of {}) on {}", free_pct, human_bytes(static_cast<double>(st.f_bavail) * unit),
                      human_bytes(static_cast<double>(st.f_blocks) * unit), check.path)};
}

CheckResult run_memory_check(const checks::MemoryCheck& check) {
  char buf[8192];
  ssize_t n = read_small("/proc/meminfo", buf, sizeof buf);
  if (n < 0) return {CheckStatus::Unknown, fmt::format("/proc/meminfo: {}", errno_text(errno))};
  std::string_view text(buf, static_cast<size_t>(n));
  auto total = meminfo_kb(text, "MemTotal");
  auto available = meminfo_kb(text, "MemAvailable");  // Linux 3.14 and later
  if (!total || !available || *total <= 0) {
    return {CheckStatus::Unknown, "/proc/meminfo has no MemTotal or MemAvailable"};
  }
  const double available_pct = 100.0 * *available / *total;
  return {at_or_below(available_pct, check.warning, check.critical),
          fmt::format("{:.1f}% available ({} of {})", available_pct, human_bytes(*available * 1024),
                      human_bytes(*total * 1024))};
}

CheckResult run_load_check(const checks::LoadCheck& check) {
  char buf[256];
  ssize_t n = read_small("/proc/loadavg", buf, sizeof buf);
  if (n < 0) return {CheckStatus::Unknown, fmt::format("/proc/loadavg: {}", errno_text(errno))};
  double load = 0;
  auto [end, ec] = std::from_chars(buf, buf + n, load);
  if (ec != std::errc()) return {CheckStatus::Unknown, "/proc/loadavg: unexpected content"};
  if (!check.per_cpu) {
    return {at_or_above(load, check.warning, check.critical), fmt::format("load {:.2f}", load)};
  }
  long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus < 1) cpus = 1;
  const double per_cpu = load / static_cast<double>(cpus);
  return {at_or_above(per_cpu, check.warning, check.critical),
          fmt::format("load {:.2f} on {} CPU{} ({:.2f} per CPU)", load, cpus, cpus == 1 ? "" : "s", per_cpu)};
}

CheckResult run_process_check(const checks::ProcessCheck& check) {
  if (check.name.empty()) return {CheckStatus::Unknown, "no process name given"};
  DIR* proc = ::opendir("/proc");
  if (!proc) return {CheckStatus::Unknown, fmt::format("/proc: {}", errno_text(errno))};
  int count = 0;
  while (const dirent* entry = ::readdir(proc)) {
    if (all_digits(entry->d_name) && process_matches(entry->d_name, check.name)) ++count;
  }
  ::closedir(proc);
  std::string text = fmt::format("{} process{} named {}", count, count == 1 ? "" : "es", check.name);
  if (count < check.min) return {CheckStatus::Critical, fmt::format("{} (at least {} expected)", text, check.min)};
  if (check.max >= 0 && count > check.max) {
    return {CheckStatus::Warning, fmt::format("{} (at most {} expected)", text, check.max)};
  }
  return {CheckStatus::Passing, std::move(text)};
}

}  // namespace keel::agent
