#include "cli/deploy/artifact.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <unistd.h>

#include <fmt/format.h>

#include "core/crypto.h"
#include "core/files.h"
#include "core/process.h"

namespace keel::deploy {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<Artifact> prepare_artifact(const std::string& path, const std::string& scratch_dir, std::string& packed) {
  packed.clear();
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status))
    return fail(ErrorCode::NotFound, fmt::format("artifact {} does not exist (build it first?)", path));
  Artifact artifact;
  if (fs::is_directory(status)) {
    // Not through a link (a repository could commit .keel/tmp as one).
    if (auto s = files::make_dirs_inside(files::dirname(scratch_dir), scratch_dir, 0700); !s) return fail(s.error());
    const std::string out =
        fmt::format("{}/artifact-{}-{}.tar.gz", scratch_dir, ::getpid(), crypto::hex_encode(crypto::random_bytes(4)));
    process::Options options;
    // Names sorted and owners dropped: the same tree packs the same way.
    options.argv = {"tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-czf", out, "-C", path, "."};
    auto r = process::run_checked(options);
    if (!r) {
      files::remove_all(out);
      return fail(r.error().with_context(fmt::format("packing the directory {}", path)));
    }
    packed = out;
    artifact.file = out;
    artifact.gzip = true;
  } else if (fs::is_regular_file(status)) {
    artifact.file = path;
    if (ends_with(path, ".tar.gz") || ends_with(path, ".tgz")) artifact.gzip = true;
    else if (ends_with(path, ".tar")) artifact.gzip = false;
    else
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("artifact {} is neither a .tar.gz, .tgz or .tar file nor a directory", path));
  } else {
    return fail(ErrorCode::InvalidConfig, fmt::format("artifact {} is neither a file nor a directory", path));
  }
  auto hash = crypto::sha256_file_hex(artifact.file);
  if (!hash) return fail(hash.error());
  artifact.sha256 = *hash;
  artifact.size = static_cast<long long>(fs::file_size(artifact.file, ec));
  return artifact;
}

}  // namespace keel::deploy
