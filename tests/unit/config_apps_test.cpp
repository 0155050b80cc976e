// The stack's `apps:` section: loading (defaults, every error at its line
// and column with "did you mean"), and validation (`servers` against the
// stack's servers, `health` against `checks:` on those servers, references).
#include <catch2/catch.hpp>

#include "cli/config/apps.h"
#include "cli/config/configuration.h"
#include "cli/providers/registry.h"

using namespace keel;

namespace {

struct Validated {
  config::LoadResult loaded;
  config::ValidateResult result;
  std::string text() const { return loaded.diagnostics.describe() + result.diagnostics.describe(); }
  bool ok() const { return !loaded.diagnostics.has_errors() && !result.diagnostics.has_errors(); }
  const config::AppBlock& app(const std::string& name) const {
    const auto* a = config::find_app(loaded.stack, name);
    REQUIRE(a != nullptr);
    return *a;
  }
};

// Loads and validates against the real `local` provider's schema (nothing
// is started: only its schema is read).
std::unique_ptr<Validated> check(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  static providers::Registry registry({});
  auto v = std::make_unique<Validated>();
  v->loaded = config::load_stack_text(yaml, "keel.yaml", "/tmp");
  config::ValidateOptions options;
  options.env = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  v->result = config::validate(v->loaded.stack, registry.schema_source(), options);
  v->result.config.stack = &v->loaded.stack;
  return v;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const char* kHead = R"(keel: 1
project: demo
variables:
  version: { default: "1.2" }
servers:
  web: { count: 2 }
  db: {}
checks:
  web-ok: { on: servers.web, exec: [test, -f, /opt/keel/apps/api/current/ok] }
  db-ok: { on: servers.db, disk: / }
)";

std::string stack(const std::string& apps) { return std::string(kHead) + "apps:\n" + apps; }

}  // namespace

TEST_CASE("apps: an app loads with its fields and defaults", "[unit][config][apps]") {
  auto v = check(stack(R"(  api:
    servers: servers.web
    artifact: ./dist/api-${var.version}.tar.gz
    before: ./bin/migrate
    start: systemctl restart api
    after: echo done
    health: web-ok
    health_timeout: 90s
    rollout: { batch: "50%" }
    keep_releases: 3
  static:
    servers: [servers.db, "servers.web[1]"]
    artifact: ./public
)"));
  INFO(v->text());
  REQUIRE(v->ok());
  const auto& api = v->app("api");
  REQUIRE(api.servers.size() == 1);
  CHECK(api.servers[0].first == "servers.web");
  CHECK(api.artifact == "./dist/api-${var.version}.tar.gz");
  CHECK(api.path == "/opt/keel/apps/api");
  CHECK(api.before == "./bin/migrate");
  CHECK(api.start == "systemctl restart api");
  CHECK(api.after == "echo done");
  REQUIRE(api.health.size() == 1);
  CHECK(api.health[0].first == "web-ok");
  CHECK(api.health_timeout_ms == 90'000);
  CHECK(api.batch == 50);
  CHECK(api.batch_percent);
  CHECK(api.keep_releases == 3);

  const auto& s = v->app("static");
  CHECK(s.servers.size() == 2);
  CHECK(s.path == "/opt/keel/apps/static");
  CHECK(s.start.empty());
  CHECK(s.health.empty());
  CHECK(s.health_timeout_ms == 60'000);
  CHECK(s.batch == 1);
  CHECK_FALSE(s.batch_percent);
  CHECK(s.keep_releases == 5);
  // Apps are not resources.
  CHECK(v->result.config.instances.size() == 3);
}

TEST_CASE("apps: unknown keys are errors at their position with a suggestion", "[unit][config][apps]") {
  auto v = check(stack(R"(  api:
    servers: servers.web
    artifact: ./dist/api.tar.gz
    strt: systemctl restart api
    rollout: { bach: 2 }
)"));
  CHECK_FALSE(v->ok());
  const auto text = v->text();
  INFO(text);
  CHECK(has(text, "keel.yaml:15:5: error: app `api`: unknown key `strt`; did you mean `start`?"));
  CHECK(has(text, "keel.yaml:16:16: error: app `api`: unknown key `bach` in `rollout`; did you mean `batch`?"));
}

TEST_CASE("apps: required keys and value errors", "[unit][config][apps]") {
  auto v = check(stack(R"(  api:
    path: opt/api
    health_timeout: soon
    rollout: { batch: 0 }
    keep_releases: -1
  web2:
    servers: []
    artifact: ""
    rollout: { batch: "150%" }
  "bad name":
    servers: servers.web
    artifact: x.tar.gz
  root:
    servers: servers.web
    artifact: x.tar.gz
    path: /
)"));
  CHECK_FALSE(v->ok());
  const auto text = v->text();
  INFO(text);
  CHECK(has(text, "keel.yaml:12:3: error: app `api`: has no `servers:`"));
  CHECK(has(text, "keel.yaml:12:3: error: app `api`: has no `artifact:`"));
  CHECK(has(text, "keel.yaml:13:11: error: app `api`: `path`: `opt/api` is not an absolute path"));
  CHECK(has(text, "keel.yaml:14:21: error: app `api`: `health_timeout`:"));
  CHECK(has(text, "keel.yaml:15:23: error: app `api`: `rollout.batch` must be a whole number from 1"));
  CHECK(has(text, "keel.yaml:16:20: error: app `api`: `keep_releases` must be a whole number from 1 to 1000"));
  CHECK(has(text, "keel.yaml:18:14: error: app `web2`: `servers` must be a name or a non-empty list"));
  CHECK(has(text, "keel.yaml:19:15: error: app `web2`: `artifact` must be a non-empty string"));
  CHECK(has(text, "app `web2`: `rollout.batch` must be a whole number from 1 or a percentage from 1% to 100%, got `150%`"));
  CHECK(has(text, "keel.yaml:21:3: error: app name `bad name` must start with a letter or a digit"));
  CHECK(has(text, "keel.yaml:27:11: error: app `root`: `path` cannot be `/`"));
}

TEST_CASE("apps: servers must name servers in the stack", "[unit][config][apps]") {
  auto v = check(stack(R"(  api:
    servers: [servers.wbe, databases.main, "servers.web[2]", "servers.db[0]"]
    artifact: ./dist
)"));
  CHECK_FALSE(v->ok());
  const auto text = v->text();
  INFO(text);
  CHECK(has(text, "keel.yaml:13:15: error: app `api`: `servers`: the stack declares no `servers.wbe`; did you mean "
                  "`servers.web`?"));
  CHECK(has(text, "app `api`: `servers`: `databases.main` is not one of the stack's servers"));
  CHECK(has(text, "app `api`: `servers`: `servers.web[2]` is out of range: `servers.web` has 2 instances"));
  CHECK(has(text, "app `api`: `servers`: `servers.db` has no `count`, so it takes no [index]"));
}

TEST_CASE("apps: health names checks that run on every server of the app", "[unit][config][apps]") {
  auto v = check(stack(R"(  api:
    servers: [servers.web, servers.db]
    artifact: ./dist
    health: [web-ok, wbe-ok, db-ok]
)"));
  CHECK_FALSE(v->ok());
  const auto text = v->text();
  INFO(text);
  CHECK(has(text, "app `api`: health check `web-ok` does not run on servers.db"));
  CHECK(has(text, "app `api`: `health` names `wbe-ok`, which `checks:` does not declare; did you mean `web-ok`?"));
  CHECK(has(text, "app `api`: health check `db-ok` does not run on servers.web[0], servers.web[1]"));

  auto one = check(stack(R"(  api:
    servers: "servers.web[1]"
    artifact: ./dist
    health: web-ok
)"));
  INFO(one->text());
  CHECK(one->ok());
}

TEST_CASE("apps: references to variables and the environment only", "[unit][config][apps]") {
  auto v = check(stack(R"(  api:
    servers: servers.web
    artifact: ./dist/${var.versoin}.tar.gz
    start: echo ${servers.db.id}
    after: echo ${env.RELEASE_NOTE}
)"));
  CHECK_FALSE(v->ok());
  const auto text = v->text();
  INFO(text);
  CHECK(has(text, "reference to `var.versoin`, which the stack does not declare; did you mean `version`?"));
  CHECK(has(text, "app `api`: `start` cannot refer to resources (`${servers.db.id}`)"));
  CHECK(has(text, "environment variable RELEASE_NOTE is not set"));

  auto ok = check(stack(R"(  api:
    servers: servers.web
    artifact: ./dist/${var.version}.tar.gz
    after: echo ${env.RELEASE_NOTE}
)"),
                  {{"RELEASE_NOTE", "hi"}});
  INFO(ok->text());
  CHECK(ok->ok());
}

TEST_CASE("apps: duplicate names and a section that is not a map", "[unit][config][apps]") {
  auto v = check(stack(R"(  api: { servers: servers.web, artifact: a.tgz }
  api: { servers: servers.web, artifact: b.tgz }
)"));
  // A key twice in one map: refused for every map of the stack, both places named.
  CHECK(has(v->text(), "`api` is given twice in this map, first at keel.yaml:"));
  auto list = check(std::string(kHead) + "apps: [a, b]\n");
  CHECK(has(list->text(), "`apps` must be a map of app name -> app"));
}

TEST_CASE("apps: rollout.batch takes a number of hosts or a percentage", "[unit][config][apps]") {
  using nlohmann::json;
  auto two = config::parse_batch(json(2));
  REQUIRE(two);
  CHECK(two->value == 2);
  CHECK_FALSE(two->percent);
  auto quarter = config::parse_batch(json("25%"));
  REQUIRE(quarter);
  CHECK(quarter->value == 25);
  CHECK(quarter->percent);
  CHECK(config::parse_batch(json("100%")));
  CHECK_FALSE(config::parse_batch(json("0%")));
  CHECK_FALSE(config::parse_batch(json("101%")));
  CHECK_FALSE(config::parse_batch(json(0)));
  CHECK_FALSE(config::parse_batch(json("2")));
  CHECK_FALSE(config::parse_batch(json(1.5)));
}

TEST_CASE("apps: a list or map variable is refused in a string field", "[unit][config][apps]") {
  auto v = check(R"(keel: 1
project: demo
variables:
  dirs: { default: [a, b] }
  opts: { default: { a: b } }
servers:
  web: {}
apps:
  api:
    servers: servers.web
    artifact: ./dist/api.tar.gz
    path: "${var.dirs}"
    start: "run ${var.opts}"
)");
  std::string text = v->text();
  INFO(text);
  CHECK(has(text, "keel.yaml:12:11: error: app `api`: `${var.dirs}` is a list; `path` takes a string"));
  CHECK(has(text, "keel.yaml:13:12: error: app `api`: `${var.opts}` is a map: it can only be a whole value"));
}
