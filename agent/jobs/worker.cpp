#include "agent/jobs/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/log.h"
#include "core/process.h"

namespace keel::agent {

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// A list of a thousand manifests is a few hundred KiB; anything this long is
// a broken worker, not a result.
constexpr size_t kMaxLine = 16 << 20;
constexpr size_t kStderrTail = 8;

std::string normalized(std::string_view code) {
  std::string out;
  for (char c : code)
    if (c != '_') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// keel-dr logs through core/log.h to its stderr: "<time> <level> <message>".
// Such a line is relayed at its own level; any other line (a crash's last
// words, a tool's complaint) at info.
struct StderrLine {
  logging::Level level = logging::Level::Info;
  bool logged = false;  // written by keel-dr's log
};

StderrLine classify_stderr(std::string_view line) {
  const size_t time_end = line.find(' ');
  if (time_end == std::string_view::npos || time_end == 0 || line[time_end - 1] != 'Z') return {};
  const size_t level_end = line.find(' ', time_end + 1);
  if (level_end == std::string_view::npos) return {};
  auto level = logging::level_from_string(line.substr(time_end + 1, level_end - time_end - 1));
  if (!level) return {};
  return {*level, true};
}

void write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EPIPE: the worker died; its exit tells why
    done += static_cast<size_t>(n);
  }
}

// Reads one pipe into lines; `eof` once the writer closed it.
struct LineReader {
  int fd = -1;
  std::string pending;
  bool eof = false;
  bool overflow = false;

  template <typename OnLine>
  void drain(OnLine on_line) {
    char buffer[65536];
    for (;;) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return;  // EAGAIN: nothing more for now
      if (n == 0) {
        eof = true;
        if (!pending.empty()) on_line(std::exchange(pending, {}));
        return;
      }
      pending.append(buffer, static_cast<size_t>(n));
      for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
        std::string line = pending.substr(0, nl);
        pending.erase(0, nl + 1);
        on_line(std::move(line));
      }
      if (pending.size() > kMaxLine) {
        overflow = true;
        pending.clear();
      }
    }
  }
};

// What the worker said, and what became of it.
struct Conversation {
  std::optional<Json> result;
  Json partial;  // the "result" of an error line
  std::optional<Error> error;
  std::deque<std::string> stderr_tail;
  bool cancelled = false, timed_out = false, overflow = false;
};

class WorkerSession {
 public:
  WorkerSession(const WorkerCall& call, process::Child& child) : call_(call), child_(child) {}

  Conversation talk() {
    out_.fd = child_.stdout_fd();
    err_.fd = child_.stderr_fd();
    for (int fd : {out_.fd, err_.fd}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    const auto started = Clock::now();
    std::optional<Clock::time_point> deadline;
    if (call_.timeout.count() > 0) deadline = started + call_.timeout;
    while (!out_.eof || !err_.eof) {
      if (!kill_at_ && ((call_.cancel && call_.cancel->raised()) || (deadline && Clock::now() >= *deadline))) {
        talk_.cancelled = call_.cancel && call_.cancel->raised();
        talk_.timed_out = !talk_.cancelled;
        terminate();
      }
      if (kill_at_ && !killed_ && Clock::now() >= *kill_at_) {
        child_.kill(SIGKILL);
        killed_ = true;
      }
      wait_for_output(deadline);
      out_.drain([this](std::string line) { on_stdout(std::move(line)); });
      err_.drain([this](std::string line) { on_stderr(std::move(line)); });
      if ((out_.overflow || err_.overflow) && !kill_at_) {
        talk_.overflow = true;
        terminate();
      }
    }
    return std::move(talk_);
  }

 private:
  void terminate() {
    child_.kill(SIGTERM);
    kill_at_ = Clock::now() + kWorkerGrace;
  }

  void wait_for_output(const std::optional<Clock::time_point>& deadline) {
    pollfd fds[3] = {{out_.eof ? -1 : out_.fd, POLLIN, 0},
                     {err_.eof ? -1 : err_.fd, POLLIN, 0},
                     {call_.cancel && !kill_at_ ? call_.cancel->fd() : -1, POLLIN, 0}};
    // Until the kill (once terminated), or the deadline; no wake after the
    // kill was sent. Not through an optional: g++ 12 at -Os warns that its
    // value may be uninitialized (-Wmaybe-uninitialized).
    auto until = [](Clock::time_point when) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(when - Clock::now()).count();
      return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
    };
    int timeout_ms = -1;
    if (kill_at_ && !killed_) timeout_ms = until(*kill_at_);
    else if (!kill_at_ && deadline) timeout_ms = until(*deadline);
    ::poll(fds, 3, timeout_ms);
  }

  void on_stdout(std::string line) {
    if (line.empty()) return;
    auto event = Json::parse(line, nullptr, false);
    const std::string kind = event.is_object() ? event.value("event", "") : "";
    if (kind == "progress") {
      if (call_.on_progress)
        call_.on_progress(event.value("bytes_read", 0LL), event.value("bytes_stored", 0LL));
    } else if (kind == "result") {
      talk_.result = event.contains("result") ? event["result"] : Json::object();
    } else if (kind == "error") {
      std::string message = event.value("error", "keel-dr failed without a message");
      talk_.error = Error(error_code_from_string(event.value("code", "")), message);
      if (event.contains("result") && event["result"].is_object()) talk_.partial = event["result"];
    } else {
      logging::event(logging::Level::Warning, "keel-dr wrote a line that is not an event",
                     {{"job", call_.job}, {"run", call_.run_id}, {"line", line.substr(0, 200)}});
    }
  }

  void on_stderr(std::string line) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) return;
    const StderrLine kind = classify_stderr(line);
    logging::event(kind.level, "keel-dr", {{"job", call_.job}, {"run", call_.run_id}, {"line", line}});
    // The tail explains a failed run: keel-dr's own info and debug lines
    // would push out what it said last.
    if (kind.logged && kind.level < logging::Level::Warning) return;
    talk_.stderr_tail.push_back(std::move(line));
    if (talk_.stderr_tail.size() > kStderrTail) talk_.stderr_tail.pop_front();
  }

  const WorkerCall& call_;
  process::Child& child_;
  LineReader out_, err_;
  Conversation talk_;
  std::optional<Clock::time_point> kill_at_;
  bool killed_ = false;
};

std::string tail_text(const std::deque<std::string>& lines) { return fmt::format("{}", fmt::join(lines, " | ")); }

Result<Json> verdict(const WorkerCall& call, const Conversation& talk, const process::Outcome& outcome) {
  if (talk.cancelled) return fail(ErrorCode::Unavailable, "cancelled: the agent is stopping");
  if (talk.timed_out)
    return fail(ErrorCode::Timeout, fmt::format("keel-dr did not finish within {} s", call.timeout.count() / 1000));
  if (talk.overflow) return fail(ErrorCode::Protocol, fmt::format("keel-dr wrote a line over {} bytes", kMaxLine));
  if (talk.error) return fail(*talk.error);
  if (talk.result && outcome.exit_code == 0) return *talk.result;
  std::string message = talk.result ? fmt::format("keel-dr exited with {} after its result", outcome.describe())
                                    : fmt::format("keel-dr exited with {} without a result", outcome.describe());
  if (!talk.stderr_tail.empty()) message = fmt::format("{}: {}", message, tail_text(talk.stderr_tail));
  return fail(ErrorCode::Internal, message);
}

}  // namespace

Cancel::Cancel() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

Cancel::~Cancel() {
  if (fd_ >= 0) ::close(fd_);
}

void Cancel::raise() {
  raised_ = true;
  const uint64_t one = 1;
  if (fd_ >= 0) (void)!::write(fd_, &one, sizeof one);
}

ErrorCode error_code_from_string(std::string_view text) {
  const std::string wanted = normalized(text);
  for (ErrorCode code : {ErrorCode::InvalidConfig, ErrorCode::NotFound, ErrorCode::Conflict, ErrorCode::Locked,
                         ErrorCode::Transient, ErrorCode::Timeout, ErrorCode::PermissionDenied, ErrorCode::Unavailable,
                         ErrorCode::Corrupt, ErrorCode::Protocol, ErrorCode::Internal})
    if (normalized(to_string(code)) == wanted) return code;
  return ErrorCode::Internal;
}

Result<Json> run_worker(const WorkerCall& call, Json* partial) {
  process::Child::Spec spec;
  spec.argv = {call.worker};
  spec.new_process_group = true;
  // keel-dr logs at info, and at debug when the agent does.
  if (logging::enabled(logging::Level::Debug)) spec.env["KEEL_LOG"] = "debug";
  auto child = process::Child::start(spec);
  if (!child) return fail(child.error().with_context("keel-dr"));
  write_all(child->stdin_fd(), call.request.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n");
  child->close_stdin();
  Conversation talk = WorkerSession(call, *child).talk();
  process::Outcome outcome = child->wait();
  if (partial) *partial = talk.partial;
  return verdict(call, talk, outcome);
}

}  // namespace keel::agent
