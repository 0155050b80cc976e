#include "cli/deploy/release.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <set>

#include <fmt/format.h>

#include "cli/ssh/session.h"
#include "core/text.h"

namespace keel::deploy {

using ssh::shell_quote;

std::string release_id(std::chrono::system_clock::time_point when, std::string_view sha256_hex) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  ::gmtime_r(&t, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  std::string hash(sha256_hex.substr(0, 6));
  std::transform(hash.begin(), hash.end(), hash.begin(), [](unsigned char c) { return std::tolower(c); });
  while (hash.size() < 6) hash += '0';
  return fmt::format("{}-{}", stamp, hash);
}

// [0-9]{8}T[0-9]{6}Z-[0-9a-f]{6,64}: the names a host lists are not ours to trust.
bool is_release_id(std::string_view name) {
  if (name.size() < 23 || name.size() > 81) return false;
  const std::string_view hash = name.substr(17);
  return text::is_digits(name.substr(0, 8), 8, 8) && name[8] == 'T' && text::is_digits(name.substr(9, 6), 6, 6) &&
         name.substr(15, 2) == "Z-" && text::matches_classes(hash, "", "0-9a-f");
}

size_t batch_size(size_t hosts, int batch, bool percent) {
  if (hosts == 0) return 0;
  size_t n = 1;
  if (percent) {
    const size_t p = static_cast<size_t>(std::clamp(batch, 1, 100));
    n = (hosts * p + 99) / 100;  // rounded up
  } else if (batch > 0) {
    n = static_cast<size_t>(batch);
  }
  return std::clamp<size_t>(n, 1, hosts);
}

std::vector<std::vector<size_t>> plan_batches(size_t hosts, int batch, bool percent) {
  std::vector<std::vector<size_t>> out;
  const size_t size = batch_size(hosts, batch, percent);
  for (size_t i = 0; i < hosts; i += size) {
    std::vector<size_t> one;
    for (size_t j = i; j < std::min(hosts, i + size); ++j) one.push_back(j);
    out.push_back(std::move(one));
  }
  return out;
}

namespace {

std::vector<std::string> sorted_releases(std::vector<std::string> listed) {
  listed.erase(std::remove_if(listed.begin(), listed.end(), [](const std::string& n) { return !is_release_id(n); }),
               listed.end());
  std::sort(listed.begin(), listed.end());
  listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
  return listed;
}

}  // namespace

std::vector<std::string> releases_to_prune(std::vector<std::string> listed, int keep, const std::string& current,
                                           const std::string& previous) {
  const auto releases = sorted_releases(std::move(listed));
  std::set<std::string> kept;
  if (!current.empty()) kept.insert(current);
  if (!previous.empty()) kept.insert(previous);
  // The newest first, until `keep` are kept (current and previous count).
  size_t room = static_cast<size_t>(std::max(keep, 0));
  for (auto it = releases.rbegin(); it != releases.rend(); ++it) {
    if (kept.size() >= room) break;
    kept.insert(*it);
  }
  std::vector<std::string> out;
  for (const auto& r : releases)
    if (!kept.count(r)) out.push_back(r);
  return out;
}

std::string release_before(std::vector<std::string> listed, const std::string& current) {
  const auto releases = sorted_releases(std::move(listed));
  std::string before;
  for (const auto& r : releases)
    if (r < current) before = r;
  return before;
}

std::string release_of_link(std::string_view target) {
  while (!target.empty() && target.back() == '/') target.remove_suffix(1);
  const auto slash = target.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? target : target.substr(slash + 1);
  const std::string_view dir = slash == std::string_view::npos ? std::string_view() : target.substr(0, slash);
  const bool in_releases = dir == "releases" || dir == "./releases" ||
                           (dir.size() > 9 && dir.substr(dir.size() - 9) == "/releases");
  if (!in_releases || !is_release_id(name)) return {};
  return std::string(name);
}

HostReleases parse_inspect(std::string_view output) {
  HostReleases out;
  size_t start = 0;
  while (start <= output.size()) {
    size_t end = output.find('\n', start);
    if (end == std::string_view::npos) end = output.size();
    std::string_view line = output.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.rfind("current=", 0) == 0) {
      out.current_target = std::string(line.substr(8));
      out.current = release_of_link(out.current_target);
    } else if (is_release_id(line)) {
      out.releases.emplace_back(line);
    }
    start = end + 1;
  }
  std::sort(out.releases.begin(), out.releases.end());
  return out;
}

std::optional<double> parse_host_time(std::string_view output) {
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r' || output.back() == ' '))
    output.remove_suffix(1);
  const auto nl = output.rfind('\n');
  const std::string line(nl == std::string_view::npos ? output : output.substr(nl + 1));
  // "SECONDS.FRACTION" as `date +%s.%N` prints it; where %N is not
  // supported ("1700000000.N"), the next whole second.
  const size_t dot = std::min(line.find('.'), line.size());
  const std::string_view seconds = std::string_view(line).substr(0, dot);
  if (!text::is_digits(seconds, 1, 20)) return std::nullopt;
  const std::string_view fraction = dot < line.size() ? std::string_view(line).substr(dot + 1) : std::string_view();
  if (!fraction.empty() && text::is_digits(fraction, 1, fraction.size())) return std::strtod(line.c_str(), nullptr);
  if (fraction.find_first_of("\r\n") != std::string_view::npos) return std::nullopt;
  return std::strtod(std::string(seconds).c_str(), nullptr) + 1.0;
}

std::string inspect_command(const Layout& layout) {
  return fmt::format("printf 'current=%s\\n' \"$(readlink {} 2>/dev/null)\"; ls -1A {} 2>/dev/null; true",
                     shell_quote(layout.current()), shell_quote(layout.releases()));
}

std::string prepare_command(const Layout& layout) {
  return fmt::format("mkdir -p -- {}", shell_quote(layout.releases()));
}

std::string unpack_command(const Layout& layout, const std::string& id, bool gzip) {
  const std::string partial = shell_quote(fmt::format("{}/.{}.partial", layout.releases(), id));
  const std::string upload = shell_quote(layout.upload(id, gzip));
  return fmt::format("set -e; rm -rf -- {partial}; mkdir -- {partial}; tar -x{z}f {upload} -C {partial}; "
                     "rm -f -- {upload}; mv -T -- {partial} {release}",
                     fmt::arg("partial", partial), fmt::arg("upload", upload), fmt::arg("z", gzip ? "z" : ""),
                     fmt::arg("release", shell_quote(layout.release(id))));
}

std::string hook_command(const Layout& layout, const std::string& dir, const HookEnv& env,
                         const std::string& command) {
  return fmt::format(
      "cd {dir} && KEEL_APP={app} KEEL_RELEASE={release} KEEL_PREVIOUS_RELEASE={previous} KEEL_APP_PATH={path} "
      "KEEL_RELEASE_DIR={release_dir} exec /bin/sh -c {command}",
      fmt::arg("dir", shell_quote(dir)), fmt::arg("app", shell_quote(env.app)),
      fmt::arg("release", shell_quote(env.release)), fmt::arg("previous", shell_quote(env.previous)),
      fmt::arg("path", shell_quote(layout.path)), fmt::arg("release_dir", shell_quote(layout.release(env.release))),
      fmt::arg("command", shell_quote(command)));
}

std::string switch_command(const Layout& layout, const std::string& id) {
  const std::string temp = shell_quote(layout.path + "/.current.tmp");
  return fmt::format("ln -sfn {target} {temp} && mv -T -- {temp} {current} && date +%s.%N",
                     fmt::arg("target", shell_quote("releases/" + id)), fmt::arg("temp", temp),
                     fmt::arg("current", shell_quote(layout.current())));
}

std::string unlink_current_command(const Layout& layout) {
  return fmt::format("rm -f -- {}", shell_quote(layout.current()));
}

std::string remove_releases_command(const Layout& layout, const std::vector<std::string>& ids) {
  std::string paths;
  for (const auto& id : ids) {
    if (!is_release_id(id)) continue;  // never anything else
    paths += fmt::format(" {} {} {} {}", shell_quote(layout.release(id)),
                         shell_quote(fmt::format("{}/.{}.partial", layout.releases(), id)),
                         shell_quote(layout.upload(id, true)), shell_quote(layout.upload(id, false)));
  }
  if (paths.empty()) return "true";
  return fmt::format("rm -rf --{}", paths);
}

}  // namespace keel::deploy
