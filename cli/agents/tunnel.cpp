#include "cli/agents/tunnel.h"

#include <fmt/format.h>

namespace keel::agents {

namespace {

// host and port of "https://HOST:PORT".
Result<std::pair<std::string, int>> host_and_port(const std::string& url) {
  const auto scheme_end = url.find("://");
  const std::string rest = scheme_end == std::string::npos ? url : url.substr(scheme_end + 3);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) return fail(ErrorCode::Protocol, fmt::format("agent_url `{}` has no port", url));
  try {
    return std::pair{rest.substr(0, colon), std::stoi(rest.substr(colon + 1))};
  } catch (const std::exception&) {
    return fail(ErrorCode::Protocol, fmt::format("agent_url `{}`: bad port", url));
  }
}

}  // namespace

Result<ReachableAgent> reach_agent(const nlohmann::json& attributes, ssh::Session* session) {
  auto endpoint = endpoint_from_attributes(attributes);
  if (!endpoint) return fail(ErrorCode::NotFound, "no keel-agent is recorded for this server");
  ReachableAgent out{*endpoint, nullptr};
  if (!session) return out;
  auto where = host_and_port(endpoint->url);
  if (!where) return fail(where.error());
  auto forward = session->forward(where->first, where->second);
  if (!forward) return fail(forward.error());
  out.endpoint.url = (*forward)->local_url("https");
  out.forward = std::move(*forward);
  return out;
}

}  // namespace keel::agents
