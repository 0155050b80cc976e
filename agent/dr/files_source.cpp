// Files: a tar archive (GNU tar) of the listed paths, stored relative to /
// so that a restore can put them under any directory. Restores write it
// with TarExtractor, not `tar --extract` (tar_extract.h says why).

#include <fmt/format.h>

#include "agent/dr/source_impl.h"
#include "agent/dr/tar_extract.h"
#include "core/crypto.h"
#include "core/files.h"
#include "core/process.h"

namespace keel::dr {
namespace {

constexpr std::chrono::minutes kVerifyTimeout{10};

// A restore into a directory through TarExtractor (tar_extract.h), which
// never follows a symlink inside it.
class FilesRestore final : public RestoreSink {
 public:
  FilesRestore(std::unique_ptr<TarExtractor> extractor, std::string dir)
      : extractor_(std::move(extractor)), dir_(std::move(dir)) {}
  Status write(std::string_view raw) override { return extractor_->write(raw); }
  Status finish() override { return extractor_->finish(); }
  std::string target() const override { return dir_; }

 private:
  std::unique_ptr<TarExtractor> extractor_;
  std::string dir_;
};

Result<std::unique_ptr<RestoreSink>> start_untar(const std::string& dir) {
  auto extractor = TarExtractor::start(dir);
  if (!extractor) return fail(extractor.error());
  return std::make_unique<FilesRestore>(std::move(*extractor), dir);
}

class FilesScratch final : public ScratchTarget {
 public:
  FilesScratch(std::string dir, std::unique_ptr<RestoreSink> sink) : dir_(std::move(dir)), sink_(std::move(sink)) {}
  ~FilesScratch() override {
    sink_.reset();
    (void)files::remove_all(dir_);
  }
  RestoreSink& sink() override { return *sink_; }
  Result<Verdict> verify(const std::string& command) override {
    process::Options options;
    options.argv = {"sh", "-c", command};
    options.cwd = dir_;
    options.env = {{"KEEL_RESTORE_DIR", dir_}};
    options.timeout = kVerifyTimeout;
    options.max_output = 4096;
    auto outcome = process::run(options);
    if (!outcome) return fail(outcome.error());
    std::string output = outcome->output;
    if (outcome->exit_code != 0) output = fmt::format("{}: {}", outcome->describe(), output);
    return Verdict{outcome->exit_code == 0, output};
  }

 private:
  std::string dir_;
  std::unique_ptr<RestoreSink> sink_;
};

}  // namespace

Result<std::unique_ptr<DumpStream>> start_dump_of(const FilesSource& s) {
  process::Child::Spec spec;
  spec.argv = {"tar", "--create", "--file=-", "--directory=/", "--sparse"};
  // "./" keeps a path that starts with "-" from reading as an option.
  for (const auto& path : s.paths) spec.argv.push_back("./" + path.substr(path.find_first_not_of('/')));
  auto process = PipedProcess::start("tar --create", spec);
  if (!process) return fail(process.error());
  // GNU tar exits 1 when a file changed while it was read: the archive is
  // complete, the file's copy may be torn, as with any copy of a live file.
  return std::make_unique<ProcessDump>(std::move(*process), 1);
}

Result<std::unique_ptr<RestoreSink>> start_restore_of(const FilesSource&, const std::string& target,
                                                      const std::string&) {
  if (target.empty() || target.front() != '/')
    return fail(ErrorCode::InvalidConfig,
                "a files backup is restored into a directory: give an absolute path as the target (--to DIR)");
  return start_untar(target);
}

Result<std::unique_ptr<ScratchTarget>> make_scratch_of(const FilesSource&, const std::string& job,
                                                       const std::string& work_dir) {
  std::string dir = fmt::format("{}/drill-{}-{}", work_dir, identifier_part(job), crypto::hex_encode(crypto::random_bytes(4)));
  auto sink = start_untar(dir);
  if (!sink) return fail(sink.error());
  return std::make_unique<FilesScratch>(dir, std::move(*sink));
}

}  // namespace keel::dr
