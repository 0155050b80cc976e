#include "agent/dr/piped_process.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

namespace keel::dr {
namespace {
constexpr std::size_t kStderrKept = 4096;
}

PipedProcess::PipedProcess(std::string what, process::Child child) : what_(std::move(what)), child_(std::move(child)) {
  stderr_thread_ = std::thread([this] {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(child_.stderr_fd(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      stderr_.append(buf, static_cast<std::size_t>(n));
      if (stderr_.size() > 2 * kStderrKept) stderr_.erase(0, stderr_.size() - kStderrKept);
    }
  });
}

Result<std::unique_ptr<PipedProcess>> PipedProcess::start(std::string what, const process::Child::Spec& spec) {
  auto child = process::Child::start(spec);
  if (!child) return fail(child.error().with_context("start " + what));
  return std::unique_ptr<PipedProcess>(new PipedProcess(std::move(what), std::move(*child)));
}

PipedProcess::~PipedProcess() {
  if (!finished_) kill();
  close_stdin();
  child_.wait();
  if (stderr_thread_.joinable()) stderr_thread_.join();
}

Result<std::size_t> PipedProcess::read(char* buffer, std::size_t max) {
  for (;;) {
    ssize_t n = ::read(child_.stdout_fd(), buffer, max);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return fail(ErrorCode::Internal, fmt::format("read from {}: {}", what_, std::generic_category().message(errno)));
  }
}

Status PipedProcess::write(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(child_.stdin_fd(), data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      // EPIPE: the child stopped reading, usually because it failed; its
      // exit status and stderr say why.
      if (err == EPIPE) {
        auto done = finish();
        if (!done) return done;
      }
      return fail(ErrorCode::Internal, fmt::format("write to {}: {}", what_, std::generic_category().message(err)));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

void PipedProcess::close_stdin() { child_.close_stdin(); }

void PipedProcess::kill() { child_.kill(SIGKILL); }

std::string PipedProcess::stderr_tail() {
  std::string tail = stderr_.size() > kStderrKept ? stderr_.substr(stderr_.size() - kStderrKept) : stderr_;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  return tail;
}

Status PipedProcess::finish(int max_ok_status) {
  close_stdin();
  process::Outcome outcome = child_.wait();
  if (stderr_thread_.joinable()) stderr_thread_.join();
  finished_ = true;
  if (outcome.exit_code >= 0 && outcome.exit_code <= max_ok_status) return {};
  std::string tail = stderr_tail();
  return fail(ErrorCode::Unavailable,
              fmt::format("{}: {}{}{}", what_, outcome.describe(), tail.empty() ? "" : ": ", tail));
}

}  // namespace keel::dr
