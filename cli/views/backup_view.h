#pragma once
// How `keel backup run|prune`, `keel restore` and `keel drill` look while a
// run goes on and when it ends, and how `keel backup list` shows a job's
// backups; and BackupView, which puts each in its place, as text or as the
// JSON documents of docs/json-output.md.
//
//   progress (stderr, on a terminal, redrawn in place):
//      412.3 MiB read  38.1 MiB stored  95.2 MiB/s  4.3s
//   summary (stdout):
//     Backup main succeeded in 4.3s: snapshot 20261127T181355Z-3f2a, 412.3 MiB read, 38.1 MiB stored
//   list:
//     ID                     TIME                  AGE  SIZE (raw/stored)     SHA256
//     20261127T181355Z-3f2a  2026-11-27 18:13:55Z  3m   412.3 MiB / 38.1 MiB  5e3b1c0d9a7f

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/agents/client.h"
#include "cli/views/plan_view.h"

namespace keel::views {

// Binary units, one decimal from KiB on: "512 B", "1.5 KiB", "412.3 MiB".
std::string format_bytes(long long bytes);
// A run's length: "0.4s", "4.3s", "3m12s", "2h05m".
std::string format_seconds(double seconds);

// The progress line of a running run, `elapsed` seconds after it started
// (without "\r"): bytes read, bytes stored, read rate, elapsed.
std::string progress_line(const agents::JobRun& run, double elapsed);

// Whether a finished run did what was asked: succeeded, and for a drill, its
// verification passed.
bool run_passed(const agents::JobRun& run);

// The one line printed when a run ends (its error, when it failed).
std::string run_summary(const agents::JobRun& run);

// GET /v1/backups/JOB's list as a table, newest first as given.
std::string render_backups(const nlohmann::json& manifests, std::chrono::system_clock::time_point now);

// What `keel backup`, `keel restore` and `keel drill` print, chosen once
// from --json so that the commands never branch on the format. Errors are
// the commands' (report_error); a run that ended without passing is named
// on stderr in both formats.
class BackupView {
 public:
  virtual ~BackupView() = default;
  // A run the agent started (text: a line on stderr; JSON: nothing).
  virtual void started(const agents::JobRun& run, const std::string& server) = 0;
  // A run that ended: its summary, or its document as the agent sent it.
  virtual void finished(const agents::JobRun& run) = 0;
  // keel backup list: the job's backups, newest first.
  virtual void backups(const std::string& job, const std::string& server, const nlohmann::json& manifests,
                       std::chrono::system_clock::time_point now) = 0;
  // keel backup key export: the key (base64), after a warning on stderr.
  virtual void key(const std::string& key) = 0;
};
std::unique_ptr<BackupView> make_backup_view(bool json, const Streams& streams);

}  // namespace keel::views
