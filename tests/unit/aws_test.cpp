// keel-provider-aws's pure parts and the shared signer: SigV4 (core/sigv4.h)
// against AWS's published get-vanilla example and a botocore-signed EC2
// request with a session token; AWS's XML answers and errors as the
// provider reads them (plugins/aws/api_client.h); credentials, region and
// endpoint found as the AWS CLI finds them (plugins/aws/credentials.h).
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <thread>

#include "core/crypto.h"
#include "core/sigv4.h"
#include "plugins/aws/api_client.h"
#include "plugins/aws/batcher.h"
#include "plugins/aws/credentials.h"
#include "plugins/aws/kind.h"
#include "plugins/sdk/kinds.h"
#include "plugins/sdk/poller.h"
#include "plugins/sdk/rate_budget.h"
#include "tests/support/temp_dir.h"

using namespace keel;
using nlohmann::json;

namespace {

const sigv4::Credentials kExample{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

std::string header(const std::vector<sigv4::Header>& headers, const std::string& name) {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return "";
}

aws::Environment env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST_CASE("sigv4: AWS's get-vanilla example", "[aws][sigv4]") {
  sigv4::Request r{.method = "GET", .canonical_uri = "/", .canonical_query = "",
                   .headers = {{"Host", "example.amazonaws.com"}}, .payload_hash = crypto::sha256_hex("")};
  auto signed_headers = sigv4::sign(r, kExample, {"us-east-1", "service"}, "20150830T123600Z");
  CHECK(header(signed_headers, "x-amz-date") == "20150830T123600Z");
  CHECK(header(signed_headers, "authorization") ==
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST_CASE("sigv4: an EC2 Query request with a session token signs as botocore does", "[aws][sigv4]") {
  const std::string body = "Action=DescribeVpcs&Version=2016-11-15";
  sigv4::Request r{.method = "POST", .canonical_uri = "/", .canonical_query = "",
                   .headers = {{"host", "ec2.us-east-1.amazonaws.com"},
                               {"content-type", "application/x-www-form-urlencoded; charset=utf-8"}},
                   .payload_hash = crypto::sha256_hex(body)};
  sigv4::Credentials with_token = kExample;
  with_token.session_token = "SESSIONTOKEN";
  auto signed_headers = sigv4::sign(r, with_token, {"us-east-1", "ec2"}, "20150830T123600Z");
  CHECK(header(signed_headers, "x-amz-security-token") == "SESSIONTOKEN");
  CHECK(header(signed_headers, "authorization") ==
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ec2/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
        "Signature=7ee7b0b4a1f26ac7683b8e5de04a23c75c9cf026b65373fea644a6ed27f1958f");
  for (const auto& [name, value] : signed_headers) CHECK(value.find(kExample.secret_access_key) == std::string::npos);
}

TEST_CASE("sigv4: canonical queries and dates", "[aws][sigv4]") {
  CHECK(sigv4::canonical_query({{"b", "2 3"}, {"a", "x/y"}, {"Filter.1.Value.1", "keel:p"}}) ==
        "Filter.1.Value.1=keel%3Ap&a=x%2Fy&b=2%203");
  CHECK(sigv4::amz_date(std::chrono::system_clock::from_time_t(1440938160)) == "20150830T123600Z");
}

TEST_CASE("aws: XML answers become JSON, lists of item become arrays", "[aws]") {
  auto j = aws::xml_to_json(R"(<?xml version="1.0"?>
<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r1</requestId>
<vpcSet><item><vpcId>vpc-1</vpcId><state>available</state>
<tagSet><item><key>keel:address</key><value>networks.main</value></item></tagSet></item></vpcSet>
<emptySet/></DescribeVpcsResponse>)");
  REQUIRE(j.has_value());
  auto vpcs = aws::items(*j, "vpcSet");
  REQUIRE(vpcs.size() == 1);
  CHECK(vpcs[0]["vpcId"] == "vpc-1");
  CHECK(aws::tag_value(vpcs[0], "keel:address") == "networks.main");
  CHECK(aws::tag_value(vpcs[0], "Name") == "");
  CHECK(aws::items(*j, "emptySet").empty());
  CHECK(aws::items(*j, "missing").empty());
  CHECK_FALSE(aws::xml_to_json("not xml <").has_value());
  CHECK_FALSE(aws::xml_to_json("").has_value());
}

TEST_CASE("aws: very deep XML is cut, not recursed without end", "[aws]") {
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += "<a>";
  for (int i = 0; i < 5000; ++i) deep += "</a>";
  CHECK(aws::xml_to_json(deep).has_value());
}

TEST_CASE("aws: errors of EC2 and of the Query services", "[aws]") {
  auto ec2 = aws::parse_error(
      "<Response><Errors><Error><Code>InvalidAMIID.NotFound</Code><Message>no such image</Message></Error></Errors>"
      "<RequestID>abc-123</RequestID></Response>");
  CHECK(ec2.code == "InvalidAMIID.NotFound");
  CHECK(ec2.message == "no such image");
  CHECK(ec2.request_id == "abc-123");
  auto query = aws::parse_error(
      "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
      "<RequestId>def</RequestId></ErrorResponse>");
  CHECK(query.code == "Throttling");
  CHECK(query.request_id == "def");
  CHECK(aws::is_throttling(query.code));
  CHECK(aws::is_throttling("RequestLimitExceeded"));
  CHECK_FALSE(aws::is_throttling("InvalidParameterValue"));
  CHECK(aws::parse_error("<html>500</html>").code.empty());
}

TEST_CASE("aws: filters are numbered after those already there", "[aws]") {
  aws::Params p;
  aws::add_filter(p, "tag:keel:project", {"acme"});
  aws::add_filter(p, "vpc-id", {"vpc-1", "vpc-2"});
  CHECK(p == aws::Params{{"Filter.1.Name", "tag:keel:project"}, {"Filter.1.Value.1", "acme"},
                         {"Filter.2.Name", "vpc-id"}, {"Filter.2.Value.1", "vpc-1"}, {"Filter.2.Value.2", "vpc-2"}});
}

TEST_CASE("aws credentials: the environment first, as the AWS CLI", "[aws]") {
  auto s = aws::find_settings({}, env_of({{"AWS_ACCESS_KEY_ID", "AKIA1"}, {"AWS_SECRET_ACCESS_KEY", "s3cret"},
                                          {"AWS_SESSION_TOKEN", "tok"}, {"AWS_REGION", "eu-west-1"},
                                          {"AWS_ENDPOINT_URL", "http://127.0.0.1:1"}}));
  REQUIRE(s.has_value());
  CHECK(s->credentials.access_key_id == "AKIA1");
  CHECK(s->credentials.session_token == "tok");
  CHECK(s->region == "eu-west-1");
  CHECK(s->endpoint == "http://127.0.0.1:1");
  auto block = aws::find_settings({.profile = "", .region = "us-west-2", .endpoint = ""},
                                  env_of({{"AWS_ACCESS_KEY_ID", "AKIA1"}, {"AWS_SECRET_ACCESS_KEY", "s3cret"},
                                          {"AWS_REGION", "eu-west-1"}}));
  REQUIRE(block.has_value());
  CHECK(block->region == "us-west-2");
}

TEST_CASE("aws credentials: a profile of the shared files, its region and endpoint_url", "[aws]") {
  testing::TempDir dir;
  const std::string credentials = dir / "credentials", config = dir / "config";
  std::ofstream(credentials) << "[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = def\n"
                                "[dev]\naws_access_key_id=AKIADEV\naws_secret_access_key=dev-secret\n";
  std::ofstream(config) << "[default]\nregion = us-east-1\n[profile dev]\nregion = eu-central-1\n"
                           "endpoint_url = http://127.0.0.1:4566\n";
  auto env = env_of({{"AWS_SHARED_CREDENTIALS_FILE", credentials}, {"AWS_CONFIG_FILE", config}, {"AWS_PROFILE", "dev"}});
  auto s = aws::find_settings({}, env);
  REQUIRE(s.has_value());
  CHECK(s->credentials.access_key_id == "AKIADEV");
  CHECK(s->region == "eu-central-1");
  CHECK(s->endpoint == "http://127.0.0.1:4566");
  auto def = aws::find_settings({}, env_of({{"AWS_SHARED_CREDENTIALS_FILE", credentials}, {"AWS_CONFIG_FILE", config}}));
  REQUIRE(def.has_value());
  CHECK(def->credentials.access_key_id == "AKIADEF");
  CHECK(def->region == "us-east-1");
  auto missing = aws::find_settings({.profile = "nope", .region = "", .endpoint = ""},
                                    env_of({{"AWS_SHARED_CREDENTIALS_FILE", credentials}, {"AWS_CONFIG_FILE", config}}));
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().message().find("nope") != std::string::npos);
  CHECK(missing.error().message().find("dev-secret") == std::string::npos);
}

namespace {

// What ELBv2 takes as a name: 1 to 32 of [A-Za-z0-9-], no `-` at either
// end, not starting `internal-`.
bool elbv2_name(const std::string& name) {
  if (name.empty() || name.size() > 32 || name.front() == '-' || name.back() == '-') return false;
  if (name.starts_with("internal-")) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
}

provider::ResourceTags tags_of(const std::string& project, const std::string& address) {
  provider::ResourceTags tags;
  tags.project = project;
  tags.address = address;
  return tags;
}

}  // namespace

TEST_CASE("aws: ELBv2 names fit 32 characters, keep their suffix and stay distinct", "[aws]") {
  const auto tags = tags_of("shop", "load_balancers.edge");
  const std::string hash = aws::name_hash(tags);
  CHECK(hash.size() == 8);
  CHECK(aws::fitted_name(tags, "", 32) == "shop-load-balancers-edg-" + hash);
  // Too long: the readable part is cut, the hash and the suffix stay whole.
  CHECK(aws::fitted_name(tags, "-http8080", 32) == "shop-load-bala-" + hash + "-http8080");
  const std::string a = aws::fitted_name(tags_of("a-rather-long-project-name", "load_balancers.edge"), "-http8080", 32);
  const std::string b = aws::fitted_name(tags_of("a-rather-long-project-name", "load_balancers.edge[1]"), "-http8080", 32);
  for (const std::string& name : {a, b}) {
    CHECK(elbv2_name(name));
    CHECK(name.ends_with("-http8080"));
    CHECK(name.find("--") == std::string::npos);
  }
  CHECK(a != b);
}

TEST_CASE("aws: addresses that read alike get distinct names (web_1, web-1, web[1])", "[aws]") {
  std::set<std::string> lbs, groups, others;
  for (const char* address : {"load_balancers.web_1", "load_balancers.web-1", "load_balancers.web[1]",
                              "load_balancers.web.1", "load_balancers.web--1"}) {
    const auto tags = tags_of("shop", address);
    const std::string lb = aws::fitted_name(tags, "", 32);
    const std::string group = aws::fitted_name(tags, "-http8080", 32);
    const std::string name = aws::default_name(tags);
    INFO(address << " -> " << lb << ", " << group << ", " << name);
    CHECK(elbv2_name(lb));
    CHECK(elbv2_name(group));
    CHECK(name.starts_with("shop-load-balancers-web-1-"));
    CHECK(name.size() <= 63);
    lbs.insert(lb);
    groups.insert(group);
    others.insert(name);
  }
  CHECK(lbs.size() == 5);
  CHECK(groups.size() == 5);
  CHECK(others.size() == 5);
  // Where the project ends and the address starts counts too.
  CHECK(aws::default_name(tags_of("a", "b-c.d")) != aws::default_name(tags_of("a-b", "c.d")));
}

TEST_CASE("aws: project names with _ and . and ones starting internal- give names ELBv2 takes", "[aws]") {
  for (const char* project : {"my_shop", "my.shop", "my-shop", "_shop", "shop.", "internal-tools", "Internal_tools",
                              "a-project-name-that-is-far-longer-than-thirty-two"}) {
    const auto tags = tags_of(project, "load_balancers.edge");
    for (const std::string& name : {aws::fitted_name(tags, "", 32), aws::fitted_name(tags, "-tcp-udp65535", 32)}) {
      INFO(project << " -> " << name);
      CHECK(elbv2_name(name));
      std::string head = name.substr(0, 9);
      for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      CHECK(head != "internal-");
    }
  }
  CHECK(aws::fitted_name(tags_of("my_shop", "load_balancers.edge"), "", 32) !=
        aws::fitted_name(tags_of("my-shop", "load_balancers.edge"), "", 32));
  CHECK(aws::default_name(tags_of("my_shop", "load_balancers.edge")).starts_with("my-shop-load-balancers-edge-"));
}

TEST_CASE("aws: a Query service's answer: members under <Action>Result, pages and tags", "[aws]") {
  auto body = aws::xml_to_json(
      "<DescribeLoadBalancersResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/\">"
      "<DescribeLoadBalancersResult><LoadBalancers><member><LoadBalancerArn>arn:lb/1</LoadBalancerArn>"
      "<Tags><member><Key>keel:address</Key><Value>load_balancers.edge</Value></member></Tags>"
      "<State><Code>active</Code></State></member></LoadBalancers><NextMarker>m2</NextMarker>"
      "</DescribeLoadBalancersResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata>"
      "</DescribeLoadBalancersResponse>");
  REQUIRE(body);
  const json& result = aws::result_of(*body, "DescribeLoadBalancers");
  auto list = aws::items(result, "LoadBalancers");
  REQUIRE(list.size() == 1);
  CHECK(list[0]["LoadBalancerArn"] == "arn:lb/1");
  CHECK(list[0]["State"]["Code"] == "active");
  CHECK(aws::member_tag(list[0], "keel:address") == "load_balancers.edge");
  CHECK(aws::member_tag(list[0], "keel:project").empty());
  CHECK(result["NextMarker"] == "m2");

  auto empty = aws::xml_to_json(
      "<DescribeTargetGroupsResponse><DescribeTargetGroupsResult><TargetGroups/></DescribeTargetGroupsResult>"
      "</DescribeTargetGroupsResponse>");
  REQUIRE(empty);
  CHECK(aws::items(aws::result_of(*empty, "DescribeTargetGroups"), "TargetGroups").empty());
  CHECK(aws::result_of(*empty, "DescribeLoadBalancers").is_null());
}

TEST_CASE("aws: server groups' schema states the bounds keel validate can check", "[aws]") {
  const provider::KindSchema schema = aws::server_groups_schema();
  for (const char* name : {"min", "max"}) {
    const auto* bound = schema.find(name);
    REQUIRE(bound);
    CHECK(bound->minimum == 0);
    CHECK(bound->maximum == 10000);
  }
  const auto* size = schema.find("size");
  REQUIRE(size);
  CHECK(size->first_character == "a-z");
  CHECK(size->characters == "a-z0-9.-");
  CHECK_FALSE(schema.find("user_data"));  // server groups take none: validate refuses it as an unknown key
  const provider::KindSchema balancers = aws::load_balancers_schema();
  const auto* type = balancers.find("type");
  REQUIRE(type);
  CHECK(type->one_of == std::vector<std::string>{"application", "network"});
}

TEST_CASE("aws: concurrent deletes share their calls, each id sent once", "[aws]") {
  std::mutex mutex;
  std::vector<std::vector<std::string>> calls;
  std::atomic<bool> first_out{false}, release{false};
  aws::Batcher batcher(100, std::chrono::milliseconds(0), [&](const std::vector<std::string>& ids, const provider::ProgressFn&) {
    {
      std::lock_guard lock(mutex);
      calls.push_back(ids);
    }
    first_out = true;
    // The first call is out (AWS's latency) until the seven others joined the next one.
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return Status{};
  });
  std::thread first([&] { CHECK(batcher.run("i-0", {})); });
  while (!first_out) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::vector<std::thread> rest;
  for (int i = 1; i < 8; ++i) rest.emplace_back([&, i] { CHECK(batcher.run("i-" + std::to_string(i), {})); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (batcher.queued() < 7 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(batcher.queued() == 7);
  release = true;
  first.join();
  for (auto& t : rest) t.join();
  REQUIRE(calls.size() == 2);  // i-0 alone, then the seven that came while it was out
  CHECK(calls[0] == std::vector<std::string>{"i-0"});
  std::set<std::string> sent(calls[1].begin(), calls[1].end());
  CHECK(calls[1].size() == 7);
  CHECK(sent.size() == 7);
  CHECK(!sent.count("i-0"));
  CHECK(batcher.queued() == 0);
}

TEST_CASE("aws: deletes that keep coming within the quiet wait join one call", "[aws]") {
  std::mutex mutex;
  std::vector<std::vector<std::string>> calls;
  // A call goes once no id joined for 3 s: four ids 1.2 s apart (3.6 s in
  // all, longer than the quiet wait) make one call, not two. The margin
  // (1.8 s a gap) is for a loaded machine: this is no timing test.
  aws::Batcher batcher(100, std::chrono::milliseconds(3000), std::chrono::seconds(60),
                       [&](const std::vector<std::string>& ids, const provider::ProgressFn&) {
                         std::lock_guard lock(mutex);
                         calls.push_back(ids);
                         return Status{};
                       });
  std::vector<std::thread> deletes;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    deletes.emplace_back([&, i] { CHECK(batcher.run("i-" + std::to_string(i), {})); });
  }
  for (auto& t : deletes) t.join();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].size() == 4);
}

TEST_CASE("aws: a batched call waits no longer than its bound", "[aws]") {
  // An hour's quiet wait, bounded by 10 ms: the one id goes, the run returns.
  std::vector<std::string> sent;
  aws::Batcher batcher(100, std::chrono::hours(1), std::chrono::milliseconds(10),
                       [&](const std::vector<std::string>& ids, const provider::ProgressFn&) {
                         sent = ids;
                         return Status{};
                       });
  CHECK(batcher.run("i-1", {}));
  CHECK(sent == std::vector<std::string>{"i-1"});
}

TEST_CASE("aws: a batched call's failure fails its ids, and only those", "[aws]") {
  aws::Batcher batcher(2, std::chrono::milliseconds(0), [](const std::vector<std::string>& ids, const provider::ProgressFn&) {
    if (std::find(ids.begin(), ids.end(), "i-bad") != ids.end()) return Status(fail(ErrorCode::Transient, "refused"));
    return Status{};
  });
  CHECK(!batcher.run("i-bad", {}));
  CHECK(batcher.run("i-good", {}));
}

TEST_CASE("aws: every id of a failed batch gets the failure's HTTP status and AWS's message", "[aws]") {
  // The thread that sends the call met the failure; the others must report
  // it as if they had sent it (keel shows the status and AWS's message).
  // A batch of 3 that waits a minute for more: it goes when the third joins,
  // so one call carries all three.
  aws::Batcher batcher(3, std::chrono::seconds(60), std::chrono::seconds(60),
                       [](const std::vector<std::string>&, const provider::ProgressFn&) {
                         aws::keep_failure(aws::Failure{503, "Unavailable", "try later", "EC2 TerminateInstances: ..."});
                         return Status(fail(ErrorCode::Transient, "EC2 TerminateInstances: ..."));
                       });
  std::vector<std::optional<aws::Failure>> seen(3);
  std::vector<char> failed(3, 0);  // Catch's CHECK is not for other threads
  std::vector<std::thread> deletes;
  for (int i = 0; i < 3; ++i)
    deletes.emplace_back([&, i] {
      failed[i] = !batcher.run("i-" + std::to_string(i), {});
      seen[i] = aws::take_failure();
    });
  for (auto& t : deletes) t.join();
  CHECK(failed == std::vector<char>(3, 1));
  for (const auto& failure : seen) {
    REQUIRE(failure);
    CHECK(failure->status == 503);
    CHECK(failure->code == "Unavailable");
  }
}

TEST_CASE("kit: requests are background only while a Background lives on their thread", "[aws]") {
  CHECK_FALSE(kit::Background::active());
  {
    kit::Background outer;
    CHECK(kit::Background::active());
    {
      kit::Background inner;
      CHECK(kit::Background::active());
    }
    CHECK(kit::Background::active());
    bool other_thread = true;
    std::thread([&] { other_thread = kit::Background::active(); }).join();
    CHECK_FALSE(other_thread);
  }
  CHECK_FALSE(kit::Background::active());
}

TEST_CASE("aws: until_all waits for a snapshot where the condition holds, with a deadline", "[aws]") {
  std::atomic<int> round{0};
  kit::SnapshotSource instances("instances", [&](const provider::ProgressFn&) -> Result<std::vector<json>> {
    // Shutting down for two rounds, then terminated.
    const std::string state = ++round <= 2 ? "shutting-down" : "terminated";
    return std::vector<json>{{{"id", "i-1"}, {"subnetId", "subnet-1"}, {"instanceState", {{"name", state}}}}};
  });
  kit::Poller poller({.first = std::chrono::milliseconds(1), .factor = 1.0, .max = std::chrono::milliseconds(1)});
  auto none_left = [](const kit::Snapshot& s) -> Result<bool> {
    for (const json& i : s.items)
      if (i["instanceState"]["name"] != "terminated") return false;
    return true;
  };
  std::vector<std::string> progress;
  REQUIRE(poller.until_all(instances, "the instances in subnet-1", none_left,
                           [&](const std::string& m) { progress.push_back(m); }));
  CHECK(round == 3);
  REQUIRE(!progress.empty());
  CHECK(progress.front().starts_with("waiting for the instances in subnet-1 ("));

  auto never = [](const kit::Snapshot&) -> Result<bool> { return false; };
  auto late = poller.until_all(instances, "the instances in subnet-2", never, {}, std::chrono::milliseconds(20));
  REQUIRE(!late);
  CHECK(late.error().code() == ErrorCode::Timeout);
}

TEST_CASE("aws: missing right after a create is waited out for as many seconds as polls, however dense the polls",
          "[aws]") {
  std::atomic<int> round{0};
  // Listed from the 20th round on: 19 misses, at 1 ms polls.
  kit::SnapshotSource volumes("volumes", [&](const provider::ProgressFn&) -> Result<std::vector<json>> {
    if (++round < 20) return std::vector<json>{};
    return std::vector<json>{{{"id", "vol-1"}, {"status", "available"}}};
  });
  kit::Poller poller({.first = std::chrono::milliseconds(1), .factor = 1.0, .max = std::chrono::milliseconds(1)});
  kit::Watch watch;
  watch.what = "volume vol-1";
  watch.goal = "to become available";
  watch.id = "vol-1";
  watch.source = &volumes;
  watch.done = [](const json& v) -> Result<bool> { return v["status"] == "available"; };
  watch.missing_polls_allowed = 3;  // and 3 s
  auto seen = poller.until(watch, {});
  REQUIRE(seen);
  CHECK((*seen)["id"] == "vol-1");
}

TEST_CASE("kit: a wait that looks at once sees a deletion without the first pause", "[aws]") {
  std::atomic<int> lists{0};
  kit::SnapshotSource balancers("load balancers", [&](const provider::ProgressFn&) -> Result<std::vector<json>> {
    ++lists;
    return std::vector<json>{};  // gone already
  });
  // The first poll would come after an hour: only the look at once ends the wait.
  kit::Poller poller({.first = std::chrono::hours(1), .factor = 1.0, .max = std::chrono::hours(1)});
  kit::Watch watch;
  watch.what = "load balancer lb-1";
  watch.goal = "to be deleted";
  watch.id = "lb-1";
  watch.source = &balancers;
  watch.done = [](const json&) -> Result<bool> { return false; };
  watch.gone_is_done = true;
  watch.look_now = true;
  auto seen = poller.until(watch, {});
  REQUIRE(seen);
  CHECK(seen->is_null());
  CHECK(lists == 1);
}

TEST_CASE("kit: an error after a create's first object exists is never a refusal and names the object", "[aws]") {
  for (ErrorCode refusal : {ErrorCode::InvalidConfig, ErrorCode::PermissionDenied, ErrorCode::NotFound, ErrorCode::Conflict}) {
    Error e = kit::after_made("volume", "vol-1", Error(refusal, "EC2 AttachVolume: 400 InvalidParameterValue"));
    CHECK(e.code() == ErrorCode::Unavailable);
    CHECK_THAT(e.message(), Catch::Contains("volume vol-1 was made, but EC2 AttachVolume"));
    CHECK_THAT(e.message(), Catch::EndsWith("the next apply finishes it"));
  }
  CHECK(kit::after_made("VPC", "vpc-1", Error(ErrorCode::Timeout, "slow")).code() == ErrorCode::Timeout);
}
