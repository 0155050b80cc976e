#pragma once
// Which backups to keep: the meaning of restic's `forget --keep-last/
// --keep-hourly/--keep-daily/--keep-weekly/--keep-monthly/--keep-yearly`
// (restic internal/restic/snapshot_policy.go, doc/060_forget.rst).
//
// The snapshots are walked newest first. Each rule with a count has a
// bucket function (last: every snapshot its own bucket; hourly: the local
// hour; daily: the local day; weekly: the ISO year and week, Monday to
// Sunday; monthly: the month; yearly: the year). A rule keeps a snapshot
// when the snapshot's bucket differs from the bucket of the last snapshot
// that rule kept, and the rule's count is not used up; each keep uses one
// count. So a rule keeps the newest snapshot of each of its n newest
// buckets that have snapshots; calendar boundaries, never "now", count.
// A snapshot kept by several rules uses a count of each, and lists every
// rule in its reasons ("daily snapshot", "weekly snapshot", ...), as restic
// prints them.
//
// Details that match restic:
//   - -1 means unlimited ("--keep-daily unlimited", restic >= 0.15).
//   - An empty policy (all counts 0) keeps everything with the reason
//     "policy is empty" (restic refuses to forget on an empty policy).
//   - keep_oldest (restic >= 0.16, PR #4366): a rule that still has count
//     left when it reaches the oldest snapshot keeps that snapshot too, so
//     that a young repository does not lose its first backup; when that is
//     the only reason the rule keeps it, the reason reads "oldest daily
//     snapshot" (restic >= 0.17.2). Set keep_oldest = false for the
//     behaviour of restic <= 0.15 (e.g. Debian bookworm's 0.14).
//   - Snapshots with equal times keep their input order (restic sorts
//     stably).
// Buckets are computed in one time zone for all snapshots: the process's
// local zone (TZ, else /etc/localtime, like restic) unless a zone name is
// given. (restic itself uses the UTC offset each snapshot was taken with,
// which is the same thing unless the host's zone changed.)

#include <chrono>
#include <string>
#include <vector>

#include "core/error.h"

namespace keel::dr {

inline constexpr int kUnlimited = -1;

struct RetentionPolicy {
  // 0: the rule is off; kUnlimited (-1): keep one per bucket forever.
  int keep_last = 0;
  int keep_hourly = 0;
  int keep_daily = 0;
  int keep_weekly = 0;
  int keep_monthly = 0;
  int keep_yearly = 0;
  bool keep_oldest = true;  // restic >= 0.16; see above

  bool empty() const;
  // Counts must be >= -1 (InvalidConfig, naming the option).
  Status validate() const;
};

struct SnapshotRef {
  std::string id;
  std::chrono::system_clock::time_point time;
};

struct RetentionDecision {
  SnapshotRef snapshot;
  bool keep = false;
  std::vector<std::string> reasons;  // empty when not kept
};

// One decision per snapshot, newest first. Fails on an invalid policy or an
// unknown time zone name (empty: the process's local zone).
Result<std::vector<RetentionDecision>> apply_retention(std::vector<SnapshotRef> snapshots,
                                                       const RetentionPolicy& policy,
                                                       const std::string& time_zone = {});

}  // namespace keel::dr
