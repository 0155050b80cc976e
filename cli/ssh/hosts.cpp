#include "cli/ssh/hosts.h"

#include <algorithm>

#include <fmt/format.h>

#include "cli/agents/health.h"

namespace keel::ssh {

namespace {

std::string string_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool selected(const std::string& address, const std::string& selector) {
  if (selector == "all" || selector == "servers") return true;
  return address == selector || address.rfind(selector + "[", 0) == 0;
}

}  // namespace

Result<std::optional<Target>> target_from_attributes(const nlohmann::json& attributes) {
  auto it = attributes.find("ssh");
  if (it == attributes.end() || it->is_null()) return std::optional<Target>();
  const nlohmann::json& ssh = *it;
  if (!ssh.is_object() || string_field(ssh, "host").empty())
    return fail(ErrorCode::InvalidConfig, "the `ssh` attribute must be a map with at least `host`");
  Target t;
  t.host = string_field(ssh, "host");
  t.port = ssh.value("port", 22);
  t.user = string_field(ssh, "user");
  t.key_file = string_field(ssh, "key");
  t.known_hosts = string_field(ssh, "known_hosts");
  if (const std::string policy = string_field(ssh, "host_key_check"); !policy.empty()) {
    auto p = host_key_policy_from_string(policy);
    if (!p) return fail(ErrorCode::InvalidConfig, fmt::format("host_key_check `{}`: use strict or accept-new", policy));
    t.host_key_policy = *p;
  }
  if (const std::string jump = string_field(ssh, "jump"); !jump.empty()) {
    auto j = parse_destination(jump, t);
    if (!j) return fail(j.error().with_context("jump"));
    t.jump = std::make_shared<const Target>(std::move(*j));
  }
  return std::optional<Target>(std::move(t));
}

nlohmann::json target_to_json(const Target& t) {
  auto or_null = [](const std::string& s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); };
  return {{"host", t.host},
          {"port", t.port},
          {"user", or_null(t.user)},
          {"key", or_null(t.key_file)},
          {"known_hosts", or_null(t.known_hosts)},
          {"host_key_check", to_string(t.host_key_policy)},
          {"jump", t.jump ? nlohmann::json(fmt::format("{}@{}:{}", t.jump->user, t.jump->host, t.jump->port))
                          : nlohmann::json()}};
}

Result<std::vector<Host>> select_hosts(const state::State& state, const std::vector<std::string>& selectors,
                                       std::vector<std::string>* skipped) {
  std::vector<Host> out;
  std::vector<bool> used(selectors.size(), false);
  for (const auto& [address, r] : state.resources) {
    if (r.kind != "servers" || r.pending()) continue;
    bool wanted = selectors.empty();
    for (size_t i = 0; i < selectors.size(); ++i)
      if (selected(address, selectors[i])) wanted = used[i] = true;
    if (!wanted) continue;
    auto target = target_from_attributes(r.attributes);
    if (!target) return fail(target.error().with_context(address));
    if (!*target) {
      if (skipped) skipped->push_back(address);
      continue;
    }
    out.push_back({address, std::move(**target), r.attributes});
  }
  for (size_t i = 0; i < selectors.size(); ++i)
    if (!used[i])
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("no server in the state matches `{}` (use an address such as servers.web or "
                              "servers.web[0], or `all`)",
                              selectors[i]));
  std::sort(out.begin(), out.end(), [](const Host& a, const Host& b) { return agents::address_less(a.address, b.address); });
  return out;
}

Result<Session*> Connections::get(const Host& host) {
  std::shared_ptr<std::mutex> slot;
  {
    std::lock_guard lock(mutex_);
    if (auto it = sessions_.find(host.address); it != sessions_.end()) return it->second.get();
    auto& m = connecting_[host.address];
    if (!m) m = std::make_shared<std::mutex>();
    slot = m;
  }
  // One connect per host at a time; different hosts connect in parallel.
  std::lock_guard connecting(*slot);
  {
    std::lock_guard lock(mutex_);
    if (auto it = sessions_.find(host.address); it != sessions_.end()) return it->second.get();
  }
  auto session = Session::connect(host.target);
  if (!session) return fail(session.error());
  std::lock_guard lock(mutex_);
  auto& stored = sessions_[host.address];
  stored = std::move(*session);
  return stored.get();
}

void Connections::drop(const std::string& address) {
  std::unique_ptr<Session> gone;
  std::lock_guard lock(mutex_);
  if (auto it = sessions_.find(address); it != sessions_.end()) {
    gone = std::move(it->second);
    sessions_.erase(it);
  }
}

}  // namespace keel::ssh
