// Environments (`environments:`, -e, --var-file, ${environment}): which one
// a run is for, where each variable's value comes from, and what is refused
// with its line.
#include <catch2/catch.hpp>

#include "cli/commands/backend.h"
#include "cli/config/configuration.h"
#include "cli/config/evaluate.h"
#include "cli/state/file_store.h"
#include "tests/support/fake_provider.h"

using namespace keel;

namespace {

struct Validated {
  config::LoadResult loaded;
  config::ValidateResult result;
  std::string text() const { return loaded.diagnostics.describe() + result.diagnostics.describe(); }
  bool ok() const { return !loaded.diagnostics.has_errors() && !result.diagnostics.has_errors(); }
  nlohmann::json var(const std::string& name) const { return result.config.variables.at(name).value; }
};

std::unique_ptr<Validated> check(const std::string& yaml, const std::string& environment,
                                 const std::string& var_file = "", std::map<std::string, std::string> vars = {}) {
  static testing::FakeProvider fake;
  auto v = std::make_unique<Validated>();
  v->loaded = config::load_stack_text(yaml, "keel.yaml", "/tmp");
  config::ValidateOptions options;
  options.environment = environment;
  options.var_overrides = std::move(vars);
  options.env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  if (!var_file.empty()) {
    auto values = config::load_var_text(var_file, "vars.yaml");
    v->loaded.diagnostics.add(std::move(values.diagnostics));
    options.var_file_values = std::move(values.values);
  }
  auto schemas = [](const std::string& type) -> Result<const provider::ProviderSchema*> {
    if (type == "local" || type == "fake") return &fake.schema();
    return fail(ErrorCode::Unavailable, "no such provider");
  };
  if (!v->loaded.diagnostics.has_errors()) v->result = config::validate(v->loaded.stack, schemas, options);
  v->result.config.stack = &v->loaded.stack;
  return v;
}

const char* kStack = R"(keel: 1
project: shop
variables:
  replicas: 1
  label: { default: none }
environments:
  staging: { vars: { label: stg } }
  production:
    description: the real one
    vars: { replicas: 3, label: prod }
files:
  conf: { count: "${var.replicas}", path: "/tmp/${environment}-${count.index}", content: "${var.label}" }
)";

}  // namespace

TEST_CASE("environments: the chosen one's vars come after --var and the var files", "[unit][config][environments]") {
  auto staging = check(kStack, "staging");
  INFO(staging->text());
  REQUIRE(staging->ok());
  CHECK(staging->var("replicas") == 1);  // the default: staging does not set it
  CHECK(staging->var("label") == "stg");
  CHECK(staging->result.config.environment == "staging");
  CHECK(staging->result.config.provider_project() == "shop-staging");

  auto production = check(kStack, "production", "label: from-file\n");
  REQUIRE(production->ok());
  CHECK(production->var("replicas") == 3);
  CHECK(production->var("label") == "from-file");
  CHECK(production->result.config.instances.size() == 3);
  auto path = config::evaluate(production->loaded.stack.resources[0].attributes.at("path"),
                               production->result.config.context_for(production->result.config.instances[2], nullptr));
  REQUIRE(path);
  CHECK(path->value == "/tmp/production-2");

  auto flag = check(kStack, "production", "label: from-file\n", {{"label", "cli"}});
  REQUIRE(flag->ok());
  CHECK(flag->var("label") == "cli");
}

TEST_CASE("environments: one may keep the stack's project for resources made before it had environments", "[unit][config][environments]") {
  auto v = check("keel: 1\nproject: shop\nenvironments:\n  production: { project: shop }\n  staging: {}\n", "production");
  INFO(v->text());
  REQUIRE(v->ok());
  CHECK(v->result.config.provider_project() == "shop");
  CHECK(check("keel: 1\nproject: shop\nenvironments:\n  production: { project: shop }\n  staging: {}\n", "staging")
            ->result.config.provider_project() == "shop-staging");
  auto bad = check("keel: 1\nproject: shop\nenvironments:\n  production: { project: ../x }\n", "production");
  CHECK_THAT(bad->text(), Catch::Contains("keel.yaml:4:26: error: project `../x` must start with"));
}

TEST_CASE("environments: a stack that declares them needs one of them", "[unit][config][environments]") {
  auto none = check(kStack, "");
  CHECK_THAT(none->text(), Catch::Contains("keel.yaml:7:3: error: keel.yaml declares environments (staging, production)"));
  // Said once, not again for every ${environment}.
  CHECK_THAT(none->text(), !Catch::Contains("needs an environment"));
  auto unknown = check(kStack, "prodution");
  CHECK_THAT(unknown->text(), Catch::Contains("environment `prodution` (-e or KEEL_ENV): keel.yaml declares no such environment"));
  CHECK_THAT(unknown->text(), Catch::Contains("did you mean `production`?"));
}

TEST_CASE("environments: without the block -e is free and ${environment} needs one", "[unit][config][environments]") {
  const char* plain = "keel: 1\nproject: shop\nfiles:\n  a: { path: \"/tmp/${environment}\", content: x }\n";
  auto with = check(plain, "dev");
  INFO(with->text());
  CHECK(with->ok());
  CHECK(with->result.config.provider_project() == "shop-dev");
  auto without = check(plain, "");
  CHECK_THAT(without->text(), Catch::Contains("keel.yaml:4:8: error: `${environment}` needs an environment"));
  auto no_env = check("keel: 1\nproject: shop\n", "");
  REQUIRE(no_env->ok());
  CHECK(no_env->result.config.provider_project() == "shop");
}

TEST_CASE("environments: bad blocks and unknown variables are refused with their line", "[unit][config][environments]") {
  auto bad_name = check("keel: 1\nproject: shop\nenvironments:\n  ../prod: {}\n", "");
  CHECK_THAT(bad_name->text(), Catch::Contains("keel.yaml:4:3: error: environment `../prod`: a name starts with"));
  auto bad_key = check("keel: 1\nproject: shop\nenvironments:\n  prod: { var: { x: 1 } }\n", "prod");
  CHECK_THAT(bad_key->text(), Catch::Contains("unknown key `var` in environment `prod`; did you mean `vars`?"));
  auto not_map = check("keel: 1\nproject: shop\nenvironments:\n  prod: { vars: [1] }\n", "prod");
  CHECK_THAT(not_map->text(), Catch::Contains("`vars` of environment `prod` must be a map"));
  auto typo = check(kStack, "staging", "replicas: 2\nreplicaz: 3\n");
  CHECK_THAT(typo->text(), Catch::Contains("vars.yaml:2:1: error: --var-file: the stack declares no variable `replicaz`"));
  // Every environment's vars are checked, not only the chosen one's.
  auto other = check(
      "keel: 1\nproject: shop\nvariables:\n  a: 1\nenvironments:\n  dev: {}\n  prod: { vars: { b: 2 } }\n", "dev");
  CHECK_THAT(other->text(), Catch::Contains("keel.yaml:7:19: error: environment `prod`: the stack declares no variable `b`"));
  auto not_yaml = check(kStack, "staging", "replicas: [\n");
  CHECK_THAT(not_yaml->text(), Catch::Contains("vars.yaml:2:1: error: YAML syntax error"));
  auto list = check(kStack, "staging", "- 1\n");
  CHECK_THAT(list->text(), Catch::Contains("a var file must be a map"));
}

TEST_CASE("environments: each has its own directory and its own key in a shared backend", "[unit][config][environments]") {
  CHECK(state::work_dir_for("/srv/app/keel.yaml", "") == "/srv/app/.keel");
  CHECK(state::work_dir_for("/srv/app/keel.yaml", "staging") == "/srv/app/.keel/environments/staging");
  auto loaded = config::load_stack_text("keel: 1\nproject: shop\n", "keel.yaml", "/tmp");
  CHECK(commands::state_key_of(loaded.stack, "") == "shop");
  CHECK(commands::state_key_of(loaded.stack, "staging") == "shop/staging");
  loaded.stack.backend.key = "team";
  CHECK(commands::state_key_of(loaded.stack, "staging") == "team/staging");
  CHECK(config::is_environment_name("prod-eu_1"));
  for (const char* bad : {"", "../x", "a/b", "-x", ".x", "a b", "123456789012345678901234567890123"})
    CHECK_FALSE(config::is_environment_name(bad));
}
