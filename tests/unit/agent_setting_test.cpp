// The `agent:` setting of servers keel reaches over SSH
// (cli/config/agent_setting.h): its forms, `health_port` and its limits,
// what the agent's config then says, and how the stack's validation
// reports a bad one at the line of the key in error.
#include <catch2/catch.hpp>

#include "cli/config/agent_setting.h"
#include "cli/config/configuration.h"
#include "cli/providers/ssh/remote_agent.h"
#include "cli/providers/ssh/ssh_provider.h"

using namespace keel;
using nlohmann::json;

namespace {

config::AgentSetting parsed(const json& value) {
  config::AgentSetting s;
  auto problem = config::parse_agent_setting(value, s);
  INFO(value.dump() << ": " << (problem ? problem->message : ""));
  REQUIRE_FALSE(problem);
  return s;
}

config::AgentSettingProblem refused(const json& value) {
  config::AgentSetting s;
  auto problem = config::parse_agent_setting(value, s);
  INFO(value.dump());
  REQUIRE(problem);
  return *problem;
}

// Loads and validates a stack whose servers are `provider: ssh` hosts.
std::string diagnostics_of(const std::string& yaml) {
  static auto ssh = providers::ssh_host::make_ssh_provider();
  auto loaded = config::load_stack_text(yaml, "keel.yaml", "/tmp");
  if (loaded.diagnostics.has_errors()) return loaded.diagnostics.describe();
  auto schemas = [](const std::string& type) -> Result<const provider::ProviderSchema*> {
    if (type == "ssh") return &ssh->schema();
    return fail(ErrorCode::Unavailable, "no such provider");
  };
  auto result = config::validate(loaded.stack, schemas, config::ValidateOptions{});
  return result.diagnostics.describe();
}

}  // namespace

TEST_CASE("agent setting: today's forms keep working", "[unit][agent_setting]") {
  CHECK(parsed(json()).enabled);
  CHECK(parsed(true).enabled);
  CHECK_FALSE(parsed(false).enabled);
  auto s = parsed({{"port", 7400}, {"dir", "/srv/agent/"}});
  CHECK(s.enabled);
  CHECK(s.port == 7400);
  CHECK(s.dir == "/srv/agent");
  CHECK(s.health_port == 0);
  CHECK(config::health_listen_of(s).empty());
  CHECK_FALSE(parsed({{"enabled", false}}).enabled);
  CHECK(parsed(json::object()).port == config::kDefaultAgentPort);
}

TEST_CASE("agent setting: health_port opens the agent's health listener on every address", "[unit][agent_setting]") {
  auto s = parsed({{"health_port", 7301}});
  CHECK(s.enabled);
  CHECK(s.port == 7300);
  CHECK(s.health_port == 7301);
  CHECK(config::health_listen_of(s) == "0.0.0.0:7301");
  CHECK(parsed({{"port", 9000}, {"health_port", 7300}}).health_port == 7300);
  CHECK(parsed({{"health_port", 1}}).health_port == 1);
  CHECK(parsed({{"health_port", 65535}}).health_port == 65535);
}

TEST_CASE("agent setting: a bad health_port is refused naming the key", "[unit][agent_setting]") {
  for (const json& bad : {json(0), json(65536), json(-1), json("7301"), json(7301.5), json(true), json::array()}) {
    auto p = refused({{"health_port", bad}});
    CHECK(p.key == "health_port");
    CHECK(p.message == "agent.health_port must be a port number (1-65535)");
  }
  auto same = refused({{"health_port", 7300}});
  CHECK(same.key == "health_port");
  CHECK(same.message == "agent.health_port 7300 is the agent API's own port (agent.port, 7300 by default)");
  auto moved = refused({{"port", 7400}, {"health_port", 7400}});
  CHECK(moved.message == "agent.health_port 7400 is the agent API's own port (agent.port)");
  CHECK(refused({{"helth_port", 7301}}).message ==
        "agent: unknown key `helth_port` (known: port, dir, enabled, health_port)");
  CHECK(refused("yes").key.empty());
  CHECK(refused({{"port", 0}}).key == "port");
  CHECK(refused({{"dir", "relative"}}).key == "dir");
}

TEST_CASE("agent setting: the ssh provider refuses what validation refuses", "[unit][agent_setting]") {
  auto ok = providers::ssh_host::agent_settings({{"health_port", 7301}});
  REQUIRE(ok);
  CHECK(ok->health_port == 7301);
  auto bad = providers::ssh_host::agent_settings({{"health_port", 70000}});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code() == ErrorCode::InvalidConfig);
  CHECK(bad.error().message() == "agent.health_port must be a port number (1-65535)");
}

TEST_CASE("agent setting: validation reports a bad health_port at its own line", "[unit][agent_setting]") {
  const std::string head = "keel: 1\nproject: demo\nservers:\n";
  CHECK(diagnostics_of(head + "  a: { provider: ssh, host: 127.0.0.1, agent: { health_port: 7301 } }\n"
                              "  b: { provider: ssh, host: 127.0.0.1, agent: true }\n"
                              "  c: { provider: ssh, host: 127.0.0.1, agent: { port: 7400, dir: /srv/k } }\n")
            .empty());
  const std::string block = diagnostics_of(head +
                                           "  a:\n"
                                           "    provider: ssh\n"
                                           "    host: 127.0.0.1\n"
                                           "    agent:\n"
                                           "      port: 7300\n"
                                           "      health_port: 70000\n");
  INFO(block);
  CHECK_THAT(block, Catch::Contains("keel.yaml:9:20: error: servers.a: agent.health_port must be a port number "
                                    "(1-65535)"));
  const std::string same =
      diagnostics_of(head + "  a: { provider: ssh, host: 127.0.0.1, agent: { health_port: 7300 } }\n");
  INFO(same);
  CHECK_THAT(same, Catch::Contains("keel.yaml:4:62: error: servers.a: agent.health_port 7300 is the agent API's own "
                                   "port"));
  const std::string unknown =
      diagnostics_of(head + "  a: { provider: ssh, host: 127.0.0.1, agent: { helth_port: 7301 } }\n");
  INFO(unknown);
  CHECK_THAT(unknown, Catch::Contains("keel.yaml:4:61: error: servers.a: agent: unknown key `helth_port`"));
  const std::string scalar = diagnostics_of(head + "  a: { provider: ssh, host: 127.0.0.1, agent: maybe }\n");
  INFO(scalar);
  CHECK_THAT(scalar, Catch::Contains("keel.yaml:4:40: error: servers.a: agent: use true, false or a map"));
}
