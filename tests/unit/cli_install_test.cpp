// What installing and running keel day to day rests on: completions and man
// pages generated from the CLI11 app, `keel init`, KEEL_LOG_FILE, and the
// LoggingProvider that KEEL_LOG=debug shows.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>


#include "cli/commands/app.h"
#include "cli/commands/completion.h"
#include "cli/commands/init.h"
#include "cli/providers/logging_provider.h"
#include "core/files.h"
#include "core/log.h"
#include "tests/support/fake_provider.h"
#include "tests/support/temp_dir.h"

using namespace keel;
using keel::testing::TempDir;

namespace {

// A small app in the shape of keel's: global options, commands, a nested
// command, a hidden one.
struct DemoApp {
  CLI::App app{"demo: plans things"};
  std::string file = "keel.yaml", out, name;
  bool json = false, approve = false;
  DemoApp() {
    app.add_option("-f,--file", file, "the stack file");
    app.add_flag("--json", json, "machine-readable output");
    auto* plan = app.add_subcommand("plan", "show what apply would change");
    plan->add_option("--out", out, "save the plan");
    plan->footer("Exit codes: 0 ok, 2 changes");
    auto* backup = app.add_subcommand("backup", "run or list backups");
    auto* run = backup->add_subcommand("run", "back up now");
    run->add_option("name", name, "the job")->required();
    run->add_flag("--auto-approve", approve, "do not ask");
    app.add_subcommand("__secret", "hidden")->group("");
  }
};

// Sets an environment variable for one scope.
struct EnvVar {
  std::string name;
  EnvVar(std::string n, const std::string& value) : name(std::move(n)) { ::setenv(name.c_str(), value.c_str(), 1); }
  ~EnvVar() { ::unsetenv(name.c_str()); }
};

}  // namespace

TEST_CASE("bash completion lists commands and nested ones and options but never hidden ones", "[unit][install]") {
  DemoApp demo;
  auto bash = commands::completion_script(demo.app, "bash");
  REQUIRE(bash);
  CHECK(bash->find("'') echo 'plan backup'") != std::string::npos);
  CHECK(bash->find("'backup') echo 'run'") != std::string::npos);
  // plan's own options and the global ones (which work after any command).
  CHECK(bash->find("'plan') echo '-h --help --out -f --file --json'") != std::string::npos);
  CHECK(bash->find("__secret") == std::string::npos);
  CHECK(bash->find("complete -o bashdefault -o default -F _keel keel") != std::string::npos);
  CHECK_FALSE(commands::completion_script(demo.app, "tcsh"));
}

TEST_CASE("a positional's fixed words are in help and every completion and the man page", "[unit][install]") {
  DemoApp demo;
  std::string verb_value;
  auto* state = demo.app.add_subcommand("state", "inspect state");
  commands::offer_words(state->add_option("verb", verb_value, "what to do")->required(), {"list", "show"});
  const CLI::Option* verb = demo.app.get_subcommand("state")->get_option("verb");
  CHECK(commands::offered_words(*verb) == std::vector<std::string>{"list", "show"});
  CHECK(commands::offered_words(*demo.app.get_option("--file")).empty());
  std::string other;
  int n = 0;
  for (const char* bad : {"a b", "x$(id)", "a,b", "", "A"}) {
    CLI::Option* opt = state->add_option("extra" + std::to_string(n++), other);
    CHECK_THROWS_AS(commands::offer_words(opt, {"ok", bad}), std::invalid_argument);
  }
  CHECK(demo.app.get_subcommand("state")->help().find("verb {list,show} REQUIRED") != std::string::npos);
  CHECK(commands::completion_script(demo.app, "bash")->find("'state') echo 'list show'") != std::string::npos);
  CHECK(commands::completion_script(demo.app, "zsh")->find("first=( 'list' 'show')") != std::string::npos);
  CHECK(commands::completion_script(demo.app, "fish")->find(R"(-n '__keel_at_first '\''state'\''' -a 'list show')") !=
        std::string::npos);
  bool found = false;
  for (const auto& [name, page] : commands::man_pages(demo.app, "9.9.9"))
    if (name == "keel-state.1") found = page.find("what to do: list, show") != std::string::npos;
  CHECK(found);
}

TEST_CASE("zsh and fish completions carry the descriptions", "[unit][install]") {
  DemoApp demo;
  auto zsh = commands::completion_script(demo.app, "zsh");
  REQUIRE(zsh);
  CHECK(zsh->starts_with("#compdef keel\n"));
  CHECK(zsh->find("'plan:show what apply would change'") != std::string::npos);
  auto fish = commands::completion_script(demo.app, "fish");
  REQUIRE(fish);
  CHECK(fish->find("-a 'run' -d 'back up now'") != std::string::npos);
  CHECK(fish->find("-l auto-approve -d 'do not ask'") != std::string::npos);
}

TEST_CASE("man pages: one per visible command and roff-escaped with the footer", "[unit][install]") {
  DemoApp demo;
  auto pages = commands::man_pages(demo.app, "9.9.9");
  std::vector<std::string> names;
  for (const auto& [name, _] : pages) names.push_back(name);
  CHECK(names == std::vector<std::string>{"keel.1", "keel-plan.1", "keel-backup.1", "keel-backup-run.1"});
  const std::string& plan = pages[1].second;
  CHECK(plan.find(".TH KEEL\\-PLAN 1 \"\" \"keel 9.9.9\"") != std::string::npos);
  CHECK(plan.find("\\fB\\-\\-out\\fR \\fIOUT\\fR") != std::string::npos);
  CHECK(plan.find(".SH GLOBAL OPTIONS") != std::string::npos);
  CHECK(plan.find("Exit codes: 0 ok, 2 changes") != std::string::npos);
  const std::string& run = pages[3].second;
  CHECK(run.find(".B keel backup run") != std::string::npos);
  // A footer made by help_footer: its examples and exit codes in their own
  // sections, not under EXIT STATUS together.
  commands::Context ctx;
  auto app = commands::make_app(ctx);
  commands::fill_every_command(ctx);
  for (const auto& [name, page] : commands::man_pages(*app, "9.9.9")) {
    if (name != "keel-plan.1") continue;
    const auto examples = page.find(".SH EXAMPLES\n.nf\n  keel plan\n"), codes = page.find(".SH EXIT STATUS\n.nf\n  0 ");
    CHECK(page.find(".SH DETAILS\n.nf\nRefreshes what state holds") != std::string::npos);
    CHECK(examples != std::string::npos);
    CHECK(codes != std::string::npos);
    CHECK(examples < codes);
  }
  CHECK(run.find("\\fINAME\\fR") != std::string::npos);
}

TEST_CASE("keel init copies a template and never overwrites and refuses unknown names", "[unit][install]") {
  TempDir templates("templates"), target("init");
  REQUIRE(files::make_dirs(templates / "starter"));
  REQUIRE(files::write_atomic(templates / "starter/keel.yaml", "# a comment\nkeel: 1\nproject: p\n"));
  REQUIRE(files::make_dirs(templates / "agent"));  // not a stack template: no keel.yaml
  CHECK(commands::list_templates(templates.path) == std::vector<std::string>{"starter"});

  commands::InitOptions options;
  options.name = "starter";
  options.dir = target.path;
  REQUIRE(commands::run_init(options, templates.path));
  CHECK(*files::read_file(target / "keel.yaml") == "# a comment\nkeel: 1\nproject: p\n");

  auto again = commands::run_init(options, templates.path);
  REQUIRE_FALSE(again);
  CHECK(again.error().code() == ErrorCode::Conflict);
  options.force = true;
  CHECK(commands::run_init(options, templates.path));

  for (const char* name : {"nope", "../starter", "agent", "."}) {
    options.name = name;
    auto r = commands::run_init(options, templates.path);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == ErrorCode::NotFound);
    CHECK(r.error().message().find("there are: starter") != std::string::npos);
  }
  CHECK_FALSE(commands::run_init(options, ""));
}

TEST_CASE("the logging provider logs each call's names and never attribute values", "[unit][install]") {
  logging::Capture log(logging::Level::Debug);
  auto fake = std::make_unique<keel::testing::FakeProvider>();
  auto* raw = fake.get();
  auto logged = providers::make_logging_provider(std::move(fake));

  provider::CreateRequest create;
  create.kind = "files";
  create.tags = {"proj", "files.a"};
  create.config = {{"path", "a.txt"}, {"secret", "hunter2-do-not-log"}, {"content", "body-do-not-log"}};
  auto made = logged->create(create);
  REQUIRE(made);
  provider::ReadRequest read;
  read.kind = "files";
  read.id = made->id;
  read.attributes = made->attributes;
  read.address = "files.a";
  REQUIRE(logged->read(read));
  raw->fail_on = "files.b";
  create.tags.address = "files.b";
  REQUIRE_FALSE(logged->create(create));

  const std::string text = log.text();
  CHECK(text.find("op=create kind=files address=files.a id=" + made->id) != std::string::npos);
  CHECK(text.find("op=read kind=files address=files.a id=" + made->id) != std::string::npos);
  CHECK(text.find("address=files.b duration_ms=") != std::string::npos);
  CHECK(text.find("outcome=error code=") != std::string::npos);
  CHECK(text.find("injected failure") != std::string::npos);
  CHECK(text.find("hunter2") == std::string::npos);
  CHECK(text.find("body-do-not-log") == std::string::npos);
  CHECK(text.find("a.txt") == std::string::npos);
  CHECK(raw->calls().size() == 3);
}

TEST_CASE("KEEL_LOG_FILE is appended to and 0600 and never written through a symbolic link", "[unit][install]") {
  logging::Capture restores_the_log_after;
  TempDir dir("logfile");
  {
    EnvVar level("KEEL_LOG", "debug"), file("KEEL_LOG_FILE", dir / "keel.log");
    REQUIRE(logging::setup_from_env("keel"));
    logging::debug("first line");
    REQUIRE(logging::setup_from_env("keel"));
    logging::info("second line");
  }
  struct stat st {};
  REQUIRE(::stat((dir / "keel.log").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto text = files::read_file(dir / "keel.log");
  REQUIRE(text);
  CHECK(text->find("debug first line") != std::string::npos);
  CHECK(text->find("info second line") != std::string::npos);

  REQUIRE(::symlink((dir / "elsewhere").c_str(), (dir / "link.log").c_str()) == 0);
  {
    EnvVar file("KEEL_LOG_FILE", dir / "link.log");
    auto s = logging::setup_from_env("keel");
    REQUIRE_FALSE(s);
    CHECK(s.error().message().find("KEEL_LOG_FILE") != std::string::npos);
  }
  CHECK_FALSE(files::exists(dir / "elsewhere"));
  {
    EnvVar level("KEEL_LOG", "loud");
    auto s = logging::setup_from_env("keel");
    REQUIRE_FALSE(s);
    CHECK(s.error().message().find("KEEL_LOG=loud") != std::string::npos);
  }
  {
    EnvVar level("KEEL_LOG", "loud"), file("KEEL_LOG_FILE", dir / "link.log");
    auto s = logging::setup_from_env("keel");
    REQUIRE_FALSE(s);  // both said, not only the last
    CHECK(s.error().message().find("KEEL_LOG=loud") != std::string::npos);
    CHECK(s.error().message().find("KEEL_LOG_FILE") != std::string::npos);
  }
}
