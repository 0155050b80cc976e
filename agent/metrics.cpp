#include "agent/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

namespace keel::agent {

namespace {

using checks::CheckStatus;

// /proc/self/stat fields (1-based in proc(5)): 14 utime, 15 stime, 20
// num_threads, 22 starttime (clock ticks since boot), 23 vsize, 24 rss.
struct SelfStat {
  long long utime = 0, stime = 0, threads = 0, starttime = 0, vsize = 0, rss_pages = 0;
};

SelfStat read_self_stat() {
  SelfStat s;
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces: fields restart after its ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  for (int index = 3; fields >> field; ++index) {
    long long value = 0;
    try {
      value = std::stoll(field);
    } catch (...) {
      continue;
    }
    switch (index) {
      case 14: s.utime = value; break;
      case 15: s.stime = value; break;
      case 20: s.threads = value; break;
      case 22: s.starttime = value; break;
      case 23: s.vsize = value; break;
      case 24: s.rss_pages = value; break;
      default: break;
    }
  }
  return s;
}

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  long long value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return static_cast<double>(value);
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

int count_open_fds() {
  int count = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (auto* e = ::readdir(dir))
      if (e->d_name[0] != '.') ++count;
    ::closedir(dir);
    --count;  // the directory stream's own descriptor
  }
  return count;
}

class Exposition {
 public:
  void family(const char* name, const char* type, const char* help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(const char* name, const std::string& labels, double value) {
    if (labels.empty()) fmt::format_to(std::back_inserter(out_), "{} {}\n", name, value);
    else fmt::format_to(std::back_inserter(out_), "{}{{{}}} {}\n", name, labels, value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string check_labels(const CheckSnapshot& c) {
  return fmt::format("check=\"{}\",type=\"{}\"", escape_label_value(c.spec.name), checks::to_string(c.spec.type));
}

double status_value(CheckStatus status) { return checks::exit_code(status); }

void render_checks(Exposition& x, const std::vector<CheckSnapshot>& checks) {
  x.family("keel_check_status", "gauge", "Check status: 0 passing, 1 warning, 2 critical, 3 unknown.");
  for (const auto& c : checks) x.sample("keel_check_status", check_labels(c), status_value(c.status));
  x.family("keel_check_up", "gauge", "1 when the check is passing, else 0.");
  for (const auto& c : checks) x.sample("keel_check_up", check_labels(c), c.status == CheckStatus::Passing ? 1 : 0);
  x.family("keel_check_duration_seconds", "gauge", "Duration of the check's last run.");
  for (const auto& c : checks)
    if (c.last_run) x.sample("keel_check_duration_seconds", check_labels(c), c.last_run->duration.count() / 1e6);
  x.family("keel_check_last_run_timestamp_seconds", "gauge", "When the check's last run started (Unix time).");
  for (const auto& c : checks)
    if (c.last_run)
      x.sample("keel_check_last_run_timestamp_seconds", check_labels(c),
               std::chrono::duration<double>(c.last_run->time.time_since_epoch()).count());
  x.family("keel_check_runs_total", "counter", "Check runs by result.");
  for (const auto& c : checks)
    for (auto result : {CheckStatus::Passing, CheckStatus::Warning, CheckStatus::Critical, CheckStatus::Unknown}) {
      auto it = c.results_total.find(result);
      x.sample("keel_check_runs_total", fmt::format("{},result=\"{}\"", check_labels(c), checks::to_string(result)),
               static_cast<double>(it == c.results_total.end() ? 0 : it->second));
    }
}

void render_agent(Exposition& x, const std::vector<CheckSnapshot>& checks, CheckStatus aggregate,
                  const AgentCounters& counters) {
  x.family("keel_agent_health_status", "gauge", "The worst check status: 0 passing, 1 warning, 2 critical, 3 unknown.");
  x.sample("keel_agent_health_status", "", status_value(aggregate));
  x.family("keel_agent_checks", "gauge", "Checks by current status.");
  for (auto status : {CheckStatus::Passing, CheckStatus::Warning, CheckStatus::Critical, CheckStatus::Unknown}) {
    int n = 0;
    for (const auto& c : checks) n += c.status == status;
    x.sample("keel_agent_checks", fmt::format("status=\"{}\"", checks::to_string(status)), n);
  }
  x.family("keel_agent_config_reloads_total", "counter", "Config reloads by result.");
  x.sample("keel_agent_config_reloads_total", "result=\"applied\"", static_cast<double>(counters.reloads_ok.load()));
  x.sample("keel_agent_config_reloads_total", "result=\"refused\"", static_cast<double>(counters.reloads_failed.load()));
  x.family("keel_agent_webhook_deliveries_total", "counter", "Webhook deliveries by result (after retries).");
  x.sample("keel_agent_webhook_deliveries_total", "result=\"delivered\"",
           static_cast<double>(counters.webhook_delivered.load()));
  x.sample("keel_agent_webhook_deliveries_total", "result=\"failed\"", static_cast<double>(counters.webhook_failed.load()));
  x.family("keel_agent_api_errors_total", "counter", "API requests answered with an error status.");
  x.sample("keel_agent_api_errors_total", "", static_cast<double>(counters.api_errors.load()));
  x.family("keel_agent_api_connections_dropped_total", "counter",
           "API connections closed without an answer: too slow for a deadline, or pushed out at a cap.");
  x.sample("keel_agent_api_connections_dropped_total", "reason=\"deadline\"",
           static_cast<double>(counters.api_dropped_deadline.load()));
  x.sample("keel_agent_api_connections_dropped_total", "reason=\"evicted\"",
           static_cast<double>(counters.api_dropped_evicted.load()));
  x.family("keel_agent_build_info", "gauge", "Always 1; the labels describe the build.");
  x.sample("keel_agent_build_info", fmt::format("version=\"{}\"", KEEL_VERSION), 1);
}

std::string job_label(const JobMetrics& m) { return fmt::format("job=\"{}\"", escape_label_value(m.job)); }

// One gauge family with a sample for each job that has the value.
template <typename Value>
void job_gauge(Exposition& x, const char* name, const char* help, const std::vector<JobMetrics>& jobs,
               std::optional<Value> JobMetrics::*field) {
  x.family(name, "gauge", help);
  for (const auto& m : jobs)
    if (m.*field) x.sample(name, job_label(m), static_cast<double>(*(m.*field)));
}

// Only for agents with backup jobs: an agent without any keeps its page as
// it was.
void render_jobs(Exposition& x, const std::vector<JobMetrics>& jobs) {
  if (jobs.empty()) return;
  job_gauge(x, "keel_backup_last_success_timestamp_seconds", "When the newest successful backup finished (Unix time).",
            jobs, &JobMetrics::backup_last_success);
  x.family("keel_backup_bytes", "gauge", "Size of the newest successful backup: raw (read) and stored.");
  for (const auto& m : jobs) {
    if (m.backup_raw_bytes)
      x.sample("keel_backup_bytes", fmt::format("{},kind=\"raw\"", job_label(m)),
               static_cast<double>(*m.backup_raw_bytes));
    if (m.backup_stored_bytes)
      x.sample("keel_backup_bytes", fmt::format("{},kind=\"stored\"", job_label(m)),
               static_cast<double>(*m.backup_stored_bytes));
  }
  job_gauge(x, "keel_backup_duration_seconds", "Duration of the newest successful backup.", jobs,
            &JobMetrics::backup_duration);
  job_gauge(x, "keel_drill_last_success_timestamp_seconds", "When the newest successful drill finished (Unix time).",
            jobs, &JobMetrics::drill_last_success);
  job_gauge(x, "keel_restore_duration_seconds",
            "Restore time of the newest restore or drill (for a drill, its measured RTO).", jobs,
            &JobMetrics::restore_duration);
  x.family("keel_job_runs_total", "counter", "Backup job runs since the agent started, by kind and status.");
  for (const auto& m : jobs)
    for (const auto& [key, count] : m.runs_total)
      x.sample("keel_job_runs_total",
               fmt::format("{},kind=\"{}\",status=\"{}\"", job_label(m), to_string(key.first), key.second),
               static_cast<double>(count));
}

void render_process(Exposition& x, const ProcessStats& p) {
  x.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
  x.sample("process_cpu_seconds_total", "", p.cpu_seconds);
  x.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  x.sample("process_resident_memory_bytes", "", static_cast<double>(p.resident_bytes));
  x.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  x.sample("process_virtual_memory_bytes", "", static_cast<double>(p.virtual_bytes));
  x.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
  x.sample("process_start_time_seconds", "", p.start_time_seconds);
  x.family("process_open_fds", "gauge", "Number of open file descriptors.");
  x.sample("process_open_fds", "", p.open_fds);
  x.family("process_threads", "gauge", "Number of OS threads in the process.");
  x.sample("process_threads", "", p.threads);
}

}  // namespace

ProcessStats read_process_stats() {
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  static const long long page = ::sysconf(_SC_PAGESIZE);
  static const double boot = boot_time_seconds();
  SelfStat s = read_self_stat();
  ProcessStats p;
  p.cpu_seconds = static_cast<double>(s.utime + s.stime) / ticks;
  p.resident_bytes = s.rss_pages * page;
  p.virtual_bytes = s.vsize;
  p.start_time_seconds = boot + static_cast<double>(s.starttime) / ticks;
  p.threads = static_cast<int>(s.threads);
  p.open_fds = count_open_fds();
  return p;
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string render_metrics(const std::vector<CheckSnapshot>& checks, checks::CheckStatus aggregate,
                           const AgentCounters& counters, const ProcessStats& process,
                           const std::vector<JobMetrics>& jobs) {
  Exposition x;
  render_checks(x, checks);
  render_agent(x, checks, aggregate, counters);
  render_jobs(x, jobs);
  render_process(x, process);
  return x.take();
}

}  // namespace keel::agent
