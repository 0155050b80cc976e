// Every command's flags parsed in-process through make_app (app.h): the
// options each command receives, did-you-mean for mistyped commands and
// flags with each command's own usage exit code, help with examples and
// per-command exit codes, and the colour decision.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "core/files.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/command_harness.h"

using namespace keel;
using namespace keel::commands;
using keel::testing::CommandRun;

namespace {

struct UsageCase {
  std::vector<std::string> args;
  int code;
  std::string says;
};

// Each case is a usage error: its code, its message on stderr (control
// characters escaped), nothing on stdout, nothing to run.
void expect_usage_errors(const std::vector<UsageCase>& cases) {
  for (const auto& c : cases) {
    CommandRun r;
    INFO((c.args.empty() ? std::string("(none)") : c.args.front()) << " ... expecting: " << c.says);
    auto code = r.parse(c.args);
    REQUIRE(code);
    CHECK(*code == c.code);
    CHECK_THAT(r.err(), Catch::Contains(c.says));
    CHECK(r.err().find('\x1b') == std::string::npos);
    CHECK(r.out().empty());
    CHECK_FALSE(r.ctx.run);
  }
}

}  // namespace

TEST_CASE("command parse: plan's flags reach PlanOptions and global flags after the command too", "[command]") {
  CommandRun r;
  REQUIRE_FALSE(r.parse({"plan", "--target", "files.a", "--target", "files.b", "--replace", "files.c", "--out", "p.plan",
                         "--format", "markdown", "--no-refresh", "--parallelism", "3", "--detailed-exitcode", "--json",
                         "-f", "other.yaml", "--var", "a=1"}));
  CHECK(r.ctx.command == "plan");
  auto o = r.options<PlanOptions>();
  CHECK(o.targets == std::vector<std::string>{"files.a", "files.b"});
  CHECK(o.replace == std::vector<std::string>{"files.c"});
  CHECK(o.out == "p.plan");
  CHECK(o.format == "markdown");
  CHECK_FALSE(o.refresh);
  CHECK(o.parallelism == 3);
  CHECK(o.detailed_exitcode);
  CHECK(r.ctx.global.json);
  CHECK(r.ctx.global.file == "other.yaml");
  CHECK(r.ctx.global.file_given);
  CHECK(r.ctx.global.vars == std::vector<std::string>{"a=1"});
}

TEST_CASE("command parse: defaults when no flag is given", "[command]") {
  CommandRun r;
  REQUIRE_FALSE(r.parse({"plan"}));
  auto o = r.options<PlanOptions>();
  CHECK(o.refresh);
  CHECK(o.parallelism == 10);
  CHECK(o.format.empty());
  CHECK(r.ctx.global.file == "keel.yaml");
  CHECK_FALSE(r.ctx.global.file_given);
  CHECK_FALSE(r.ctx.global.json);
}

TEST_CASE("command parse: apply and destroy and refresh and output and show and validate and graph and schema", "[command]") {
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"apply", "saved.plan", "--auto-approve", "--parallelism", "2"}));
    auto o = r.options<ApplyOptions>();
    CHECK(o.plan_file == "saved.plan");
    CHECK(o.auto_approve);
    CHECK(o.parallelism == 2);
    CHECK_FALSE(o.destroy);
  }
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"destroy", "--target", "files.a", "--no-refresh"}));
    auto o = r.options<ApplyOptions>();
    CHECK(o.destroy);
    CHECK(o.targets == std::vector<std::string>{"files.a"});
    CHECK_FALSE(o.refresh);
  }
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"refresh", "--target", "files.a", "--parallelism", "4"}));
    CHECK(r.options<RefreshOptions>().targets == std::vector<std::string>{"files.a"});
    CHECK(r.options<RefreshOptions>().parallelism == 4);
  }
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"output", "url", "--raw"}));
    CHECK(r.options<OutputOptions>().name == "url");
    CHECK(r.options<OutputOptions>().raw);
  }
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"show", "saved.plan", "--format", "json"}));
    CHECK(r.options<ShowOptions>().plan_file == "saved.plan");
    CHECK(r.options<ShowOptions>().format == "json");
  }
  for (const char* name : {"validate", "graph", "schema"}) {
    CommandRun r;
    REQUIRE_FALSE(r.parse({name}));
    CHECK(r.ctx.command == name);
  }
}

TEST_CASE("command parse: state and health and backup and restore and drill", "[command]") {
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"state", "rm", "files.a", "files.b", "--auto-approve"}));
    auto o = r.options<StateOptions>();
    CHECK(o.verb == "rm");
    CHECK(o.args == std::vector<std::string>{"files.a", "files.b"});
    CHECK(o.auto_approve);
  }
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"health", "--watch", "5", "--target", "servers.web"}));
    CHECK(r.options<HealthOptions>().interval == 5);
    CHECK(r.options<HealthOptions>().targets == std::vector<std::string>{"servers.web"});
  }
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"health"}));
    CHECK(r.options<HealthOptions>().interval == 2);
  }
  const std::vector<std::pair<std::vector<std::string>, std::string>> actions = {
      {{"backup", "run", "nightly"}, "run"},     {{"backup", "list", "nightly"}, "list"},
      {{"backup", "prune", "nightly"}, "prune"}, {{"backup", "key", "export"}, "key-export"},
      {{"restore", "nightly"}, "restore"},       {{"drill", "nightly"}, "drill"}};
  for (const auto& [args, action] : actions) {
    CommandRun r;
    INFO(args.front() << " " << args.at(1));
    REQUIRE_FALSE(r.parse(args));
    CHECK(r.options<BackupOptions>().action == action);
    if (action != "key-export") CHECK(r.options<BackupOptions>().job == "nightly");
  }
  CommandRun r;
  REQUIRE_FALSE(r.parse({"restore", "nightly", "--snapshot", "s1", "--to", "scratch", "--auto-approve"}));
  auto o = r.options<BackupOptions>();
  CHECK(o.snapshot == "s1");
  CHECK(o.to == "scratch");
  CHECK(o.auto_approve);
  CHECK(r.ctx.command == "restore");
}

TEST_CASE("command parse: exec takes the words after -- as the remote command and never as flags", "[command]") {
  CommandRun r;
  REQUIRE_FALSE(r.parse({"exec", "servers.web", "servers.db[0]", "--forks", "3", "--group", "--timeout", "9", "--",
                         "ls", "-la", "--taget", "--"}));
  auto o = r.options<ExecOptions>();
  CHECK(o.selectors == std::vector<std::string>{"servers.web", "servers.db[0]"});
  CHECK(o.forks == 3);
  CHECK(o.group);
  CHECK(o.timeout == 9);
  CHECK(r.ctx.after_dashdash == std::vector<std::string>{"ls", "-la", "--taget", "--"});
}

TEST_CASE("command parse: deploy and agent", "[command]") {
  {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"deploy", "web", "--rollback"}));
    CHECK(r.options<DeployOptions>().app == "web");
    CHECK(r.options<DeployOptions>().rollback);
  }
  for (const char* verb : {"install", "upgrade", "status"}) {
    CommandRun r;
    REQUIRE_FALSE(r.parse({"agent", verb, "servers.web", "--forks", "2"}));
    auto o = r.options<AgentOptions>();
    CHECK(o.verb == verb);
    CHECK(o.selectors == std::vector<std::string>{"servers.web"});
    CHECK(o.forks == 2);
    CHECK(r.ctx.command == std::string("agent ") + verb);
  }
}

TEST_CASE("command parse: a mistyped command or flag gets a did-you-mean and the command's usage code", "[command]") {
  expect_usage_errors({
      {{"plna"}, kExitError, "unknown command `plna`; did you mean `plan`?"},
      {{"valdiate"}, kExitError, "did you mean `validate`?"},
      {{"aply"}, kExitError, "did you mean `apply`?"},
      {{"plan", "--taget", "files.a"}, kExitError, "unknown flag `--taget` for `keel plan`; did you mean `--target`?"},
      {{"apply", "--auto-aprove"}, kExitError, "did you mean `--auto-approve`?"},
      {{"plan", "--jsn"}, kExitError, "did you mean `--json`?"},
      {{"health", "--wacth"}, kHealthUnknown, "did you mean `--watch`?"},
      {{"backup", "rnu", "nightly"}, kBackupUsage, "unknown command `rnu`; did you mean `run`?"},
      {{"restore", "nightly", "--snapshto", "x"}, kBackupUsage, "did you mean `--snapshot`?"},
      {{"backup", "run"}, kBackupUsage, "name is required"},
      {{"agent", "stauts"}, kExitError, "did you mean `status`?"},
      {{"validate", "extra"}, kExitError, "unexpected argument `extra` for `keel validate`"},
      {{}, kExitError, "`keel` needs a command: validate, plan, show"},
      {{"backup"}, kBackupUsage, "`keel backup` needs a command: run, list, prune, key"},
      {{"plan", "--format", "yaml"}, kExitError, "--format"},
      {{"plan", "--destroy", "--replace", "files.a"}, kExitError, "--destroy excludes --replace"},
  });
}

TEST_CASE("command parse: one command per level and a second command word is refused rather than run", "[command]") {
  expect_usage_errors({
      // It used to run the last command: this one destroyed.
      {{"validate", "destroy"}, kExitError, "unexpected argument `destroy` for `keel validate`"},
      {{"validate", "destroy", "--auto-approve"}, kExitError, "for `keel validate`"},
      {{"plan", "validate"}, kExitError, "unexpected argument `validate` for `keel plan`"},
      {{"health", "validate", "--bogus"}, kHealthUnknown, "for `keel health`"},
      {{"validate", "health", "--bogus"}, kExitError, "for `keel validate`"},
      {{"plan", "drill"}, kExitError, "unexpected argument `drill` for `keel plan`"},
      {{"backup", "run", "nightly", "list"}, kBackupUsage, "unexpected argument `list` for `keel backup run`"},
      // The command's own flag before the command.
      {{"--target", "files.a", "plan"}, kExitError, "`--target` is a flag of `keel plan`: put it after the command"},
      // Counts of things in flight start at 1.
      {{"plan", "--parallelism", "0"}, kExitError, "--parallelism: want a whole number of at least 1, not 0"},
      {{"apply", "--parallelism", "-5"}, kExitError, "--parallelism: want a whole number of at least 1, not -5"},
      {{"refresh", "--parallelism", "x"}, kExitError, "--parallelism"},
      {{"agent", "status", "--forks", "0"}, kExitError, "--forks: want a whole number of at least 1"},
      // The words are shown, never sent to the terminal as they are.
      {{"\x1b[31mplan"}, kExitError, "unknown command `\\e[31mplan`"},
  });
  // An output may be named like a command.
  CommandRun r;
  REQUIRE_FALSE(r.parse({"output", "plan"}));
  CHECK(r.ctx.command == "output");
}

TEST_CASE("command parse: __generate stays hidden and refuses an empty directory and completion refuses a stray word",
          "[command]") {
  {
    CommandRun r;
    REQUIRE(r.parse({}));
    CHECK_THAT(r.err(), !Catch::Contains("__generate"));
  }
  {
    CommandRun r;
    REQUIRE(r.parse({"_generate"}));
    CHECK_THAT(r.err(), !Catch::Contains("__generate"));
  }
  {
    CommandRun r;
    auto code = r.parse({"completion", "bash", "zsh"});
    REQUIRE(code);
    CHECK(*code == kExitError);
    CHECK_THAT(r.err(), Catch::Contains("zsh"));
    CHECK(r.out().empty());
  }
  {
    CommandRun r;
    auto code = r.parse({"__generate", ""});
    REQUIRE(code);
    CHECK(*code == 1);
    CHECK_THAT(r.err(), !Catch::Contains("Runtime error"));
  }
}

TEST_CASE("command parse: under --json a usage error is also a JSON document on stdout", "[command]") {
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--json", "plna"}, kExitError, "unknown command `plna`; did you mean `plan`?"},
      {{"plan", "--json", "--taget", "files.a"}, kExitError, "did you mean `--target`?"},
      {{"health", "--json", "--wacth"}, kHealthUnknown, "did you mean `--watch`?"},
      {{"backup", "run", "--json"}, kBackupUsage, "name is required"},
      {{"--json"}, kExitError, "needs a command"},
  };
  for (const auto& c : cases) {
    CommandRun r;
    INFO(c.args.front() << " ... expecting: " << c.says);
    auto code = r.parse(c.args);
    REQUIRE(code);
    CHECK(*code == c.code);
    CHECK_THAT(r.err(), Catch::Contains(c.says));
    auto doc = nlohmann::json::parse(r.out());
    CHECK(doc["error"]["kind"] == "usage");
    CHECK_THAT(doc["error"]["message"].get<std::string>(), Catch::Contains(c.says));
  }
  // The remote command of `keel exec` is not keel's: its --json is not.
  CommandRun r;
  REQUIRE(r.parse({"exec", "--nope", "servers", "--", "tool", "--json"}));
  CHECK(r.out().empty());
  // --json=VALUE as CLI11 reads it; `-f --json` names a file, not JSON.
  for (const auto& [args, json] : std::vector<std::pair<std::vector<std::string>, bool>>{
           {{"--json=1", "plna"}, true},
           {{"plna", "--json=true"}, true},
           {{"--json=false", "plna"}, false},
           {{"-f", "--json", "plna"}, false},
           {{"plan", "--json=yes", "--taget", "x"}, true}}) {
    CommandRun run;
    INFO(args.front() << " " << args.back());
    REQUIRE(run.parse(args));
    CHECK(run.out().empty() == !json);
  }
}

TEST_CASE("command parse: keel init runs after parsing, so a bad flag stops it and --json reports its errors", "[command]") {
  testing::TempDir dir;
  CommandRun bad;
  REQUIRE(bad.parse({"init", "--dir", dir.path, "--bogus"}) == kExitError);
  CHECK_THAT(bad.err(), Catch::Contains("unknown flag `--bogus`"));
  CHECK_FALSE(files::exists_no_follow(dir.path + "/keel.yaml"));
  REQUIRE(files::write_atomic(dir.path + "/keel.yaml", "keel: 1\n", 0644));
  CommandRun exists;
  CHECK(exists.keel({"--json", "init", "--dir", dir.path}) == kExitError);
  auto doc = nlohmann::json::parse(exists.out());
  CHECK(doc["error"]["kind"] == "conflict");
  CHECK_THAT(doc["error"]["message"].get<std::string>(), Catch::Contains("keel.yaml exists"));
}

TEST_CASE("command parse: a far-off word gets no suggestion", "[command]") {
  CommandRun r;
  REQUIRE(r.parse({"frobnicate"}) == kExitError);
  CHECK_THAT(r.err(), Catch::Contains("unknown command `frobnicate`"));
  CHECK_THAT(r.err(), !Catch::Contains("did you mean"));
}

TEST_CASE("command parse: --help and --version print to stdout and exit 0", "[command]") {
  {
    CommandRun r;
    REQUIRE(r.parse({"--version"}) == 0);
    CHECK_THAT(r.out(), Catch::Contains("keel " KEEL_VERSION));
  }
  {
    CommandRun r;
    REQUIRE(r.parse({"health", "--help"}) == 0);
    CHECK_THAT(r.out(), Catch::Contains("Examples:"));
    CHECK_THAT(r.out(), Catch::Contains("Nagios"));
    CHECK_THAT(r.out(), Catch::Contains("ask only the servers ADDR names"));
    CHECK_THAT(r.out(), !Catch::Contains("130"));
  }
  {
    CommandRun r;
    REQUIRE(r.parse({"destroy", "--help"}) == 0);
    CHECK_THAT(r.out(), Catch::Contains("destroy only ADDR and what depends on it"));
    CHECK_THAT(r.out(), Catch::Contains("130"));
    CHECK_THAT(r.out(), !Catch::Contains("--detailed-exitcode"));
  }
}

TEST_CASE("command parse: a command's --help lists the global options and keel's own lists them once", "[command]") {
  for (std::vector<std::string> words : {std::vector<std::string>{"plan", "--help"}, {"backup", "run", "--help"}}) {
    CommandRun r;
    REQUIRE(r.parse(words) == 0);
    INFO(r.out());
    const std::string out = r.out();
    const auto globals = out.find("Global options (before or after the command):\n  -f,--file FILE");
    REQUIRE(globals != std::string::npos);
    CHECK(out.find("--no-color", globals) < out.find("Examples:", globals));
    CHECK(out.find("--version") == std::string::npos);
    CHECK(out.find("\n\n\n") == std::string::npos);
  }
  CommandRun r;
  REQUIRE(r.parse({"--help"}) == 0);
  CHECK(r.out().find("Global options") == std::string::npos);
}

namespace {

void each_command(const CLI::App& app, const std::function<void(const CLI::App&)>& visit) {
  for (const auto* sub : app.get_subcommands({})) {
    visit(*sub);
    each_command(*sub, visit);
  }
}

}  // namespace

TEST_CASE("command parse: every command has a description and examples and its own exit codes", "[command]") {
  Context ctx;
  auto app = make_app(ctx);
  fill_every_command(ctx);  // each is filled in when chosen; here none is
  size_t n = 0;
  each_command(*app, [&](const CLI::App& cmd) {
    if (cmd.get_group().empty()) return;  // hidden (`__generate`, run by the build)
    ++n;
    INFO(cmd.get_name());
    CHECK_FALSE(cmd.get_description().empty());
    CHECK_THAT(cmd.get_footer(), Catch::Contains("Examples:\n  keel "));
    CHECK_THAT(cmd.get_footer(), Catch::Contains("Exit codes:\n  0 "));
    for (const auto* opt : cmd.get_options()) {
      INFO(opt->get_name());
      CHECK_FALSE(opt->get_description().empty());
    }
  });
  CHECK(n >= 22);  // 17 commands and the leaves of backup and agent
}

TEST_CASE("command parse: colour only on a terminal and never with NO_COLOR or TERM=dumb or --no-color", "[command]") {
  struct Case {
    bool tty;
    std::map<std::string, std::string> env;
    std::vector<std::string> flags;
    bool color;
  };
  const std::vector<Case> cases = {
      {true, {}, {}, true},
      {false, {}, {}, false},
      {true, {{"NO_COLOR", ""}}, {}, false},  // set, even empty (no-color.org)
      {true, {{"NO_COLOR", "1"}}, {}, false},
      {true, {{"TERM", "dumb"}}, {}, false},
      {true, {{"TERM", "xterm-256color"}}, {}, true},
      {true, {}, {"--no-color"}, false},
  };
  for (const auto& c : cases) {
    CommandRun r;
    r.env = c.env;
    r.ctx.out_is_tty = r.ctx.err_is_tty = c.tty;
    std::vector<std::string> args = {"validate"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    REQUIRE_FALSE(r.parse(args));
    CHECK(r.ctx.out_color == c.color);
    CHECK(r.ctx.err_color == c.color);
  }
}
