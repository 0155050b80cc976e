#include "cli/config/agent_setting.h"

#include <fmt/format.h>

namespace keel::config {

namespace {

using nlohmann::json;

bool is_port(const json& v) {
  return v.is_number_integer() && v.get<long long>() >= 1 && v.get<long long>() <= 65535;
}

std::optional<AgentSettingProblem> problem(std::string key, std::string message) {
  return AgentSettingProblem{std::move(key), std::move(message)};
}

}  // namespace

std::optional<AgentSettingProblem> parse_agent_setting(const json& value, AgentSetting& out) {
  out = AgentSetting{};
  if (value.is_null()) return std::nullopt;
  if (value.is_boolean()) {
    out.enabled = value.get<bool>();
    return std::nullopt;
  }
  if (!value.is_object())
    return problem("", "agent: use true, false or a map {port, dir, enabled, health_port}");
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string& key = it.key();
    if (key == "port") {
      if (!is_port(*it)) return problem(key, "agent.port must be a port number (1-65535)");
      out.port = it->get<int>();
    } else if (key == "health_port") {
      if (!is_port(*it)) return problem(key, "agent.health_port must be a port number (1-65535)");
      out.health_port = it->get<int>();
    } else if (key == "dir") {
      if (!it->is_string() || it->get_ref<const std::string&>().empty() || it->get_ref<const std::string&>()[0] != '/')
        return problem(key, "agent.dir must be an absolute path on the host");
      out.dir = it->get<std::string>();
      while (out.dir.size() > 1 && out.dir.back() == '/') out.dir.pop_back();
    } else if (key == "enabled") {
      if (!it->is_boolean()) return problem(key, "agent.enabled must be true or false");
      out.enabled = it->get<bool>();
    } else {
      return problem(key, fmt::format("agent: unknown key `{}` (known: port, dir, enabled, health_port)", key));
    }
  }
  // Both listen on the host; one port cannot take both (the agent would not start).
  if (out.health_port == out.port)
    return problem("health_port",
                   fmt::format("agent.health_port {} is the agent API's own port (agent.port{})", out.port,
                               value.contains("port") ? "" : fmt::format(", {} by default", kDefaultAgentPort)));
  return std::nullopt;
}

std::string health_listen_of(const AgentSetting& setting) {
  return setting.health_port > 0 ? fmt::format("0.0.0.0:{}", setting.health_port) : std::string();
}

}  // namespace keel::config
