#pragma once
// Releases of an app on a host, and the choices a rollout makes, as pure
// functions (no I/O, tested alone):
//
//   PATH/releases/20261128T041500Z-ab12cd/   one directory per release
//   PATH/releases/20261129T090000Z-77e0f1/
//   PATH/current -> releases/20261129T090000Z-77e0f1
//
// and the shell commands keel runs on the host to inspect, unpack, switch
// and prune them (docs/deploy.md). The deploy module (cli/deploy) owns the
// rollout; it knows nothing of the stack file or of how output is shown.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::deploy {

// "20261128T041500Z-ab12cd": the UTC second the deploy started and the first
// six hex digits of the artifact's sha256. Ids sort in time order.
std::string release_id(std::chrono::system_clock::time_point when, std::string_view sha256_hex);
// Is `name` a release id (as release_id() makes them)? Other names in
// releases/ (an upload in progress, a file someone put there) are ignored.
bool is_release_id(std::string_view name);

// The number of hosts in each batch: `batch` hosts, or `batch` percent of
// them rounded up, at least 1, at most `hosts`.
size_t batch_size(size_t hosts, int batch, bool percent);
// Host indexes 0..hosts-1 cut into batches of batch_size(), in order.
std::vector<std::vector<size_t>> plan_batches(size_t hosts, int batch, bool percent);

// The releases to delete so that the newest `keep` stay: never `current`
// nor `previous` (the one a rollback returns to), which are kept on top.
// `listed` is the releases directory as listed (any order; names that are
// not release ids are left alone). Oldest first.
std::vector<std::string> releases_to_prune(std::vector<std::string> listed, int keep, const std::string& current,
                                           const std::string& previous);

// The newest release older than `current` in `listed`: where --rollback
// goes. Empty when there is none.
std::string release_before(std::vector<std::string> listed, const std::string& current);

// The release a `current` link points to ("releases/ID", or an absolute
// ".../releases/ID"); empty when it is not a link to a release.
std::string release_of_link(std::string_view target);

// What `inspect_command` printed: where `current` points and the releases.
struct HostReleases {
  std::string current;                // release id; empty: no current link
  std::string current_target;         // the link as read (for messages), empty: none
  std::vector<std::string> releases;  // release ids, sorted
};
HostReleases parse_inspect(std::string_view output);

// The host's time as `date +%s.%N` printed it (the last non-empty line of
// `output`), in seconds since the epoch. Without a fraction (a `date`
// that does not know %N) the next whole second, so that a check run in the
// same second is never taken for one after it.
std::optional<double> parse_host_time(std::string_view output);

// The app's files on a host. Paths are not quoted; the commands quote them.
struct Layout {
  std::string path;  // the app's root, absolute

  std::string releases() const { return path + "/releases"; }
  std::string release(const std::string& id) const { return releases() + "/" + id; }
  std::string current() const { return path + "/current"; }
  // Where the artifact is uploaded before it is unpacked.
  std::string upload(const std::string& id, bool gzip) const {
    return releases() + "/.upload-" + id + (gzip ? ".tar.gz" : ".tar");
  }
};

// The environment hooks and `start` see, beside their working directory.
struct HookEnv {
  std::string app, release, previous;  // previous: empty when none
};

// Prints "current=TARGET" (empty when there is no link), then one release
// directory name a line. Never fails on a host that has no app yet.
std::string inspect_command(const Layout& layout);
// Makes PATH/releases.
std::string prepare_command(const Layout& layout);
// Unpacks the uploaded artifact into releases/ID (through a hidden
// directory renamed at the end: a half-unpacked release is never listed),
// then deletes the upload.
std::string unpack_command(const Layout& layout, const std::string& id, bool gzip);
// Runs `command` with /bin/sh in `dir`, with KEEL_APP, KEEL_RELEASE,
// KEEL_PREVIOUS_RELEASE, KEEL_APP_PATH and KEEL_RELEASE_DIR set.
std::string hook_command(const Layout& layout, const std::string& dir, const HookEnv& env, const std::string& command);
// Points `current` at releases/ID atomically (a new link renamed over the
// old one), then prints the host's time (date +%s.%N).
std::string switch_command(const Layout& layout, const std::string& id);
// Removes `current` (a first deploy that failed leaves no release).
std::string unlink_current_command(const Layout& layout);
// Deletes releases (ids only) and leftovers of failed uploads of them.
std::string remove_releases_command(const Layout& layout, const std::vector<std::string>& ids);

}  // namespace keel::deploy
