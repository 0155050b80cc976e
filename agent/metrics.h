#pragma once
// GET /metrics: the Prometheus text exposition format (version 0.0.4), every
// family with HELP and TYPE so that `promtool check metrics` is clean.
//
//   keel_check_status{check,type}            0 passing, 1 warning, 2 critical, 3 unknown
//   keel_check_up{check,type}                1 when passing
//   keel_check_duration_seconds{check,type}  the last run's duration
//   keel_check_last_run_timestamp_seconds{check,type}
//   keel_check_runs_total{check,type,result}
//   keel_agent_health_status                 the worst check, same values
//   keel_agent_checks{status}                how many checks are in each status
//   keel_agent_config_reloads_total{result}, keel_agent_webhook_deliveries_total{result},
//   keel_agent_api_errors_total, keel_agent_api_connections_dropped_total{reason="deadline|evicted"}
//   keel_agent_build_info{version}
//   keel_backup_last_success_timestamp_seconds{job}, keel_backup_bytes{job,kind="raw|stored"},
//   keel_backup_duration_seconds{job}, keel_drill_last_success_timestamp_seconds{job},
//   keel_restore_duration_seconds{job}, keel_job_runs_total{job,kind,status}
//   process_cpu_seconds_total, process_resident_memory_bytes,
//   process_virtual_memory_bytes, process_start_time_seconds, process_open_fds,
//   process_threads  (the names Prometheus' own clients use)

#include <atomic>
#include <string>
#include <vector>

#include "agent/jobs/job_scheduler.h"
#include "agent/scheduler.h"

namespace keel::agent {

struct AgentCounters {
  std::atomic<long long> reloads_ok{0}, reloads_failed{0};
  std::atomic<long long> webhook_delivered{0}, webhook_failed{0};
  std::atomic<long long> api_errors{0};
  // Connections the API closed without an answer: too slow for a deadline,
  // or pushed out by a newer one at a cap (agent/httpd/server.h).
  std::atomic<long long> api_dropped_deadline{0}, api_dropped_evicted{0};
};

struct ProcessStats {
  double cpu_seconds = 0;
  long long resident_bytes = 0, virtual_bytes = 0;
  double start_time_seconds = 0;
  int open_fds = 0, threads = 0;
};
ProcessStats read_process_stats();

std::string render_metrics(const std::vector<CheckSnapshot>& checks, checks::CheckStatus aggregate,
                           const AgentCounters& counters, const ProcessStats& process,
                           const std::vector<JobMetrics>& jobs = {});

// A label value escaped for the text format (backslash, quote, newline).
std::string escape_label_value(const std::string& value);

}  // namespace keel::agent
