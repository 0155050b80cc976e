#pragma once
// The built-in `dr-NAME` check of a backup job, judged from its run history
// alone (no I/O), so that it can run every minute and after every run.
//
// Backup age (when the job has an `rpo`): the age of the newest successful
// backup, from its start (the data is as of then). Passing up to `rpo`,
// warning past it, critical past twice the rpo. A job with no successful
// backup yet counts its age from when the agent began watching it, so a new
// job is not failing before its first scheduled run.
//
// Drills (when the job has `drill:`):
// - the newest drill failed, or did not verify although a `verify` query is
//   set: warning;
// - with `drill.every`: the newest drill is overdue when it started more
//   than twice `every` ago (one missed drill, or one deferred behind a long
//   backup, is tolerated): warning. Before the first drill, the clock starts
//   where the scheduler starts it (the first successful backup, or the
//   agent's start when backups already existed).
// Drill problems never make the check critical: the backups are still there.
//
// No rpo and no drill: passing, with an output that says there is nothing to
// judge (a job without targets must not turn the host's health red).

#include <chrono>
#include <optional>

#include "agent/checks/check.h"
#include "agent/jobs/job_config.h"
#include "agent/jobs/run.h"

namespace keel::agent {

struct DrFacts {
  std::optional<Run> last_good_backup;
  std::optional<Run> last_drill;                  // any status
  Run::TimePoint watched_since;                   // when the agent took the job on
  std::optional<Run::TimePoint> drill_anchor;     // the first drill is due `every` after it
  Run::TimePoint now;
};

CheckResult evaluate_dr(const BackupJob& job, const DrFacts& facts);

// "45s", "12m", "3h20m", "2d4h": an age to the minute (to the second under
// one).
std::string age_text(std::chrono::milliseconds age);

}  // namespace keel::agent
