// What checks expect of an answer: the JSONPath subset and JSON comparison
// of core/json_expect.h, and how the check parser reads `expect_headers`,
// `expect_json` and the graphql check (core/check_spec.h), errors at their
// line and column.
#include <yaml-cpp/yaml.h>

#include <string>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "agent/config.h"
#include "core/check_spec.h"
#include "core/json_expect.h"

using namespace keel;
using Json = nlohmann::json;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string pointer_of(const std::string& path) {
  auto pointer = checks::json_path_pointer(path);
  return pointer ? pointer->to_string() : "error: " + pointer.error().message();
}

// Parses one check from YAML text written as a file's `checks:` entry "c".
struct Parsed {
  std::optional<checks::CheckSpec> spec;
  std::string text;
};
Parsed parse(const std::string& yaml) {
  Diagnostics diags;
  checks::ParseOptions options;
  options.file = "agent.yaml";
  Parsed out;
  out.spec = checks::parse_check("c", YAML::Load(yaml), options, diags);
  out.text = diags.describe();
  return out;
}

}  // namespace

// ---- paths ----------------------------------------------------------------------------

TEST_CASE("JSONPath subset: $ then .name and [N] steps become a JSON Pointer", "[unit][checks][json]") {
  CHECK(pointer_of("$") == "");
  CHECK(pointer_of("$.data.status") == "/data/status");
  CHECK(pointer_of("$.items[0].name") == "/items/0/name");
  CHECK(pointer_of("$[2][10]") == "/2/10");
  CHECK(pointer_of("$.a/b.c~d") == "/a~1b/c~0d");  // escaped as RFC 6901 says
  CHECK(pointer_of("$.with space") == "/with space");
}

TEST_CASE("JSONPath features outside the subset are refused with the reason", "[unit][checks][json]") {
  CHECK(has(pointer_of("data.status"), "it must start with `$`"));
  CHECK(has(pointer_of(""), "it must start with `$`"));
  CHECK(has(pointer_of("$..name"), "`..` is not supported"));
  CHECK(has(pointer_of("$.items.*"), "wildcards are not supported"));
  CHECK(has(pointer_of("$.items[*]"), "is not an index [N]"));
  CHECK(has(pointer_of("$.items[-1]"), "is not an index [N]"));
  CHECK(has(pointer_of("$['name']"), "is not an index [N]"));
  CHECK(has(pointer_of("$.items[0"), "is not an index [N]"));
  CHECK(has(pointer_of("$.items[?(@.x)]"), "is not an index [N]"));
  CHECK(has(pointer_of("$.a]"), "starts no step"));
  CHECK(has(pointer_of("$x"), "starts no step"));
  CHECK(has(pointer_of("$." + std::string(2000, 'a')), "longer than 1024"));
  CHECK(has(pointer_of("$.x"), "/x"));
  CHECK(has(pointer_of("$..name"), "keel reads `$` followed by `.name` and `[N]` steps"));
}

// ---- comparing ----------------------------------------------------------------------------

TEST_CASE("expected values are compared as JSON", "[unit][checks][json]") {
  const Json document = Json::parse(R"({"status": "ok", "count": 3, "ratio": 0.5, "up": true, "none": null,
                                        "items": [{"name": "web"}, {"name": "db"}], "code": "200"})");
  CHECK(checks::unmet_expectations(document, {{"$.status", "ok"},
                                              {"$.count", 3},
                                              {"$.ratio", 0.5},
                                              {"$.up", true},
                                              {"$.none", nullptr},
                                              {"$.items[1].name", "db"},
                                              {"$.code", "200"},
                                              {"$.items[0]", {{"name", "web"}}}})
            .empty());
  CHECK(checks::unmet_expectations(document, {{"$.count", 3.0}}).empty());  // numbers compare as numbers

  auto unmet = checks::unmet_expectations(document, {{"$.status", "down"},
                                                     {"$.code", 200},
                                                     {"$.items[5].name", "x"},
                                                     {"$.items", "web"},
                                                     {"$.missing", 1}});
  REQUIRE(unmet.size() == 5);
  CHECK(unmet[0] == "$.code is \"200\", expected 200");
  CHECK(unmet[1] == "$.items is an array of 2, expected \"web\"");
  CHECK(unmet[2] == "$.items[5].name is missing");
  CHECK(unmet[3] == "$.missing is missing");
  CHECK(unmet[4] == "$.status is \"ok\", expected \"down\"");
}

TEST_CASE("a body is parsed as JSON within bounds", "[unit][checks][json]") {
  CHECK(checks::parse_json_body(R"({"a": [1, 2]})", false, 65536));
  auto not_json = checks::parse_json_body("<html>", false, 65536);
  REQUIRE_FALSE(not_json);
  CHECK(not_json.error().message() == "the body is not JSON (at byte 1)");
  CHECK(checks::parse_json_body("", false, 65536).error().message() == "the body is empty, not JSON");
  CHECK(has(checks::parse_json_body("{}", true, 65536).error().message(), "larger than 64 KiB"));
  // Deep nesting is refused before parsing (nothing recurses per level).
  const std::string deep = std::string(60000, '[') + std::string(60000, ']');
  CHECK(has(checks::parse_json_body(deep, false, 1 << 20).error().message(), "nests deeper than 64 levels"));
  const std::string ok_depth = std::string(64, '[') + std::string(64, ']');
  CHECK(checks::parse_json_body(ok_depth, false, 65536));
  // Brackets inside strings do not count.
  CHECK(checks::parse_json_body(R"({"a": ")" + std::string(1000, '[') + R"("})", false, 65536));
  CHECK(has(checks::parse_json_body("[1e999]", false, 65536).error().message(), "not JSON"));
  CHECK(has(checks::parse_json_body("\"\xff\"", false, 65536).error().message(), "not JSON"));
}

TEST_CASE("values from a peer are described briefly and printably", "[unit][checks][json]") {
  CHECK(checks::describe_json("ok") == "\"ok\"");
  CHECK(checks::describe_json(Json::object()) == "an empty object");
  CHECK(checks::describe_json({{"a", 1}, {"b", 2}}) == "an object with 2 members");
  CHECK(checks::describe_json(Json::array({1})) == "an array of 1");
  CHECK(checks::describe_json(std::string(100, 'x')).size() == 63);
  CHECK(checks::describe_json("a\x1b[31m") == "\"a\\u001b[31m\"");  // JSON's own escape
}

// ---- reading the checks ------------------------------------------------------------------

TEST_CASE("http expectations are read with their values typed as YAML types them", "[unit][checks][json]") {
  auto p = parse(R"(
http: "http://127.0.0.1:8080/"
headers: { Accept-Encoding: gzip }
expect_headers: { Cache-Control: "max-age=\\d+", Content-Encoding: "^gzip$" }
expect_json: { "$.status": ok, "$.count": 3, "$.code": "200", "$.up": true, "$.items[0]": { name: web } }
)");
  INFO(p.text);
  REQUIRE(p.spec);
  const auto& http = std::get<checks::HttpCheck>(p.spec->params);
  CHECK(http.headers.at("Accept-Encoding") == "gzip");
  CHECK(http.expect_headers.at("Cache-Control") == "max-age=\\d+");
  CHECK(http.expect_headers.at("Content-Encoding") == "^gzip$");
  CHECK(http.expect_json.at("$.status") == "ok");
  CHECK(http.expect_json.at("$.count") == 3);
  CHECK(http.expect_json.at("$.code") == "200");
  CHECK(http.expect_json.at("$.up") == true);
  CHECK(http.expect_json.at("$.items[0]") == Json{{"name", "web"}});

  // The canonical JSON reads back to the same check (the API's and the
  // CLI's form), a quoted "200" still a string.
  auto again = checks::check_from_json("c", p.spec->to_json());
  REQUIRE(again);
  CHECK(again->to_json() == p.spec->to_json());
  CHECK(std::get<checks::HttpCheck>(again->params).expect_json.at("$.code") == "200");
}

TEST_CASE("bad patterns, paths and header names are errors at their line", "[unit][checks][json]") {
  auto p = parse(R"(http: "http://127.0.0.1:8080/"
expect_headers:
  Cache-Control: "max-age=(\\d+"
  "Bad Name": x
  ETag: [a]
expect_json:
  "$..status": ok
  "$.items[*]": web
  "$.fine": 1
)");
  CHECK_FALSE(p.spec);
  INFO(p.text);
  CHECK(has(p.text, "agent.yaml:3:18: error: `expect_headers.Cache-Control`: invalid regular expression: missing ): "
                    "max-age=(\\d+"));
  CHECK(has(p.text, "agent.yaml:4:3: error: `expect_headers`: `Bad Name` is not a header name"));
  CHECK(has(p.text, "agent.yaml:5:9: error: `expect_headers.ETag` must be a regular expression"));
  CHECK(has(p.text, "agent.yaml:7:3: error: `expect_json`: `$..status` is not a supported JSONPath"));
  CHECK(has(p.text, "agent.yaml:8:3: error: `expect_json`: `$.items[*]` is not a supported JSONPath"));

  auto not_map = parse("http: \"http://127.0.0.1/\"\nexpect_json: \"$.a\"\nexpect_headers: x\n");
  CHECK(has(not_map.text, "agent.yaml:2:14: error: `expect_json` must be a map of JSONPath to the value expected there"));
  CHECK(has(not_map.text, "agent.yaml:3:17: error: `expect_headers` must be a map of header name to value"));
}

TEST_CASE("graphql checks: url, query, variables and expect", "[unit][checks][json]") {
  auto p = parse(R"(
graphql: "http://127.0.0.1:8080/graphql"
query: "query($id: ID!) { item(id: $id) { name } }"
variables: { id: "42", limit: 10, tags: [a, b] }
expect: { "$.data.item.name": web }
headers: { Authorization: "Bearer t" }
timeout: 2s
)");
  INFO(p.text);
  REQUIRE(p.spec);
  CHECK(p.spec->type == checks::CheckType::Graphql);
  const auto& graphql = std::get<checks::GraphqlCheck>(p.spec->params);
  CHECK(graphql.url == "http://127.0.0.1:8080/graphql");
  CHECK(graphql.variables == Json{{"id", "42"}, {"limit", 10}, {"tags", {"a", "b"}}});
  CHECK(graphql.expect.at("$.data.item.name") == "web");
  CHECK(graphql.headers.at("Authorization") == "Bearer t");
  CHECK(p.spec->to_json().at("graphql").at("variables").at("id") == "42");
  auto again = checks::check_from_json("c", p.spec->to_json());
  REQUIRE(again);
  CHECK(again->to_json() == p.spec->to_json());

  auto map_form = parse("graphql: { url: \"http://127.0.0.1/graphql\", query: \"{ status }\" }\n");
  INFO(map_form.text);
  REQUIRE(map_form.spec);
  CHECK(std::get<checks::GraphqlCheck>(map_form.spec->params).variables == Json::object());

  auto bad = parse(R"(graphql: "ftp://127.0.0.1/graphql"
variables: [1]
expect: { "$.data[x]": 1 }
status: 200
)");
  INFO(bad.text);
  CHECK(has(bad.text, "agent.yaml:1:1: error: graphql check `c` needs `query`; for example \"{ status }\""));
  CHECK(has(bad.text, "agent.yaml:1:10: error: `ftp://127.0.0.1/graphql` is not an http:// or https:// URL"));
  CHECK(has(bad.text, "agent.yaml:2:12: error: `variables` must be a map of variable name to value"));
  CHECK(has(bad.text, "agent.yaml:3:11: error: `expect`: `$.data[x]` is not a supported JSONPath"));
  CHECK(has(bad.text, "agent.yaml:4:1: error: `status` is an option of http checks, not of graphql checks"));
  // Options both HTTP types take are named so.
  CHECK(has(parse("tcp: \"127.0.0.1:1\"\nurl: x\n").text, "`url` is an option of graphql and http checks"));
}

TEST_CASE("aliases cannot blow a check's JSON values up", "[unit][checks][json]") {
  std::string yaml = "graphql: \"http://127.0.0.1/graphql\"\nquery: \"{ status }\"\nx0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n";
  for (int i = 1; i < 8; ++i)
    yaml += fmt::format("x{}: &a{} [*a{}, *a{}, *a{}, *a{}, *a{}, *a{}, *a{}, *a{}, *a{}, *a{}]\n", i, i, i - 1, i - 1,
                        i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
  yaml += "variables: { v: *a7 }\n";
  auto p = parse(yaml);
  CHECK(has(p.text, "`variables` is too large: more than 10000 values or 32 levels of nesting"));
}

TEST_CASE("an agent config rewritten with host settings keeps quoted strings", "[unit][checks][json]") {
  const std::string text = R"(token_file: t
checks:
  api:
    http: "http://127.0.0.1:8080/"
    expect_json: { "$.code": "200", "$.count": 200, "$.flag": 'true' }
)";
  auto load = agent::parse_agent_config(text, "agent.yaml", "/nonexistent");
  INFO(load.diagnostics.describe());
  REQUIRE_FALSE(load.diagnostics.has_errors());
  agent::AgentConfig host;
  host.remote_config = false;
  auto written = agent::with_host_settings(text, host);
  REQUIRE(written);
  auto reread = agent::parse_agent_config(*written, "agent.yaml", "/nonexistent");
  INFO(*written);
  REQUIRE_FALSE(reread.diagnostics.has_errors());
  REQUIRE(reread.config.checks.size() == 1);
  CHECK(reread.config.checks[0].to_json() == load.config.checks[0].to_json());
  const auto& http = std::get<checks::HttpCheck>(reread.config.checks[0].params);
  CHECK(http.expect_json.at("$.code") == "200");
  CHECK(http.expect_json.at("$.flag") == "true");
  CHECK(http.expect_json.at("$.count") == 200);
}
