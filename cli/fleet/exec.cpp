#include "cli/fleet/exec.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

namespace keel::fleet {

const char* to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::Exited: return "exited";
    case Outcome::Failed: return "failed";
    case Outcome::Unreachable: return "unreachable";
  }
  return "unknown";
}

namespace {

using Clock = std::chrono::steady_clock;

// Splits one host's streams into lines, each stream on its own, and hands
// them to on_line under the hooks' lock.
class LineSplitter {
 public:
  LineSplitter(const ssh::Host& host, const ExecHooks& hooks, std::mutex& hooks_mutex)
      : host_(host), hooks_(hooks), mutex_(hooks_mutex) {}

  void add(ssh::Stream stream, std::string_view data) {
    if (!hooks_.on_line) return;
    std::string& pending = buffer(stream);
    std::vector<std::string_view> lines;
    std::size_t start = 0;
    // Lines that are whole within `data` are passed on without copying.
    std::string joined;
    while (start < data.size()) {
      const std::size_t nl = data.find('\n', start);
      if (nl == std::string_view::npos) break;
      if (pending.empty()) {
        lines.push_back(trim_cr(data.substr(start, nl - start)));
      } else {
        pending.append(data.substr(start, nl - start));
        joined = std::move(pending);
        pending.clear();
        lines.push_back(trim_cr(joined));
      }
      start = nl + 1;
    }
    pending.append(data.substr(start));
    if (lines.empty()) return;
    std::lock_guard lock(mutex_);
    for (auto line : lines) hooks_.on_line(host_, stream, line);
  }

  // The last line of each stream when it had no "\n".
  void flush() {
    if (!hooks_.on_line) return;
    for (auto stream : {ssh::Stream::Stdout, ssh::Stream::Stderr}) {
      std::string& pending = buffer(stream);
      if (pending.empty()) continue;
      std::lock_guard lock(mutex_);
      hooks_.on_line(host_, stream, trim_cr(pending));
      pending.clear();
    }
  }

 private:
  static std::string_view trim_cr(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  }
  std::string& buffer(ssh::Stream stream) { return stream == ssh::Stream::Stdout ? out_ : err_; }

  const ssh::Host& host_;
  const ExecHooks& hooks_;
  std::mutex& mutex_;
  std::string out_, err_;
};

HostRun run_one(const ssh::Host& host, const ExecOptions& options, HostRunner& runner, const ExecHooks& hooks,
                std::mutex& hooks_mutex) {
  HostRun run;
  run.address = host.address;
  run.host = host.target.describe();
  const auto started = Clock::now();
  if (hooks.on_start) {
    std::lock_guard lock(hooks_mutex);
    hooks.on_start(host);
  }
  if (auto connected = runner.connect(host); !connected) {
    run.outcome = Outcome::Unreachable;
    run.error = connected.error();
  } else {
    LineSplitter lines(host, hooks, hooks_mutex);
    auto on_output = [&](ssh::Stream stream, std::string_view data) {
      if (options.collect_output) run.output.append(data);
      lines.add(stream, data);
    };
    auto status = runner.run(host, options.command, on_output, options.timeout);
    lines.flush();
    if (status) {
      run.outcome = Outcome::Exited;
      run.exit_status = *status;
    } else {
      run.outcome = Outcome::Failed;
      run.error = status.error();
    }
  }
  run.duration = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  if (hooks.on_finish) {
    std::lock_guard lock(hooks_mutex);
    hooks.on_finish(run);
  }
  return run;
}

}  // namespace

std::vector<HostRun> run_on_hosts(const std::vector<ssh::Host>& hosts, const ExecOptions& options,
                                  HostRunner& runner, const ExecHooks& hooks) {
  std::vector<HostRun> runs(hosts.size());
  if (hosts.empty()) return runs;
  std::mutex hooks_mutex;
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < hosts.size(); i = next++)
      runs[i] = run_one(hosts[i], options, runner, hooks, hooks_mutex);
  };
  const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(std::max(1, options.forks)), hosts.size());
  if (n == 1) {
    worker();
    return runs;
  }
  std::vector<std::thread> pool;
  pool.reserve(n);
  for (std::size_t i = 0; i < n; ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  return runs;
}

ExecSummary summarize(const std::vector<HostRun>& runs) {
  ExecSummary s;
  for (const auto& r : runs) {
    if (r.ok()) ++s.ok;
    else if (r.outcome == Outcome::Unreachable) ++s.unreachable;
    else ++s.failed;
  }
  return s;
}

Status SshRunner::connect(const ssh::Host& host) {
  auto session = connections_.get(host);
  if (!session) return fail(session.error());
  return {};
}

Result<int> SshRunner::run(const ssh::Host& host, const std::string& command, const ssh::OutputFn& on_output,
                           std::chrono::milliseconds timeout) {
  auto session = connections_.get(host);
  if (!session) return fail(session.error());
  auto status = (*session)->exec(command, on_output, {}, timeout);
  // After a timeout or a lost connection the session's state is unknown:
  // the next use (deploy, another command in this run) connects afresh.
  if (!status) connections_.drop(host.address);
  return status;
}

}  // namespace keel::fleet
