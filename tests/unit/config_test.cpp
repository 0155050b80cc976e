#include <catch2/catch.hpp>

#include "cli/config/configuration.h"
#include "cli/config/expression.h"
#include "tests/support/fake_provider.h"

using namespace keel;

namespace {

struct Validated {
  config::LoadResult loaded;
  config::ValidateResult result;
  std::string text() const { return loaded.diagnostics.describe() + result.diagnostics.describe(); }
};

// Loads and validates with the fake provider standing in for `local` and `fake`.
std::unique_ptr<Validated> check(const std::string& yaml, std::map<std::string, std::string> vars = {},
                                 std::map<std::string, std::string> env = {}) {
  static testing::FakeProvider fake;
  auto v = std::make_unique<Validated>();
  v->loaded = config::load_stack_text(yaml, "keel.yaml", "/tmp");
  config::ValidateOptions options;
  options.var_overrides = std::move(vars);
  options.env = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto schemas = [](const std::string& type) -> Result<const provider::ProviderSchema*> {
    if (type == "local" || type == "fake") return &fake.schema();
    return fail(ErrorCode::Unavailable, "no such provider");
  };
  if (!v->loaded.diagnostics.has_errors()) v->result = config::validate(v->loaded.stack, schemas, options);
  v->result.config.stack = &v->loaded.stack;
  return v;
}

}  // namespace

TEST_CASE("templates parse references and literals", "[unit][config]") {
  auto t = config::parse_template("postgres://${var.user}@${databases.main.host}:5432");
  REQUIRE(t);
  REQUIRE(t->parts.size() == 5);
  CHECK(std::holds_alternative<config::VarRef>(*t->parts[1].reference));
  auto ref = std::get<config::ResourceRef>(*t->parts[3].reference);
  CHECK(ref.address() == "databases.main");
  CHECK(ref.attribute == "host");
  CHECK(config::parse_template("${files.a[3].size}")->is_single_reference());
  CHECK(config::parse_template("$${literal}")->parts[0].literal == "${literal}");
  CHECK_FALSE(config::parse_template("${var.x"));
  CHECK_FALSE(config::parse_template("${fle(x)}"));
}

TEST_CASE("a valid stack expands count and records dependencies", "[unit][config]") {
  auto v = check(R"(keel: 1
project: demo
variables:
  n: { default: 3 }
files:
  base: { path: /tmp/base, content: hello }
  copy:
    count: ${var.n}
    path: /tmp/copy-${count.index}
    content: ${files.base.size}
    depends_on: [files.base]
outputs:
  first: ${files.copy[0].path}
)");
  INFO(v->text());
  REQUIRE_FALSE(v->result.diagnostics.has_errors());
  const auto& cfg = v->result.config;
  REQUIRE(cfg.instances.size() == 4);
  CHECK(cfg.find("files.copy[2]") != nullptr);
  CHECK(cfg.graph.dependencies("files.copy[1]").count("files.base") == 1);
}

TEST_CASE("validate reports every problem with file:line:column", "[unit][config]") {
  auto v = check(R"(keel: 1
project: demo
files:
  a:
    path: /tmp/a
    contnet: x
  b:
    content: ${files.nope.size}
  c:
    path: ${files.a.colour}
    content: 42
)");
  std::string text = v->text();
  INFO(text);
  CHECK(text.find("keel.yaml:6:5: error: unknown key `contnet` in files.a; did you mean `content`?") != std::string::npos);
  CHECK(text.find("keel.yaml:7:3: error: files.b is missing the required `path`") != std::string::npos);
  CHECK(text.find("`files.nope`, which the stack does not declare") != std::string::npos);
  CHECK(text.find("has no attribute `colour`") != std::string::npos);
  CHECK(text.find("keel.yaml:11:5: error: `content` of files.c: expected a string, got number") != std::string::npos);
}

TEST_CASE("cycles are refused naming the cycle", "[unit][config]") {
  auto v = check(R"(keel: 1
project: demo
files:
  a: { path: "${files.b.path}x" }
  b: { path: "${files.a.path}y" }
)");
  std::string text = v->text();
  INFO(text);
  CHECK(text.find("dependency cycle: files.a -> files.b -> files.a") != std::string::npos);
}

TEST_CASE("YAML syntax errors carry their position", "[unit][config]") {
  auto v = check("keel: 1\nproject: demo\nfiles:\n  a: { path: [unclosed\n");
  std::string text = v->text();
  INFO(text);
  CHECK(text.find("keel.yaml:") == 0);
  CHECK(text.find("YAML syntax error") != std::string::npos);
}

TEST_CASE("variables come from --var, then env, then default", "[unit][config]") {
  std::string yaml = R"(keel: 1
project: demo
variables:
  region: { default: fra1 }
  password: { sensitive: true, env: DEMO_PASSWORD }
files:
  a: { path: /tmp/a, secret: "${var.password}" }
)";
  auto missing = check(yaml);
  CHECK(missing->text().find("variable `password` has no value; set DEMO_PASSWORD or pass --var password=VALUE") !=
        std::string::npos);
  auto from_env = check(yaml, {}, {{"DEMO_PASSWORD", "s3cret"}});
  REQUIRE_FALSE(from_env->result.diagnostics.has_errors());
  CHECK(from_env->result.config.variables.at("password").value == "s3cret");
  CHECK(from_env->result.config.variables.at("password").sensitive);
  auto overridden = check(yaml, {{"password", "x"}, {"region", "ams3"}}, {{"DEMO_PASSWORD", "s3cret"}});
  CHECK(overridden->result.config.variables.at("password").value == "x");
  CHECK(overridden->result.config.variables.at("region").value == "ams3");
  auto unknown = check(yaml, {{"regoin", "x"}}, {{"DEMO_PASSWORD", "s"}});
  CHECK(unknown->text().find("did you mean `region`?") != std::string::npos);
}

TEST_CASE("unknown top-level keys and providers get suggestions", "[unit][config]") {
  auto v = check(R"(keel: 1
project: demo
fils:
  a: { path: /x }
files:
  b: { provider: fke, path: /y }
providers:
  fake: { type: fake }
)");
  std::string text = v->text();
  INFO(text);
  CHECK(text.find("keel.yaml:3:1: error: unknown key `fils` in the stack; did you mean `files`?") != std::string::npos);
}

TEST_CASE("[*] refers to an attribute of every instance, as a list", "[unit][config]") {
  auto ref = config::parse_template("${servers.web[*].id}");
  REQUIRE(ref);
  const auto& r = std::get<config::ResourceRef>(*ref->parts[0].reference);
  CHECK(r.every_instance);
  CHECK(r.address() == "servers.web[*]");
  CHECK_FALSE(config::parse_template("${servers.web[*]}"));
  CHECK_FALSE(config::parse_template("${servers.web[0][*].id}"));

  auto v = check(R"(keel: 1
project: demo
files:
  base: { count: 3, path: "/tmp/base-${count.index}" }
  single: { path: /tmp/single }
  all: { path: /tmp/all, labels: "${files.base[*].size}" }
  one: { path: /tmp/one, labels: "${files.single[*].size}" }
)");
  INFO(v->text());
  REQUIRE_FALSE(v->result.diagnostics.has_errors());
  auto typo = check(R"(keel: 1
project: demo
files:
  base: { count: 3, path: "/tmp/base-${count.index}" }
  typo: { path: /tmp/typo, labels: "${files.base[*].sise}" }
)");
  CHECK(typo->text().find("`files.base` (files) has no attribute `sise`; did you mean `size`?") != std::string::npos);
  // A list is not a string: neither inside one nor as a string attribute's value.
  CHECK_FALSE(config::parse_template("ids: ${servers.web[*].id}"));
  CHECK(config::parse_template("ids: ${servers.web[*].id}").error().message().find("is a list") != std::string::npos);
  auto in_string = check(R"(keel: 1
project: demo
files:
  base: { count: 3, path: "/tmp/base-${count.index}" }
  joined: { path: /tmp/joined, content: "sizes: ${files.base[*].size}" }
)");
  CHECK(in_string->text().find("`${files.base[*].size}` is a list: it can only be a whole value") != std::string::npos);
  auto into_string = check(R"(keel: 1
project: demo
files:
  base: { count: 3, path: "/tmp/base-${count.index}" }
  whole: { path: /tmp/whole, content: "${files.base[*].size}" }
)");
  CHECK(into_string->text().find("`content` of files.whole: `${files.base[*].size}` is a list; `content` takes a "
                                 "string") != std::string::npos);
  const auto& cfg = v->result.config;
  CHECK(cfg.graph.dependencies("files.all") == std::set<std::string>{"files.base[0]", "files.base[1]", "files.base[2]"});
  CHECK(cfg.graph.dependencies("files.one") == std::set<std::string>{"files.single"});

  // Evaluated: a list in instance order; unknown while any element is.
  std::map<std::string, config::Value> known = {{"files.base[0]", {10, false, false}},
                                                {"files.base[1]", {11, false, false}},
                                                {"files.base[2]", {12, false, false}}};
  auto ctx = cfg.context_for(*cfg.find("files.all"), [&](const std::string& address, const std::string&) {
    return std::optional<config::Value>(known.at(address));
  });
  auto value = config::evaluate("${files.base[*].size}", ctx);
  REQUIRE(value);
  CHECK(value->value == nlohmann::json::array({10, 11, 12}));
  known["files.base[1]"] = {nullptr, true, false};
  CHECK(config::evaluate("${files.base[*].size}", ctx)->unknown);
}

TEST_CASE("a list or map reference is refused where one value is taken", "[unit][config]") {
  auto v = check(R"(keel: 1
project: demo
variables:
  names: { default: [x, y] }
  opts: { default: { a: 1 } }
files:
  a: { path: /tmp/a, labels: [x, y] }
  b: { count: 2, path: "/tmp/b-${count.index}" }
  pre: { path: "pre-${files.a.labels}" }
  whole: { path: "${files.a.labels}" }
  var: { path: "${var.names}" }
  varmap: { path: /tmp/vm, content: "x ${var.opts}" }
  nested: { path: /tmp/n, labels: ["${files.b[*].path}"] }
  map: { path: /tmp/m, content: "${servers.web.settings}" }
servers:
  web: { settings: { a: 1 } }
  ops: { label: "${files.b[*].path}" }
outputs:
  o: "x ${files.a.labels}"
  m: "${servers.web.settings}"
)");
  std::string text = v->text();
  INFO(text);
  auto has = [&](const std::string& part) { return text.find(part) != std::string::npos; };
  // (a) inside a longer string: a List attribute, a map variable, an output.
  CHECK(has("keel.yaml:9:10: error: `path` of files.pre: `${files.a.labels}` is a list: it can only be a whole "
            "value, not part of a string"));
  CHECK(has("keel.yaml:12:28: error: `content` of files.varmap: `${var.opts}` is a map: it can only be a whole value"));
  CHECK(has("keel.yaml:19:6: error: output `o`: `${files.a.labels}` is a list: it can only be a whole value"));
  // (b) the whole value of a string attribute, known or not before apply.
  CHECK(has("keel.yaml:10:12: error: `path` of files.whole: `${files.a.labels}` is a list; `path` takes a string"));
  CHECK(has("keel.yaml:11:10: error: `path` of files.var: `${var.names}` is a list; `path` takes a string"));
  CHECK(has("keel.yaml:14:24: error: `content` of files.map: `${servers.web.settings}` is a map; `content` takes a "
            "string"));
  CHECK(has("keel.yaml:17:10: error: `label` of servers.ops: `${files.b[*].path}` is a list; `label` takes a string"));
  // A list as an element of a List attribute would make a list of lists.
  CHECK(has("keel.yaml:13:27: error: `labels` of files.nested: `${files.b[*].path}` is a list; `labels` takes a list "
            "of values, not of lists"));
  CHECK_FALSE(has("output `m`"));
}

TEST_CASE("lists and maps still go where they are taken", "[unit][config]") {
  auto v = check(R"(keel: 1
project: demo
variables:
  names: { default: [x, y] }
  opts: { default: { a: 1 } }
  port: { default: 8080 }
files:
  a: { path: /tmp/a, labels: [x, y] }
  b: { count: 2, path: "/tmp/b-${count.index}" }
  splat: { path: /tmp/s, labels: "${files.b[*].path}" }
  copy: { path: /tmp/c, labels: "${files.a.labels}" }
  var: { path: /tmp/v, labels: "${var.names}" }
  maps: { path: /tmp/m, labels: ["${var.opts}", "${servers.web.settings}"] }
  any: { path: /tmp/any, extra: ["${files.b[*].path}", "${var.names}"] }
  number: { path: "/tmp/port-${var.port}", content: "port ${var.port} ${files.a.size}" }
servers:
  web: { settings: "${var.opts}" }
outputs:
  all: "${files.b[*].path}"
  nested: { paths: "${files.b[*].path}", settings: "${servers.web.settings}" }
)");
  INFO(v->text());
  CHECK_FALSE(v->result.diagnostics.has_errors());
}

TEST_CASE("provider settings take no list where one value is taken", "[unit][config]") {
  static testing::FakeProvider fake;
  static const provider::ProviderSchema schema = [] {
    provider::ProviderSchema s = fake.schema();
    s.config = {testing::FakeProvider::attribute("endpoint", provider::AttributeType::String)};
    s.config[0].optional = true;
    return s;
  }();
  auto loaded = config::load_stack_text(R"(keel: 1
project: demo
variables:
  urls: { default: [a, b] }
providers:
  f: { type: fake, endpoint: "${var.urls}" }
)",
                                        "keel.yaml", "/tmp");
  REQUIRE_FALSE(loaded.diagnostics.has_errors());
  auto result = config::validate(
      loaded.stack, [](const std::string&) -> Result<const provider::ProviderSchema*> { return &schema; }, {});
  INFO(result.diagnostics.describe());
  CHECK(result.diagnostics.describe().find("keel.yaml:6:30: error: provider `f`: `endpoint`: `${var.urls}` is a list; "
                                           "`endpoint` takes a string") != std::string::npos);
}
