// Choosing the state backend (cli/commands/backend.h) and reading the
// stack's `backend:` block: what wins, what is refused, and that no message
// ever repeats a password.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "cli/commands/backend.h"
#include "cli/config/stack.h"
#include "cli/state/pg_store.h"

using namespace keel;

namespace {

config::LoadResult load(const std::string& yaml) { return config::load_stack_text(yaml, "keel.yaml", "/tmp"); }

std::string first_error(const config::LoadResult& r) {
  for (const auto& d : r.diagnostics.items())
    if (d.severity == Diagnostic::Severity::Error) return d.mark.describe() + " " + d.summary;
  return "";
}

struct EnvGuard {
  explicit EnvGuard(const char* name) : name_(name) {
    if (const char* v = std::getenv(name)) old_ = v;
  }
  ~EnvGuard() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("the stack's backend block reads a URL or a map with a key and names bad ones by line", "[unit][backend]") {
  auto short_form = load("keel: 1\nproject: shop\nbackend:\n  postgres: \"${env.KEEL_PG_URL}\"\n");
  CHECK(first_error(short_form).empty());
  CHECK(short_form.stack.backend.type == "postgres");
  auto long_form = load("keel: 1\nproject: shop\nbackend:\n  postgres: { url: \"postgresql://db/keel\", key: shop-staging }\n");
  CHECK(first_error(long_form).empty());
  CHECK(long_form.stack.backend.key == "shop-staging");

  CHECK(first_error(load("keel: 1\nproject: shop\nbackend:\n  s4: x\n")).find("keel.yaml:4:3 unknown key `s4`") == 0);
  CHECK(first_error(load("keel: 1\nproject: shop\nbackend:\n  postgres: { key: x }\n")).find("needs the database's URL") !=
        std::string::npos);
  CHECK(first_error(load("keel: 1\nproject: shop\nbackend:\n  postgres: { url: u, key: ../x }\n")).find("backend key") !=
        std::string::npos);
  CHECK(first_error(load("keel: 1\nproject: shop\nbackend: postgres\n")).find("`backend` must be a map") !=
        std::string::npos);
}

TEST_CASE("the backend is --backend then KEEL_BACKEND then the stack then .keel", "[unit][backend]") {
  EnvGuard env("KEEL_BACKEND"), url("KEEL_PG_URL");
  ::unsetenv("KEEL_BACKEND");
  ::setenv("KEEL_PG_URL", "postgresql://keel:s3cret@127.0.0.1:5432/keel", 1);
  auto loaded = load("keel: 1\nproject: shop\nbackend:\n  postgres: \"${env.KEEL_PG_URL}\"\n");
  commands::GlobalOptions g;

  auto outside = commands::backend_outside_stack(g);
  REQUIRE(outside);
  CHECK_FALSE(*outside);
  auto chosen = commands::choose_backend(*outside, loaded.stack, "");
  REQUIRE(chosen);
  REQUIRE(chosen->postgres);
  CHECK(chosen->postgres->state_key == "shop");
  CHECK(chosen->source == "keel.yaml:4:13");
  CHECK(state::describe_conninfo(chosen->postgres->conninfo) == "PostgreSQL 127.0.0.1:5432/keel");

  ::setenv("KEEL_BACKEND", "local", 1);
  outside = commands::backend_outside_stack(g);
  REQUIRE(outside);
  REQUIRE(*outside);
  CHECK_FALSE(commands::choose_backend(*outside, loaded.stack, "")->postgres);

  g.backend = "postgresql://other@127.0.0.1:5433/keel";
  outside = commands::backend_outside_stack(g);
  REQUIRE(outside);
  chosen = commands::choose_backend(*outside, loaded.stack, "");
  REQUIRE(chosen->postgres);
  CHECK(chosen->source == "--backend");
  CHECK(chosen->postgres->state_key == "shop");  // the stack still names the key

  ::unsetenv("KEEL_PG_URL");
  g.backend.clear();
  ::unsetenv("KEEL_BACKEND");
  auto unset = commands::choose_backend(std::nullopt, loaded.stack, "");
  REQUIRE_FALSE(unset);
  CHECK(unset.error().message().find("keel.yaml:4:13") != std::string::npos);
}

TEST_CASE("a password on the command line or a bad URL is refused without repeating it", "[unit][backend]") {
  EnvGuard env("KEEL_BACKEND");
  ::unsetenv("KEEL_BACKEND");
  commands::GlobalOptions g;
  for (const std::string bad : {"postgresql://keel:hunter2@db/keel", "postgres://keel@db/keel?password=hunter2",
                                "mysql://keel:hunter2@db/keel", "postgresql://keel:hunter2@db:notaport/keel",
                                "hunter2"}) {
    g.backend = bad;
    auto r = commands::backend_outside_stack(g);
    INFO(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == ErrorCode::InvalidConfig);
    CHECK(r.error().message().find("hunter2") == std::string::npos);
  }
  // The environment is not the command line: a password is fine there.
  g.backend.clear();
  ::setenv("KEEL_BACKEND", "postgresql://keel:hunter2@db/keel", 1);
  auto r = commands::backend_outside_stack(g);
  REQUIRE(r);
  REQUIRE(*r);
  CHECK((*r)->postgres);
}

TEST_CASE("a change summary counts addresses added and removed", "[unit][backend]") {
  state::State after;
  after.resources["files.b"];
  after.resources["files.c"];
  CHECK(state::change_summary({"files.a", "files.b"}, after) == "+1 -1, 2 resources");
  CHECK(state::change_summary({}, state::State{}) == "+0 -0, 0 resources");
}

TEST_CASE("a URL whose password holds an unencoded at or slash is refused and never shown", "[unit][backend]") {
  for (const std::string bad : {"postgresql://keel:Sec@ret@127.0.0.1:5432/keel",
                                "postgresql://keel:Sec/ret@127.0.0.1:5432/keel"}) {
    INFO(bad);
    auto s = state::check_conninfo(bad);
    REQUIRE_FALSE(s);
    CHECK(s.error().message().find("percent-encode") != std::string::npos);
    CHECK(s.error().message().find("ret") == std::string::npos);
    CHECK(state::describe_conninfo(bad) == "PostgreSQL (address not shown)");
  }
  for (const std::string good : {"postgresql://keel:Sec%40ret@127.0.0.1:5432/keel", "host=/var/run/postgresql dbname=keel",
                                 "postgresql://keel@[::1]:5432/keel", "postgresql:///keel?host=/tmp",
                                 "postgresql://keel:Sec:ret@127.0.0.1:5432/keel"}) {  // a `:` after the first is the password's
    INFO(good);
    CHECK(state::check_conninfo(good));
  }
}
