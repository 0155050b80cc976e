#pragma once
// Restores a tar archive (what `tar --create` made for a files backup) into
// a directory without ever following a symlink inside that directory.
//
// The target may hold symlinks that someone else planted (a restore over
// /srv/app, where the app's user can write), and the archive may create
// symlinks of its own. GNU tar follows a symlink in any directory part of a
// member's name (`srv -> /etc` turns srv/app/x into /etc/app/x), and no
// option of tar 1.34 changes that. So the archive is read with libarchive
// (the library behind bsdtar) and every entry is written through directory
// file descriptors opened one component at a time with O_NOFOLLOW, from the
// target's own descriptor: a symlink where a directory is expected stops the
// restore with an error naming it; nothing is resolved by path after the
// target itself, so swapping a directory for a symlink midway cannot
// redirect a write either. (openat2's RESOLVE_NO_SYMLINKS would do the same
// walk in one call; the walk by hand also works where a seccomp filter or an
// older kernel refuses openat2.)
//
// What each entry does (GNU tar's defaults, where they are safe):
//   directory   created when missing; an existing directory keeps its owner
//               and mode (tar's --no-overwrite-dir); a symlink or file in
//               its place is replaced by the directory
//   file, link, symlink, fifo, device
//               replaces what is at its name (the name itself: a symlink
//               there is removed, not followed); an existing directory
//               there is an error
//   names       "./" prefixes dropped; absolute names and ".." refused
//   owner, mode owner (by name, else by number) and the whole mode when
//               running as root; otherwise the mode less the umask, as tar
//   times       modification times; directories' last, after their content
//
// The archive arrives as a stream (write() as the backup is decrypted);
// a thread reads it from a pipe, so memory stays bounded by libarchive's
// buffers whatever the archive's size.

#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

namespace keel::dr {

class TarExtractor {
 public:
  // Opens (and creates, 0700, when missing) the target directory. Its own
  // path is resolved once, as given.
  static Result<std::unique_ptr<TarExtractor>> start(const std::string& target_dir);
  ~TarExtractor();  // stops and waits for the reader thread
  TarExtractor(const TarExtractor&) = delete;
  TarExtractor& operator=(const TarExtractor&) = delete;

  // The archive's next bytes. Fails once extraction has failed.
  Status write(std::string_view bytes);
  // The end of the archive: waits for the last entries and the
  // directories' metadata; the first error of the extraction, if any.
  Status finish();

 private:
  struct State;
  explicit TarExtractor(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace keel::dr
