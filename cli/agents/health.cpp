#include "cli/agents/health.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <thread>

#include "cli/agents/tunnel.h"
#include "cli/ssh/hosts.h"

namespace keel::agents {

namespace {

using checks::CheckStatus;

bool matches(const std::string& address, const std::vector<std::string>& filters) {
  if (filters.empty()) return true;
  for (const auto& f : filters)
    if (address == f || address.rfind(f + "[", 0) == 0) return true;
  return false;
}

// The agent's checks, through an SSH forward when the server is reached over
// SSH (its session and forward last for this one call).
Result<std::vector<CheckReport>> ask_checks(const Target& t, http::HttpClient& transport, const PollOptions& options) {
  auto via = ssh::target_from_attributes(t.attributes);
  if (!via) return fail(via.error());
  std::unique_ptr<ssh::Session> session;
  if (*via) {
    auto connected = ssh::Session::connect(**via);
    if (!connected) return fail(connected.error());
    session = std::move(*connected);
  }
  auto agent = reach_agent(t.attributes.is_object() ? t.attributes : nlohmann::json{{"agent_url", t.endpoint.url},
                                                                                    {"agent_ca", t.endpoint.ca_pem},
                                                                                    {"agent_token", t.endpoint.token}},
                           session.get());
  if (!agent) return fail(agent.error());
  AgentClient client(transport, agent->endpoint, options.client);
  return client.checks();
}

}  // namespace

bool address_less(const std::string& a, const std::string& b) {
  // Compare piecewise: runs of digits by value, everything else as text.
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])), db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      size_t ei = i, ej = j;
      while (ei < a.size() && std::isdigit(static_cast<unsigned char>(a[ei]))) ++ei;
      while (ej < b.size() && std::isdigit(static_cast<unsigned char>(b[ej]))) ++ej;
      std::string_view na(a.data() + i, ei - i), nb(b.data() + j, ej - j);
      while (na.size() > 1 && na.front() == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb.front() == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ei;
      j = ej;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

std::vector<Target> agent_targets(const state::State& state, const std::vector<std::string>& filters) {
  std::vector<Target> out;
  for (const auto& [address, r] : state.resources) {
    if (r.kind != "servers" || r.pending() || !matches(address, filters)) continue;
    auto endpoint = endpoint_from_attributes(r.attributes);
    if (!endpoint) continue;
    out.push_back({address, std::move(*endpoint), r.attributes});
  }
  std::sort(out.begin(), out.end(), [](const Target& a, const Target& b) { return address_less(a.address, b.address); });
  return out;
}

std::vector<HostHealth> poll(const std::vector<Target>& targets, http::HttpClient& transport,
                             const PollOptions& options) {
  std::vector<HostHealth> hosts(targets.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < targets.size(); i = next++) {
      const Target& t = targets[i];
      HostHealth& h = hosts[i];
      h.address = t.address;
      h.agent_url = t.endpoint.url;
      auto checks = ask_checks(t, transport, options);
      if (!checks) {
        h.reachable = false;
        h.status = CheckStatus::Unknown;
        h.error = checks.error().message();
        continue;
      }
      h.reachable = true;
      h.checks = std::move(*checks);
      std::sort(h.checks.begin(), h.checks.end(),
                [](const CheckReport& a, const CheckReport& b) { return a.name < b.name; });
      h.status = CheckStatus::Passing;
      for (const auto& c : h.checks) h.status = checks::worst(h.status, c.status);
    }
  };
  const size_t n = std::min<size_t>(targets.size(), static_cast<size_t>(std::max(1, options.max_parallel)));
  std::vector<std::thread> pool;
  pool.reserve(n);
  for (size_t i = 0; i < n; ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  return hosts;
}

HealthSummary summarize(const std::vector<HostHealth>& hosts) {
  HealthSummary s;
  for (auto status : {CheckStatus::Passing, CheckStatus::Warning, CheckStatus::Critical, CheckStatus::Unknown})
    s.counts[status] = 0;
  s.hosts = static_cast<int>(hosts.size());
  s.status = hosts.empty() ? CheckStatus::Unknown : CheckStatus::Passing;
  for (const auto& h : hosts) {
    if (!h.reachable) ++s.unreachable;
    s.status = checks::worst(s.status, h.reachable ? h.status : checks::worst(h.status, CheckStatus::Unknown));
    for (const auto& c : h.checks) {
      ++s.checks;
      ++s.counts[c.status];
    }
  }
  s.exit_code = checks::exit_code(s.status);
  return s;
}

}  // namespace keel::agents
