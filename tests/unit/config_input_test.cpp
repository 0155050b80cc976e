// Stack input from anyone (a pull request): what `keel validate` must refuse
// with a clear error at file:line:column, never crashing, hanging or growing
// without bound (docs/security.md#stack-input). Each case names the finding
// it is the regression test of.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/config/configuration.h"
#include "cli/config/input_files.h"
#include "cli/providers/registry.h"
#include "tests/support/fake_provider.h"

using namespace keel;

namespace {

struct Checked {
  config::LoadResult loaded;
  config::ValidateResult result;
  std::string text() const { return loaded.diagnostics.describe() + result.diagnostics.describe(); }
  bool has(const std::string& what) const { return text().find(what) != std::string::npos; }
  bool valid() const { return !loaded.diagnostics.has_errors() && !result.diagnostics.has_errors(); }
};

using Env = std::map<std::string, std::string>;

// Loads and validates as `keel validate` does, against the built-in
// providers' real schemas (`local`) or the fake one (`fake`), with `env` as
// the whole environment.
std::unique_ptr<Checked> check(const std::string& yaml, Env env = {}, std::map<std::string, std::string> vars = {},
                               const std::string& dir = "/tmp") {
  static providers::Registry registry({});
  static testing::FakeProvider fake;
  auto c = std::make_unique<Checked>();
  c->loaded = config::load_stack_text(yaml, "keel.yaml", dir);
  config::ValidateOptions options;
  options.var_overrides = std::move(vars);
  options.env = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto builtin = registry.schema_source();
  auto schemas = [builtin](const std::string& type) -> Result<const provider::ProviderSchema*> {
    if (type == "fake") return &fake.schema();
    return builtin(type);
  };
  c->result = config::validate(c->loaded.stack, schemas, options);
  c->result.config.stack = &c->loaded.stack;
  return c;
}

std::string header(const std::string& rest) { return "keel: 1\nproject: demo\n" + rest; }

// "NAME: &NAME [*PREV, *PREV, ...]" with `n` aliases: one level of a bomb.
// (Appended piecewise: g++ 12 warns falsely, -Wrestrict, about "x" + to_string.)
std::string bomb_level(const std::string& prefix, int level, int n) {
  std::string line = prefix;
  line += std::to_string(level);
  line += ": &";
  line += prefix;
  line += std::to_string(level);
  line += " [";
  for (int k = 0; k < n; ++k) {
    line += k ? ", *" : "*";
    line += prefix;
    line += std::to_string(level - 1);
  }
  return line + "]\n";
}

// Runs `fn` and fails when it takes longer than `limit` (a hang or a
// quadratic walk shows as minutes; a slow shared machine as a few seconds).
template <typename Fn>
void within(std::chrono::seconds limit, Fn fn) {
  const auto start = std::chrono::steady_clock::now();
  fn();
  CHECK(std::chrono::steady_clock::now() - start < limit);
}

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/keel-input-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(path + "/" + name, std::ios::binary) << content;
    return path + "/" + name;
  }
};

}  // namespace

// ---- issue 5: long plain scalars --------------------------------------------

TEST_CASE("long scalars reach every matcher without a crash (issue 5)", "[unit][config][input]") {
  // Plain implicit keys stop at 1024 characters in YAML; `? KEY` takes any.
  const std::string long_text(200'000, 'a');
  const std::string key = "? " + long_text + "\n  : ";
  within(std::chrono::seconds(30), [&] {
    auto c = check(header("servers:\n  web: {}\ncaches:\n  " + key + "{ engine: redis }\n"));
    INFO(c->text().substr(0, 1000));
    CHECK(c->has("resource name `"));
    CHECK(c->has("(at most 64)"));
    auto checks = check(header("servers:\n  web: {}\nchecks:\n  " + key + "{ on: servers.web, tcp: \"" + long_text +
                               ":1\" }\n  r: { on: servers.web, redis: \"redis://" + long_text + "@" + long_text +
                               ":6379/0\" }\n  t: { on: servers.web, tcp: \"" + long_text + "\" }\n"));
    INFO(checks->text().substr(0, 1000));
    CHECK(checks->has("check name `"));
    CHECK(checks->has("`address` must look like host:port"));
    auto backups = check(header("caches:\n  c: { engine: redis }\nbackups:\n  " + key +
                                "{ source: caches.c, to: \"sftp://" + long_text + "@" + long_text + ":22/" +
                                long_text + "\" }\n  b: { source: caches.c, to: \"s3://" + long_text + "/x\" }\n"));
    INFO(backups->text().substr(0, 1000));
    CHECK(backups->has("backup name `"));
    CHECK(backups->has("is not a bucket name"));
    auto apps = check(header("servers:\n  web: {}\napps:\n  " + key + "{ servers: servers.web, artifact: a.tgz, "
                             "rollout: { batch: \"" + std::string(100'000, '1') + "%\" } }\n"));
    INFO(apps->text().substr(0, 1000));
    CHECK(apps->has("app name `"));
    CHECK(apps->has("`rollout.batch` must be"));
  });
}

// ---- issue 6: alias bombs and deep nesting -----------------------------------

TEST_CASE("a 1 KB alias bomb is refused at once (issue 6)", "[unit][config][input]") {
  std::string yaml = header("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
  for (int i = 1; i < 10; ++i) yaml += bomb_level("a", i, 10);
  yaml += "outputs:\n  x: *a9\n";
  REQUIRE(yaml.size() < 1024);
  within(std::chrono::seconds(10), [&] {
    auto c = check(yaml);
    INFO(c->text());
    CHECK(c->has("the stack is too large once its aliases are expanded"));
    CHECK(c->loaded.stack.outputs.empty());  // nothing read past the check
  });
}

TEST_CASE("an alias bomb under checks (whose marks are recorded) is refused too (issue 6)", "[unit][config][input]") {
  std::string yaml = header("servers: { web: {} }\nx0: &x0 [a, a, a, a, a, a, a, a]\n");
  for (int i = 1; i < 8; ++i) yaml += bomb_level("x", i, 8);
  yaml += "checks:\n  c: { on: servers.web, exec: { command: *x7 } }\n";
  within(std::chrono::seconds(10), [&] { CHECK(check(yaml)->has("too large once its aliases are expanded")); });
}

TEST_CASE("aliases that stay small are still read", "[unit][config][input]") {
  auto c = check(header("x: &redis { engine: redis }\ncaches:\n  a: *redis\n  b: *redis\n"));
  // `x` is not a key of the stack; the aliases themselves are fine.
  CHECK(c->has("unknown key `x` in the stack"));
  CHECK(c->loaded.stack.resources.size() == 2);
}

TEST_CASE("deep nesting is refused, not a stack overflow (issue 6)", "[unit][config][input]") {
  within(std::chrono::seconds(10), [&] {
    auto flow = check(header("outputs:\n  x: " + std::string(100'000, '[') + std::string(100'000, ']') + "\n"));
    CHECK(flow->loaded.diagnostics.has_errors());
    std::string block = header("outputs:\n  x:\n");
    for (int i = 0; i < 100; ++i) block += std::string(2 * (i + 2), ' ') + "k" + std::to_string(i) + ":\n";
    auto deep = check(block);
    INFO(deep->text());
    CHECK(deep->has("deeper than 64 levels"));
  });
}

// ---- issue 7: UTF-8 and numbers -----------------------------------------------

TEST_CASE("invalid UTF-8 is refused at its line and column (issue 7)", "[unit][config][input]") {
  auto c = check(header("caches:\n  c: { engine: redis }\noutputs:\n  x: \"caf\xE9\"\n"));
  INFO(c->text());
  CHECK(c->has("keel.yaml:6:10: error: the stack is not valid UTF-8 (byte 0xe9)"));
  // Escapes decode to what is not UTF-8 either: a lone surrogate.
  auto escaped = check(header("outputs:\n  x: \"\\ud800\"\n"));
  INFO(escaped->text());
  CHECK(escaped->loaded.diagnostics.has_errors());
  auto nul = check(header("outputs:\n  x: \"a\\0b\"\n"));
  CHECK(nul->has("keel.yaml:4:6: error: this value holds a NUL character"));
}

TEST_CASE("numbers out of range are refused, not aborted on (issue 7)", "[unit][config][input]") {
  auto c = check(header("caches:\n"
                        "  a: { engine: redis, port: 1.0e999 }\n"
                        "  b: { engine: redis, port: 99999999999999999999 }\n"
                        "  c: { engine: redis, port: 1.0e-400 }\n"));
  INFO(c->text());
  CHECK(c->has("keel.yaml:4:29: error: the number 1.0e999 is out of range"));
  CHECK(c->has("keel.yaml:5:29: error: the integer 99999999999999999999 is out of range"));
  CHECK(c->has("keel.yaml:6:29: error: the number 1.0e-400 is out of range"));
  // At the edges: still numbers.
  auto edges = check(header("outputs:\n  a: 9223372036854775807\n  b: -9223372036854775808\n  c: 1.5e300\n"));
  INFO(edges->text());
  REQUIRE(edges->valid());
  CHECK(edges->loaded.stack.outputs[0].value == 9223372036854775807LL);
  CHECK(edges->loaded.stack.outputs[1].value.is_number_integer());
  CHECK(edges->loaded.stack.outputs[2].value.is_number_float());
}

TEST_CASE("values of --var and the environment that are not UTF-8 are refused (issue 7)", "[unit][config][input]") {
  const std::string yaml = header("variables:\n  a: { default: x }\n  b: { env: B }\noutputs:\n  o: \"${var.a}${var.b}${env.C}\"\n");
  auto c = check(yaml, {{"B", "\xFF"}, {"C", "\xC3"}}, {{"a", "\xFE"}});
  INFO(c->text());
  CHECK(c->has("--var a is not valid UTF-8"));
  CHECK(c->has("variable `b`: environment variable B is not valid UTF-8"));
  CHECK(c->has("environment variable C is not valid UTF-8"));
  // A --var for a number that is not one stays text (and is no crash).
  auto typed = check(header("variables:\n  n: { default: 3 }\n"), {}, {{"n", "99999999999999999999"}});
  CHECK_FALSE(typed->result.config.variables.at("n").value.is_number_integer());
  CHECK(check(header("variables:\n  n: { default: 3 }\n"), {}, {{"n", "-"}})->result.config.variables.at("n").value == "-");
}

// ---- issue 14: what the environment and files hold is sensitive ---------------

TEST_CASE("${env.X} and ${file(...)} are sensitive unless nonsensitive() says so (issue 14)", "[unit][config][input]") {
  TempDir dir;
  dir.write("public.txt", "hello");
  auto c = check(header("variables:\n  from_env: { env: A }\n  home: { env: HOME, sensitive: false }\n"),
                 {{"A", "a"}, {"HOME", "/home/me"}}, {}, dir.path);
  REQUIRE(c->valid());
  CHECK(c->result.config.variables.at("from_env").sensitive);
  CHECK_FALSE(c->result.config.variables.at("home").sensitive);

  config::EvalContext ctx;
  ctx.stack_dir = dir.path;
  ctx.env = [](const std::string& name) -> std::optional<std::string> { return name == "DIGITALOCEAN_TOKEN" ? "dop_v1_x" : "/home/me"; };
  CHECK(config::evaluate("${env.DIGITALOCEAN_TOKEN}", ctx)->sensitive);
  CHECK(config::evaluate("token=${env.DIGITALOCEAN_TOKEN}", ctx)->sensitive);
  CHECK(config::evaluate("${file(public.txt)}", ctx)->sensitive);
  CHECK_FALSE(config::evaluate("${nonsensitive(env.HOME)}/x", ctx)->sensitive);
  auto file = config::evaluate("${nonsensitive(file(\"public.txt\"))}", ctx);
  REQUIRE(file);
  CHECK_FALSE(file->sensitive);
  CHECK(file->value == "hello");
  CHECK_FALSE(config::parse_template("${nonsensitive(var.x)}"));
  CHECK_FALSE(config::parse_template("${nonsensitive(nonsensitive(env.X))}"));
  CHECK_FALSE(config::parse_template("${nonsensitive()}"));
}

TEST_CASE("names that look like secrets cannot be made public (issue 14)", "[unit][config][input]") {
  auto c = check(header("variables:\n  t: { env: DIGITALOCEAN_TOKEN, sensitive: false }\n"
                        "outputs:\n  a: \"${nonsensitive(env.AWS_SECRET_ACCESS_KEY)}\"\n"),
                 {{"DIGITALOCEAN_TOKEN", "dop_v1_planted"}, {"AWS_SECRET_ACCESS_KEY", "planted"}});
  INFO(c->text());
  CHECK(c->has("keel.yaml:4:44: error: variable `t` has `sensitive: false`: DIGITALOCEAN_TOKEN looks like a secret"));
  CHECK(c->has("AWS_SECRET_ACCESS_KEY looks like a secret"));
  CHECK_FALSE(c->has("planted"));
}

TEST_CASE("a sensitive value is never shown in a diagnostic (issue 14)", "[unit][config][input]") {
  const Env env = {{"T", "planted-secret"}};
  auto c = check(header("caches:\n  c: { engine: \"${env.T}\" }\n  d: { count: \"${env.T}\", engine: redis }\n"
                        "databases:\n  db: { user: \"${env.T}/x\" }\n"),
                 env);
  INFO(c->text());
  CHECK(c->has("`engine` of caches.c: the value is not one of: redis, memcached"));
  CHECK(c->has("`count` must be an integer from 0 to 20000, got a sensitive value"));
  CHECK(c->has("`user` of databases.db: the value holds a character it may not"));
  CHECK_FALSE(c->has("planted"));
}

// ---- low: duplicate keys, files, the local provider's limits, escapes ----------

TEST_CASE("duplicate keys are reported at both places", "[unit][config][input]") {
  auto c = check(header("caches:\n  c: { engine: redis, engine: memcached }\n"
                        "variables:\n  v: 1\n  v: 2\n"));
  INFO(c->text());
  CHECK(c->has("keel.yaml:4:23: error: `engine` is given twice in this map, first at keel.yaml:4:8"));
  CHECK(c->has("keel.yaml:7:3: error: `v` is given twice in this map, first at keel.yaml:6:3"));
  auto top = check(header("caches: {}\ncaches: {}\n"));
  CHECK(top->has("keel.yaml:4:1: error: `caches` is given twice in this map, first at keel.yaml:3:1"));
}

TEST_CASE("${file()} of a device, a FIFO, a directory or a huge file is an error, not a hang", "[unit][config][input]") {
  TempDir dir;
  const std::string fifo = dir.path + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  dir.write("huge.txt", std::string(config::kMaxFileFunctionBytes + 1, 'x'));
  dir.write("binary.bin", std::string("\x00\xFF", 2));
  within(std::chrono::seconds(10), [&] {
    auto c = check(header("outputs:\n  z: \"${file(/dev/zero)}\"\n  f: \"${file(fifo)}\"\n  d: \"${file(/)}\"\n"
                          "  h: \"${file(huge.txt)}\"\n  b: \"${file(binary.bin)}\"\n"),
                   {}, {}, dir.path);
    INFO(c->text());
    CHECK(c->has("/dev/zero is a character device: keel reads only regular files here"));
    CHECK(c->has("fifo is a FIFO: keel reads only regular files here"));
    CHECK(c->has("/ is a directory"));
    CHECK(c->has("huge.txt is larger than 4 MiB"));
    CHECK(c->has("binary.bin is not UTF-8 text"));
  });
}

TEST_CASE("the stack file itself is read bounded", "[unit][config][input]") {
  TempDir dir;
  const std::string fifo = dir.path + "/fifo.yaml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::filesystem::create_symlink("/dev/zero", dir.path + "/zero.yaml");
  within(std::chrono::seconds(10), [&] {
    auto zero = config::load_stack_file(dir.path + "/zero.yaml");
    CHECK(zero.diagnostics.describe().find("a character device") != std::string::npos);
    // A FIFO without a writer: read as empty, at once (`-f /dev/stdin` works).
    auto empty = config::load_stack_file(fifo);
    CHECK(empty.diagnostics.has_errors());
  });
  CHECK_FALSE(config::read_input_file(dir.path + "/fifo.yaml", 100, config::Streams::Refused));
}

TEST_CASE("values the local provider refuses are refused by validate", "[unit][config][input]") {
  auto c = check(header("databases:\n  db: { port: 70000, database: ../../x, user: \"a b\", version: \"../9\" }\n"
                        "caches:\n  c: { engine: redis, port: 0 }\n"));
  INFO(c->text());
  CHECK(c->has("keel.yaml:4:9: error: `port` of databases.db: 70000 is out of range: from 1 to 65535"));
  CHECK(c->has("`database` of databases.db: `../../x` holds a character it may not"));
  CHECK(c->has("`user` of databases.db: `a b` holds a character it may not"));
  CHECK(c->has("`version` of databases.db: `../9` holds a character it may not"));
  CHECK(c->has("`port` of caches.c: 0 is out of range"));
  auto reserved = check(header("databases:\n  a: { database: template1 }\n  b: { user: pg_monitor }\n"
                               "  c: { user: postgres, database: postgres }\n"));
  INFO(reserved->text());
  CHECK(reserved->has("`database` of databases.a: `template1` is reserved by the provider (template1)"));
  CHECK(reserved->has("`user` of databases.b: `pg_monitor` is reserved by the provider (pg_*)"));
  CHECK(reserved->has("`user` of databases.c: `postgres` is reserved by the provider (postgres)"));
  CHECK_FALSE(reserved->has("`database` of databases.c"));
  auto fine = check(header("databases:\n  db: { port: 5433, database: app_1, user: app, version: \"16\" }\n"));
  INFO(fine->text());
  CHECK(fine->valid());
}

TEST_CASE("control characters from a stack reach no terminal raw", "[unit][config][input]") {
  auto escaped = check(header("caches:\n  c: { engine: redis, \"\\e[31mred\\r\\u202e\": 1 }\n"));
  const std::string text = escaped->text();
  INFO(text);
  CHECK(text.find('\x1b') == std::string::npos);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(escaped->has("unknown key `\\e[31mred\\r\\u202e` in caches.c"));
  auto raw = check(header("caches:\n  c: { engine: redis, \"\x1b[2J\": 1 }\n"));
  INFO(raw->text());
  CHECK(raw->has("keel.yaml:4:24: error: the stack holds the control character U+001B"));
  CHECK(raw->text().find('\x1b') == std::string::npos);
}

TEST_CASE("provider types are names, never paths", "[unit][config][input]") {
  auto c = check(header("providers:\n  p: { type: ../../bin/sh }\n"));
  CHECK(c->has("keel.yaml:4:14: error: provider `p`: `type: ../../bin/sh` is not a provider name"));
}

// ---- count: what the plan would hold ----------------------------------------

TEST_CASE("count times a large value is refused before the plan holds it", "[unit][config][input]") {
  within(std::chrono::seconds(30), [&] {
    auto c = check(header("variables:\n  big: { default: \"" + std::string(20'000, 'x') + "\" }\n"
                          "files:\n  f: { provider: fake, count: 20000, path: \"/tmp/${count.index}\", content: \"${var.big}\" }\n"
                          "providers:\n  fake: { type: fake }\n"));
    INFO(c->text().substr(0, 2000));
    CHECK(c->has("files.f makes the stack's values larger than 256 MiB"));
    // Every instance referring to every instance: N x N edges.
    auto splat = check(header("servers:\n  web: { count: 10000, provider: fake }\n"
                              "files:\n  f: { provider: fake, count: 10000, path: /tmp/x, content: \"${servers.web[*].host}\" }\n"
                              "providers:\n  fake: { type: fake }\n"));
    CHECK(splat->has("files.f makes the stack's values larger than 256 MiB"));
    // Many blocks with a large count each: a small stack, millions of instances.
    std::string blocks = "providers:\n  fake: { type: fake }\nfiles:\n";
    for (int i = 0; i < 100; ++i) blocks += "  f" + std::to_string(i) + ": { provider: fake, count: 20000, path: /x }\n";
    auto many_blocks = check(header(blocks));
    CHECK(many_blocks->has("keel.yaml:7:32: error: files.f1: the stack would have more than 20000 resource instances"));
    CHECK(many_blocks->result.config.instances.size() == 20'000);
    CHECK(check(header("files:\n  f: { provider: fake, count: 20001, path: /x }\nproviders:\n  fake: { type: fake }\n"))
              ->has("`count` must be an integer from 0 to 20000, got 20001"));
  });
  // The most instances, of small values, are fine.
  auto many = check(header("files:\n  f: { provider: fake, count: 20000, path: \"/tmp/${count.index}\" }\n"
                           "providers:\n  fake: { type: fake }\n"));
  INFO(many->text().substr(0, 2000));
  CHECK(many->valid());
}
