#pragma once
// The artifact of a deploy, ready to upload: a .tar.gz, .tgz or .tar file as
// it is, or a directory packed into a .tar.gz (with the system's `tar`) in a
// scratch directory. Its sha256 names the release (release.h).

#include <string>

#include "cli/deploy/rollout.h"
#include "core/error.h"

namespace keel::deploy {

// The artifact at `path` (absolute). A directory is packed into
// `scratch_dir` (made if missing); `packed` then names the file made, which
// the caller deletes when done. NotFound for a missing path, InvalidConfig
// for a file that is not a tarball, Unavailable when `tar` is missing.
Result<Artifact> prepare_artifact(const std::string& path, const std::string& scratch_dir, std::string& packed);

}  // namespace keel::deploy
