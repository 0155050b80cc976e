#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "cli/config/configuration.h"
#include "cli/engine/executor.h"
#include "cli/engine/plan.h"
#include "tests/support/fake_provider.h"

using namespace keel;

namespace {

// A journal that keeps everything in memory.
struct MemoryJournal : state::StateJournal {
  std::vector<std::string> records;
  std::mutex mu;
  Status record_intent(const state::ResourceState& r) override { return add("intent " + r.address); }
  Status record_put(const state::ResourceState& r) override { return add("put " + r.address); }
  Status record_remove(const std::string& a) override { return add("remove " + a); }
  Status add(std::string s) {
    std::lock_guard lock(mu);
    records.push_back(std::move(s));
    return {};
  }
};

struct Fixture {
  testing::FakeProvider fake;
  config::LoadResult loaded;
  config::ValidateResult validated;
  state::State state;
  MemoryJournal journal;
  engine::ApplyHooks hooks;

  void load(const std::string& yaml) {
    loaded = config::load_stack_text(yaml, "keel.yaml", "/tmp");
    REQUIRE_FALSE(loaded.diagnostics.has_errors());
    validated = config::validate(loaded.stack, [this](const std::string&) -> Result<const provider::ProviderSchema*> {
      return &fake.schema();
    }, {});
    INFO(validated.diagnostics.describe());
    REQUIRE_FALSE(validated.diagnostics.has_errors());
    validated.config.stack = &loaded.stack;
  }
  engine::Plan plan(engine::PlanOptions options = {}) {
    auto p = engine::make_plan(validated.config, state, options);
    REQUIRE(p);
    return *p;
  }
  engine::ApplyResult apply(const engine::Plan& p, int parallelism = 10) {
    engine::ProviderMap providers{{"local", &fake}};
    engine::ApplyOptions options;
    options.parallelism = parallelism;
    options.project = "demo";
    auto r = engine::apply_plan(p, &validated.config, state, journal, providers, hooks, options);
    REQUIRE(engine::update_outputs(validated.config, state));
    return r;
  }
};

const char* kChain = R"(keel: 1
project: demo
files:
  a: { path: /a, content: hello, secret: s3cret }
  b: { path: /b, content: "${files.a.size}" }
outputs:
  b_content: ${files.b.content}
  token: ${files.a.token}
)";

engine::Action action_of(const engine::Plan& p, const std::string& address) {
  for (const auto& c : p.changes)
    if (c.address == address) return c.action;
  return engine::Action::NoOp;
}

}  // namespace

TEST_CASE("an output may list every instance of a counted block", "[unit][engine]") {
  Fixture f;
  f.load(R"(keel: 1
project: demo
files:
  web: { count: 3, path: "/w${count.index}", content: "w${count.index}" }
outputs:
  sizes: ${files.web[*].size}
)");
  auto p = f.plan();  // validate took it: plan must too (it said "cannot be expanded here")
  REQUIRE(p.outputs.size() == 1);
  CHECK(p.outputs[0].after_unknown);
  CHECK(f.apply(p).ok());
  CHECK(f.state.outputs.at("sizes") == nlohmann::json::array({2, 2, 2}));
  auto again = f.plan();
  CHECK_FALSE(again.outputs[0].after_unknown);
  CHECK_FALSE(again.has_changes());
}

TEST_CASE("ignore_changes: an existing resource keeps what state holds and a replacement takes the stack's", "[unit][engine]") {
  auto stack = [](const std::string& content, const std::string& path, const std::string& labels) {
    return "keel: 1\nproject: demo\nfiles:\n"
           "  a: { path: " + path + ", content: " + content + ", labels: " + labels +
           ", lifecycle: { ignore_changes: [content, path] } }\n"
           "  b: { path: /b, content: \"${files.a.content}\" }\n";
  };
  Fixture f;
  f.load(stack("one", "/a", "[x]"));
  REQUIRE(f.apply(f.plan()).ok());
  REQUIRE(f.state.find("files.a")->attributes.at("content") == "one");

  SECTION("a changed ignored value plans nothing, and apply sends none") {
    f.load(stack("two", "/a2", "[x]"));  // content in place, path force-new: both ignored
    auto p = f.plan();
    CHECK_FALSE(p.has_changes());
  }
  SECTION("a change of another attribute updates with state's value of the ignored one") {
    f.load(stack("two", "/a", "[y]"));
    auto p = f.plan();
    CHECK(action_of(p, "files.a") == engine::Action::Update);
    CHECK(action_of(p, "files.b") == engine::Action::NoOp);  // sees a's content as state holds it
    for (const auto& c : p.changes)
      if (c.address == "files.a")
        for (const auto& a : c.attributes) CHECK(a.name == "labels");
    REQUIRE(f.apply(p).ok());
    CHECK(f.state.find("files.a")->attributes.at("content") == "one");
    CHECK(f.state.find("files.a")->attributes.at("labels") == nlohmann::json::array({"y"}));
    CHECK_FALSE(f.plan().has_changes());
  }
  SECTION("a value changed outside keel is not planned back") {
    f.state.resources.at("files.a").attributes["content"] = "changed elsewhere";
    auto p = f.plan();
    CHECK(action_of(p, "files.a") == engine::Action::NoOp);
    CHECK(action_of(p, "files.b") == engine::Action::Update);  // b follows a as it is
  }
  SECTION("--replace makes it anew from the stack, ignored attributes included") {
    f.load(stack("two", "/a2", "[x]"));
    engine::PlanOptions options;
    options.replace = {"files.a"};
    auto p = f.plan(options);
    CHECK(action_of(p, "files.a") == engine::Action::Replace);
    CHECK(action_of(p, "files.b") == engine::Action::Update);  // a's content will change
    for (const auto& c : p.changes)
      if (c.address == "files.a")
        for (const auto& a : c.attributes) CHECK_FALSE(a.forces_replacement);  // path is ignored: --replace forces it
    REQUIRE(f.apply(p).ok());
    CHECK(f.state.find("files.a")->attributes.at("content") == "two");
    CHECK(f.state.find("files.a")->attributes.at("path") == "/a2");
    CHECK(f.state.find("files.b")->attributes.at("content") == "two");
  }
}

TEST_CASE("ignore_changes: names are checked against the kind at their line", "[unit][engine]") {
  auto diagnostics = [](const std::string& list) {
    testing::FakeProvider fake;
    auto loaded = config::load_stack_text(
        "keel: 1\nproject: demo\nfiles:\n  a: { path: /a, lifecycle: { ignore_changes: " + list + " } }\n", "keel.yaml",
        "/tmp");
    if (loaded.diagnostics.has_errors()) return loaded.diagnostics.describe();
    auto v = config::validate(loaded.stack, [&](const std::string&) -> Result<const provider::ProviderSchema*> {
      return &fake.schema();
    }, {});
    return v.diagnostics.describe();
  };
  CHECK(diagnostics("[content, path]").empty());
  CHECK_THAT(diagnostics("[contnet]"), Catch::Contains("keel.yaml:4:") && Catch::Contains("no attribute `contnet`") &&
                                           Catch::Contains("content"));
  CHECK_THAT(diagnostics("[size]"), Catch::Contains("computed by the provider"));
  CHECK_THAT(diagnostics("[content, content]"), Catch::Contains("twice"));
  CHECK_THAT(diagnostics("content"), Catch::Contains("must be a list"));
  CHECK_THAT(diagnostics("[[content]]"), Catch::Contains("must be attribute names"));
}

TEST_CASE("create, then a second plan is empty", "[unit][engine]") {
  Fixture f;
  f.load(kChain);
  auto p = f.plan();
  CHECK(action_of(p, "files.a") == engine::Action::Create);
  CHECK(action_of(p, "files.b") == engine::Action::Create);
  // b's content is a computed attribute of a: unknown until apply.
  for (const auto& c : p.changes)
    if (c.address == "files.b")
      for (const auto& a : c.attributes)
        if (a.name == "content") CHECK(a.after_unknown);
  auto r = f.apply(p);
  CHECK(r.ok());
  CHECK(f.state.find("files.b")->attributes.at("content") == "5");
  CHECK(f.state.outputs.at("b_content") == "5");
  CHECK(f.state.sensitive_outputs.count("token") == 1);
  CHECK_FALSE(f.plan().has_changes());
}

TEST_CASE("a changed attribute updates in place and a force-new one replaces", "[unit][engine]") {
  Fixture f;
  f.load(kChain);
  f.apply(f.plan());
  f.load(R"(keel: 1
project: demo
files:
  a: { path: /a2, content: hello, secret: s3cret }
  b: { path: /b, content: "changed" }
)");
  auto p = f.plan();
  CHECK(action_of(p, "files.a") == engine::Action::Replace);
  CHECK(action_of(p, "files.b") == engine::Action::Update);
  CHECK(f.apply(p).ok());
  CHECK(f.state.find("files.a")->attributes.at("path") == "/a2");
  CHECK_FALSE(f.plan().has_changes());
}

TEST_CASE("sensitive values are marked in the plan", "[unit][engine]") {
  Fixture f;
  f.load(kChain);
  auto p = f.plan();
  for (const auto& c : p.changes)
    for (const auto& a : c.attributes)
      if (a.name == "secret" || a.name == "token") CHECK(a.sensitive);
}

TEST_CASE("removed resources are deleted, dependents first", "[unit][engine]") {
  Fixture f;
  f.load(kChain);
  f.apply(f.plan());
  engine::PlanOptions destroy;
  destroy.destroy = true;
  auto p = f.plan(destroy);
  REQUIRE(p.changes.size() == 2);
  CHECK(p.changes[0].address == "files.b");
  CHECK(p.changes[1].address == "files.a");
  f.journal.records.clear();
  CHECK(f.apply(p, 10).ok());
  CHECK(f.journal.records == std::vector<std::string>{"remove files.b", "remove files.a"});
  CHECK(f.state.resources.empty());
  CHECK(f.fake.objects.empty());
}

TEST_CASE("a failure stops new work but keeps what succeeded", "[unit][engine]") {
  Fixture f;
  f.load(R"(keel: 1
project: demo
files:
  a: { path: /a }
  b: { path: "${files.a.path}/b" }
  c: { path: /c }
)");
  f.fake.fail_on = "files.a";
  auto r = f.apply(f.plan(), 1);
  CHECK_FALSE(r.ok());
  CHECK(r.failed == 1);
  CHECK(f.state.find("files.b") == nullptr);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0] == "create files.a: injected failure");
}

TEST_CASE("apply starts each node as soon as its dependencies finish", "[unit][engine]") {
  Fixture f;
  f.load(R"(keel: 1
project: demo
files:
  slow: { path: /slow }
  fast: { path: /fast }
  after_fast: { path: "${files.fast.path}/x" }
)");
  std::atomic<bool> slow_done{false};
  std::atomic<bool> after_fast_started_before_slow_done{false};
  f.fake.on_create = [&](const provider::CreateRequest& r) {
    if (r.tags.address == "files.slow") {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      slow_done = true;
    }
    if (r.tags.address == "files.after_fast" && !slow_done) after_fast_started_before_slow_done = true;
  };
  CHECK(f.apply(f.plan(), 2).ok());
  CHECK(after_fast_started_before_slow_done);
}

TEST_CASE("of the ready changes the ones that others wait for start first", "[unit][engine]") {
  Fixture f;
  // In the plan's order the lone file comes first; the head has a chain of
  // two waiting for it.
  f.load(R"(keel: 1
project: demo
files:
  a_lone: { path: /lone }
  b_head: { path: /head }
  c_next: { path: "${files.b_head.path}/next" }
  d_last: { path: "${files.c_next.path}/last" }
)");
  std::mutex mu;
  std::vector<std::string> order;
  f.fake.on_create = [&](const provider::CreateRequest& r) {
    std::lock_guard lock(mu);
    order.push_back(r.tags.address);
  };
  CHECK(f.apply(f.plan(), 1).ok());
  REQUIRE(order.size() == 4);
  // The chain first, then what waits for nothing, in the plan's order.
  CHECK(order == std::vector<std::string>{"files.b_head", "files.c_next", "files.a_lone", "files.d_last"});
}

TEST_CASE("an interrupted create is adopted, not duplicated", "[unit][engine]") {
  Fixture f;
  f.load(kChain);
  // What a crash leaves: the intent in state, the object at the provider.
  auto created = f.fake.create({"files", {"demo", "files.a"}, {{"path", "/a"}, {"content", "hello"}, {"secret", "s3cret"}}, {}});
  REQUIRE(created);
  state::ResourceState pending;
  pending.address = "files.a";
  pending.kind = "files";
  pending.provider = pending.provider_type = "local";
  f.state.resources["files.a"] = pending;
  auto p = f.plan();
  CHECK(action_of(p, "files.a") == engine::Action::Create);
  CHECK(f.apply(p).ok());
  CHECK(f.fake.objects.size() == 2);  // a adopted, b created
  CHECK(f.state.find("files.a")->id == created->id);
}

TEST_CASE("an interrupted create that the stack no longer declares is found and deleted, not orphaned", "[unit][engine]") {
  Fixture f;
  f.load(kChain);
  auto made = f.fake.create({"files", {"demo", "files.a"}, {{"path", "/a"}}, {}});
  REQUIRE(made);
  state::ResourceState pending;
  pending.address = "files.a";
  pending.kind = "files";
  pending.provider = pending.provider_type = "local";
  SECTION("keel destroy") {
    f.state.resources["files.a"] = pending;
    engine::PlanOptions options;
    options.destroy = true;
    auto p = f.plan(options);
    REQUIRE(action_of(p, "files.a") == engine::Action::Delete);
    CHECK(p.changes.front().adopt);
    CHECK(f.apply(p).ok());
    CHECK(f.fake.objects.empty());
    CHECK_FALSE(f.state.find("files.a"));
  }
  SECTION("removed from the stack") {
    f.state.resources["files.a"] = pending;
    f.load("keel: 1\nproject: demo\nfiles:\n  b: { path: /b }\n");
    auto p = f.plan();
    REQUIRE(action_of(p, "files.a") == engine::Action::Delete);
    CHECK(f.apply(p).ok());
    CHECK_FALSE(f.fake.objects.count(made->id));
    CHECK_FALSE(f.state.find("files.a"));
  }
  SECTION("nothing was made: the intent goes, nothing else is deleted") {
    f.fake.objects.clear();
    f.state.resources["files.a"] = pending;
    auto other = f.fake.create({"files", {"demo", "files.other"}, {{"path", "/o"}}, {}});
    REQUIRE(other);
    engine::PlanOptions options;
    options.destroy = true;
    CHECK(f.apply(f.plan(options)).ok());
    CHECK_FALSE(f.state.find("files.a"));
    CHECK(f.fake.objects.count(other->id));
  }
}

TEST_CASE("a target limits the plan to itself and its dependencies", "[unit][engine]") {
  Fixture f;
  f.load(R"(keel: 1
project: demo
files:
  a: { path: /a }
  b: { path: "${files.a.path}/b" }
  c: { path: /c }
)");
  engine::PlanOptions options;
  options.targets = {"files.b"};
  auto p = f.plan(options);
  std::set<std::string> planned;
  for (const auto& c : p.changes) planned.insert(c.address);
  CHECK(planned == std::set<std::string>{"files.a", "files.b"});
}

namespace {

const char* kCounted = R"(keel: 1
project: demo
files:
  w: { count: 2, path: "/w${count.index}" }
  v: { path: /v }
)";

engine::PlanOptions replacing(std::set<std::string> addresses) {
  engine::PlanOptions options;
  options.replace = std::move(addresses);
  return options;
}

const engine::ResourceChange& change_of(const engine::Plan& p, const std::string& address) {
  for (const auto& c : p.changes)
    if (c.address == address) return c;
  FAIL("no change for " << address);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("replace requested: an unchanged resource is planned as a replacement", "[unit][engine][replace]") {
  Fixture f;
  f.load(kChain);
  f.apply(f.plan());
  auto p = f.plan(replacing({"files.b"}));
  const auto& b = change_of(p, "files.b");
  CHECK(b.action == engine::Action::Replace);
  CHECK(b.replace_requested);
  CHECK(b.attributes.empty());  // nothing changed: the request is the only reason
  CHECK(action_of(p, "files.a") == engine::Action::NoOp);
  CHECK(p.counts().add == 1);
  CHECK(p.counts().destroy == 1);
  auto old_id = f.state.find("files.b")->id;
  CHECK(f.apply(p).ok());
  CHECK(f.state.find("files.b")->id != old_id);
  CHECK_FALSE(f.plan().has_changes());
}

TEST_CASE("replace requested: an indexed address replaces that instance only", "[unit][engine][replace]") {
  Fixture f;
  f.load(kCounted);
  f.apply(f.plan());
  auto p = f.plan(replacing({"files.w[1]"}));
  CHECK(action_of(p, "files.w[0]") == engine::Action::NoOp);
  CHECK(action_of(p, "files.w[1]") == engine::Action::Replace);
  CHECK(action_of(p, "files.v") == engine::Action::NoOp);
}

TEST_CASE("replace requested: an address without an index replaces every instance", "[unit][engine][replace]") {
  Fixture f;
  f.load(kCounted);
  f.apply(f.plan());
  auto p = f.plan(replacing({"files.w"}));
  CHECK(action_of(p, "files.w[0]") == engine::Action::Replace);
  CHECK(action_of(p, "files.w[1]") == engine::Action::Replace);
  CHECK(action_of(p, "files.v") == engine::Action::NoOp);
}

TEST_CASE("replace requested: an address the stack does not declare is an error", "[unit][engine][replace]") {
  Fixture f;
  f.load(kCounted);
  f.apply(f.plan());
  for (const char* address : {"files.nope", "files.w[2]", "files.v[0]"}) {
    auto p = engine::make_plan(f.validated.config, f.state, replacing({address}));
    REQUIRE_FALSE(p);
    CHECK(p.error().code() == ErrorCode::InvalidConfig);
    CHECK_THAT(p.error().message(), Catch::Contains(std::string("--replace ") + address));
  }
}

TEST_CASE("replace requested: an address outside the target selection is an error", "[unit][engine][replace]") {
  Fixture f;
  f.load(kCounted);
  f.apply(f.plan());
  auto options = replacing({"files.v"});
  options.targets = {"files.w"};
  auto p = engine::make_plan(f.validated.config, f.state, options);
  REQUIRE_FALSE(p);
  CHECK_THAT(p.error().message(), Catch::Contains("--target"));
  options.targets = {"files.v"};
  CHECK(engine::make_plan(f.validated.config, f.state, options));
}

TEST_CASE("replace requested: what is not created yet is planned as a create", "[unit][engine][replace]") {
  Fixture f;
  f.load(kChain);
  auto p = f.plan(replacing({"files.a"}));
  CHECK(action_of(p, "files.a") == engine::Action::Create);
  CHECK_FALSE(change_of(p, "files.a").replace_requested);
}

TEST_CASE("dependents of a replaced resource see its computed attributes as unknown", "[unit][engine][replace]") {
  Fixture f;
  f.load(kChain);  // b's content is a's computed size
  f.apply(f.plan());
  auto p = f.plan(replacing({"files.a"}));
  CHECK(action_of(p, "files.a") == engine::Action::Replace);
  const auto& b = change_of(p, "files.b");
  CHECK(b.action == engine::Action::Update);
  CHECK_FALSE(b.replace_requested);
  REQUIRE(b.attributes.size() == 1);
  CHECK(b.attributes[0].name == "content");
  CHECK(b.attributes[0].after_unknown);
  for (const auto& o : p.outputs)
    if (o.name == "b_content") CHECK(o.after_unknown);
  CHECK(f.apply(p).ok());
  CHECK(f.state.find("files.b")->attributes.at("content") == "5");
}

namespace {

// `n` independent files w0..w{n-1}, and `after`, which uses w0.
std::string waiting_stack(int n) {
  std::string yaml = "keel: 1\nproject: demo\nfiles:\n";
  for (int i = 0; i < n; ++i) yaml += "  w" + std::to_string(i) + ": { path: /w" + std::to_string(i) + " }\n";
  yaml += "  after: { path: \"${files.w0.path}/after\" }\n";
  return yaml;
}

// Counts the creates in flight and the most seen at once.
struct InFlight {
  std::mutex mu;
  std::condition_variable cv;
  int now = 0, most = 0, started = 0;
  void enter() {
    std::lock_guard lock(mu);
    ++started;
    most = std::max(most, ++now);
    cv.notify_all();
  }
  void leave() {
    std::lock_guard lock(mu);
    --now;
  }
  // Whether `n` creates started before the deadline.
  bool wait_started(int n, std::chrono::seconds deadline = std::chrono::seconds(10)) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, deadline, [&] { return started >= n; });
  }
};

}  // namespace

TEST_CASE("changes that only wait give their parallelism slot to the next change", "[unit][engine][waiting]") {
  Fixture f;
  f.load(waiting_stack(10));
  InFlight flight;
  // Set from the workers (Catch's assertions are for the test's thread).
  std::atomic<bool> w0_done{false}, after_before_w0{false}, no_callback{false}, cut_short{false};
  f.fake.on_create = [&](const provider::CreateRequest& r) {
    if (r.tags.address == "files.after") {
      after_before_w0 = !w0_done;
      return;
    }
    if (!r.waiting) {
      no_callback = true;
      return;
    }
    r.waiting();
    r.waiting();  // a repeat changes nothing
    flight.enter();
    // Each create "boots" until all ten are in flight: with two slots held
    // for the whole wait, this would never happen.
    if (!flight.wait_started(10)) cut_short = true;
    flight.leave();
    if (r.tags.address == "files.w0") w0_done = true;
  };
  auto r = f.apply(f.plan(), 2);
  CHECK(r.ok());
  CHECK(r.succeeded == 11);
  CHECK_FALSE(no_callback);
  CHECK_FALSE(cut_short);
  CHECK(flight.most == 10);
  CHECK_FALSE(after_before_w0);  // dependencies still hold
}

TEST_CASE("without the waiting signal parallelism bounds the changes in flight", "[unit][engine][waiting]") {
  Fixture f;
  f.load(waiting_stack(10));
  InFlight flight;
  f.fake.on_create = [&](const provider::CreateRequest&) {
    flight.enter();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    flight.leave();
  };
  CHECK(f.apply(f.plan(), 2).ok());
  CHECK(flight.most <= 2);
  CHECK(flight.started == 11);
}

TEST_CASE("a failure of a waiting change still stops new starts", "[unit][engine][waiting]") {
  Fixture f;
  f.load(R"(keel: 1
project: demo
files:
  a: { path: /a }
  b: { path: /b }
  c: { path: /c }
  d: { path: /d }
)");
  InFlight flight;
  std::atomic<bool> a_failed{false}, slot_kept{false};
  f.fake.fail_on = "files.a";
  f.fake.on_create = [&](const provider::CreateRequest& r) {
    flight.enter();
    if (r.tags.address == "files.a") {
      r.waiting();
      if (!flight.wait_started(2)) slot_kept = true;  // its slot should go to another change
      a_failed = true;                                 // the fake fails it on return
    } else {
      // Holds the only slot until a's failure is in: nothing else may start.
      for (int i = 0; i < 500 && !a_failed; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the engine records a's failure meanwhile
    }
    flight.leave();
  };
  auto r = f.apply(f.plan(), 1);
  CHECK_FALSE(slot_kept);
  CHECK(r.failed == 1);
  CHECK(r.succeeded == 1);
  CHECK(r.skipped == 2);
  CHECK(flight.started == 2);
}
