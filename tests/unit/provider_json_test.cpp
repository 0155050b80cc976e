// Round trips of the plugin protocol's JSON forms (core/provider_json.h).

#include <catch2/catch.hpp>

#include "core/provider_json.h"

using namespace keel;
using namespace keel::provider;
using nlohmann::json;

namespace {

ProviderSchema sample_schema() {
  AttributeSchema token;
  token.name = "token";
  token.required = token.sensitive = true;
  token.description = "API token";

  AttributeSchema size;
  size.name = "size";
  size.optional = true;
  size.default_value = "small";
  size.one_of = {"small", "large"};

  AttributeSchema ip;
  ip.name = "ip";
  ip.computed = true;

  AttributeSchema count;
  count.name = "count";
  count.type = AttributeType::Integer;
  count.optional = count.force_new = true;
  count.default_value = 3;

  KindSchema servers{"servers", "Virtual machines", {size, ip, count}};
  return ProviderSchema{"cloud", "1.2.3", {token}, {servers, KindSchema{"volumes", "", {}}}};
}

void check_same(const AttributeSchema& a, const AttributeSchema& b) {
  CHECK(a.name == b.name);
  CHECK(a.type == b.type);
  CHECK(a.description == b.description);
  CHECK(a.required == b.required);
  CHECK(a.optional == b.optional);
  CHECK(a.computed == b.computed);
  CHECK(a.force_new == b.force_new);
  CHECK(a.sensitive == b.sensitive);
  CHECK(a.default_value == b.default_value);
  CHECK(a.one_of == b.one_of);
}

}  // namespace

TEST_CASE("provider_json: provider schema round-trips through JSON", "[provider_json]") {
  const ProviderSchema in = sample_schema();
  const json j = to_json(in);
  CHECK(j["kinds"][0]["attributes"][0]["one_of"] == json({"small", "large"}));
  CHECK(j["config"][0]["type"] == "string");

  auto out = provider_schema_from_json(json::parse(j.dump()));
  REQUIRE(out);
  CHECK(out->name == "cloud");
  CHECK(out->version == "1.2.3");
  REQUIRE(out->config.size() == 1);
  check_same(out->config[0], in.config[0]);
  REQUIRE(out->kinds.size() == 2);
  CHECK(out->kinds[0].kind == "servers");
  CHECK(out->kinds[0].description == "Virtual machines");
  REQUIRE(out->kinds[0].attributes.size() == 3);
  for (size_t i = 0; i < 3; ++i) check_same(out->kinds[0].attributes[i], in.kinds[0].attributes[i]);
  CHECK(out->kinds[1].attributes.empty());
}

TEST_CASE("provider_json: schema decoding names the bad field", "[provider_json]") {
  json j = to_json(sample_schema());
  j["kinds"][0]["attributes"][1]["type"] = "float";
  auto bad_type = provider_schema_from_json(j);
  REQUIRE_FALSE(bad_type);
  CHECK(bad_type.error().code() == ErrorCode::Protocol);
  CHECK_THAT(bad_type.error().message(), Catch::Contains("unknown type \"float\""));

  auto missing = attribute_schema_from_json(json{{"type", "string"}});
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message(), Catch::Contains("missing field \"name\""));

  // A plugin's names become keys of stacks and words of plans: plain names only.
  auto escaped = attribute_schema_from_json(json{{"name", "size\x1b[2J"}, {"type", "string"}});
  REQUIRE_FALSE(escaped);
  CHECK_THAT(escaped.error().message(), Catch::Contains("is not a name"));
  CHECK(escaped.error().message().find('\x1b') == std::string::npos);
  CHECK_FALSE(kind_schema_from_json(json{{"kind", "files\r"}, {"attributes", json::array()}}));

  auto not_object = provider_schema_from_json(json::array());
  REQUIRE_FALSE(not_object);

  // Absent optional fields take their defaults.
  auto minimal = attribute_schema_from_json(json{{"name", "x"}, {"type", "bool"}});
  REQUIRE(minimal);
  CHECK_FALSE(minimal->required);
  CHECK(minimal->default_value.is_null());
}

TEST_CASE("provider_json: value limits round-trip, and a bad class is refused", "[provider_json]") {
  AttributeSchema a;
  a.name = "database";
  a.minimum = 1;
  a.maximum = 65535;
  a.min_length = 1;
  a.max_length = 63;
  a.first_character = "A-Za-z_";
  a.characters = "A-Za-z0-9_-";
  const json j = to_json(a);
  CHECK(j["max_length"] == 63);
  auto back = attribute_schema_from_json(json::parse(j.dump()));
  REQUIRE(back);
  CHECK(back->minimum == 1);
  CHECK(back->maximum == 65535);
  CHECK(back->min_length == 1u);
  CHECK(back->max_length == 63u);
  CHECK(back->first_character == "A-Za-z_");
  CHECK(back->characters == "A-Za-z0-9_-");
  // Unset limits are left out of the JSON, and absent ones stay unset.
  const json plain = to_json(AttributeSchema{});
  CHECK_FALSE(plain.contains("minimum"));
  CHECK_FALSE(plain.contains("characters"));
  json bad = j;
  bad["characters"] = "z-a";
  auto refused = attribute_schema_from_json(bad);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message(), Catch::Contains("is not a character class"));
  bad = j;
  bad["max_length"] = -1;
  CHECK_FALSE(attribute_schema_from_json(bad));
}

TEST_CASE("provider_json: tags round-trip and tolerate missing fields", "[provider_json]") {
  ResourceTags t{"acme", "databases.main"};
  auto back = tags_from_json(to_json(t));
  CHECK(back.project == "acme");
  CHECK(back.address == "databases.main");
  CHECK(tags_from_json(json()).project.empty());
  CHECK(tags_from_json(json{{"project", "p"}}).address.empty());
}

TEST_CASE("provider_json: requests round-trip through JSON", "[provider_json]") {
  const json attrs{{"size", "small"}, {"count", 2}, {"tags", {"a", "b"}}};
  const ResourceTags tags{"acme", "servers.web[0]"};

  SECTION("configure") {
    ConfigureRequest in{json{{"token", "s3cret"}}, "/stack/.keel/environments/staging", "acme-staging", "/stack"};
    auto out = configure_request_from_json(to_json(in));
    REQUIRE(out);
    CHECK(out->config == in.config);
    CHECK(out->work_dir == in.work_dir);
    CHECK(out->project == in.project);
    CHECK(out->stack_dir == in.stack_dir);
  }
  SECTION("create") {
    CreateRequest in{"servers", tags, attrs, nullptr};
    const json j = to_json(in);
    CHECK(j == json{{"kind", "servers"}, {"tags", {{"project", "acme"}, {"address", "servers.web[0]"}}}, {"config", attrs}});
    auto out = create_request_from_json(j);
    REQUIRE(out);
    CHECK(out->kind == "servers");
    CHECK(out->tags.address == tags.address);
    CHECK(out->config == attrs);
  }
  SECTION("read") {
    ReadRequest in{"servers", "i-123", attrs, nullptr};
    auto out = read_request_from_json(to_json(in));
    REQUIRE(out);
    CHECK(out->id == "i-123");
    CHECK(out->attributes == attrs);
  }
  SECTION("update") {
    UpdateRequest in{"servers", "i-123", tags, attrs, json{{"size", "large"}}, nullptr};
    auto out = update_request_from_json(to_json(in));
    REQUIRE(out);
    CHECK(out->id == "i-123");
    CHECK(out->tags.project == "acme");
    CHECK(out->prior == attrs);
    CHECK(out->config == json{{"size", "large"}});
  }
  SECTION("delete") {
    DeleteRequest in{"servers", "i-123", attrs, nullptr};
    auto out = delete_request_from_json(to_json(in));
    REQUIRE(out);
    CHECK(out->kind == "servers");
    CHECK(out->id == "i-123");
  }
  SECTION("find by tags and by id") {
    FindRequest by_tags{"servers", tags, "", attrs, nullptr};
    auto out = find_request_from_json(to_json(by_tags));
    REQUIRE(out);
    CHECK(out->id.empty());
    CHECK(out->tags.address == "servers.web[0]");
    FindRequest by_id{"servers", {}, "i-9", json::object(), nullptr};
    auto out2 = find_request_from_json(to_json(by_id));
    REQUIRE(out2);
    CHECK(out2->id == "i-9");
  }
  SECTION("null attributes travel as {}") {
    ReadRequest in{"servers", "i-1", json(), nullptr};
    CHECK(to_json(in)["attributes"] == json::object());
    auto out = read_request_from_json(json{{"kind", "servers"}, {"id", "i-1"}});
    REQUIRE(out);
    CHECK(out->attributes == json::object());
  }
  SECTION("a missing kind or id is refused") {
    auto out = read_request_from_json(json{{"kind", "servers"}});
    REQUIRE_FALSE(out);
    CHECK_THAT(out.error().message(), Catch::Contains("\"id\""));
    auto wrong = create_request_from_json(json{{"kind", 3}});
    REQUIRE_FALSE(wrong);
    CHECK_THAT(wrong.error().message(), Catch::Contains("must be a string"));
  }
}

TEST_CASE("provider_json: responses round-trip through JSON", "[provider_json]") {
  const json attrs{{"ip", "10.0.0.1"}, {"size", "small"}};
  {
    auto out = create_response_from_json(to_json(CreateResponse{"i-1", attrs}));
    REQUIRE(out);
    CHECK(out->id == "i-1");
    CHECK(out->attributes == attrs);
  }
  {
    auto out = read_response_from_json(to_json(ReadResponse{true, attrs}));
    REQUIRE(out);
    CHECK(out->found);
    CHECK(out->attributes == attrs);
    auto gone = read_response_from_json(to_json(ReadResponse{}));
    REQUIRE(gone);
    CHECK_FALSE(gone->found);
  }
  {
    auto out = update_response_from_json(to_json(UpdateResponse{attrs}));
    REQUIRE(out);
    CHECK(out->attributes == attrs);
  }
  {
    auto out = find_response_from_json(to_json(FindResponse{true, "i-2", attrs}));
    REQUIRE(out);
    CHECK(out->found);
    CHECK(out->id == "i-2");
    auto none = find_response_from_json(json{{"found", false}});
    REQUIRE(none);
    CHECK_FALSE(none->found);
    CHECK_FALSE(find_response_from_json(json{{"found", true}}));  // found needs an id
  }
}

TEST_CASE("provider_json: errors map to JSON-RPC error objects and back", "[provider_json]") {
  SECTION("every code survives the trip") {
    for (auto code : {ErrorCode::InvalidConfig, ErrorCode::NotFound, ErrorCode::Conflict, ErrorCode::Locked,
                      ErrorCode::Transient, ErrorCode::Timeout, ErrorCode::PermissionDenied,
                      ErrorCode::Unavailable, ErrorCode::Corrupt, ErrorCode::Protocol, ErrorCode::Internal}) {
      CHECK(error_code_from_string(to_string(code)) == code);
      Error back = error_from_json(error_to_json(Error(code, "boom")));
      CHECK(back.code() == code);
      CHECK(back.message() == "boom");
    }
    CHECK_FALSE(error_code_from_string("nope"));
  }
  SECTION("the wire form") {
    json j = error_to_json(Error(ErrorCode::Transient, "POST /v2/droplets: 503"), kRpcOperationFailed,
                           ErrorDetails{503, "service unavailable"});
    CHECK(j["code"] == -32000);
    CHECK(j["message"] == "POST /v2/droplets: 503");
    CHECK(j["data"]["kind"] == "transient");
    CHECK(j["data"]["retryable"] == true);
    CHECK(j["data"]["http_status"] == 503);
    CHECK(j["data"]["cloud_message"] == "service unavailable");
    json plain = error_to_json(Error(ErrorCode::InvalidConfig, "bad size"));
    CHECK(plain["data"]["retryable"] == false);
    CHECK(plain["data"]["http_status"].is_null());
    CHECK(plain["data"]["cloud_message"].is_null());
  }
  SECTION("cloud details are added to the message once") {
    Error e = error_from_json(error_to_json(Error(ErrorCode::InvalidConfig, "create droplet"), kRpcOperationFailed,
                                            ErrorDetails{422, "size is invalid"}));
    CHECK(e.message() == "create droplet (HTTP 422): size is invalid");
    Error already = error_from_json(error_to_json(Error(ErrorCode::InvalidConfig, "POST: 422 size is invalid"),
                                                  kRpcOperationFailed, ErrorDetails{422, "size is invalid"}));
    CHECK(already.message() == "POST: 422 size is invalid");
  }
  SECTION("JSON-RPC's own errors and unknown kinds") {
    CHECK(error_from_json(json{{"code", -32601}, {"message", "unknown method"}}).code() == ErrorCode::Protocol);
    CHECK(error_from_json(json{{"code", -32000}, {"message", "x"}, {"data", {{"kind", "martian"}, {"retryable", true}}}})
              .code() == ErrorCode::Transient);
    CHECK(error_from_json(json{{"code", -32000}, {"message", "x"}}).code() == ErrorCode::Internal);
    CHECK(error_from_json(json("nonsense")).code() == ErrorCode::Protocol);
  }
  SECTION("a plugin's escape sequences do not reach keel's terminal") {
    Error e = error_from_json(json{{"code", -32000},
                                   {"message", "bad\x1b]0;owned\x07 size\nsecond line\r"},
                                   {"data", {{"kind", "invalid_config"}, {"cloud_message", "\x1b[2J"}}}});
    CHECK(e.message().find('\x1b') == std::string::npos);
    CHECK(e.message().find('\r') == std::string::npos);
    CHECK(e.message().find("bad\\e]0;owned\\x07 size\nsecond line\\r") == 0);
  }
}
