// Cross-checks apply_retention against the real restic binary: the same
// snapshot times go into a throw-away restic repository, `restic forget
// --dry-run --json` says what it would keep and why, and apply_retention
// must agree on both, policy by policy. restic and keel both run in UTC.
//
// The password reaches restic through RESTIC_PASSWORD in its environment,
// never its argv. Without restic the test is skipped with a warning.

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <date/date.h>
#include <nlohmann/json.hpp>

#include "agent/dr/retention.h"
#include "core/files.h"
#include "core/process.h"
#include "tests/support/temp_dir.h"

using namespace keel;
using Strings = std::vector<std::string>;

namespace {

using keel::testing::TempDir;

// A restic repository in a temporary directory, with its own cache.
class ResticRepo {
 public:
  explicit ResticRepo(const std::string& dir)
      : env_{{"RESTIC_REPOSITORY", dir + "/repo"},
             {"RESTIC_PASSWORD", "keel-retention-test"},
             {"RESTIC_CACHE_DIR", dir + "/cache"},
             {"TZ", "UTC"}} {}

  Result<process::Outcome> run(std::vector<std::string> args, const std::string& stdin_data = {}) const {
    process::Options options;
    options.argv = {"restic"};
    options.argv.insert(options.argv.end(), args.begin(), args.end());
    options.env = env_;
    options.stdin_data = stdin_data;
    options.timeout = std::chrono::seconds(120);
    return process::run_checked(options);
  }

  // A snapshot of one small file whose time is `time` ("YYYY-MM-DD HH:MM:SS").
  Status backup_at(const std::string& time) const {
    auto outcome = run({"backup", "--quiet", "--stdin", "--stdin-filename", "x", "--host", "h", "--time", time},
                       "backup taken at " + time + "\n");
    if (!outcome) return std::unexpected(outcome.error());
    return {};
  }

 private:
  std::map<std::string, std::string> env_;
};

// {major, minor} from "restic 0.14.0 compiled with go1.19.8 on linux/amd64".
std::pair<int, int> restic_version(const ResticRepo& repo) {
  auto outcome = repo.run({"version"});
  REQUIRE(outcome);
  int major = 0, minor = 0;
  REQUIRE(std::sscanf(outcome->output.c_str(), "restic %d.%d", &major, &minor) == 2);
  return {major, minor};
}

// Many backups at once (restic's backup lock is shared): the test takes
// seconds instead of most of a minute on a loaded machine.
void backup_all(const ResticRepo& repo, const Strings& times) {
  std::atomic<size_t> next{0};
  std::mutex failures_mutex;
  Strings failures;
  auto worker = [&] {
    for (size_t i = next++; i < times.size(); i = next++) {
      if (auto status = repo.backup_at(times[i]); !status) {
        std::lock_guard lock(failures_mutex);
        failures.push_back(times[i] + ": " + status.error().message());
      }
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i) workers.emplace_back(worker);
  for (auto& w : workers) w.join();
  INFO((failures.empty() ? std::string() : failures.front()));
  REQUIRE(failures.empty());
}

// "2024-04-08T09:00:00Z" -> "2024-04-08 09:00:00".
std::string plain_time(const std::string& rfc3339) {
  std::string out = rfc3339.substr(0, 19);
  if (out.size() > 10 && out[10] == 'T') out[10] = ' ';
  return out;
}

struct Verdict {
  Strings kept;                           // newest first
  std::map<std::string, Strings> reasons;  // time -> reasons
};

Verdict restic_forget(const ResticRepo& repo, const std::vector<std::string>& keep_flags) {
  std::vector<std::string> args = {"forget", "--dry-run", "--json", "--no-lock"};
  args.insert(args.end(), keep_flags.begin(), keep_flags.end());
  auto outcome = repo.run(args);
  INFO((outcome ? std::string() : outcome.error().message()));
  REQUIRE(outcome);
  // Progress or warnings may precede the JSON document on the same stream.
  auto start = outcome->output.find("[{");
  REQUIRE(start != std::string::npos);
  auto groups = nlohmann::json::parse(outcome->output.substr(start), nullptr, false);
  REQUIRE_FALSE(groups.is_discarded());
  Verdict verdict;
  for (const auto& group : groups) {
    if (group["keep"].is_array())
      for (const auto& snapshot : group["keep"]) verdict.kept.push_back(plain_time(snapshot["time"]));
    if (group["reasons"].is_array())
      for (const auto& reason : group["reasons"])
        verdict.reasons[plain_time(reason["snapshot"]["time"])] = reason["matches"].get<Strings>();
  }
  return verdict;
}

// "2024-05-01 10:20:30" or "2014-08-13 10:20:30.100" (UTC) -> time_point.
std::chrono::system_clock::time_point utc(const std::string& text) {
  int year = 0, hour = 0, minute = 0, second = 0, millis = 0;
  unsigned month = 0, day = 0;
  int fields = std::sscanf(text.c_str(), "%d-%u-%u %d:%d:%d.%d", &year, &month, &day, &hour, &minute, &second, &millis);
  REQUIRE(fields >= 6);
  return date::sys_days{date::year{year} / month / day} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
         std::chrono::seconds{second} + std::chrono::milliseconds{millis};
}

Verdict keel_retention(const Strings& times, const dr::RetentionPolicy& policy) {
  std::vector<dr::SnapshotRef> snapshots;
  for (const auto& time : times) snapshots.push_back({time, utc(time)});
  auto decisions = dr::apply_retention(snapshots, policy, "UTC");
  REQUIRE(decisions);
  Verdict verdict;
  for (const auto& decision : *decisions) {
    if (!decision.keep) continue;
    verdict.kept.push_back(decision.snapshot.id);
    verdict.reasons[decision.snapshot.id] = decision.reasons;
  }
  return verdict;
}

std::vector<std::string> flags_of(const dr::RetentionPolicy& policy) {
  std::vector<std::string> flags;
  auto add = [&](const char* flag, int count) {
    if (count == 0) return;
    flags.push_back(flag);
    flags.push_back(count == dr::kUnlimited ? "unlimited" : std::to_string(count));
  };
  add("--keep-last", policy.keep_last);
  add("--keep-hourly", policy.keep_hourly);
  add("--keep-daily", policy.keep_daily);
  add("--keep-weekly", policy.keep_weekly);
  add("--keep-monthly", policy.keep_monthly);
  add("--keep-yearly", policy.keep_yearly);
  return flags;
}

dr::RetentionPolicy policy(int last, int hourly, int daily, int weekly, int monthly, int yearly) {
  dr::RetentionPolicy p;
  p.keep_last = last;
  p.keep_hourly = hourly;
  p.keep_daily = daily;
  p.keep_weekly = weekly;
  p.keep_monthly = monthly;
  p.keep_yearly = yearly;
  return p;
}

// 38 snapshots over three years: year, month and ISO-week boundaries
// (2022-01-02 is in 2021-W52, 2023-01-01 in 2022-W52), a leap day, and two
// dense weeks with several snapshots per day and per hour.
const Strings kTimes = {
    "2021-06-15 08:00:00", "2021-12-31 23:30:00", "2022-01-02 10:00:00", "2022-01-03 00:10:00",
    "2022-02-28 12:00:00", "2022-03-01 00:00:00", "2022-12-31 23:59:59", "2023-01-01 00:00:00",
    "2023-06-30 18:00:00", "2023-07-01 06:00:00", "2023-12-25 09:00:00", "2024-01-01 00:30:00",
    "2024-02-29 12:00:00", "2024-02-29 12:45:00", "2024-03-31 23:00:00", "2024-04-01 01:00:00",
    "2024-04-08 09:00:00", "2024-04-08 09:20:00", "2024-04-08 09:40:00", "2024-04-08 10:05:00",
    "2024-04-09 09:00:00", "2024-04-09 21:00:00", "2024-04-10 09:00:00", "2024-04-11 09:00:00",
    "2024-04-11 09:59:59", "2024-04-12 09:00:00", "2024-04-13 23:59:59", "2024-04-14 00:00:00",
    "2024-04-14 23:00:00", "2024-04-15 00:00:00", "2024-04-15 00:59:00", "2024-04-15 01:00:00",
    "2024-04-16 12:00:00", "2024-04-17 12:00:00", "2024-04-17 12:01:00", "2024-04-17 12:02:00",
    "2024-04-17 13:00:00", "2024-04-18 08:00:00",
};

}  // namespace

TEST_CASE("retention agrees with restic forget on the same snapshots", "[retention][restic]") {
  if (process::which("restic").empty()) {
    WARN("skipped: restic is not installed (Debian package restic)");
    return;
  }
  TempDir dir;
  ResticRepo repo(dir.path);
  auto [major, minor] = restic_version(repo);
  // restic 0.16 started keeping the oldest snapshot while a rule has count
  // left; "unlimited" came with it here (0.14 reads -1 as "keep none").
  const bool modern = major > 0 || minor >= 16;
  REQUIRE(repo.run({"init"}));
  backup_all(repo, kTimes);

  std::vector<dr::RetentionPolicy> policies = {
      policy(5, 0, 0, 0, 0, 0),   policy(0, 6, 0, 0, 0, 0),   policy(0, 0, 5, 0, 0, 0),
      policy(0, 0, 0, 4, 0, 0),   policy(0, 0, 0, 0, 6, 0),   policy(0, 0, 0, 0, 0, 3),
      policy(2, 0, 3, 2, 3, 10),  policy(0, 10, 0, 10, 0, 0), policy(0, 0, 100, 0, 0, 0),
      policy(0, 0, 0, 0, 30, 1),  policy(1, 1, 1, 1, 1, 1),   policy(3, 4, 7, 5, 12, 75),
  };
  if (modern) policies.push_back(policy(0, 0, dr::kUnlimited, 0, 0, 0));

  for (auto p : policies) {
    p.keep_oldest = modern;
    auto flags = flags_of(p);
    std::string flags_text;
    for (const auto& f : flags) flags_text += f + " ";
    INFO("restic " << major << "." << minor << " forget " << flags_text);
    Verdict expected = restic_forget(repo, flags);
    Verdict actual = keel_retention(kTimes, p);
    CHECK(actual.kept == expected.kept);
    CHECK(actual.reasons == expected.reasons);
  }
}
