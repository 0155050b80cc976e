// The stack's top-level `checks:` section: loading (the agent's own check
// parser, with `on:`), validation (server selectors, references, edges,
// cycles) and planning (the servers' `checks` attribute).
#include <catch2/catch.hpp>

#include "cli/config/configuration.h"
#include "cli/engine/executor.h"
#include "cli/engine/plan.h"
#include "cli/providers/registry.h"
#include "core/check_spec.h"
#include "tests/support/fake_provider.h"

using namespace keel;

namespace {

// Servers whose provider takes no checks.
const provider::ProviderSchema& bare_schema() {
  static const provider::ProviderSchema schema = [] {
    provider::ProviderSchema s;
    s.name = "bare";
    s.version = "0";
    provider::KindSchema servers;
    servers.kind = "servers";
    servers.attributes = {testing::FakeProvider::attribute("host", provider::AttributeType::String)};
    servers.attributes[0].computed = true;
    s.kinds = {servers};
    return s;
  }();
  return schema;
}

struct Validated {
  config::LoadResult loaded;
  config::ValidateResult result;
  std::string text() const { return loaded.diagnostics.describe() + result.diagnostics.describe(); }
  bool ok() const { return !loaded.diagnostics.has_errors() && !result.diagnostics.has_errors(); }
  const nlohmann::json& checks_of(const std::string& address) const {
    static const nlohmann::json none;
    const auto* inst = result.config.find(address);
    REQUIRE(inst != nullptr);
    auto it = inst->section_attributes.find("checks");
    return it == inst->section_attributes.end() ? none : *it;
  }
  std::set<std::string> names_of(const std::string& address) const {
    std::set<std::string> names;
    const auto& checks = checks_of(address);
    for (auto it = checks.begin(); checks.is_object() && it != checks.end(); ++it) names.insert(it.key());
    return names;
  }
};

// Loads and validates with the fake provider standing in for `local`.
std::unique_ptr<Validated> check(const std::string& yaml, const config::SchemaSource& source = {}) {
  static testing::FakeProvider fake;
  auto v = std::make_unique<Validated>();
  v->loaded = config::load_stack_text(yaml, "keel.yaml", "/tmp");
  config::ValidateOptions options;
  options.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  config::SchemaSource schemas = source;
  if (!schemas)
    schemas = [](const std::string& type) -> Result<const provider::ProviderSchema*> {
      if (type == "local" || type == "fake") return &fake.schema();
      if (type == "bare") return &bare_schema();
      return fail(ErrorCode::Unavailable, "no such provider");
    };
  if (!v->loaded.diagnostics.has_errors()) v->result = config::validate(v->loaded.stack, schemas, options);
  v->result.config.stack = &v->loaded.stack;
  return v;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const char* kStack = R"(keel: 1
project: demo
variables:
  port: { default: 8080 }
files:
  conf: { path: /tmp/conf }
servers:
  web: { count: 2 }
  db: {}
checks:
  web-http: { on: servers.web, http: "http://127.0.0.1:${var.port}/healthz", interval: 10s }
  pg: { on: [servers.db, "servers.web[0]"], postgres: "dbname=${files.conf.path}", query: "SELECT 1" }
  root: { on: servers.db, disk: /, warning: 20, critical: 10 }
)";

}  // namespace

TEST_CASE("checks load with their on: selectors and raw bodies", "[unit][config][checks]") {
  auto v = check(kStack);
  INFO(v->text());
  REQUIRE(v->ok());
  const auto& checks = v->loaded.stack.checks;
  REQUIRE(checks.size() == 3);
  CHECK(checks[0].name == "web-http");
  CHECK(checks[0].mark.describe() == "keel.yaml:11:3");
  REQUIRE(checks[1].on.size() == 2);
  CHECK(checks[1].on[1].first == "servers.web[0]");
  CHECK(checks[1].on[1].second.describe() == "keel.yaml:12:26");
  // The body is the definition without `on`, raw, typed as YAML types it.
  CHECK(checks[0].body == nlohmann::json{{"http", "http://127.0.0.1:${var.port}/healthz"}, {"interval", "10s"}});
  CHECK(checks[2].body.at("warning") == 20);
  CHECK(checks[1].marks.at("/postgres").describe() == "keel.yaml:12:55");
}

TEST_CASE("each server instance gets the checks whose on: selects it", "[unit][config][checks]") {
  auto v = check(kStack);
  INFO(v->text());
  REQUIRE(v->ok());
  CHECK(v->names_of("servers.web[0]") == std::set<std::string>{"web-http", "pg"});
  CHECK(v->names_of("servers.web[1]") == std::set<std::string>{"web-http"});
  CHECK(v->names_of("servers.db") == std::set<std::string>{"pg", "root"});
  CHECK(v->names_of("files.conf").empty());
  CHECK(v->checks_of("servers.db").at("root") == nlohmann::json{{"disk", "/"}, {"warning", 20}, {"critical", 10}});
  // References in a check are edges of every server it is on.
  const auto& graph = v->result.config.graph;
  CHECK(graph.dependencies("servers.web[0]") == std::set<std::string>{"files.conf"});
  CHECK(graph.dependencies("servers.db") == std::set<std::string>{"files.conf"});
  CHECK(graph.dependencies("servers.web[1]").empty());
}

TEST_CASE("a server selected twice runs the check once", "[unit][config][checks]") {
  auto v = check(R"(keel: 1
project: demo
servers:
  web: { count: 2 }
checks:
  up: { on: [servers.web, "servers.web[1]"], tcp: "127.0.0.1:22" }
)");
  INFO(v->text());
  REQUIRE(v->ok());
  CHECK(v->names_of("servers.web[1]") == std::set<std::string>{"up"});
  CHECK(v->checks_of("servers.web[1]").size() == 1);
}

TEST_CASE("check definitions are checked by the agent's parser with positions", "[unit][config][checks]") {
  auto v = check(R"(keel: 1
project: demo
servers:
  web: {}
checks:
  typo: { on: servers.web, http: "http://x/", intervall: 10s }
  two: { on: servers.web, http: "http://x/", tcp: "127.0.0.1:22" }
  none: { on: servers.web }
  nowhere: { disk: / }
  bad-on: { on: { servers: web }, disk: / }
  empty-on: { on: [], disk: / }
  thresholds: { on: servers.web, disk: /, warning: 5, critical: 10 }
  short: { on: servers.web, tcp: "127.0.0.1:22", interval: 50ms }
  notmap: servers.web
)");
  std::string text = v->text();
  INFO(text);
  CHECK(has(text, "keel.yaml:6:47: error: unknown key `intervall` in check `typo`; did you mean `interval`?"));
  CHECK(has(text, "keel.yaml:7:46: error: check `two` has two types, `http` and `tcp`"));
  CHECK(has(text, "keel.yaml:8:9: error: check `none` has no type"));
  CHECK(has(text, "keel.yaml:9:3: error: check `nowhere` has no `on:`; name the servers that run it"));
  CHECK(has(text, "keel.yaml:10:17: error: check `bad-on`: `on:` must be a server address or a list of them"));
  CHECK(has(text, "keel.yaml:11:19: error: check `empty-on`: `on:` selects no server"));
  CHECK(has(text, "keel.yaml:12:65: error: `critical` must be at most `warning`"));
  CHECK(has(text, "keel.yaml:13:60: error: `interval` must be at least 100ms"));
  CHECK(has(text, "keel.yaml:14:11: error: check `notmap` must be a map"));
}

TEST_CASE("tcp and redis addresses are parsed by hand, long ones included", "[unit][config][checks]") {
  auto host_of = [](const std::string& address) -> std::string {
    auto spec = checks::check_from_json("r", {{"redis", address}});
    if (!spec) return "error: " + spec.error().message();
    const auto& r = std::get<checks::RedisCheck>(spec->params);
    return r.username + "|" + r.password + "|" + r.host + "|" + std::to_string(r.port);
  };
  CHECK(host_of("127.0.0.1:6380") == "||127.0.0.1|6380");
  CHECK(host_of("redis://user:pa:ss@cache.local:6379/0") == "user|pa:ss|cache.local|6379");
  CHECK(host_of("[::1]:7000") == "||::1|7000");
  CHECK(host_of("cache") == "||cache|6379");
  for (const char* bad : {"", "host:", "host:123456", "host:12x", "[::1", "[]:1", "a/b@c:1", "host:1/x", "ho[st:1",
                          "user@"})
    CHECK_THAT(host_of(bad), Catch::StartsWith("error:"));
  const std::string long_text(1'000'000, 'h');
  CHECK(host_of("redis://" + long_text + "@" + long_text + ":1/0").size() > 1'000'000);
  auto tcp = checks::check_from_json("t", {{"tcp", long_text}});
  REQUIRE_FALSE(tcp);  // no port
  CHECK_FALSE(checks::check_from_json("t", {{"tcp", "127.0.0.1:70000"}}));
  CHECK(checks::check_from_json("t", {{"tcp", "127.0.0.1:5432"}}));
  // Not UTF-8: an error, not an exception out of dump().
  CHECK_FALSE(checks::check_from_json("t", {{"tcp", "\xFF:1"}}));
  CHECK_FALSE(checks::valid_check_name(std::string(1'000'000, 'a')));
}

TEST_CASE("thresholds that are not finite numbers are refused", "[unit][config][checks]") {
  CHECK_FALSE(checks::check_from_json("d", {{"disk", "/"}, {"warning", ".nan"}}));
  auto v = check(R"(keel: 1
project: demo
servers:
  web: {}
checks:
  d: { on: servers.web, disk: /, warning: .nan }
)");
  CHECK(has(v->text(), "`warning` must be between 0 and 100"));
}

TEST_CASE("on: must select servers that can run checks", "[unit][config][checks]") {
  auto v = check(R"(keel: 1
project: demo
providers:
  bare: { type: bare }
files:
  conf: { path: /tmp/conf }
servers:
  web: { count: 2 }
  db: {}
  plain: { provider: bare }
checks:
  a: { on: files.conf, disk: / }
  b: { on: "servers.web[5]", disk: / }
  c: { on: "servers.db[0]", disk: / }
  d: { on: servers.wbe, disk: / }
  e: { on: [servers.web, servers.plain], disk: / }
  f: { on: "servers.", disk: / }
)");
  std::string text = v->text();
  INFO(text);
  CHECK(has(text, "keel.yaml:12:12: error: check `a`: `on:` selects servers, and `files.conf` is not one"));
  CHECK(has(text, "keel.yaml:13:12: error: check `b`: `servers.web[5]` is out of range: `servers.web` has 2 instances"));
  CHECK(has(text, "keel.yaml:14:12: error: check `c`: `servers.db` has no `count`, so it takes no [index]"));
  CHECK(has(text, "keel.yaml:15:12: error: check `d`: `on:` selects `servers.wbe`, which the stack does not declare; "
                  "did you mean `servers.web`?"));
  CHECK(has(text, "keel.yaml:16:26: error: check `e`: servers.plain cannot run checks: provider `bare` (bare) has no "
                  "`checks` for servers"));
  CHECK(has(text, "keel.yaml:17:12: error: check `f`: in `on:`, `servers.` is not a valid reference"));
  // The valid selector of `e` still applies.
  CHECK(v->names_of("servers.web[1]") == std::set<std::string>{"e"});
}

TEST_CASE("checks written inside a server block point to the top-level section", "[unit][config][checks]") {
  auto v = check(R"(keel: 1
project: demo
servers:
  web:
    checks: { up: { tcp: "127.0.0.1:22" } }
)");
  std::string text = v->text();
  INFO(text);
  CHECK(has(text, "keel.yaml:5:5: error: `checks` cannot be set inside servers.web; declare them in the top-level "
                  "`checks:` section with `on: servers.web`"));
  CHECK_FALSE(has(text, "unknown key"));
}

TEST_CASE("references in checks are validated at their value", "[unit][config][checks]") {
  auto v = check(R"(keel: 1
project: demo
variables:
  iv: { default: soon }
files:
  conf: { path: /tmp/conf }
servers:
  web: { count: 2 }
  db: {}
checks:
  a: { on: servers.db, http: "http://${files.nope.path}/" }
  b: { on: servers.db, postgres: { conninfo: "${var.nope}", query: "SELECT 1" } }
  c: { on: servers.db, tcp: "${files.conf.colour}" }
  d: { on: "servers.web[0]", http: "http://${servers.web[0].host}/" }
  e: { on: servers.db, tcp: "127.0.0.1:${count.index}" }
  f: { on: servers.db, tcp: "127.0.0.1:22", interval: "${var.iv}" }
)");
  std::string text = v->text();
  INFO(text);
  CHECK(has(text, "keel.yaml:11:30: error: reference to `files.nope`, which the stack does not declare"));
  CHECK(has(text, "keel.yaml:12:46: error: reference to `var.nope`, which the stack does not declare"));
  CHECK(has(text, "keel.yaml:13:29: error: `files.conf` (files) has no attribute `colour`"));
  CHECK(has(text, "keel.yaml:14:36: error: check `d` runs on servers.web[0] and refers to it; the agent runs on that "
                  "server: use 127.0.0.1 or localhost"));
  CHECK(has(text, "keel.yaml:15:29: error: `count.index` is only available in a resource with `count`"));
  CHECK(has(text, "keel.yaml:16:3: error: check `f` with its references resolved: `interval`: `soon` is not a duration"));
}

TEST_CASE("count.index in a check on counted servers is the server's index", "[unit][config][checks]") {
  auto v = check(R"(keel: 1
project: demo
servers:
  web: { count: 2 }
checks:
  up: { on: servers.web, tcp: "127.0.0.1:808${count.index}" }
)");
  INFO(v->text());
  REQUIRE(v->ok());
  CHECK(v->checks_of("servers.web[1]").at("up").at("tcp") == "127.0.0.1:808${count.index}");
  state::State empty;
  auto plan = engine::make_plan(v->result.config, empty, {});
  REQUIRE(plan);
  for (const auto& c : plan->changes)
    for (const auto& a : c.attributes)
      if (a.name == "checks")
        CHECK(a.after.at("up").at("tcp") == (c.address == "servers.web[1]" ? "127.0.0.1:8081" : "127.0.0.1:8080"));
}

TEST_CASE("a check that closes a cycle is reported like other cycles", "[unit][config][checks]") {
  auto v = check(R"(keel: 1
project: demo
servers:
  web: {}
files:
  conf: { path: "/tmp/${servers.web.host}" }
checks:
  loop: { on: servers.web, http: "http://127.0.0.1/${files.conf.path}" }
)");
  std::string text = v->text();
  INFO(text);
  CHECK(has(text, "error: dependency cycle: files.conf -> servers.web -> files.conf; break it by removing one of "
                  "these references; check `loop` on servers.web refers to files.conf"));
}

TEST_CASE("the local provider's servers take checks", "[unit][config][checks]") {
  providers::Registry registry({});
  auto v = check(R"(keel: 1
project: demo
databases:
  main: {}
servers:
  web: { count: 2 }
  db: {}
checks:
  web-http: { on: servers.web, http: "http://127.0.0.1:8080/healthz", interval: 10s }
  pg:       { on: [servers.db, "servers.web[0]"], postgres: "${databases.main.uri}", query: "SELECT 1" }
  port:     { on: servers.db, tcp: "127.0.0.1:${databases.main.port}" }
  root:     { on: servers.web, disk: /, warning: 20, critical: 10 }
)",
                 registry.schema_source());
  INFO(v->text());
  REQUIRE(v->ok());
  CHECK(v->names_of("servers.web[0]") == std::set<std::string>{"web-http", "pg", "root"});
  CHECK(v->result.config.graph.dependencies("servers.db") == std::set<std::string>{"databases.main"});
  // Planned from nothing: the database's URI is unknown and sensitive, and
  // so are the checks of the servers that use it.
  state::State empty;
  auto plan = engine::make_plan(v->result.config, empty, {});
  REQUIRE(plan);
  std::map<std::string, engine::AttributeChange> checks_attr;
  for (const auto& c : plan->changes)
    for (const auto& a : c.attributes)
      if (a.name == "checks") checks_attr[c.address] = a;
  REQUIRE(checks_attr.size() == 3);
  CHECK(checks_attr["servers.db"].after_unknown);
  CHECK(checks_attr["servers.db"].sensitive);
  CHECK(checks_attr["servers.web[0]"].after_unknown);
  CHECK_FALSE(checks_attr["servers.web[1]"].after_unknown);
  CHECK_FALSE(checks_attr["servers.web[1]"].sensitive);
  CHECK(checks_attr["servers.web[1]"].after.at("root").at("disk") == "/");
}

// ---- planning -------------------------------------------------------------

namespace {

struct MemoryJournal : state::StateJournal {
  Status record_intent(const state::ResourceState&) override { return {}; }
  Status record_put(const state::ResourceState&) override { return {}; }
  Status record_remove(const std::string&) override { return {}; }
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
    INFO(loaded.diagnostics.describe());
    REQUIRE_FALSE(loaded.diagnostics.has_errors());
    validated = config::validate(loaded.stack, [this](const std::string&) -> Result<const provider::ProviderSchema*> {
      return &fake.schema();
    }, {});
    INFO(validated.diagnostics.describe());
    REQUIRE_FALSE(validated.diagnostics.has_errors());
    validated.config.stack = &loaded.stack;
  }
  engine::Plan plan() {
    auto p = engine::make_plan(validated.config, state, {});
    REQUIRE(p);
    return *p;
  }
  void apply(const engine::Plan& p) {
    engine::ProviderMap providers{{"local", &fake}};
    engine::ApplyOptions options;
    options.project = "demo";
    auto r = engine::apply_plan(p, &validated.config, state, journal, providers, hooks, options);
    REQUIRE(r.ok());
  }
  // Address -> action, for the instances that change.
  std::map<std::string, engine::Action> changes(const engine::Plan& p) {
    std::map<std::string, engine::Action> out;
    for (const auto& c : p.changes)
      if (c.action != engine::Action::NoOp) out[c.address] = c.action;
    return out;
  }
};

const char* kPlanned = R"(keel: 1
project: demo
variables:
  token: { default: s3cret, sensitive: true }
files:
  conf: { path: /tmp/conf, content: x }
servers:
  web: { count: 2 }
  db: {}
checks:
  web-http: { on: servers.web, http: "http://127.0.0.1:8080/healthz", interval: 10s }
  pg: { on: [servers.db, "servers.web[0]"], postgres: "dbname=${files.conf.path}", query: "SELECT 1" }
)";

}  // namespace

TEST_CASE("servers are created with their checks and a second plan is empty", "[unit][engine][checks]") {
  Fixture f;
  f.load(kPlanned);
  auto p = f.plan();
  for (const auto& c : p.changes)
    if (c.address == "servers.web[1]") {
      bool found = false;
      for (const auto& a : c.attributes)
        if (a.name == "checks") {
          found = true;
          CHECK(a.after == nlohmann::json::parse(
                               R"({"web-http": {"http": "http://127.0.0.1:8080/healthz", "interval": "10s"}})"));
        }
      CHECK(found);
    }
  f.apply(p);
  CHECK(f.state.find("servers.db")->attributes.at("checks").at("pg").at("postgres") == "dbname=/tmp/conf");
  CHECK(f.state.find("servers.web[0]")->dependencies == std::vector<std::string>{"files.conf"});
  CHECK_FALSE(f.plan().has_changes());
}

TEST_CASE("a changed check updates exactly the servers it is on", "[unit][engine][checks]") {
  Fixture f;
  f.load(kPlanned);
  f.apply(f.plan());

  std::string changed = kPlanned;
  changed.replace(changed.find("interval: 10s"), 13, "interval: 30s");
  f.load(changed);
  auto p = f.plan();
  CHECK(f.changes(p) == std::map<std::string, engine::Action>{{"servers.web[0]", engine::Action::Update},
                                                              {"servers.web[1]", engine::Action::Update}});
  for (const auto& c : p.changes)
    for (const auto& a : c.attributes) {
      CHECK(a.name == "checks");
      CHECK(a.before.at("web-http").at("interval") == "10s");
      CHECK(a.after.at("web-http").at("interval") == "30s");
    }
  f.apply(p);
  CHECK_FALSE(f.plan().has_changes());

  // Moving an `on:` target updates the servers it leaves and joins.
  std::string moved = changed;
  moved.replace(moved.find("[servers.db, \"servers.web[0]\"]"), 30, "[servers.db, \"servers.web[1]\"]");
  f.load(moved);
  p = f.plan();
  CHECK(f.changes(p) == std::map<std::string, engine::Action>{{"servers.web[0]", engine::Action::Update},
                                                              {"servers.web[1]", engine::Action::Update}});
  f.apply(p);
  CHECK(f.state.find("servers.web[0]")->attributes.at("checks").size() == 1);
  CHECK(f.state.find("servers.web[1]")->attributes.at("checks").size() == 2);
  CHECK_FALSE(f.plan().has_changes());
}

TEST_CASE("removing every check from a server clears its checks", "[unit][engine][checks]") {
  Fixture f;
  f.load(kPlanned);
  f.apply(f.plan());
  f.load(R"(keel: 1
project: demo
files:
  conf: { path: /tmp/conf, content: x }
servers:
  web: { count: 2 }
  db: {}
checks:
  pg: { on: servers.db, postgres: "dbname=${files.conf.path}", query: "SELECT 1" }
)");
  auto p = f.plan();
  CHECK(f.changes(p) == std::map<std::string, engine::Action>{{"servers.web[0]", engine::Action::Update},
                                                              {"servers.web[1]", engine::Action::Update}});
  for (const auto& c : p.changes)
    for (const auto& a : c.attributes) CHECK(a.after.is_null());
  f.apply(p);
  CHECK_FALSE(f.state.find("servers.web[0]")->attributes.contains("checks"));
  CHECK_FALSE(f.plan().has_changes());
}

TEST_CASE("a stack without checks plans no change for existing servers", "[unit][engine][checks]") {
  Fixture f;
  const char* plain = R"(keel: 1
project: demo
servers:
  web: { count: 2, label: front }
)";
  f.load(plain);
  auto p = f.plan();
  for (const auto& c : p.changes)
    for (const auto& a : c.attributes) CHECK(a.name != "checks");
  f.apply(p);
  f.load(plain);
  CHECK_FALSE(f.plan().has_changes());
}

TEST_CASE("checks built from sensitive or unknown values are marked so", "[unit][engine][checks]") {
  Fixture f;
  f.load(R"(keel: 1
project: demo
variables:
  token: { default: s3cret, sensitive: true }
files:
  conf: { path: /tmp/conf, content: x }
servers:
  web: {}
  db: {}
checks:
  api: { on: servers.web, http: { url: "http://127.0.0.1/", headers: { Authorization: "Bearer ${var.token}" } } }
  size: { on: servers.db, tcp: "127.0.0.1:${files.conf.size}" }
)");
  auto p = f.plan();
  std::map<std::string, engine::AttributeChange> checks_attr;
  for (const auto& c : p.changes)
    for (const auto& a : c.attributes)
      if (a.name == "checks") checks_attr[c.address] = a;
  CHECK(checks_attr["servers.web"].sensitive);
  CHECK_FALSE(checks_attr["servers.web"].after_unknown);
  CHECK(checks_attr["servers.db"].after_unknown);  // the file's size is computed: known after apply
  CHECK_FALSE(checks_attr["servers.db"].sensitive);
  f.apply(p);
  CHECK(f.state.find("servers.web")->sensitive.count("checks") == 1);
  CHECK(f.state.find("servers.db")->attributes.at("checks").at("size").at("tcp") == "127.0.0.1:1");
  CHECK_FALSE(f.plan().has_changes());
}

TEST_CASE("a list or map reference is refused where a check takes one value", "[unit][config][checks]") {
  auto v = check(R"(keel: 1
project: demo
variables:
  args: { default: [a, b] }
  hdrs: { default: { X-A: b } }
files:
  a: { count: 2, path: "/tmp/a-${count.index}" }
servers:
  ops: {}
  web: { count: 2 }
checks:
  c1: { on: servers.ops, tcp: "${files.a[*].path}" }
  c2: { on: servers.web, tcp: "${servers.web[*].host}" }
  c3: { on: servers.ops, http: { url: "http://${servers.web[0].settings}/" } }
  c4: { on: servers.ops, exec: ["${var.args}"] }
  c5: { on: servers.ops, postgres: { conninfo: "${var.hdrs}", query: "SELECT 1" } }
)");
  std::string text = v->text();
  INFO(text);
  CHECK(has(text, "keel.yaml:12:31: error: check `c1`: `${files.a[*].path}` is a list; `tcp` takes one value"));
  // Its own servers' `[*]`: the list error, not a cycle of the check's edges.
  CHECK(has(text, "keel.yaml:13:31: error: check `c2`: `${servers.web[*].host}` is a list; `tcp` takes one value"));
  CHECK_FALSE(has(text, "cycle"));
  CHECK(has(text, "keel.yaml:14:39: error: check `c3`: `${servers.web[0].settings}` is a map: it can only be a whole "
                  "value, not part of a string"));
  CHECK(has(text, "keel.yaml:15:33: error: check `c4`: `${var.args}` is a list; `exec` takes a list of single values"));
  CHECK(has(text, "keel.yaml:16:48: error: check `c5`: `${var.hdrs}` is a map; `conninfo` takes one value"));
}

TEST_CASE("a check takes a whole list or map where the agent does", "[unit][config][checks]") {
  auto v = check(R"(keel: 1
project: demo
variables:
  args: { default: [/bin/true, x] }
  ssh: { default: { address: "127.0.0.1:22" } }
  port: { default: 8080 }
servers:
  ops: {}
checks:
  run: { on: servers.ops, exec: "${var.args}" }
  ssh: { on: servers.ops, tcp: "${var.ssh}" }
  web: { on: servers.ops, http: "http://127.0.0.1:${var.port}/" }
)");
  INFO(v->text());
  CHECK(v->ok());
}

TEST_CASE("header patterns and JSON paths in a stack are checked at their line", "[unit][config][checks]") {
  auto v = check(R"(keel: 1
project: demo
variables:
  pattern: { default: "max-age=(" }
  good: { default: "max-age=\\d+" }
  want: { default: { "$.status": ok } }
servers:
  web: {}
checks:
  assets: { on: servers.web, http: "http://127.0.0.1/", expect_headers: { Cache-Control: "[" } }
  health: { on: servers.web, http: "http://127.0.0.1/", expect_json: { "$.a.*": 1 } }
  api: { on: servers.web, graphql: "http://127.0.0.1/graphql", expect: { "$.data": 1 } }
  later: { on: servers.web, http: "http://127.0.0.1/", expect_headers: { Cache-Control: "${var.pattern}" } }
)");
  std::string text = v->text();
  INFO(text);
  CHECK(has(text, "keel.yaml:10:90: error: `expect_headers.Cache-Control`: invalid regular expression: "
                  "missing ]: ["));
  CHECK(has(text, "keel.yaml:11:72: error: `expect_json`: `$.a.*` is not a supported JSONPath: wildcards are not "
                  "supported"));
  CHECK(has(text, "keel.yaml:12:27: error: graphql check `api` needs `query`"));

  auto resolved = check(R"(keel: 1
project: demo
variables:
  pattern: { default: "max-age=(" }
  good: { default: "max-age=\\d+" }
  want: { default: { "$.status": ok } }
  ids: { default: [1, 2] }
servers:
  web: {}
checks:
  later: { on: servers.web, http: "http://127.0.0.1/", expect_headers: { Cache-Control: "${var.pattern}" } }
  fine: { on: servers.web, http: "http://127.0.0.1/", expect_headers: { Cache-Control: "${var.good}" } }
  whole: { on: servers.web, graphql: "http://127.0.0.1/graphql", query: "{ status }", expect: "${var.want}" }
  lists: { on: servers.web, graphql: "http://127.0.0.1/graphql", query: "{ status }", variables: { ids: "${var.ids}" },
           expect: { "$.data.ids": "${var.ids}" } }
)");
  text = resolved->text();
  INFO(text);
  CHECK(has(text, "keel.yaml:11:3: error: check `later` with its references resolved: `expect_headers.Cache-Control`: "
                  "invalid regular expression: missing ): max-age=("));
  CHECK_FALSE(has(text, "`fine`"));
  CHECK_FALSE(has(text, "`whole`"));
  CHECK_FALSE(has(text, "`lists`"));  // variables and expected values take lists and maps
}
