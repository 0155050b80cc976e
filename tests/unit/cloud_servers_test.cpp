// Cloud servers joining the fleet (cli/providers/ssh/cloud_servers.h): the
// attributes keel adds to a plugin's servers, what it checks before the
// plugin makes anything, what the plugin is (never) sent, and how a refusal
// reaches the user with the stack's file:line.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "cli/config/configuration.h"
#include "cli/engine/executor.h"
#include "cli/engine/plan.h"
#include "cli/providers/ssh/cloud_servers.h"
#include "core/files.h"
#include "tests/support/closed_port.h"
#include "tests/support/temp_dir.h"

using namespace keel;
using nlohmann::json;
using providers::ssh_host::cloud_access;
using providers::ssh_host::cloud_target;
using providers::ssh_host::CloudPaths;

namespace {

provider::AttributeSchema attr(const std::string& name, provider::AttributeType type, bool computed) {
  provider::AttributeSchema a;
  a.name = name;
  a.type = type;
  (computed ? a.computed : a.optional) = true;
  return a;
}

// A cloud plugin as keel sees it: servers with addresses it chooses, every
// call recorded with what it was sent.
class FakeCloud : public provider::Provider {
 public:
  explicit FakeCloud(bool has_user = false) {
    using T = provider::AttributeType;
    schema_.name = "fakecloud";
    provider::KindSchema servers{"servers", "fake servers", {}};
    servers.attributes = {attr("size", T::String, false), attr("ipv4", T::String, true),
                          attr("private_ipv4", T::String, true)};
    if (has_user) servers.attributes.push_back(attr("user", T::String, false));
    provider::KindSchema volumes{"volumes", "fake volumes", {attr("size", T::Integer, false)}};
    schema_.kinds = {servers, volumes};
  }
  const provider::ProviderSchema& schema() const override { return schema_; }
  Status configure(const provider::ConfigureRequest&) override { return {}; }
  Result<provider::CreateResponse> create(const provider::CreateRequest& r) override {
    log("create", r.config);
    json a = r.config;
    a["ipv4"] = public_ip;
    a["private_ipv4"] = private_ip;
    return provider::CreateResponse{"i-1", a};
  }
  Result<provider::ReadResponse> read(const provider::ReadRequest& r) override {
    log("read", r.attributes);
    return provider::ReadResponse{true, r.attributes};
  }
  Result<provider::UpdateResponse> update(const provider::UpdateRequest& r) override {
    log("update", r.config);
    json a = r.config;
    a["ipv4"] = public_ip;
    a["private_ipv4"] = private_ip;
    return provider::UpdateResponse{a};
  }
  Status remove(const provider::DeleteRequest& r) override {
    log("remove", r.attributes);
    return {};
  }
  Result<provider::FindResponse> find(const provider::FindRequest& r) override {
    log("find", r.config);
    json a = r.config;
    a["ipv4"] = public_ip;
    a["private_ipv4"] = private_ip;
    return provider::FindResponse{true, "i-1", a};
  }

  std::vector<std::pair<std::string, json>> calls;
  std::string public_ip = "54.1.2.3", private_ip = "10.0.1.4";

 private:
  void log(const std::string& op, const json& sent) {
    std::lock_guard lock(mu_);
    calls.emplace_back(op, sent);
  }
  std::mutex mu_;
  provider::ProviderSchema schema_;
};

const provider::AttributeSchema* find_attr(const provider::ProviderSchema& s, const std::string& kind,
                                           const std::string& name) {
  const auto* k = s.find_kind(kind);
  return k ? k->find(name) : nullptr;
}

// The stack's directory, a key file in it and keel's .keel, configured.
struct Cloud {
  testing::TempDir dir;
  FakeCloud* fake;
  std::unique_ptr<provider::Provider> p;

  explicit Cloud(bool has_user = false) {
    auto inner = std::make_unique<FakeCloud>(has_user);
    fake = inner.get();
    p = providers::ssh_host::make_cloud_servers_provider(std::move(inner));
    std::filesystem::create_directories(dir.path + "/.keel");
    std::ofstream(dir.path + "/id_test") << "not really a key\n";
    REQUIRE(p->configure({json::object(), dir.path + "/.keel", "demo", ""}));
  }
  CloudPaths paths() const { return {dir.path, dir.path + "/.keel/known_hosts"}; }
};

}  // namespace

TEST_CASE("cloud servers gain the fleet's attributes, other kinds and plugins' own are untouched",
          "[unit][cloud_servers]") {
  Cloud c;
  const auto& s = c.p->schema();
  for (const char* name : {"user", "private_key", "ssh_port", "connect", "jump", "known_hosts", "host_key_check",
                           "agent", "checks", "backups", "backup_key"}) {
    INFO(name);
    const auto* a = find_attr(s, "servers", name);
    REQUIRE(a);
    CHECK(a->optional);
    CHECK(a->default_value.is_null());  // unset stays absent: existing state plans no change
  }
  for (const char* name : {"ssh", "agent_url", "agent_ca", "agent_token", "agent_tls_key"}) {
    INFO(name);
    REQUIRE(find_attr(s, "servers", name));
    CHECK(find_attr(s, "servers", name)->computed);
  }
  CHECK(find_attr(s, "servers", "agent_token")->sensitive);
  CHECK(find_attr(s, "servers", "agent_tls_key")->sensitive);
  CHECK(find_attr(s, "servers", "backup_key")->sensitive);
  CHECK(find_attr(s, "servers", "connect")->one_of == std::vector<std::string>{"public", "private"});
  CHECK_FALSE(find_attr(s, "volumes", "agent"));

  Cloud aws(true);  // a plugin with a `user` of its own keeps it, and is sent it
  REQUIRE(aws.p->schema().find_kind("servers"));
  int users = 0;
  for (const auto& a : aws.p->schema().find_kind("servers")->attributes) users += a.name == "user";
  CHECK(users == 1);
  REQUIRE(aws.p->create({"servers", {"demo", "servers.web"}, {{"size", "s"}, {"user", "admin"}}, {}}));
  CHECK(aws.fake->calls.at(0).second.at("user") == "admin");
}

TEST_CASE("cloud_access refuses bad settings, naming the attribute", "[unit][cloud_servers]") {
  Cloud c;
  auto refused = [&](const json& attrs, const std::string& named) {
    auto a = cloud_access(attrs, c.paths());
    REQUIRE_FALSE(a);
    CHECK(a.error().code() == ErrorCode::InvalidConfig);
    CHECK_THAT(a.error().message(), Catch::Contains(named));
  };
  SECTION("a private key that is not there") {
    refused({{"private_key", "./missing_key"}}, "`private_key` ./missing_key: no readable key file at " +
                                                     c.dir.path + "/missing_key");
  }
  SECTION("a private key that is a directory") { refused({{"private_key", ".keel"}}, "`private_key`"); }
  SECTION("malformed jumps") {
    for (const char* jump : {"ops@:22", "bastion:99999", "bastion:", "@", "ops@bas tion", "bastion;rm -rf /",
                             "$(id)@bastion"}) {
      INFO(jump);
      refused({{"jump", jump}}, "`jump`");
    }
  }
  SECTION("connect and host_key_check take their words only") {
    refused({{"connect", "vpn"}}, "`connect` `vpn`: use public or private");
    refused({{"host_key_check", "no"}}, "`host_key_check` `no`");
    refused({{"ssh_port", 0}}, "`ssh_port`");
  }
  SECTION("good settings: defaults, a relative key, a jump") {
    auto a = cloud_access({{"private_key", "id_test"}, {"jump", "ops@bastion.example:2222"}}, c.paths());
    REQUIRE(a);
    CHECK(a->user == "root");
    CHECK(a->port == 22);
    CHECK(a->key_file == c.dir.path + "/id_test");
    CHECK(a->known_hosts == c.dir.path + "/.keel/known_hosts");
    CHECK(a->host_key_policy == ssh::HostKeyPolicy::AcceptNew);
    CHECK_FALSE(a->private_address);
    auto t = cloud_target(*a, {{"ipv4", "203.0.113.7"}, {"private_ipv4", "10.0.0.9"}});
    REQUIRE(t);
    CHECK(t->host == "203.0.113.7");
    REQUIRE(t->jump);
    CHECK(t->jump->describe() == "ops@bastion.example:2222");
    CHECK(t->jump->key_file == a->key_file);
  }
}

TEST_CASE("cloud_target: `connect: private` needs a private address", "[unit][cloud_servers]") {
  Cloud c;
  auto a = cloud_access({{"connect", "private"}, {"user", "admin"}, {"ssh_port", 2200}}, c.paths());
  REQUIRE(a);
  auto none = cloud_target(*a, {{"ipv4", "203.0.113.7"}, {"private_ipv4", ""}});
  REQUIRE_FALSE(none);
  CHECK(none.error().code() == ErrorCode::InvalidConfig);
  CHECK_THAT(none.error().message(), Catch::Contains("`connect: private`: the server has no private address"));
  auto t = cloud_target(*a, {{"ipv4", "203.0.113.7"}, {"private_ipv4", "10.0.0.9"}});
  REQUIRE(t);
  CHECK(t->describe() == "admin@10.0.0.9:2200");
}

TEST_CASE("create: the plugin is never sent keel's settings, and the ssh map is recorded", "[unit][cloud_servers]") {
  Cloud c;
  json config = {{"size", "s-1"}, {"private_key", "id_test"}, {"connect", "private"}, {"jump", "ops@bastion"},
                 {"agent", false}};
  auto created = c.p->create({"servers", {"demo", "servers.web"}, config, {}});
  REQUIRE(created);
  REQUIRE(c.fake->calls.size() == 1);
  CHECK(c.fake->calls[0].second == json({{"size", "s-1"}}));
  const json& ssh = created->attributes.at("ssh");
  CHECK(ssh.at("host") == "10.0.1.4");
  CHECK(ssh.at("user") == "root");
  CHECK(ssh.at("key") == c.dir.path + "/id_test");
  CHECK(ssh.at("host_key_check") == "accept-new");
  CHECK(ssh.at("known_hosts") == c.dir.path + "/.keel/known_hosts");
  CHECK(ssh.at("jump") == "ops@bastion:22");
  CHECK(created->attributes.at("connect") == "private");  // kept, so a plan compares equal
  CHECK(created->attributes.at("agent") == false);
  CHECK_FALSE(created->attributes.contains("ssh_port"));  // unset stays unset
}

TEST_CASE("create: refusals make nothing, or take back what was made", "[unit][cloud_servers]") {
  Cloud c;
  SECTION("a missing key is refused before the plugin is asked") {
    auto r = c.p->create({"servers", {"demo", "servers.web"}, {{"size", "s"}, {"private_key", "nope"}}, {}});
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == ErrorCode::InvalidConfig);
    CHECK(c.fake->calls.empty());
  }
  SECTION("a bad agent setting too") {
    auto r = c.p->create({"servers", {"demo", "servers.web"}, {{"size", "s"}, {"agent", "yes"}}, {}});
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == ErrorCode::InvalidConfig);
    CHECK_THAT(r.error().message(), Catch::Contains("`agent`"));
    CHECK(c.fake->calls.empty());
  }
  SECTION("a server made without the address `connect` wants is deleted again") {
    c.fake->private_ip = "";
    auto r = c.p->create({"servers", {"demo", "servers.web"}, {{"size", "s"}, {"connect", "private"}}, {}});
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == ErrorCode::InvalidConfig);
    REQUIRE(c.fake->calls.size() == 2);
    CHECK(c.fake->calls[1].first == "remove");
  }
}

TEST_CASE("a first Ctrl-C ends the wait for a new server's sshd and keeps the server", "[unit][cloud_servers]") {
  Cloud c;
  c.fake->private_ip = "127.0.0.1";
  // Refused until keel is asked to stop: the wait would last kSshUpTimeout
  // (5 minutes) without the stop.
  json config = {{"size", "s"}, {"connect", "private"}, {"ssh_port", keel::testing::closed_port()}, {"agent", true}};
  std::atomic<int> asked{0};
  provider::StoppingFn stopping = [&] { return ++asked > 1; };  // the second look sees the Ctrl-C
  auto r = c.p->create({"servers", {"demo", "servers.web"}, config, {}, {}, stopping});
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("asked to stop while waiting for SSH on"));
  CHECK_THAT(r.error().message(), Catch::Contains("server i-1 was made"));
  // Not a refusal: the engine keeps the intent, and the next apply adopts
  // the server and finishes its install.
  CHECK(r.error().code() == ErrorCode::Unavailable);
  REQUIRE(c.fake->calls.size() == 1);  // made, and not taken back
  CHECK(c.fake->calls[0].first == "create");
}

TEST_CASE("find (adoption after a crash) leaves a wanted agent to the update that follows", "[unit][cloud_servers]") {
  Cloud c;
  auto found = c.p->find({"servers", {"demo", "servers.web"}, "", {{"size", "s"}, {"agent", true}}, {}});
  REQUIRE(found);
  REQUIRE(found->found);
  CHECK(found->attributes.at("agent") == false);
  CHECK(found->attributes.at("ssh").at("host") == "54.1.2.3");
  CHECK(c.fake->calls.at(0).second == json({{"size", "s"}}));
}

TEST_CASE("update: a change of keel's settings alone does not reach the plugin", "[unit][cloud_servers]") {
  Cloud c;
  json prior = {{"size", "s"}, {"ipv4", "54.1.2.3"}, {"private_ipv4", "10.0.1.4"}, {"connect", "public"}};
  json config = {{"size", "s"}, {"connect", "private"}};
  auto u = c.p->update({"servers", "i-1", {"demo", "servers.web"}, prior, config, {}});
  REQUIRE(u);
  CHECK(c.fake->calls.empty());
  CHECK(u->attributes.at("ssh").at("host") == "10.0.1.4");
  config["size"] = "m";
  REQUIRE(c.p->update({"servers", "i-1", {"demo", "servers.web"}, prior, config, {}}));
  REQUIRE(c.fake->calls.size() == 1);
  CHECK(c.fake->calls[0].second == json({{"size", "m"}}));
}

TEST_CASE("remove drops the server's key from keel's known_hosts only", "[unit][cloud_servers]") {
  Cloud c;
  const std::string keel_known = c.dir.path + "/.keel/known_hosts";
  const std::string user_known = c.dir.path + "/known_hosts";
  const std::string lines = "10.0.1.4 ssh-ed25519 AAAA1\n10.0.1.5 ssh-ed25519 AAAA2\n[10.0.1.4]:2200 ssh-ed25519 AAAA3\n";
  REQUIRE(files::write_atomic(keel_known, lines, 0600));
  REQUIRE(files::write_atomic(user_known, lines, 0600));
  auto attrs_for = [](const std::string& known) {
    return json{{"size", "s"},
                {"ssh", {{"host", "10.0.1.4"}, {"port", 22}, {"user", "root"}, {"known_hosts", known}}}};
  };
  REQUIRE(c.p->remove({"servers", "i-1", attrs_for(keel_known), {}}));
  CHECK(*files::read_file(keel_known) == "10.0.1.5 ssh-ed25519 AAAA2\n[10.0.1.4]:2200 ssh-ed25519 AAAA3\n");
  REQUIRE(c.p->remove({"servers", "i-2", attrs_for(user_known), {}}));
  CHECK(*files::read_file(user_known) == lines);
  CHECK_FALSE(c.fake->calls.at(0).second.contains("ssh"));
}

// The one error of applying a stack whose only server is `server` (YAML
// lines under `web:`).
std::string apply_error(Cloud& c, const std::string& server) {
  const std::string yaml = "keel: 1\n"
                           "project: demo\n"
                           "providers:\n"
                           "  cloud: { type: fakecloud }\n"
                           "servers:\n"
                           "  web:\n"
                           "    provider: cloud\n"
                           "    size: s\n" +
                           server;
  auto loaded = config::load_stack_text(yaml, "keel.yaml", c.dir.path);
  REQUIRE_FALSE(loaded.diagnostics.has_errors());
  auto validated = config::validate(
      loaded.stack, [&](const std::string&) -> Result<const provider::ProviderSchema*> { return &c.p->schema(); }, {});
  INFO(validated.diagnostics.describe());
  REQUIRE_FALSE(validated.diagnostics.has_errors());
  validated.config.stack = &loaded.stack;
  state::State state;
  auto plan = engine::make_plan(validated.config, state, {});
  REQUIRE(plan);
  struct NoJournal : state::StateJournal {
    Status record_intent(const state::ResourceState&) override { return {}; }
    Status record_put(const state::ResourceState&) override { return {}; }
    Status record_remove(const std::string&) override { return {}; }
  } journal;
  engine::ApplyHooks hooks;
  engine::ProviderMap providers{{"cloud", c.p.get()}};
  engine::ApplyOptions options;
  options.project = "demo";
  auto result = engine::apply_plan(*plan, &validated.config, state, journal, providers, hooks, options);
  REQUIRE(result.errors.size() == 1);
  CHECK(state.resources.empty());  // a refusal leaves no intent behind
  return result.errors[0];
}

TEST_CASE("a refused setting reaches the user with the stack's file:line", "[unit][cloud_servers]") {
  Cloud c;
  SECTION("a missing key file") {
    CHECK_THAT(apply_error(c, "    private_key: ./missing_key\n"),
               Catch::StartsWith("create servers.web (keel.yaml:9:5): `private_key` ./missing_key: no readable key"));
    CHECK(c.fake->calls.empty());  // nothing was made
  }
  SECTION("a malformed jump") {
    CHECK_THAT(apply_error(c, "    jump: \"ops@:22\"\n"),
               Catch::StartsWith("create servers.web (keel.yaml:9:5): `jump`: `ops@:22`: no host"));
    CHECK(c.fake->calls.empty());
  }
  SECTION("connect: private on a server with no private address") {
    c.fake->private_ip = "";
    CHECK_THAT(apply_error(c, "    connect: private\n"),
               Catch::StartsWith("create servers.web (keel.yaml:9:5): `connect: private`: the server has no "
                                 "private address"));
    REQUIRE(c.fake->calls.size() == 2);  // made, then taken back
    CHECK(c.fake->calls[1].first == "remove");
  }
}

TEST_CASE("checks or backups on a cloud server without an agent are refused before anything is made",
          "[unit][cloud_servers]") {
  Cloud c;
  json checks = {{"disk", {{"disk", "/"}}}};
  auto r = c.p->create({"servers", {"demo", "servers.web"}, {{"size", "s"}, {"checks", checks}}, {}});
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == ErrorCode::InvalidConfig);
  CHECK_THAT(r.error().message(), Catch::Contains("`checks` for this server run in its keel-agent: set `agent: true`"));
  r = c.p->create({"servers", {"demo", "servers.web"}, {{"size", "s"}, {"agent", false}, {"backups", checks}}, {}});
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("`backups`"));
  CHECK(c.fake->calls.empty());
}

TEST_CASE("a server with no public address and no SSH setting is made and updated, with no ssh map",
          "[unit][cloud_servers]") {
  Cloud c;
  c.fake->public_ip = "";  // a subnet without `public:`
  auto created = c.p->create({"servers", {"demo", "servers.app"}, {{"size", "s"}}, {}});
  REQUIRE(created);
  CHECK_FALSE(created->attributes.contains("ssh"));
  REQUIRE(c.fake->calls.size() == 1);  // not taken back
  c.fake->calls.clear();
  auto updated = c.p->update({"servers", "i-1", {"demo", "servers.app"}, created->attributes, {{"size", "m"}}, {}});
  REQUIRE(updated);
  CHECK_FALSE(updated->attributes.contains("ssh"));
  REQUIRE(c.fake->calls.size() == 1);
  CHECK(c.fake->calls[0].first == "update");
  CHECK(updated->attributes.at("size") == "m");
}

TEST_CASE("update: an SSH setting's address is checked before the plugin is asked", "[unit][cloud_servers]") {
  Cloud c;
  json prior = {{"size", "s"}, {"ipv4", ""}, {"private_ipv4", "10.0.1.4"}};
  SECTION("no public address: refused, the plugin never updated") {
    auto u = c.p->update(
        {"servers", "i-1", {"demo", "servers.app"}, prior, {{"size", "m"}, {"private_key", "id_test"}}, {}});
    REQUIRE_FALSE(u);
    CHECK(u.error().code() == ErrorCode::InvalidConfig);
    CHECK_THAT(u.error().message(), Catch::Contains("the server has no public address"));
    CHECK(c.fake->calls.empty());
  }
  SECTION("an address the plugin's update takes away is recorded, not refused") {
    prior["ipv4"] = "54.1.2.3";
    c.fake->public_ip = "";
    auto u = c.p->update(
        {"servers", "i-1", {"demo", "servers.app"}, prior, {{"size", "m"}, {"private_key", "id_test"}}, {}});
    REQUIRE(u);
    CHECK(c.fake->calls.size() == 1);
    CHECK_FALSE(u->attributes.contains("ssh"));
    CHECK(u->attributes.at("size") == "m");
  }
}

TEST_CASE("cloud_target takes literal IPv4 and IPv6 addresses only, and shows others escaped",
          "[unit][cloud_servers]") {
  Cloud c;
  auto a = cloud_access(json::object(), c.paths());
  REQUIRE(a);
  for (const char* bad : {"localhost", "127.1", "evil@127.0.0.1", "[127.0.0.1]:22", "127.0.0.1:22", "-oProxyCommand=x",
                          "127.0.0.1 ", "10.0.0.1,10.0.0.2", "fe80::1%eth0", "\x1b]0;owned\x07", "1.2.3.4\n"}) {
    INFO(bad);
    auto t = cloud_target(*a, {{"ipv4", bad}});
    REQUIRE_FALSE(t);
    CHECK(t.error().code() == ErrorCode::InvalidConfig);
    CHECK_THAT(t.error().message(), Catch::Contains("not an IPv4 or IPv6 address"));
    CHECK(t.error().message().find_first_of("\x1b\x07\n") == std::string::npos);
  }
  for (const char* good : {"203.0.113.7", "2001:db8::7", "::1"}) {
    INFO(good);
    auto t = cloud_target(*a, {{"ipv4", good}});
    REQUIRE(t);
    CHECK(t->host == good);
  }
  SECTION("create: a bad address is no ssh map when no SSH setting asks for one") {
    c.fake->public_ip = "localhost";
    auto r = c.p->create({"servers", {"demo", "servers.web"}, {{"size", "s"}}, {}});
    REQUIRE(r);
    CHECK_FALSE(r->attributes.contains("ssh"));
  }
  SECTION("create: ... and the server taken back like a missing one when one does") {
    c.fake->public_ip = "evil@127.0.0.1";
    auto r = c.p->create({"servers", {"demo", "servers.web"}, {{"size", "s"}, {"ssh_port", 2222}}, {}});
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == ErrorCode::InvalidConfig);
    REQUIRE(c.fake->calls.size() == 2);
    CHECK(c.fake->calls[1].first == "remove");
  }
}

TEST_CASE("a plugin kind with keel's names of its own does not join, except for `user`", "[unit][cloud_servers]") {
  using T = provider::AttributeType;
  provider::KindSchema servers{"servers", "", {attr("ipv4", T::String, true), attr("private_ipv4", T::String, true)}};
  CHECK(providers::ssh_host::joins_fleet(servers));
  for (const char* own : {"connect", "private_key", "ssh_port", "jump", "known_hosts", "host_key_check", "agent",
                          "checks", "backups", "backup_key", "ssh", "agent_token"}) {
    INFO(own);
    auto k = servers;
    k.attributes.push_back(attr(own, T::String, false));
    CHECK_FALSE(providers::ssh_host::joins_fleet(k));
  }
  auto with_user = servers;
  with_user.attributes.push_back(attr("user", T::String, false));
  CHECK(providers::ssh_host::joins_fleet(with_user));
}

TEST_CASE("remove keeps a host key another server still reaches", "[unit][cloud_servers]") {
  Cloud c;
  const std::string keel_known = c.dir.path + "/.keel/known_hosts";
  REQUIRE(files::write_atomic(keel_known, "10.0.1.4 ssh-ed25519 AAAA1\n", 0600));
  auto server = [](const std::string& jump) {
    return json{{"size", "s"}, {"ipv4", ""}, {"private_ipv4", "10.0.1.4"}, {"connect", "private"}, {"jump", jump}};
  };
  // The refresh before a delete reads every server: two networks, the same
  // private address, each through its own bastion.
  auto a = c.p->read({"servers", "i-a", server("ops@bastion-a"), {}});
  auto b = c.p->read({"servers", "i-b", server("ops@bastion-b"), {}});
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c.p->remove({"servers", "i-b", b->attributes, {}}));
  CHECK(*files::read_file(keel_known) == "10.0.1.4 ssh-ed25519 AAAA1\n");
  REQUIRE(c.p->remove({"servers", "i-a", a->attributes, {}}));
  CHECK(*files::read_file(keel_known) == "");
}
