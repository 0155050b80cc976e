#pragma once
// Inside sources.cpp's dispatch: one set of functions per source type, and
// the process-backed streams they share. Not for other modules.

#include <memory>
#include <string>

#include "agent/dr/piped_process.h"
#include "agent/dr/sources.h"

namespace keel::dr {

Result<std::unique_ptr<DumpStream>> start_dump_of(const PostgresSource& s);
Result<std::unique_ptr<DumpStream>> start_dump_of(const RedisSource& s);
Result<std::unique_ptr<DumpStream>> start_dump_of(const FilesSource& s);
Result<std::unique_ptr<RestoreSink>> start_restore_of(const PostgresSource& s, const std::string& target,
                                                      const std::string& work_dir);
Result<std::unique_ptr<RestoreSink>> start_restore_of(const RedisSource& s, const std::string& target,
                                                      const std::string& work_dir);
Result<std::unique_ptr<RestoreSink>> start_restore_of(const FilesSource& s, const std::string& target,
                                                      const std::string& work_dir);
Result<std::unique_ptr<ScratchTarget>> make_scratch_of(const PostgresSource& s, const std::string& job,
                                                       const std::string& work_dir);
Result<std::unique_ptr<ScratchTarget>> make_scratch_of(const RedisSource& s, const std::string& job,
                                                       const std::string& work_dir);
Result<std::unique_ptr<ScratchTarget>> make_scratch_of(const FilesSource& s, const std::string& job,
                                                       const std::string& work_dir);

class ProcessDump final : public DumpStream {
 public:
  // Exit statuses up to max_ok_status count as success (tar: 1 = a file
  // changed while it was read).
  ProcessDump(std::unique_ptr<PipedProcess> process, int max_ok_status = 0);
  Result<std::size_t> read(char* buffer, std::size_t max) override;
  Status finish() override;

 private:
  std::unique_ptr<PipedProcess> process_;
  int max_ok_status_;
};

class ProcessRestore final : public RestoreSink {
 public:
  ProcessRestore(std::unique_ptr<PipedProcess> process, std::string target);
  Status write(std::string_view raw) override;
  Status finish() override;
  std::string target() const override { return target_; }

 private:
  std::unique_ptr<PipedProcess> process_;
  std::string target_;
};

std::string identifier_part(const std::string& text);

}  // namespace keel::dr
