// Commands run in-process (app.h, context.h) on a stack of the example
// plugin's files, with memory streams: what each prints, human and JSON,
// the saved plan file and `keel show`, colour and refresh progress.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "cli/state/file_store.h"
#include "core/files.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/command_harness.h"

using namespace keel;
using namespace keel::commands;
using keel::testing::CommandRun;

namespace {

constexpr const char* kSecret = "s3cret-in-plan-9f2";

// A stack of two files of the example plugin (built beside the tests:
// KEEL_BUILD_DIR, set by ctest), one with a sensitive value.
struct Stack {
  keel::testing::TempDir dir{"command"};
  std::string file = dir / "keel.yaml";

  Stack() {
    const char* build = std::getenv("KEEL_BUILD_DIR");
    if (!build) FAIL("KEEL_BUILD_DIR is not set: run the unit tests through ctest");
    ::setenv("KEEL_PLUGIN_PATH", build, 1);
    write("hello");
  }
  void write(const std::string& content) {
    REQUIRE(files::write_atomic(file,
                                "keel: 1\n"
                                "project: command-test\n"
                                "providers:\n"
                                "  ex: { type: example, root: \"" + dir.path + "/out\" }\n"
                                "files:\n"
                                "  a:\n"
                                "    provider: ex\n"
                                "    path: a.txt\n"
                                "    content: \"" + content + "\"\n"
                                "    sensitive_content: \"" + std::string(kSecret) + "\"\n"
                                "  b:\n"
                                "    provider: ex\n"
                                "    path: b.txt\n"
                                "    content: \"after ${files.a.sha256}\"\n",
                                0644));
  }
  // keel -f STACK ARGS...
  int keel(CommandRun& r, std::vector<std::string> args) {
    args.insert(args.begin(), {"-f", file});
    return r.keel(args);
  }
};

}  // namespace

TEST_CASE("command run: validate as human and JSON", "[command]") {
  Stack s;
  {
    CommandRun r;
    CHECK(s.keel(r, {"validate"}) == kExitOk);
    CHECK(r.out() == "The stack is valid: 2 resources.\n");
  }
  {
    CommandRun r;
    CHECK(s.keel(r, {"validate", "--json"}) == kExitOk);
    auto doc = nlohmann::json::parse(r.out());
    CHECK(doc["valid"] == true);
    CHECK(doc["resources"] == 2);
  }
  REQUIRE(files::write_atomic(s.file, "keel: 1\nproject: x\nfiles:\n  a: { provider: nope, path: a }\n", 0644));
  {
    CommandRun r;
    CHECK(s.keel(r, {"validate"}) == kExitError);
    CHECK(r.out().empty());
    CHECK_THAT(r.err(), Catch::Contains("keel.yaml:4:"));
  }
  {
    CommandRun r;
    CHECK(s.keel(r, {"validate", "--json"}) == kExitError);
    auto doc = nlohmann::json::parse(r.out());
    CHECK(doc["valid"] == false);
    CHECK(doc["diagnostics"].size() >= 1);
    CHECK(doc["error"]["kind"].is_string());
  }
}

TEST_CASE("command run: graph as DOT and under --json as each resource with its dependencies", "[command]") {
  Stack s;
  {
    CommandRun r;
    CHECK(s.keel(r, {"graph"}) == kExitOk);
    CHECK_THAT(r.out(), Catch::StartsWith("digraph"));
    CHECK_THAT(r.out(), Catch::Contains("\"files.b\" -> \"files.a\""));
  }
  {
    CommandRun r;
    CHECK(s.keel(r, {"--json", "graph"}) == kExitOk);
    auto doc = nlohmann::json::parse(r.out());
    REQUIRE(doc["resources"].size() == 2);
    CHECK(doc["resources"][0] == nlohmann::json({{"address", "files.a"}, {"dependencies", nlohmann::json::array()}}));
    CHECK(doc["resources"][1] == nlohmann::json({{"address", "files.b"}, {"dependencies", {"files.a"}}}));
  }
}

TEST_CASE("command run: plan as text and coloured only when asked and JSON and markdown", "[command]") {
  Stack s;
  std::string plain;
  {
    CommandRun r;
    CHECK(s.keel(r, {"plan"}) == kExitOk);
    plain = r.out();
    CHECK_THAT(plain, Catch::Contains("  + files.a (create)"));
    CHECK_THAT(plain, Catch::Contains("Plan: 2 to add, 0 to change, 0 to destroy."));
    CHECK_THAT(plain, Catch::Contains("(sensitive)"));
    CHECK_THAT(plain, !Catch::Contains(kSecret));
    CHECK_THAT(plain, !Catch::Contains("\033["));
  }
  {
    CommandRun r;
    r.ctx.out_is_tty = true;
    CHECK(s.keel(r, {"plan"}) == kExitOk);
    CHECK_THAT(r.out(), Catch::Contains("  \033[32m+\033[0m files.a (create)"));
  }
  {
    CommandRun r;
    r.ctx.out_is_tty = true;
    CHECK(s.keel(r, {"plan", "--no-color"}) == kExitOk);
    CHECK(r.out() == plain);
  }
  {
    CommandRun r;
    CHECK(s.keel(r, {"plan", "--json", "--detailed-exitcode"}) == kExitChanges);
    auto doc = nlohmann::json::parse(r.out());
    CHECK(doc["format_version"] == 1);
    CHECK(doc["summary"]["add"] == 2);
    CHECK(doc["changes"][0]["address"] == "files.a");
    CHECK_THAT(r.out(), !Catch::Contains(kSecret));
  }
  {
    CommandRun r;
    CHECK(s.keel(r, {"plan", "--format", "markdown"}) == kExitOk);
    const std::string md = r.out();
    CHECK_THAT(md, Catch::StartsWith("### keel plan\n"));
    CHECK_THAT(md, Catch::Contains("**2 to add, 0 to change, 0 to destroy.**"));
    CHECK_THAT(md, Catch::Contains("| `+` | `files.a` | create |"));
    CHECK_THAT(md, Catch::Contains("<details open><summary>"));
    CHECK_THAT(md, Catch::Contains("(sensitive)"));
    CHECK_THAT(md, !Catch::Contains(kSecret));
  }
}

TEST_CASE("command run: plan --out and show in every format and apply FILE and then nothing to do", "[command]") {
  Stack s;
  const std::string saved = s.dir / "release.plan";
  std::string planned_text, planned_json, planned_md;
  {
    CommandRun r;
    REQUIRE(s.keel(r, {"plan", "--out", saved}) == kExitOk);
    planned_text = r.out();
    CHECK_THAT(planned_text, Catch::Contains("Saved the plan to " + saved));
  }
  {
    CommandRun r;
    REQUIRE(s.keel(r, {"plan", "--json"}) == kExitOk);
    planned_json = r.out();
  }
  {
    CommandRun r;
    REQUIRE(s.keel(r, {"plan", "--format", "markdown"}) == kExitOk);
    planned_md = r.out();
  }
  auto file_text = files::read_file(saved);
  REQUIRE(file_text);
  auto doc = nlohmann::json::parse(*file_text);
  CHECK(doc["keel_plan_format"] == 1);
  CHECK(doc["summary"]["add"] == 2);
  CHECK_FALSE(doc.contains("plan"));  // not the --json document
  CHECK_THAT(*file_text, !Catch::Contains(kSecret));
  {
    CommandRun r;
    CHECK(r.keel({"show", saved}) == kExitOk);
    CHECK_THAT(planned_text, Catch::StartsWith(r.out()));
  }
  {
    CommandRun r;
    CHECK(r.keel({"show", saved, "--json"}) == kExitOk);
    // Planned anew against no state, each plan has a lineage of its own.
    auto shown = nlohmann::json::parse(r.out()), planned = nlohmann::json::parse(planned_json);
    shown.erase("lineage");
    planned.erase("lineage");
    CHECK(shown == planned);
  }
  {
    CommandRun r;
    CHECK(r.keel({"show", saved, "--format", "markdown"}) == kExitOk);
    CHECK(r.out() == planned_md);
    CHECK(r.err().empty());
  }
  {
    CommandRun r;
    CHECK(r.keel({"apply", saved}) == kExitOk);
    CHECK_THAT(r.out(), Catch::Contains("Apply complete! Resources: 2 added, 0 changed, 0 destroyed."));
    CHECK(files::exists(s.dir / "out/a.txt"));
  }
  {
    CommandRun r;
    CHECK(s.keel(r, {"plan", "--detailed-exitcode"}) == kExitOk);
    CHECK(r.out() == "No changes. The infrastructure matches the stack.\n");
  }
  {  // the state moved on: the saved plan is stale
    CommandRun r;
    CHECK(r.keel({"apply", saved}) == kExitError);
    CHECK_THAT(r.err(), Catch::Contains(saved + " was made for another state"));
  }
  {
    CommandRun r;
    CHECK(s.keel(r, {"state", "list", "--json"}) == kExitOk);
    auto listed = nlohmann::json::parse(r.out());
    CHECK(listed["resources"].size() == 2);
  }
}

TEST_CASE("command run: a plan file of another format or of the old one is refused with what to do", "[command]") {
  Stack s;
  const std::string old_file = s.dir / "old.plan";
  REQUIRE(files::write_atomic(old_file, R"({"format_version": 1, "plan": {"changes": []}, "stack": {}})", 0600));
  const std::string future = s.dir / "future.plan";
  REQUIRE(files::write_atomic(future, R"({"keel_plan_format": 99})", 0600));
  const std::string junk = s.dir / "junk.plan";
  REQUIRE(files::write_atomic(junk, "[1, 2", 0600));
  for (const auto& [file, says] : std::vector<std::pair<std::string, std::string>>{
           {old_file, "saved by an older keel"}, {future, "has plan format 99"}, {junk, "is not a keel plan file"}}) {
    for (const char* command : {"show", "apply"}) {
      CommandRun r;
      INFO(command << " " << file);
      CHECK(r.keel({command, file}) == kExitError);
      CHECK_THAT(r.err(), Catch::Contains(says));
    }
  }
}

TEST_CASE("command run: refresh shows its progress on a terminal's stderr and drift on stdout", "[command]") {
  Stack s;
  {
    CommandRun r;
    REQUIRE(s.keel(r, {"apply", "--auto-approve"}) == kExitOk);
  }
  REQUIRE(files::write_atomic(s.dir / "out/a.txt", "changed by hand", 0644));
  {
    CommandRun r;
    r.ctx.err_is_tty = true;
    CHECK(s.keel(r, {"plan", "--json"}) == kExitOk);
    CHECK_THAT(r.err(), Catch::Contains("\rRefreshing 2 resources… (0/2)"));
    CHECK_THAT(r.err(), Catch::Contains("\rRefreshing 2 resources… (2/2)\n"));
    CHECK_THAT(r.err(), Catch::Contains("Changed outside keel:\n  files.a"));
    CHECK(nlohmann::json::parse(r.out())["summary"]["change"] >= 1);
  }
  {  // not a terminal, and quick: nothing but the plan
    CommandRun r;
    CHECK(s.keel(r, {"plan"}) == kExitOk);
    CHECK(r.err().empty());
    CHECK_THAT(r.out(), Catch::Contains("Changed outside keel:\n  files.a"));
  }
  {
    CommandRun r;
    CHECK(s.keel(r, {"refresh", "--json"}) == kExitOk);
    auto doc = nlohmann::json::parse(r.out());
    CHECK(doc["drift"].size() == 1);
  }
}

TEST_CASE("command run: drift reports what changed outside keel with exit 2 and never writes state", "[command]") {
  Stack s;
  {
    CommandRun r;
    CHECK(s.keel(r, {"drift"}) == kExitOk);  // nothing in state yet
    CHECK_THAT(r.out(), Catch::Contains("No drift"));
  }
  {
    CommandRun r;
    REQUIRE(s.keel(r, {"apply", "--auto-approve"}) == kExitOk);
  }
  const std::string state_file = s.dir / ".keel/state.json";
  auto before = files::read_file(state_file);
  REQUIRE(before);
  {
    CommandRun r;
    CHECK(s.keel(r, {"drift"}) == kExitOk);
    CHECK_THAT(r.out(), Catch::Contains("No drift"));
  }
  REQUIRE(files::write_atomic(s.dir / "out/a.txt", "changed by hand", 0644));
  REQUIRE(::unlink((s.dir / "out/b.txt").c_str()) == 0);
  for (int round = 0; round < 2; ++round) {  // the same answer twice: nothing was recorded
    CommandRun r;
    CHECK(s.keel(r, {"drift"}) == kExitChanges);
    CHECK_THAT(r.out(), Catch::Contains("Changed outside keel (state unchanged"));
    CHECK_THAT(r.out(), Catch::Contains("  files.a: "));
    CHECK_THAT(r.out(), Catch::Contains("  files.b: deleted outside keel"));
    CHECK(r.out().find(kSecret) == std::string::npos);
    CHECK(files::read_file(state_file).value_or("") == *before);
  }
  {
    CommandRun r;
    CHECK(s.keel(r, {"--json", "drift", "--target", "files.b"}) == kExitChanges);
    auto doc = nlohmann::json::parse(r.out());
    CHECK(doc["drift"] == nlohmann::json::array({"files.b: deleted outside keel"}));
    CHECK(doc["serial"].is_number());
  }
  {  // refresh records it; then there is no drift left
    CommandRun r;
    REQUIRE(s.keel(r, {"refresh"}) == kExitOk);
  }
  CommandRun r;
  CHECK(s.keel(r, {"drift"}) == kExitOk);
}

TEST_CASE("command run: drift leaves out what lifecycle.ignore_changes names", "[command]") {
  Stack s;
  REQUIRE(files::write_atomic(s.file,
                              "keel: 1\nproject: command-test\nproviders:\n"
                              "  ex: { type: example, root: \"" + s.dir.path + "/out\" }\n"
                              "files:\n"
                              "  a: { provider: ex, path: a.txt, content: x, mode: \"0644\", lifecycle: { ignore_changes: [mode] } }\n"
                              "  b: { provider: ex, path: b.txt, content: x, mode: \"0644\" }\n",
                              0644));
  {
    CommandRun r;
    REQUIRE(s.keel(r, {"apply", "--auto-approve"}) == kExitOk);
  }
  REQUIRE(::chmod((s.dir / "out/a.txt").c_str(), 0600) == 0);
  {
    CommandRun r;
    CHECK(s.keel(r, {"drift"}) == kExitOk);
    CHECK(s.keel(r, {"plan", "--detailed-exitcode"}) == kExitOk);
  }
  REQUIRE(::chmod((s.dir / "out/b.txt").c_str(), 0600) == 0);
  CommandRun r;
  CHECK(s.keel(r, {"drift"}) == kExitChanges);
  CHECK_THAT(r.out(), Catch::Contains("files.b: mode") && !Catch::Contains("files.a"));
}

TEST_CASE("command run: schema describes every block key keel reads and lifecycle with both settings", "[command]") {
  Stack s;
  CommandRun r;
  REQUIRE(s.keel(r, {"schema"}) == kExitOk);
  auto doc = nlohmann::json::parse(r.out());
  const auto& block = doc["properties"]["files"]["additionalProperties"];
  CHECK(block["additionalProperties"] == false);
  for (const char* key : {"provider", "count", "depends_on", "lifecycle"}) {
    INFO(key);
    CHECK(block["properties"].contains(key));
  }
  const auto& lifecycle = block["properties"]["lifecycle"];
  CHECK(lifecycle["properties"]["prevent_destroy"]["type"] == "boolean");
  CHECK(lifecycle["properties"]["ignore_changes"]["type"] == "array");
  CHECK(lifecycle["additionalProperties"] == false);
}

TEST_CASE("command run: a saved plan whose values changed since is refused even when no action did", "[command]") {
  Stack s;
  auto write = [&](const std::string& b_content) {
    REQUIRE(files::write_atomic(s.file,
                                "keel: 1\nproject: command-test\nproviders:\n"
                                "  ex: { type: example, root: \"" + s.dir.path + "/out\" }\n"
                                "files:\n"
                                "  a: { provider: ex, path: a.txt, content: x, mode: \"0644\", lifecycle: { ignore_changes: [mode] } }\n"
                                "  b: { provider: ex, path: b.txt, content: \"" + b_content + "\" }\n",
                                0644));
  };
  write("m=${files.a.mode}");
  {
    CommandRun r;
    REQUIRE(s.keel(r, {"apply", "--auto-approve"}) == kExitOk);
  }
  write("m=${files.a.mode} v2");
  const std::string plan_file = s.dir / "p.plan";
  {
    CommandRun r;
    REQUIRE(s.keel(r, {"plan", "--out", plan_file}) == kExitOk);
    CHECK_THAT(r.out(), Catch::Contains("\"m=0644 v2\""));
  }
  REQUIRE(::chmod((s.dir / "out/a.txt").c_str(), 0600) == 0);  // a stays a no-op (ignored); b's value moves
  CommandRun r;
  CHECK(s.keel(r, {"apply", plan_file}) == kExitError);
  CHECK_THAT(r.err(), Catch::Contains("files.b would get other values than the plan shows"));
  CHECK(files::read_file(s.dir / "out/b.txt").value_or("") == "m=0644");
}

TEST_CASE("command run: drift after a killed apply writes nothing and names the unfinished create", "[command]") {
  Stack s;
  {
    CommandRun r;
    REQUIRE(s.keel(r, {"apply", "--auto-approve"}) == kExitOk);
  }
  // What a killed apply leaves: a journal with an intent (a create sent, or not).
  const std::string keel_dir = s.dir / ".keel";
  auto store = std::make_unique<state::FileStateStore>(keel_dir);
  REQUIRE(store->lock("test"));
  auto st = store->load();
  REQUIRE(st);
  REQUIRE(store->begin(*st));
  state::ResourceState pending;
  pending.address = "files.c";
  pending.kind = "files";
  pending.provider = "ex";
  pending.provider_type = "example";
  REQUIRE(store->record_intent(pending));
  store.reset();  // the lock goes, the journal stays
  auto state_before = files::read_file(keel_dir + "/state.json");
  auto journal_before = files::read_file(keel_dir + "/state.journal");
  REQUIRE(state_before);
  REQUIRE(journal_before);
  {
    CommandRun r;
    CHECK(s.keel(r, {"drift"}) == kExitChanges);
    CHECK_THAT(r.out(), Catch::Contains("files.c: its create was interrupted"));
  }
  CHECK(files::read_file(keel_dir + "/state.json").value_or("") == *state_before);
  CHECK(files::read_file(keel_dir + "/state.journal").value_or("") == *journal_before);
  CHECK_FALSE(files::exists(keel_dir + "/state.json.backup"));
  {
    CommandRun r;
    CHECK(s.keel(r, {"drift", "--target", "files.typo"}) == kExitError);
    CHECK_THAT(r.err(), Catch::Contains("--target files.typo: no such resource"));
  }
  CommandRun r;
  CHECK(s.keel(r, {"refresh", "--target", "files.typo"}) == kExitError);
}

TEST_CASE("command run: drift where no state was ever made creates nothing", "[command]") {
  Stack s;
  CommandRun r;
  CHECK(s.keel(r, {"drift"}) == kExitOk);
  CHECK_FALSE(files::exists(s.dir / ".keel"));
}

TEST_CASE("command run: drift follows a moved resource to its new name's ignore_changes", "[command]") {
  Stack s;
  auto write = [&](const std::string& name, const std::string& moved) {
    REQUIRE(files::write_atomic(s.file,
                                "keel: 1\nproject: command-test\nproviders:\n"
                                "  ex: { type: example, root: \"" + s.dir.path + "/out\" }\n" + moved +
                                "files:\n"
                                "  " + name + ": { provider: ex, path: a.txt, content: x, mode: \"0644\", "
                                "lifecycle: { ignore_changes: [mode] } }\n",
                                0644));
  };
  write("a", "");
  {
    CommandRun r;
    REQUIRE(s.keel(r, {"apply", "--auto-approve"}) == kExitOk);
  }
  REQUIRE(::chmod((s.dir / "out/a.txt").c_str(), 0600) == 0);
  write("c", "moved: [{ from: files.a, to: files.c }]\n");  // renamed in the stack, not applied yet
  CommandRun r;
  CHECK(s.keel(r, {"drift"}) == kExitOk);
  CHECK_THAT(r.out(), Catch::Contains("No drift"));
}

TEST_CASE("command run: output and errors under --json are one document on stdout", "[command]") {
  Stack s;
  CommandRun r;
  CHECK(s.keel(r, {"output", "nope", "--json"}) == kExitError);
  auto doc = nlohmann::json::parse(r.out());
  CHECK(doc["error"]["kind"] == "not_found");
  CHECK_THAT(doc["error"]["message"].get<std::string>(), Catch::Contains("no output `nope`"));
}

TEST_CASE("command run: apply shows the plan before its progress and under --json only its events", "[command]") {
  Stack s;
  {
    CommandRun r;
    REQUIRE(s.keel(r, {"apply", "--auto-approve"}) == kExitOk);
    const std::string out = r.out();
    const auto plan_at = out.find("files.a");
    const auto progress_at = out.find("files.a: Creating...");
    REQUIRE(plan_at != std::string::npos);
    REQUIRE(progress_at != std::string::npos);
    CHECK(plan_at < progress_at);
    CHECK_THAT(out, Catch::Contains("Apply complete! Resources: 2 added, 0 changed, 0 destroyed."));
  }
  s.write("changed");
  CommandRun r;
  REQUIRE(s.keel(r, {"apply", "--auto-approve", "--json"}) == kExitOk);
  // One JSON event per line, the summary last; never the plan.
  std::vector<nlohmann::json> events;
  const std::string out = r.out();
  for (size_t start = 0, end; start < out.size(); start = end + 1) {
    end = out.find('\n', start);
    REQUIRE(end != std::string::npos);
    events.push_back(nlohmann::json::parse(out.substr(start, end - start)));
  }
  REQUIRE_FALSE(events.empty());
  CHECK(events.front()["type"] == "start");
  CHECK(events.back()["type"] == "summary");
  CHECK(events.back()["planned"]["change"] >= 1);
  CHECK(events.back()["ok"] == true);
  CHECK(out.find(kSecret) == std::string::npos);
}

TEST_CASE("command run: questions go to stderr under --json so that stdout holds the document alone", "[command]") {
  commands::Context ctx;
  ctx.out = stdout;
  ctx.err = stderr;
  CHECK(ctx.dialogue() == stdout);
  ctx.global.json = true;
  CHECK(ctx.dialogue() == stderr);
}
