// The plan views (cli/views/plan_view.h, render.h) and the plan file
// (cli/commands/plan_file.h), on plans made by hand.
#include <catch2/catch.hpp>

#include <stdio.h>
#include <stdlib.h>

#include "cli/commands/plan_file.h"
#include "cli/views/plan_view.h"
#include "cli/views/render.h"
#include "cli/views/state_views.h"
#include "core/crypto.h"
#include "core/files.h"
#include "tests/support/temp_dir.h"

using namespace keel;

namespace {

engine::ResourceChange change(const std::string& address, engine::Action action) {
  engine::ResourceChange c;
  c.address = address;
  c.kind = "databases";
  c.provider = "local";
  c.provider_type = "local";
  c.action = action;
  return c;
}

// One of each action; the database replaced loses data; a sensitive value.
engine::Plan every_action() {
  engine::Plan p;
  p.lineage = "lin";
  p.serial = 7;
  auto create = change("files.new", engine::Action::Create);
  engine::AttributeChange secret;
  secret.name = "password";
  secret.after = "hunter2-secret";
  secret.sensitive = true;
  create.attributes.push_back(secret);
  engine::AttributeChange content;
  content.name = "content";
  content.after = "a ``` fence | pipe";
  create.attributes.push_back(content);
  p.changes.push_back(create);
  auto update = change("files.edit", engine::Action::Update);
  engine::AttributeChange mode;
  mode.name = "mode";
  mode.before = "0644";
  mode.after = "0600";
  update.attributes.push_back(mode);
  p.changes.push_back(update);
  auto replace = change("databases.main", engine::Action::Replace);
  replace.data_loss = true;
  p.changes.push_back(replace);
  p.changes.push_back(change("files.old", engine::Action::Delete));
  p.changes.push_back(change("files.same", engine::Action::NoOp));
  engine::OutputChange out;
  out.name = "db_password";
  out.after = "hunter2-secret";
  out.sensitive = true;
  out.changed = true;
  p.outputs.push_back(out);
  return p;
}

struct Memory {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = ::open_memstream(&buf, &len);
  ~Memory() {
    std::fclose(f);
    ::free(buf);
  }
  std::string text() {
    std::fflush(f);
    return std::string(buf, len);
  }
};

}  // namespace

TEST_CASE("plan view: colours by action and for data loss and none without colour", "[command]") {
  auto p = every_action();
  const std::string coloured = views::render_plan(p, true);
  CHECK_THAT(coloured, Catch::Contains("\033[32m+\033[0m files.new"));
  CHECK_THAT(coloured, Catch::Contains("\033[33m~\033[0m files.edit"));
  CHECK_THAT(coloured, Catch::Contains("\033[35m-/+\033[0m databases.main"));
  CHECK_THAT(coloured, Catch::Contains("\033[31m-\033[0m files.old"));
  CHECK_THAT(coloured, Catch::Contains("\033[1;31m# databases.main holds data"));
  CHECK_THAT(coloured, Catch::Contains("\033[1;31mData will be lost in: databases.main.\033[0m"));
  const std::string plain = views::render_plan(p);
  CHECK_THAT(plain, !Catch::Contains("\033"));
  CHECK_THAT(plain, Catch::Contains("  -/+ databases.main (replace)"));
}

TEST_CASE("plan view: the markdown summary masks secrets and warns of data loss and cannot be broken out of", "[command]") {
  const std::string md = views::render_plan_markdown(every_action());
  CHECK_THAT(md, Catch::Contains("**2 to add, 1 to change, 2 to destroy.**"));
  CHECK_THAT(md, Catch::Contains("> :warning: **databases.main** holds data: replacing it loses the data in it."));
  CHECK_THAT(md, Catch::Contains("| `-/+` | `databases.main` | replace :warning: data loss |"));
  CHECK_THAT(md, Catch::Contains("| `~` | `files.edit` | update in place |"));
  CHECK_THAT(md, Catch::Contains("- `db_password` = (sensitive)"));
  CHECK_THAT(md, !Catch::Contains("hunter2"));
  CHECK_THAT(md, !Catch::Contains("files.same"));
  // The value holds ``` : the fence around the text plan is longer.
  CHECK_THAT(md, Catch::Contains("<details open><summary>Attribute changes</summary>\n\n````\n"));
  CHECK_THAT(md, Catch::EndsWith("````\n\n</details>\n"));
}

TEST_CASE("plan view: a long plan's details are folded and an empty plan says so", "[command]") {
  engine::Plan p;
  for (int i = 0; i < 11; ++i) p.changes.push_back(change("files.f" + std::to_string(i), engine::Action::Create));
  CHECK_THAT(views::render_plan_markdown(p), Catch::Contains("<details><summary>"));
  CHECK(views::render_plan_markdown(engine::Plan{}) ==
        "### keel plan\n\nNo changes. The infrastructure matches the stack.\n");
}

TEST_CASE("plan view: refresh progress redraws one line on a terminal and plain lines elsewhere", "[command]") {
  {
    Memory err;
    views::RefreshProgress progress(err.f, true);
    for (size_t i = 0; i <= 3; ++i) progress.update(i, 3);
    CHECK(err.text() ==
          "\rRefreshing 3 resources… (0/3)\rRefreshing 3 resources… (1/3)\rRefreshing 3 resources… (2/3)"
          "\rRefreshing 3 resources… (3/3)\n");
  }
  {  // every 0 s: a line per step but the last; a quick refresh with the default prints nothing
    Memory err;
    views::RefreshProgress progress(err.f, false, std::chrono::seconds(0));
    for (size_t i = 0; i <= 2; ++i) progress.update(i, 2);
    CHECK(err.text() == "Refreshing 2 resources… (1/2)\n");
    Memory quiet;
    views::RefreshProgress slow(quiet.f, false);
    for (size_t i = 0; i <= 2; ++i) slow.update(i, 2);
    CHECK(quiet.text().empty());
  }
}

TEST_CASE("plan file: the whole plan comes back sealed and another key cannot open it", "[command]") {
  keel::testing::TempDir dir("planfile");
  commands::PlanFile f;
  f.plan = every_action();
  f.plan.moved.push_back({"files.a", "files.b"});
  f.stack_file = dir / "keel.yaml";
  f.stack_sha256 = "abc";
  f.project = "p";
  f.targets = {"files.new"};
  f.destroy = false;
  f.vars = {"password=hunter2-secret"};
  const auto key = crypto::random_key();
  const std::string path = dir / "x.plan";
  REQUIRE(commands::write_plan_file(path, f, key));
  auto text = files::read_file(path);
  REQUIRE(text);
  CHECK_THAT(*text, !Catch::Contains("hunter2"));
  auto back = commands::read_plan_file(path, key);
  REQUIRE(back);
  CHECK(commands::encode_plan(back->plan) == commands::encode_plan(f.plan));
  CHECK(back->vars == f.vars);
  CHECK(back->targets == f.targets);
  CHECK(back->project == "p");
  CHECK(views::render_plan(back->plan) == views::render_plan(f.plan));
  auto header = commands::read_plan_file_header(path);
  REQUIRE(header);
  CHECK(header->plan.serial == 7);
  CHECK(header->plan.changes.empty());
  auto other = commands::read_plan_file(path, crypto::random_key());
  REQUIRE_FALSE(other);
  CHECK_THAT(other.error().message(), Catch::Contains("cannot be opened with this state key"));
}

TEST_CASE("state views: outputs and resources as human and JSON with sensitive values masked", "[command]") {
  state::State st;
  st.serial = 4;
  st.lineage = "lin";
  st.outputs = {{"url", "http://x"}, {"port", 80}, {"password", "hunter2-secret"}};
  st.sensitive_outputs.insert("password");
  state::ResourceState r;
  r.address = "files.a";
  r.kind = "files";
  r.provider = "ex";
  r.id = "a.txt";
  r.attributes = {{"content", "hi"}, {"token", "hunter2-secret"}};
  r.sensitive.insert("token");
  st.resources["files.a"] = r;
  for (bool json : {false, true}) {
    Memory out, err;
    views::Streams streams{out.f, err.f, false, false};
    auto outputs = views::make_output_view(json, streams);
    outputs->all(st);
    auto states = views::make_state_view(json, streams);
    states->list(st);
    states->show(r);
    CHECK_THAT(out.text(), !Catch::Contains("hunter2"));
    CHECK(err.text().empty());
  }
  Memory human;
  auto view = views::make_output_view(false, {human.f, human.f, false, false});
  view->all(st);
  view->one("http://x", true);
  view->one(80, false);
  CHECK(human.text() == "password = (sensitive)\nport = 80\nurl = http://x\nhttp://x80\n");
  Memory json;
  auto jview = views::make_output_view(true, {json.f, json.f, false, false});
  jview->all(st);
  CHECK(nlohmann::json::parse(json.text()) ==
        nlohmann::json::parse(R"({"password": {"sensitive": true, "value": null}, "port": {"sensitive": false, "value": 80},
                                  "url": {"sensitive": false, "value": "http://x"}})"));
  Memory shown;
  views::make_state_view(false, {shown.f, shown.f, false, false})->show(r);
  CHECK(shown.text() == "# files.a  (provider ex, id a.txt)\n  content = \"hi\"\n  token = (sensitive)\n");
}
