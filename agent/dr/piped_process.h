#pragma once
// A child process in a pipeline: the backup reads a dump from its stdout, a
// restore writes into its stdin. Its stderr is drained on a thread (a chatty
// child never blocks on a full pipe) and its last lines go into the error
// when it fails.

#include <memory>
#include <string>
#include <thread>

#include "core/error.h"
#include "core/process.h"

namespace keel::dr {

class PipedProcess {
 public:
  // `what` names it in errors ("pg_dump"); argv/env as process::Child.
  static Result<std::unique_ptr<PipedProcess>> start(std::string what, const process::Child::Spec& spec);
  ~PipedProcess();  // kills a child that is still running
  PipedProcess(const PipedProcess&) = delete;
  PipedProcess& operator=(const PipedProcess&) = delete;

  // From its stdout: up to max bytes, 0 at its end.
  Result<std::size_t> read(char* buffer, std::size_t max);
  // Into its stdin.
  Status write(std::string_view data);
  void close_stdin();
  // Waits for the exit; an error unless the exit status is in 0..max_ok_status.
  Status finish(int max_ok_status = 0);
  void kill();

 private:
  PipedProcess(std::string what, process::Child child);
  std::string stderr_tail();

  std::string what_;
  process::Child child_;
  std::thread stderr_thread_;
  std::string stderr_;  // the last 4 KiB, written by stderr_thread_ until it ends
  bool finished_ = false;
};

}  // namespace keel::dr
