// The cases users reported (issue 13) and the safety features around them:
// deletes, renames, protection, the state's stack, interrupts, and plans
// that show a change inside a map as its own line.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "cli/config/configuration.h"
#include "cli/engine/executor.h"
#include "cli/engine/moves.h"
#include "cli/engine/plan.h"
#include "cli/engine/secret_mask.h"
#include "cli/state/moves.h"
#include "cli/state/stack_binding.h"
#include "cli/views/render.h"
#include "tests/support/fake_provider.h"
#include "tests/support/temp_dir.h"

using namespace keel;

namespace {

struct NullJournal : state::StateJournal {
  Status record_intent(const state::ResourceState&) override { return {}; }
  Status record_put(const state::ResourceState&) override { return {}; }
  Status record_remove(const std::string&) override { return {}; }
};

struct Fixture {
  testing::FakeProvider fake;
  config::LoadResult loaded;
  config::ValidateResult validated;
  state::State state;
  NullJournal journal;
  engine::ApplyHooks hooks;

  void load(const std::string& yaml) {
    loaded = config::load_stack_text(yaml, "keel.yaml", "/tmp");
    INFO(loaded.diagnostics.describe());
    REQUIRE_FALSE(loaded.diagnostics.has_errors());
    validated = config::validate(loaded.stack, [this](const std::string&) -> Result<const provider::ProviderSchema*> {
      return &fake.schema();
    }, {});
    INFO(validated.diagnostics.describe());
    REQUIRE_FALSE(validated.diagnostics.has_errors());
    validated.config.stack = &loaded.stack;
  }
  Result<engine::Plan> try_plan(engine::PlanOptions options = {}) {
    auto moves = engine::apply_moves(validated.config, state);
    if (!moves) return fail(moves.error());
    auto p = engine::make_plan(validated.config, state, options);
    if (p) p->moved = *moves;
    return p;
  }
  engine::Plan plan(engine::PlanOptions options = {}) {
    auto p = try_plan(options);
    INFO((p ? std::string() : p.error().message()));
    REQUIRE(p);
    return *p;
  }
  engine::ApplyResult apply(const engine::Plan& p, const std::atomic<bool>* interrupted = nullptr,
                            int parallelism = 10) {
    engine::ProviderMap providers{{"local", &fake}};
    engine::ApplyOptions options;
    options.parallelism = parallelism;
    options.project = "demo";
    options.interrupted = interrupted;
    return engine::apply_plan(p, &validated.config, state, journal, providers, hooks, options);
  }
};

std::map<std::string, engine::Action> actions(const engine::Plan& p) {
  std::map<std::string, engine::Action> out;
  for (const auto& c : p.changes)
    if (c.action != engine::Action::NoOp) out[c.address] = c.action;
  return out;
}

using A = engine::Action;

}  // namespace

TEST_CASE("safety: lowering a count deletes the instances past it, never what they used", "[unit][engine][safety]") {
  Fixture f;
  auto stack = [](int count) {
    return "keel: 1\nproject: demo\nfiles:\n  db: { path: /db }\nservers:\n  web: { count: " + std::to_string(count) +
           ", label: \"${files.db.token}\" }\n";
  };
  f.load(stack(2));
  REQUIRE(f.apply(f.plan()).ok());
  f.load(stack(1));
  auto p = f.plan();
  CHECK(actions(p) == std::map<std::string, A>{{"servers.web[1]", A::Delete}});
  REQUIRE(f.apply(p).ok());
  CHECK(f.state.find("files.db"));
  CHECK(f.fake.objects.size() == 2);
}

TEST_CASE("safety: removing a resource that depends_on another deletes it alone", "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { path: /a }\n  b: { path: /b, depends_on: [files.a] }\n");
  REQUIRE(f.apply(f.plan()).ok());
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { path: /a }\n");
  CHECK(actions(f.plan()) == std::map<std::string, A>{{"files.b", A::Delete}});
}

TEST_CASE("safety: destroy --target takes the target and its dependents, not its dependencies",
          "[unit][engine][safety]") {
  Fixture f;
  f.load(R"(keel: 1
project: demo
files:
  base: { path: /base }
  mid: { path: "/mid-${files.base.size}" }
  top: { path: /top, depends_on: [files.mid] }
  other: { path: /other }
)");
  REQUIRE(f.apply(f.plan()).ok());
  engine::PlanOptions options;
  options.destroy = true;
  options.targets = {"files.mid"};
  CHECK(actions(f.plan(options)) == std::map<std::string, A>{{"files.mid", A::Delete}, {"files.top", A::Delete}});
}

TEST_CASE("safety: prevent_destroy refuses a destroy and a replace, naming where it is set", "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { path: /a, lifecycle: { prevent_destroy: true } }\n  b: { path: /b }\n");
  REQUIRE(f.apply(f.plan()).ok());
  engine::PlanOptions destroy;
  destroy.destroy = true;
  auto refused = f.try_plan(destroy);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message(), Catch::Contains("files.a has lifecycle.prevent_destroy set (keel.yaml:4:"));
  CHECK_THAT(refused.error().message(), Catch::Contains("destroy it"));
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { path: /a2, lifecycle: { prevent_destroy: true } }\n  b: { path: /b }\n");
  refused = f.try_plan();
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message(), Catch::Contains("`path` changed"));
  // Only the protected one: b may go.
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { path: /a, lifecycle: { prevent_destroy: true } }\n");
  CHECK(actions(f.plan()) == std::map<std::string, A>{{"files.b", A::Delete}});
}

TEST_CASE("safety: moved entries rename state and its dependencies instead of delete and create",
          "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { path: /a }\n  b: { path: \"/b${files.a.size}\" }\n");
  REQUIRE(f.apply(f.plan()).ok());
  const std::string id = f.state.find("files.a")->id;
  f.load(R"(keel: 1
project: demo
moved:
  - { from: files.a, to: files.a2 }
files:
  a2: { path: /a }
  b: { path: "/b${files.a2.size}" }
)");
  auto p = f.plan();
  CHECK(actions(p).empty());
  REQUIRE(p.moved.size() == 1);
  CHECK(p.moved[0].from == "files.a");
  CHECK(p.has_changes());
  CHECK_THAT(views::render_plan(p), Catch::Contains("files.a has moved to files.a2"));
  CHECK(f.state.find("files.a2")->id == id);
  CHECK(f.state.find("files.b")->dependencies == std::vector<std::string>{"files.a2"});
  // Applied: the entry is skipped from then on.
  CHECK(f.plan().moved.empty());
}

TEST_CASE("safety: a moved entry to an undeclared or occupied address is refused", "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { path: /a }\n  b: { path: /b }\n");
  REQUIRE(f.apply(f.plan()).ok());
  f.load("keel: 1\nproject: demo\nmoved: [{ from: files.a, to: files.c }]\nfiles:\n  b: { path: /b }\n");
  auto refused = f.try_plan();
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message(), Catch::Contains("keel.yaml:3:") && Catch::Contains("does not declare"));
  f.load("keel: 1\nproject: demo\nmoved: [{ from: files.a, to: files.b }]\nfiles:\n  b: { path: /b }\n");
  refused = f.try_plan();
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message(), Catch::Contains("already in state"));
  CHECK(f.state.find("files.a"));  // nothing moved
}

TEST_CASE("safety: moved entries are checked when the stack loads", "[unit][engine][safety]") {
  for (const char* bad : {"moved: [{ from: files.a }]", "moved: [{ from: files.a, to: servers.a }]",
                          "moved: [{ from: files.a, to: \"files.b[0]\" }]", "moved: [{ from: nope, to: files.b }]",
                          "moved: files.a"}) {
    auto loaded = config::load_stack_text(std::string("keel: 1\nproject: demo\n") + bad + "\n", "keel.yaml", "/tmp");
    INFO(bad);
    CHECK(loaded.diagnostics.has_errors());
  }
}

TEST_CASE("safety: state mv of a resource with count moves every instance and the edges to them",
          "[unit][engine][safety]") {
  state::State s;
  for (const char* a : {"servers.web[0]", "servers.web[1]", "files.x"}) {
    s.resources[a].address = a;
    s.resources[a].id = std::string("id-") + a;
  }
  s.resources["files.x"].dependencies = {"servers.web[1]"};
  auto moved = state::move_resource(s, "servers.web", "servers.app");
  REQUIRE(moved);
  CHECK(moved->size() == 2);
  CHECK(s.find("servers.app[1]")->id == "id-servers.web[1]");
  CHECK(s.find("servers.app[1]")->address == "servers.app[1]");
  CHECK(s.find("files.x")->dependencies == std::vector<std::string>{"servers.app[1]"});
  CHECK_FALSE(state::move_resource(s, "servers.nope", "servers.x"));
  CHECK_FALSE(state::move_resource(s, "servers.app", "files.app"));
  CHECK_FALSE(state::move_resource(s, "servers.app", "servers.x[0]"));
}

TEST_CASE("safety: a state belongs to its project and stack file", "[unit][engine][safety]") {
  testing::TempDir dir;
  const std::string work = dir.path + "/.keel";
  state::State s;
  CHECK(state::check_binding(s, "acme", dir.path + "/keel.yaml", "", work));  // never bound: any stack
  state::bind(s, "acme", dir.path + "/keel.yaml", "");
  CHECK(s.stack_file == "keel.yaml");
  auto other_project = state::check_binding(s, "other", dir.path + "/keel.yaml", "", work);
  REQUIRE_FALSE(other_project);
  CHECK_THAT(other_project.error().message(), Catch::Contains("`acme`") && Catch::Contains("`other`"));
  // keel.yaml is gone: other.yaml took its place.
  CHECK(state::check_binding(s, "acme", dir.path + "/other.yaml", "", work));
  std::ofstream(dir.path + "/keel.yaml") << "keel: 1\n";
  auto beside = state::check_binding(s, "acme", dir.path + "/other.yaml", "", work);
  REQUIRE_FALSE(beside);
  CHECK_THAT(beside.error().message(), Catch::Contains("keel.yaml") && Catch::Contains("other.yaml"));
}

TEST_CASE("safety: a state belongs to its environment", "[unit][engine][safety]") {
  testing::TempDir dir;
  const std::string work = dir.path + "/.keel/environments/staging";
  const std::string file = dir.path + "/keel.yaml";
  state::State s;
  CHECK(state::check_binding(s, "acme", file, "production", work));  // never bound: any environment
  state::bind(s, "acme", file, "staging");
  CHECK(state::check_binding(s, "acme", file, "staging", work));
  auto production = state::check_binding(s, "acme", file, "production", work);
  REQUIRE_FALSE(production);
  CHECK_THAT(production.error().message(), Catch::Contains("`staging`") && Catch::Contains("`production`"));
  auto none = state::check_binding(s, "acme", file, "", work);
  REQUIRE_FALSE(none);
  CHECK_THAT(none.error().message(), Catch::Contains("no environment"));
  // And the other way: a state applied without -e is not staging's.
  state::bind(s, "acme", file, "");
  CHECK_FALSE(state::check_binding(s, "acme", file, "staging", work));
}

TEST_CASE("safety: an interrupt starts nothing new and lets what runs finish", "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { count: 6, path: \"/a${count.index}\" }\n");
  std::atomic<bool> interrupted{false};
  std::atomic<int> creates{0};
  f.fake.on_create = [&](const provider::CreateRequest&) {
    if (++creates == 2) interrupted = true;  // during the second create
  };
  auto r = f.apply(f.plan(), &interrupted, 1);
  CHECK(r.interrupted);
  CHECK(r.failed == 0);
  CHECK(r.succeeded == 2);  // the one running when the interrupt came finished
  CHECK(r.skipped == 4);
  CHECK(f.state.resources.size() == 2);
  CHECK(f.fake.objects.size() == 2);
}

TEST_CASE("safety: a plan whose changes wait on each other fails instead of hanging", "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { path: /a }\n  b: { path: /b }\n");
  auto p = f.plan();
  for (auto& c : p.changes) c.dependencies = {c.address == "files.a" ? "files.b" : "files.a"};
  auto r = f.apply(p);
  CHECK_FALSE(r.ok());
  REQUIRE_FALSE(r.errors.empty());
  CHECK_THAT(r.errors[0], Catch::Contains("cycle"));
}

TEST_CASE("safety: unchanged resources get the stack's current dependencies in state", "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { path: /a }\n  b: { path: /b }\n  c: { path: /c }\n");
  REQUIRE(f.apply(f.plan()).ok());
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { path: /a }\n  b: { path: /b, depends_on: [files.a] }\n  c: { path: /c2 }\n");
  REQUIRE(f.apply(f.plan()).ok());
  CHECK(f.state.find("files.b")->dependencies == std::vector<std::string>{"files.a"});
}

// ---- plans that can be reviewed ----

TEST_CASE("plan view: a change inside a map is its own line, sensitive parts masked", "[unit][engine][safety][view]") {
  Fixture f;
  f.load(R"(keel: 1
project: demo
variables:
  pw: { default: hunter2, sensitive: true }
servers:
  web: { settings: { database: { postgres: "postgresql://u:${var.pw}@h/db", query: SELECT 1 }, disk: { path: / } } }
)");
  REQUIRE(f.apply(f.plan()).ok());
  CHECK(f.state.find("servers.web")->sensitive_paths.at("settings") == std::set<std::string>{"/database/postgres"});
  f.load(R"(keel: 1
project: demo
variables:
  pw: { default: hunter2, sensitive: true }
servers:
  web: { settings: { database: { postgres: "postgresql://u:${var.pw}@h/db", query: SELECT 2 }, disk: { path: / } } }
)");
  auto p = f.plan();
  std::string text = views::render_plan(p);
  CHECK_THAT(text, Catch::Contains(R"(settings.database.query : "SELECT 1" -> "SELECT 2")"));
  CHECK_THAT(text, !Catch::Contains("hunter2"));
  CHECK_THAT(text, !Catch::Contains("disk"));  // unchanged parts are not listed
  auto json = views::plan_to_json(p).dump();
  CHECK_THAT(json, !Catch::Contains("hunter2"));
  CHECK_THAT(json, Catch::Contains(R"("path":"settings.database.query")"));
  CHECK_THAT(json, Catch::Contains(R"("sensitive_paths")"));
  // The secret itself changes: its line says so, masked.
  f.load(R"(keel: 1
project: demo
variables:
  pw: { default: other, sensitive: true }
servers:
  web: { settings: { database: { postgres: "postgresql://u:${var.pw}@h/db", query: SELECT 1 }, disk: { path: / } } }
)");
  text = views::render_plan(f.plan());
  CHECK_THAT(text, Catch::Contains("settings.database.postgres : (sensitive) -> (sensitive)"));
  CHECK_THAT(text, !Catch::Contains("hunter2") && !Catch::Contains("other@"));
}

TEST_CASE("plan view: only the unknown part of a map is known after apply", "[unit][engine][safety][view]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  db: { path: /db }\nservers:\n  web: { settings: { a: { path: /x }, b: { path: /y } } }\n");
  REQUIRE(f.apply(f.plan()).ok());
  // files.db is replaced: its computed attributes are unknown.
  f.load("keel: 1\nproject: demo\nfiles:\n  db: { path: /db2 }\nservers:\n  web: { settings: { a: { path: /x }, b: { path: \"${files.db.size}\" } } }\n");
  std::string text = views::render_plan(f.plan());
  CHECK_THAT(text, Catch::Contains("settings.b.path : \"/y\" -> (known after apply)"));
  CHECK_THAT(text, !Catch::Contains("settings.a"));
}

TEST_CASE("plan view: deletes and replaces of what holds data say so", "[unit][engine][safety][view]") {
  engine::Plan p;
  engine::ResourceChange db;
  db.address = "databases.main";
  db.kind = "databases";
  db.action = engine::Action::Delete;
  db.data_loss = true;
  p.changes.push_back(db);
  std::string text = views::render_plan(p);
  CHECK_THAT(text, Catch::Contains("# databases.main holds data: deleting it loses the data in it"));
  CHECK_THAT(text, Catch::Contains("Data will be lost in: databases.main."));
  CHECK(views::plan_to_json(p)["changes"][0]["data_loss"] == true);
}

TEST_CASE("safety: prevent_destroy holds for the instances a lowered count drops, and names every one",
          "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  db: { path: \"/db${count.index}\", count: 3, lifecycle: { prevent_destroy: true } }\n");
  REQUIRE(f.apply(f.plan()).ok());
  for (const char* count : {"1", "0"}) {
    f.load(std::string("keel: 1\nproject: demo\nfiles:\n  db: { path: \"/db${count.index}\", count: ") + count +
           ", lifecycle: { prevent_destroy: true } }\n");
    auto refused = f.try_plan();
    INFO(count);
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message(), Catch::Contains("files.db[2] has lifecycle.prevent_destroy set") &&
                                              Catch::Contains("its block's `count` no longer includes it"));
    CHECK_THAT(refused.error().message(), Catch::Contains("files.db[1] has lifecycle.prevent_destroy set"));
  }
  // The block gone from the stack: Terraform's rule, the protection went with it.
  f.load("keel: 1\nproject: demo\nfiles:\n  other: { path: /other }\n");
  CHECK(actions(f.plan()).size() == 4);
}

TEST_CASE("safety: a block that gains or loses count keeps its one instance (implied move)",
          "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  db: { path: /db, count: 1 }\n  user: { path: \"/u${files.db[0].size}\" }\n");
  REQUIRE(f.apply(f.plan()).ok());
  const std::string id = f.state.find("files.db[0]")->id;
  f.load("keel: 1\nproject: demo\nfiles:\n  db: { path: /db }\n  user: { path: \"/u${files.db.size}\" }\n");
  auto p = f.plan();
  CHECK(actions(p).empty());
  REQUIRE(p.moved.size() == 1);
  CHECK(p.moved[0].from == "files.db[0]");
  CHECK(p.moved[0].to == "files.db");
  REQUIRE(f.apply(p).ok());
  CHECK(f.state.find("files.db")->id == id);
  CHECK(f.state.find("files.user")->dependencies == std::vector<std::string>{"files.db"});
  // And back.
  f.load("keel: 1\nproject: demo\nfiles:\n  db: { path: /db, count: 2 }\n  user: { path: \"/u${files.db[0].size}\" }\n");
  p = f.plan();
  CHECK(actions(p) == std::map<std::string, A>{{"files.db[1]", A::Create}});
  CHECK(f.state.find("files.db[0]")->id == id);
  // Two instances (or one that is not [0]) and no count any more: which one
  // stays is the stack's to say.
  REQUIRE(f.apply(p).ok());
  f.load("keel: 1\nproject: demo\nfiles:\n  db: { path: /db }\n  user: { path: \"/u${files.db.size}\" }\n");
  CHECK(actions(f.plan()).count("files.db[0]"));
}

TEST_CASE("safety: moved entries from what the stack declares, or onto a count that does not fit, are refused",
          "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  d: { path: \"/d${count.index}\", count: 2 }\n  e: { path: /e }\n");
  REQUIRE(f.apply(f.plan()).ok());
  // `from` still declared: Terraform refuses it too.
  f.load("keel: 1\nproject: demo\nmoved: [{ from: files.d, to: files.e }]\nfiles:\n  d: { path: \"/d${count.index}\", count: 2 }\n  e: { path: /e }\n");
  auto refused = f.try_plan();
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message(), Catch::Contains("keel.yaml:3:") && Catch::Contains("still declares"));
  // d[0] and d[1] into x, which has no count.
  f.load("keel: 1\nproject: demo\nmoved: [{ from: files.d, to: files.x }]\nfiles:\n  x: { path: /d0 }\n  e: { path: /e }\n");
  refused = f.try_plan();
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message(), Catch::Contains("files.x has no `count`: move one instance into it"));
  CHECK(f.state.find("files.d[0]"));  // nothing moved
  CHECK(f.state.find("files.d[1]"));
  f.load("keel: 1\nproject: demo\nmoved: [{ from: \"files.d[0]\", to: files.x }]\nfiles:\n  x: { path: /d0 }\n  e: { path: /e }\n");
  CHECK(actions(f.plan()) == std::map<std::string, A>{{"files.d[1]", A::Delete}});
  CHECK(f.state.find("files.x"));
}

TEST_CASE("safety: a resource with count 1 renamed to one without keeps its instance", "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  d: { path: /d, count: 1 }\n");
  REQUIRE(f.apply(f.plan()).ok());
  const std::string id = f.state.find("files.d[0]")->id;
  f.load("keel: 1\nproject: demo\nmoved: [{ from: files.d, to: files.e }]\nfiles:\n  e: { path: /d }\n");
  auto p = f.plan();
  CHECK(actions(p).empty());
  CHECK(f.state.find("files.e")->id == id);
}

TEST_CASE("safety: moved chains apply whatever order they are written in", "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { path: /a }\n");
  REQUIRE(f.apply(f.plan()).ok());
  f.load("keel: 1\nproject: demo\nmoved:\n  - { from: files.b, to: files.c }\n  - { from: files.a, to: files.b }\n"
         "files:\n  c: { path: /a }\n");
  auto p = f.plan();
  CHECK(actions(p).empty());
  CHECK(f.state.find("files.c"));
}

TEST_CASE("safety: a secret mask replaces every sensitive value a message quotes, longest first",
          "[unit][engine][safety]") {
  engine::SecretMask mask;
  mask.add_attributes(nlohmann::json{{"password", "hunter2-long"}, {"user", "app"}, {"checks", {{"db", {{"uri", "postgres://u:pw12@h/db"}}}, {"tcp", "127.0.0.1:5432"}}}},
                      {"password", "checks"}, {{"checks", {"/db/uri"}}});
  mask.add("hunter2");
  mask.add("no");  // too short to be a secret worth blanking every "no" for
  CHECK(mask.apply("got `hunter2-long`, and hunter2, and postgres://u:pw12@h/db at 127.0.0.1:5432, no") ==
        "got `(sensitive)`, and (sensitive), and (sensitive) at 127.0.0.1:5432, no");
  // A damaged path (from a state file) masks the whole attribute, never throws.
  engine::SecretMask whole;
  whole.add_attributes(nlohmann::json{{"checks", {{"a", "secret-a"}}}}, {"checks"}, {{"checks", {"not a pointer"}}});
  CHECK(whole.apply("secret-a") == "(sensitive)");
}

TEST_CASE("safety: a rename beside a lowered count deletes only the instances past it", "[unit][engine][safety]") {
  Fixture f;
  f.load("keel: 1\nproject: demo\nfiles:\n  a: { path: \"/a${count.index}\", count: 3 }\n");
  REQUIRE(f.apply(f.plan()).ok());
  f.load("keel: 1\nproject: demo\nmoved: [{ from: files.a, to: files.b }]\nfiles:\n  b: { path: \"/a${count.index}\", count: 2 }\n");
  auto p = f.plan();
  CHECK(p.moved.size() == 3);
  CHECK(actions(p) == std::map<std::string, A>{{"files.b[2]", A::Delete}});
}

TEST_CASE("safety: an unbound old state is refused by a stack that declares none of it", "[unit][engine][safety]") {
  state::State old;  // written before keel recorded the project
  old.resources["files.a"].address = "files.a";
  old.resources["servers.web[0]"].address = "servers.web[0]";
  auto declares_web = [](const std::string& r) { return r == "servers.web"; };
  auto declares_other = [](const std::string& r) { return r == "files.other"; };
  CHECK(state::check_unbound(old, "keel.yaml", declares_web));
  auto refused = state::check_unbound(old, "keel.yaml", declares_other);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message(), Catch::Contains("declares none of them") &&
                                            Catch::Contains("keel -f keel.yaml state rebind"));
  old.project = "demo";  // bound: check_binding's to judge
  CHECK(state::check_unbound(old, "keel.yaml", declares_other));
  CHECK(state::check_unbound(state::State{}, "keel.yaml", declares_other));  // empty: any stack
}
