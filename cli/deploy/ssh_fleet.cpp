#include "cli/deploy/ssh_fleet.h"

#include <fmt/format.h>

#include "cli/agents/tunnel.h"

namespace keel::deploy {

namespace {

bool is_transport(const Error& e) {
  return e.code() == ErrorCode::Unavailable || e.code() == ErrorCode::Transient || e.code() == ErrorCode::Timeout;
}

}  // namespace

// One host: its SSH session, and its agent reached on first use.
class SshFleet::Channel final : public HostChannel {
 public:
  Channel(const ssh::Host& host, ssh::Session& session, http::HttpClient& transport,
          const agents::ClientOptions& options)
      : host_(host), session_(session), transport_(transport), options_(options) {}

  Result<ssh::CommandResult> run(const std::string& command) override { return session_.run(command); }

  Status upload(const std::string& local_path, const std::string& remote_path) override {
    return session_.upload(local_path, remote_path, 0600);
  }

  Result<std::vector<agents::CheckReport>> checks() override {
    auto client = agent();
    if (!client) return fail(client.error());
    auto r = (*client)->checks();
    if (!r && is_transport(r.error())) forget_agent();
    return r;
  }

  Result<agents::CheckReport> run_check(const std::string& name) override {
    auto client = agent();
    if (!client) return fail(client.error());
    auto r = (*client)->run_check(name);
    if (!r && is_transport(r.error())) forget_agent();
    return r;
  }

 private:
  Result<agents::AgentClient*> agent() {
    if (client_) return client_.get();
    auto reached = agents::reach_agent(host_.attributes, &session_);
    if (!reached) return fail(reached.error().with_context(fmt::format("the agent of {}", host_.address)));
    reachable_ = std::make_unique<agents::ReachableAgent>(std::move(*reached));
    client_ = std::make_unique<agents::AgentClient>(transport_, reachable_->endpoint, options_);
    return client_.get();
  }

  // The forward broke (or the agent restarted): reach it again next time.
  void forget_agent() {
    client_.reset();
    reachable_.reset();
  }

  const ssh::Host& host_;
  ssh::Session& session_;
  http::HttpClient& transport_;
  const agents::ClientOptions& options_;
  std::unique_ptr<agents::ReachableAgent> reachable_;
  std::unique_ptr<agents::AgentClient> client_;
};

SshFleet::SshFleet(std::vector<ssh::Host> hosts, http::HttpClient& transport, agents::ClientOptions agent_options)
    : transport_(transport), agent_options_(agent_options) {
  for (auto& host : hosts) {
    std::string address = host.address;
    hosts_.emplace(std::move(address), std::move(host));
  }
}

SshFleet::~SshFleet() {
  // Channels (and the agents' forwards) go before the sessions they use.
  std::lock_guard lock(mutex_);
  channels_.clear();
}

bool SshFleet::has_agent(const std::string& address) const {
  auto it = hosts_.find(address);
  return it != hosts_.end() && agents::endpoint_from_attributes(it->second.attributes).has_value();
}

Result<HostChannel*> SshFleet::open(const std::string& address) {
  auto host = hosts_.find(address);
  if (host == hosts_.end()) return fail(ErrorCode::NotFound, fmt::format("{} is not a host of this deploy", address));
  {
    std::lock_guard lock(mutex_);
    if (auto it = channels_.find(address); it != channels_.end()) return it->second.get();
  }
  auto session = connections_.get(host->second);
  if (!session) return fail(session.error());
  std::lock_guard lock(mutex_);
  auto& channel = channels_[address];
  if (!channel) channel = std::make_unique<Channel>(host->second, **session, transport_, agent_options_);
  return channel.get();
}

void SshFleet::reset(const std::string& address) {
  {
    std::lock_guard lock(mutex_);
    channels_.erase(address);
  }
  connections_.drop(address);
}

}  // namespace keel::deploy
