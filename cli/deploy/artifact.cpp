#include "cli/deploy/artifact.h"

#include <openssl/evp.h>

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

Result<std::string> sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::NotFound, fmt::format("cannot read {}", path));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return fail(ErrorCode::Internal, "sha256: cannot start a digest");
  std::string buffer(1 << 16, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = in.gcount();
    if (n > 0 && EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(n)) != 1)
      return fail(ErrorCode::Internal, "sha256: digest update failed");
  }
  if (in.bad()) return fail(ErrorCode::Internal, fmt::format("reading {} failed", path));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) return fail(ErrorCode::Internal, "sha256: digest failed");
  return crypto::hex_encode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

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
  auto hash = sha256_file(artifact.file);
  if (!hash) return fail(hash.error());
  artifact.sha256 = *hash;
  artifact.size = static_cast<long long>(fs::file_size(artifact.file, ec));
  return artifact;
}

}  // namespace keel::deploy
