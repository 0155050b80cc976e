// keel deploy's pure choices (release ids, batches, pruning, what the host
// printed) and the rollout against a fake fleet: batches, the health gate,
// putting a failed batch back, the preflight, --rollback.
#include <catch2/catch.hpp>

#include <map>
#include <mutex>
#include <regex>
#include <set>

#include "cli/deploy/history.h"
#include "cli/deploy/release.h"
#include "cli/deploy/rollout.h"
#include "cli/views/deploy_view.h"

using namespace keel;
using namespace keel::deploy;

namespace {

const std::string kV1 = "20261101T000000Z-aaaaaa";
const std::string kV2 = "20261102T000000Z-bbbbbb";
const std::string kNew = "20261128T041500Z-ab12cd";

// A host as the fake sees it: its releases, where `current` points, and
// what fails.
struct FakeHost {
  std::string current;
  std::set<std::string> releases;
  bool agent = true;
  std::set<std::string> agent_checks = {"app-ok"};
  std::string fail_step;       // "before", "start", "after", "upload", "connect"
  bool healthy_on_new = true;  // the check passes once `current` is the new release
  int stale_left = 0;
  double time = 1000;          // the host's clock, seconds
  std::vector<std::string> log;  // steps seen: "upload", "before", "switch ID", "start ID", "after", "unlink", "rm ID"
};

class FakeChannel;

class FakeFleet final : public Fleet {
 public:
  std::map<std::string, FakeHost> hosts;
  std::mutex mutex;

  bool has_agent(const std::string& address) const override { return hosts.at(address).agent; }
  Result<HostChannel*> open(const std::string& address) override;
  void reset(const std::string&) override {}

  std::map<std::string, std::unique_ptr<FakeChannel>> channels;
};

std::vector<std::string> ids_in(const std::string& text) {
  static const std::regex id("[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}");
  std::vector<std::string> out;
  for (std::sregex_iterator it(text.begin(), text.end(), id), end; it != end; ++it) out.push_back(it->str());
  return out;
}

class FakeChannel final : public HostChannel {
 public:
  FakeChannel(FakeHost& host, std::mutex& mutex) : host_(host), mutex_(mutex) {}

  Result<ssh::CommandResult> run(const std::string& command) override {
    std::lock_guard lock(mutex_);
    host_.time += 1;
    ssh::CommandResult r;
    r.exit_status = 0;
    if (command.rfind("printf 'current=", 0) == 0) {
      r.output = "current=" + (host_.current.empty() ? "" : "releases/" + host_.current) + "\n";
      for (const auto& id : host_.releases) r.output += id + "\n";
      r.output += ".upload-junk.tar.gz\n";
    } else if (command.rfind("mkdir -p", 0) == 0) {
    } else if (command.find("tar -x") != std::string::npos) {
      host_.log.push_back("unpack");
      host_.releases.insert(ids_in(command).back());
    } else if (command.rfind("ln -sfn", 0) == 0) {
      host_.current = ids_in(command).front();
      host_.log.push_back("switch " + host_.current);
      r.output = std::to_string(static_cast<long long>(host_.time)) + ".250000000\n";
    } else if (command.rfind("rm -f --", 0) == 0) {
      host_.current.clear();
      host_.log.push_back("unlink");
    } else if (command.rfind("rm -rf --", 0) == 0) {
      for (const auto& id : ids_in(command))
        if (host_.releases.erase(id)) host_.log.push_back("rm " + id);
    } else if (command.find("exec /bin/sh -c") != std::string::npos) {
      std::string hook = command.find("'BEFORE'") != std::string::npos  ? "before"
                         : command.find("'START'") != std::string::npos ? "start"
                                                                        : "after";
      host_.log.push_back(hook == "start" ? "start " + host_.current : hook);
      if (host_.fail_step == hook && (hook == "before" || host_.current != kV1)) {
        r.exit_status = 1;
        r.output = hook + " went wrong\n";
      }
    } else {
      r.exit_status = 127;
      r.output = "unexpected command: " + command;
    }
    return r;
  }

  Status upload(const std::string&, const std::string& remote_path) override {
    std::lock_guard lock(mutex_);
    host_.log.push_back("upload");
    if (host_.fail_step == "upload") return fail(ErrorCode::Transient, "connection lost");
    (void)remote_path;
    return {};
  }

  Result<std::vector<agents::CheckReport>> checks() override {
    std::lock_guard lock(mutex_);
    std::vector<agents::CheckReport> out;
    for (const auto& name : host_.agent_checks) {
      agents::CheckReport c;
      c.name = name;
      out.push_back(c);
    }
    return out;
  }

  Result<agents::CheckReport> run_check(const std::string& name) override {
    std::lock_guard lock(mutex_);
    host_.time += 1;
    agents::CheckReport c;
    c.name = name;
    const bool stale = host_.stale_left > 0;
    if (stale) --host_.stale_left;
    c.last_run_unix = stale ? 10.0 : host_.time;
    const bool passing = stale || host_.current == kV1 || host_.current == kV2 || host_.healthy_on_new;
    c.status = passing ? checks::CheckStatus::Passing : checks::CheckStatus::Critical;
    c.output = passing ? "ok" : "HTTP 503 from the app";
    return c;
  }

 private:
  FakeHost& host_;
  std::mutex& mutex_;
};

Result<HostChannel*> FakeFleet::open(const std::string& address) {
  std::lock_guard lock(mutex);
  auto& host = hosts.at(address);
  if (host.fail_step == "connect") return fail(ErrorCode::Unavailable, address + ": connection refused");
  auto& channel = channels[address];
  if (!channel) channel = std::make_unique<FakeChannel>(host, mutex);
  return channel.get();
}

class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point now() override {
    std::lock_guard lock(mutex_);
    return t_;
  }
  void sleep(std::chrono::milliseconds d) override {
    std::lock_guard lock(mutex_);
    t_ += d;
  }
  double unix_now() override { return 0; }

 private:
  std::mutex mutex_;
  std::chrono::steady_clock::time_point t_{};
};

AppSpec app_spec() {
  AppSpec app;
  app.name = "api";
  app.path = "/opt/keel/apps/api";
  app.before = "BEFORE";
  app.start = "START";
  app.after = "AFTER";
  app.health = {"app-ok"};
  app.health_timeout = std::chrono::seconds(10);
  app.batch = 2;
  return app;
}

struct Run {
  FakeFleet fleet;
  FakeClock clock;
  Artifact artifact{"dist/a.tar.gz", true, "ab12cd00", 1234};
  std::vector<std::string> addresses;

  explicit Run(int hosts) {
    for (int i = 0; i < hosts; ++i) {
      const std::string a = "servers.h" + std::to_string(i + 1);
      addresses.push_back(a);
      fleet.hosts[a].current = kV1;
      fleet.hosts[a].releases = {kV1};
    }
  }
  FakeHost& host(int i) { return fleet.hosts.at(addresses.at(static_cast<size_t>(i))); }
  RolloutResult deploy(const AppSpec& app) {
    RolloutOptions options;
    options.release = kNew;
    options.artifact = &artifact;
    options.clock = &clock;
    return run_rollout(app, addresses, fleet, options);
  }
  RolloutResult rollback(const AppSpec& app) {
    RolloutOptions options;
    options.action = Action::Rollback;
    options.clock = &clock;
    return run_rollout(app, addresses, fleet, options);
  }
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("deploy: release ids are the UTC start and the artifact's hash", "[unit][deploy]") {
  using namespace std::chrono;
  const auto when = system_clock::time_point(seconds(1795839300));  // 2026-11-28T04:15:00Z
  CHECK(release_id(when, "AB12CDEF0123") == "20261128T041500Z-ab12cd");
  CHECK(is_release_id("20261128T041500Z-ab12cd"));
  CHECK_FALSE(is_release_id(".upload-20261128T041500Z-ab12cd.tar.gz"));
  CHECK_FALSE(is_release_id(".20261128T041500Z-ab12cd.partial"));
  CHECK_FALSE(is_release_id("current"));
  CHECK_FALSE(is_release_id("20261128T041500Z-ab12c"));   // 6 to 64 hex digits
  CHECK_FALSE(is_release_id("20261128T041500Z-AB12CD"));  // lower case
  CHECK(is_release_id("20261128T041500Z-" + std::string(64, 'f')));
  CHECK_FALSE(is_release_id("20261128T041500Z-" + std::string(65, 'f')));
  // What a host lists is not trusted: a long name is no crash (std::regex was).
  CHECK_FALSE(is_release_id("20261128T041500Z-" + std::string(1'000'000, 'a')));
  CHECK(release_id(when, "ab") < release_id(when + hours(24), "00"));
}

TEST_CASE("deploy: batches of N hosts or a percentage rounded up", "[unit][deploy]") {
  CHECK(plan_batches(4, 2, false) == std::vector<std::vector<size_t>>{{0, 1}, {2, 3}});
  CHECK(plan_batches(5, 2, false) == std::vector<std::vector<size_t>>{{0, 1}, {2, 3}, {4}});
  CHECK(plan_batches(3, 1, false) == std::vector<std::vector<size_t>>{{0}, {1}, {2}});
  CHECK(plan_batches(3, 10, false) == std::vector<std::vector<size_t>>{{0, 1, 2}});
  CHECK(batch_size(5, 25, true) == 2);   // 1.25 -> 2
  CHECK(batch_size(4, 25, true) == 1);
  CHECK(batch_size(3, 10, true) == 1);   // at least one
  CHECK(batch_size(10, 100, true) == 10);
  CHECK(batch_size(10, 33, true) == 4);  // 3.3 -> 4
  CHECK(plan_batches(0, 1, false).empty());
}

TEST_CASE("deploy: pruning keeps the newest, the current and the previous release", "[unit][deploy]") {
  const std::vector<std::string> listed = {"20260101T000000Z-000001", "20260102T000000Z-000002",
                                           "20260103T000000Z-000003", "20260104T000000Z-000004",
                                           "20260105T000000Z-000005", "20260106T000000Z-000006",
                                           ".upload-x.tar.gz",        "20260107T000000Z-000007"};
  // Current newest, previous just before it.
  CHECK(releases_to_prune(listed, 5, "20260107T000000Z-000007", "20260106T000000Z-000006") ==
        std::vector<std::string>{"20260101T000000Z-000001", "20260102T000000Z-000002"});
  // A previous release that is old is kept, and counts.
  CHECK(releases_to_prune(listed, 3, "20260107T000000Z-000007", "20260101T000000Z-000001") ==
        std::vector<std::string>{"20260102T000000Z-000002", "20260103T000000Z-000003", "20260104T000000Z-000004",
                                 "20260105T000000Z-000005"});
  // keep 1 still never deletes current nor previous.
  CHECK(releases_to_prune(listed, 1, "20260107T000000Z-000007", "20260106T000000Z-000006").size() == 5);
  CHECK(releases_to_prune({"20260101T000000Z-000001"}, 5, "20260101T000000Z-000001", "").empty());
}

TEST_CASE("deploy: the release before the current one", "[unit][deploy]") {
  const std::vector<std::string> listed = {kV2, "junk", kV1, kNew};
  CHECK(release_before(listed, kNew) == kV2);
  CHECK(release_before(listed, kV2) == kV1);
  CHECK(release_before(listed, kV1).empty());
}

TEST_CASE("deploy: what the host printed", "[unit][deploy]") {
  auto found = parse_inspect("current=releases/" + kV2 + "\n" + kV2 + "\n.upload-x.tar.gz\n" + kV1 + "\n");
  CHECK(found.current == kV2);
  CHECK(found.releases == std::vector<std::string>{kV1, kV2});
  CHECK(parse_inspect("current=\n").current.empty());
  CHECK(parse_inspect("current=/srv/other\n").current.empty());
  CHECK(parse_inspect("current=/srv/other\n").current_target == "/srv/other");
  CHECK(parse_inspect("current=/opt/keel/apps/x/releases/" + kV1 + "\n").current == kV1);
  CHECK(release_of_link("releases/" + kV1 + "/") == kV1);

  CHECK(parse_host_time("1795839300.250000000\n") == Approx(1795839300.25));
  CHECK(parse_host_time("1795839300.%N\n") == Approx(1795839301));  // no %N: the next second
  CHECK(parse_host_time("1795839300\n") == Approx(1795839301));
  CHECK_FALSE(parse_host_time("date: not found\n"));
  CHECK(parse_host_time("1795839300.\n") == Approx(1795839301));
  CHECK_FALSE(parse_host_time(".5\n"));
  CHECK(parse_host_time("1795839300." + std::string(1'000'000, 'x')) == Approx(1795839301));
}

TEST_CASE("deploy: the commands quote paths and switch through a temporary link", "[unit][deploy]") {
  Layout layout{"/opt/keel/apps/api"};
  CHECK(switch_command(layout, kNew) ==
        "ln -sfn 'releases/" + kNew +
            "' '/opt/keel/apps/api/.current.tmp' && mv -T -- '/opt/keel/apps/api/.current.tmp' "
            "'/opt/keel/apps/api/current' && date +%s.%N");
  const auto hook = hook_command(layout, layout.release(kNew), {"api", kNew, kV1}, "echo 'hi' && ./run");
  CHECK(has(hook, "cd '/opt/keel/apps/api/releases/" + kNew + "' && "));
  CHECK(has(hook, "KEEL_PREVIOUS_RELEASE='" + kV1 + "'"));
  CHECK(has(hook, "exec /bin/sh -c 'echo '\\''hi'\\'' && ./run'"));
  CHECK(has(unpack_command(layout, kNew, true), "tar -xzf '/opt/keel/apps/api/releases/.upload-" + kNew + ".tar.gz'"));
  CHECK(has(unpack_command(layout, kNew, false), "tar -xf '/opt/keel/apps/api/releases/.upload-" + kNew + ".tar'"));
  // Only release ids are ever removed.
  CHECK(remove_releases_command(layout, {"..", "/"}) == "true");
}

TEST_CASE("deploy: every batch healthy: all hosts switched, old releases pruned", "[unit][deploy]") {
  Run run(4);
  auto app = app_spec();
  app.keep_releases = 2;
  for (int i = 0; i < 4; ++i) run.host(i).releases.insert("20261001T000000Z-000000");  // older than v1
  auto result = run.deploy(app);
  INFO(result.error);
  REQUIRE(result.ok);
  CHECK(result.batches == std::vector<std::vector<std::string>>{{"servers.h1", "servers.h2"},
                                                               {"servers.h3", "servers.h4"}});
  for (int i = 0; i < 4; ++i) {
    const auto& h = result.hosts[static_cast<size_t>(i)];
    CHECK(h.outcome == HostOutcome::Switched);
    CHECK(h.from == kV1);
    CHECK(h.current == kNew);
    CHECK(h.pruned == std::vector<std::string>{"20261001T000000Z-000000"});
    CHECK(run.host(i).current == kNew);
    CHECK(run.host(i).releases == std::set<std::string>{kV1, kNew});
    CHECK(run.host(i).log == std::vector<std::string>{"upload", "unpack", "before", "switch " + kNew,
                                                       "start " + kNew, "after", "rm 20261001T000000Z-000000"});
    REQUIRE(h.checks.size() == 1);
    CHECK(h.checks[0].passed);
  }
  auto doc = views::rollout_to_json(result);
  CHECK(doc["outcome"] == "deployed");
  CHECK(doc["hosts"][0]["release"] == kNew);
  CHECK(doc["hosts"][3]["batch"] == 2);
}

TEST_CASE("deploy: a failing health gate puts its batch back and stops the rollout", "[unit][deploy]") {
  Run run(6);
  run.host(2).healthy_on_new = false;  // servers.h3, batch 2
  auto result = run.deploy(app_spec());
  REQUIRE_FALSE(result.ok);
  CHECK(result.failed_batch == 1);
  CHECK(has(result.error, "batch 2 of 3 failed on servers.h3: health failed: check `app-ok` is critical"));
  CHECK(has(result.error, "2 hosts of earlier batches stay on release " + kNew));
  // Batch 1 stays on the new release.
  for (int i : {0, 1}) {
    CHECK(result.hosts[static_cast<size_t>(i)].outcome == HostOutcome::Switched);
    CHECK(run.host(i).current == kNew);
  }
  // Batch 2: both back on v1 (h4 switched and put back, or stopped before
  // its switch), the failed release gone.
  for (int i : {2, 3}) {
    const auto& h = result.hosts[static_cast<size_t>(i)];
    const auto& log = run.host(i).log;
    INFO(h.address);
    CHECK(h.current == kV1);
    CHECK(run.host(i).current == kV1);
    CHECK(run.host(i).releases == std::set<std::string>{kV1});
    if (std::find(log.begin(), log.end(), "switch " + kNew) != log.end()) {
      CHECK(h.outcome == HostOutcome::Restored);
      CHECK(std::find(log.begin(), log.end(), "start " + kV1) != log.end());
    } else {
      CHECK(h.outcome == HostOutcome::Unchanged);
    }
  }
  CHECK(result.hosts[2].outcome == HostOutcome::Restored);
  CHECK(std::find(run.host(2).log.begin(), run.host(2).log.end(), "after") == run.host(2).log.end());
  CHECK(run.host(2).log.back() == "rm " + kNew);
  const auto& failed = result.hosts[2];
  CHECK(failed.failed);
  CHECK(failed.step == "health");
  REQUIRE(failed.checks.size() == 1);
  CHECK(failed.checks[0].output == "HTTP 503 from the app");
  CHECK_FALSE(result.hosts[3].failed);
  // Batch 3 never touched.
  for (int i : {4, 5}) {
    CHECK(result.hosts[static_cast<size_t>(i)].outcome == HostOutcome::Skipped);
    CHECK(run.host(i).log.empty());
  }
  const auto text = views::render_rollout(result);
  CHECK(has(text, "servers.h3: check `app-ok` is critical; its last output:\n    | HTTP 503 from the app"));
}

TEST_CASE("deploy: a failing hook fails its host before or after the switch", "[unit][deploy]") {
  SECTION("before: never switched") {
    Run run(2);
    run.host(1).fail_step = "before";
    auto result = run.deploy(app_spec());
    REQUIRE_FALSE(result.ok);
    CHECK(result.hosts[1].outcome == HostOutcome::Unchanged);
    CHECK(result.hosts[1].step == "before");
    CHECK(result.hosts[1].output == "before went wrong");
    CHECK(run.host(1).current == kV1);
    CHECK(run.host(1).releases == std::set<std::string>{kV1});
    // Its batch neighbour went back (or never switched).
    CHECK(run.host(0).current == kV1);
  }
  SECTION("start: switched, then back") {
    Run run(2);
    run.host(0).fail_step = "start";
    auto result = run.deploy(app_spec());
    REQUIRE_FALSE(result.ok);
    CHECK(result.hosts[0].outcome == HostOutcome::Restored);
    CHECK(run.host(0).current == kV1);
    CHECK(run.host(1).current == kV1);
  }
}

TEST_CASE("deploy: a host without a previous release loses `current` when it fails", "[unit][deploy]") {
  Run run(1);
  run.host(0).current.clear();
  run.host(0).releases.clear();
  run.host(0).healthy_on_new = false;
  auto result = run.deploy(app_spec());
  REQUIRE_FALSE(result.ok);
  CHECK(result.hosts[0].outcome == HostOutcome::Restored);
  CHECK(result.hosts[0].current.empty());
  CHECK(run.host(0).current.empty());
  CHECK(run.host(0).releases.empty());
  CHECK(std::find(run.host(0).log.begin(), run.host(0).log.end(), "unlink") != run.host(0).log.end());
}

TEST_CASE("deploy: the preflight refuses before anything changes", "[unit][deploy]") {
  SECTION("a host without an agent") {
    Run run(3);
    run.host(2).agent = false;
    auto result = run.deploy(app_spec());
    REQUIRE_FALSE(result.ok);
    CHECK(result.preflight_failed);
    CHECK(has(result.error, "servers.h3"));
    CHECK(has(result.hosts[2].error, "has no keel-agent"));
    for (int i = 0; i < 3; ++i) CHECK(run.host(i).log.empty());
  }
  SECTION("an agent without the check") {
    Run run(2);
    run.host(0).agent_checks = {"other"};
    auto result = run.deploy(app_spec());
    REQUIRE_FALSE(result.ok);
    CHECK(has(result.hosts[0].error, "does not run app-ok"));
    for (int i = 0; i < 2; ++i) CHECK(run.host(i).log.empty());
  }
  SECTION("a host that cannot be reached") {
    Run run(2);
    run.host(1).fail_step = "connect";
    auto result = run.deploy(app_spec());
    REQUIRE_FALSE(result.ok);
    CHECK(result.hosts[1].step == "connect");
    CHECK(run.host(0).log.empty());
  }
  SECTION("no health gate needs no agent") {
    Run run(1);
    run.host(0).agent = false;
    auto app = app_spec();
    app.health.clear();
    auto result = run.deploy(app);
    CHECK(result.ok);
  }
}

TEST_CASE("deploy: a check run from before the switch does not count", "[unit][deploy]") {
  Run run(1);
  run.host(0).stale_left = 3;
  auto result = run.deploy(app_spec());
  REQUIRE(result.ok);
  REQUIRE(result.hosts[0].checks.size() == 1);
  CHECK(result.hosts[0].checks[0].fresh);
  CHECK(run.host(0).stale_left == 0);
}

TEST_CASE("deploy: --rollback goes to the release before the current one", "[unit][deploy]") {
  Run run(2);
  for (int i = 0; i < 2; ++i) {
    run.host(i).releases = {kV1, kV2};
    run.host(i).current = kV2;
  }
  auto result = run.rollback(app_spec());
  INFO(result.error);
  REQUIRE(result.ok);
  for (int i = 0; i < 2; ++i) {
    CHECK(run.host(i).current == kV1);
    CHECK(result.hosts[static_cast<size_t>(i)].to == kV1);
    CHECK(run.host(i).log == std::vector<std::string>{"switch " + kV1, "start " + kV1});
  }
  // Nothing to roll back to: refused before anything changes.
  Run none(1);
  auto refused = none.rollback(app_spec());
  REQUIRE_FALSE(refused.ok);
  CHECK(has(refused.hosts[0].error, "has no release before " + kV1));
  CHECK(none.host(0).log.empty());
}

TEST_CASE("deploy: the history records each run and where the hosts are", "[unit][deploy]") {
  Run run(2);
  auto result = run.deploy(app_spec());
  const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1795839300));
  auto record = add_to_history(nullptr, result, t, t + std::chrono::seconds(5));
  CHECK(record["app"] == "api");
  CHECK(record["hosts"]["servers.h1"]["release"] == kNew);
  REQUIRE(record["history"].size() == 1);
  CHECK(record["history"][0]["outcome"] == "deployed");
  CHECK(record["history"][0]["release"] == kNew);
  CHECK(record["history"][0]["hosts"]["servers.h2"] == "switched");
  for (size_t i = 0; i < kHistoryLimit + 5; ++i) record = add_to_history(record, result, t, t);
  CHECK(record["history"].size() == kHistoryLimit);
}
