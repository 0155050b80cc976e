// The built-in `ssh` provider: servers that already exist (dedicated,
// on-premises, other clouds), reached over SSH (docs/providers/ssh.md).
//
//   create   reach the host, record its facts (OS, arch, CPUs, memory), and
//            install keel-agent unless `agent: false`
//   read     reach it again: fresh facts, and whether the agent answers (an
//            agent that stopped is drift the next apply repairs); a host that
//            cannot be reached stays in state with `reachable: false`
//   update   new connection settings are recorded; changed checks or jobs
//            reach the agent (SIGHUP); `agent` starts, moves or stops it (a
//            new port or health_port restarts it)
//   remove   uninstalls the agent keel installed, then forgets the host; the
//            machine itself is never touched otherwise
//   find     by tags: not found (create is idempotent: reaching a host twice
//            does no harm); by id (`keel state import`): "user@host:port"
#include "cli/providers/ssh/ssh_provider.h"

#include <filesystem>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include "core/log.h"

#include "cli/providers/schema_builder.h"
#include "cli/providers/ssh/remote_agent.h"
#include "cli/ssh/hosts.h"
#include "cli/ssh/session.h"

namespace keel::providers::ssh_host {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using provider::AttributeType;
using schema::Attr;

constexpr auto String = AttributeType::String;
constexpr auto Integer = AttributeType::Integer;

provider::KindSchema servers_schema() {
  return {
      "servers",
      "A machine that already exists, reached over SSH: keel records its facts and installs keel-agent on it.",
      {Attr("host", String, "Address or name to connect to.").required().force_new(),
       Attr("port", Integer, "SSH port.").optional().force_new().default_to(22),
       Attr("user", String, "Login user; the local user's name when unset.").optional().force_new(),
       Attr("key", String,
            "Private key file (relative to the stack's directory; ~/ expanded). Unset: ssh-agent, then "
            "~/.ssh/id_*. The key never leaves this machine.")
           .optional(),
       Attr("known_hosts", String, "known_hosts file to verify the host key against; ~/.ssh/known_hosts when unset.")
           .optional(),
       Attr("host_key_check", String,
            "strict: the host key must be in known_hosts; accept-new: an unknown host's key is added. A "
            "changed key is refused either way.")
           .optional()
           .default_to("strict")
           .one_of({"strict", "accept-new"}),
       Attr("jump", String, "Jump host, [user@]host[:port] (like ssh -J); same key and known_hosts.").optional(),
       Attr("agent", AttributeType::Any,
            "Install and run keel-agent: true (default), false, or {port: N, dir: PATH, health_port: N} "
            "(defaults 7300, /opt/keel/agent, none; health_port opens a plain-HTTP port on every address for "
            "load balancers' health checks). Read reports false when the agent does not answer.")
           .optional()
           .default_to(true),
       Attr("checks", AttributeType::Map,
            "Health checks the host's agent runs. Filled from the stack's `checks:` entries whose `on:` "
            "selects this server.")
           .optional(),
       Attr("backups", AttributeType::Map,
            "Backup jobs the host's agent runs. Filled from the stack's `backups:` entries that run on this "
            "server.")
           .optional(),
       Attr("backup_key", String, "The stack's backup key, given to the agent as backup.key (0600).")
           .optional()
           .sensitive(),
       Attr("ssh", AttributeType::Map, "How keel reaches the host: host, port, user, key, known_hosts, "
                                       "host_key_check, jump (used by keel exec, deploy, health).")
           .computed(),
       Attr("reachable", AttributeType::Bool, "Whether the last connect succeeded.").computed(),
       Attr("hostname", String, "The host's name (hostname).").computed(),
       Attr("os", String, "PRETTY_NAME from the host's /etc/os-release.").computed(),
       Attr("arch", String, "Machine architecture (uname -m).").computed(),
       Attr("cpus", Integer, "Online CPUs (nproc).").computed(),
       Attr("memory_mb", Integer, "Physical memory in MiB.").computed(),
       Attr("agent_url", String, "The agent's API as the host sees it: https://127.0.0.1:PORT (keel reaches "
                                 "it through an SSH forward).")
           .computed(),
       Attr("agent_port", Integer, "The agent's port on the host's 127.0.0.1.").computed(),
       Attr("agent_ca", String, "PEM certificate of the CA that signed the agent's certificate.").computed(),
       Attr("agent_cert", String, "The agent's TLS certificate (PEM), for 127.0.0.1.").computed(),
       Attr("agent_token", String, "The bearer token of the agent's API.").computed().sensitive(),
       Attr("agent_tls_key", String, "The private key of the agent's TLS certificate (PEM).").computed().sensitive()}};
}

std::string string_of(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

class SshProvider final : public provider::Provider {
 public:
  SshProvider() {
    schema_.name = "ssh";
    schema_.version = KEEL_VERSION;
    schema_.kinds = {servers_schema()};
  }

  const provider::ProviderSchema& schema() const override { return schema_; }

  Status configure(const provider::ConfigureRequest& request) override {
    std::error_code ec;
    fs::path work = fs::absolute(request.work_dir, ec).lexically_normal();
    if (work.filename().empty()) work = work.parent_path();
    stack_dir_ = request.stack_dir.empty() ? work.parent_path().string() : request.stack_dir;
    return {};
  }

  Result<provider::CreateResponse> create(const provider::CreateRequest& r) override {
    auto target = target_of(r.config);
    if (!target) return fail(target.error());
    auto session = ssh::Session::connect(*target);
    if (!session) return fail(session.error());
    json attrs = r.config;
    if (auto st = record_facts(**session, attrs); !st) return fail(st.error());
    attrs["ssh"] = ssh::target_to_json(*target);
    attrs["reachable"] = true;
    if (auto st = converge_agent(**session, json(), attrs, r.progress, true); !st) return fail(st.error());
    return provider::CreateResponse{id_of(*target), attrs};
  }

  Result<provider::ReadResponse> read(const provider::ReadRequest& r) override {
    json attrs = r.attributes;
    auto target = ssh::target_from_attributes(attrs);
    if (!target) return fail(target.error());
    if (!*target) return provider::ReadResponse{false, {}};
    auto session = ssh::Session::connect(**target);
    if (!session) {
      // Still ours: a host that is down is reported, not forgotten.
      if (r.progress) r.progress(fmt::format("unreachable: {}", session.error().message()));
      logging::warn(fmt::runtime("{}"), session.error().message());
      attrs["reachable"] = false;
      return provider::ReadResponse{true, attrs};
    }
    attrs["reachable"] = true;
    if (auto st = record_facts(**session, attrs); !st) return fail(st.error());
    auto settings = agent_settings(attrs.value("agent", json(true)));
    if (settings && settings->enabled) {
      const AgentStatus s = status(**session, *settings, material_of(attrs));
      if (!s.running) attrs["agent"] = false;
    }
    return provider::ReadResponse{true, attrs};
  }

  Result<provider::UpdateResponse> update(const provider::UpdateRequest& r) override {
    auto target = target_of(r.config);
    if (!target) return fail(target.error());
    auto session = ssh::Session::connect(*target);
    if (!session) return fail(session.error());
    json attrs = r.config;
    for (const char* kept : {"agent_ca", "agent_token", "agent_tls_key", "agent_cert"})
      if (r.prior.contains(kept)) attrs[kept] = r.prior[kept];
    if (auto st = record_facts(**session, attrs); !st) return fail(st.error());
    attrs["ssh"] = ssh::target_to_json(*target);
    attrs["reachable"] = true;
    if (auto st = converge_agent(**session, r.prior, attrs, r.progress, true); !st) return fail(st.error());
    return provider::UpdateResponse{attrs};
  }

  Status remove(const provider::DeleteRequest& r) override {
    auto target = ssh::target_from_attributes(r.attributes);
    if (!target || !*target) return {};
    auto settings = agent_settings(r.attributes.value("agent", json(true)));
    const bool had_agent = !string_of(r.attributes, "agent_token").empty();
    if (!had_agent || !settings) return {};
    auto session = ssh::Session::connect(**target);
    if (!session) {
      // Forgetting must not depend on the host: say what stays behind.
      logging::warn(fmt::runtime("{}; forgetting it anyway: keel-agent stays installed in {} there"),
                   session.error().message(), settings->dir);
      return {};
    }
    if (r.progress) r.progress(fmt::format("removing keel-agent from {}", (*session)->target().describe()));
    return uninstall(**session, *settings);
  }

  Result<provider::FindResponse> find(const provider::FindRequest& r) override {
    if (r.id.empty()) return provider::FindResponse{};
    auto parsed = ssh::parse_destination(r.id, ssh::Target{});
    if (!parsed) return fail(parsed.error());
    json config = r.config.is_object() ? r.config : json::object();
    config["host"] = parsed->host;
    config["port"] = parsed->port;
    if (!parsed->user.empty()) config["user"] = parsed->user;
    auto target = target_of(config);
    if (!target) return fail(target.error());
    auto session = ssh::Session::connect(*target);
    if (!session) return fail(session.error());
    json attrs = config;
    if (auto st = record_facts(**session, attrs); !st) return fail(st.error());
    attrs["ssh"] = ssh::target_to_json(*target);
    attrs["reachable"] = true;
    // The agent is installed by the next apply (its token and TLS are made then).
    attrs["agent"] = false;
    return provider::FindResponse{true, id_of(*target), attrs};
  }

 private:
  // A path of the stack (key, known_hosts): relative to the stack's directory.
  std::string stack_path(const std::string& path) const {
    if (path.empty() || path.front() == '/' || path.front() == '~') return path;
    return (fs::path(stack_dir_) / path).lexically_normal().string();
  }

  Result<ssh::Target> target_of(const json& config) const {
    ssh::Target t;
    t.host = string_of(config, "host");
    if (t.host.empty()) return fail(ErrorCode::InvalidConfig, "host is required");
    t.port = config.value("port", 22);
    t.user = string_of(config, "user");
    t.key_file = stack_path(string_of(config, "key"));
    t.known_hosts = stack_path(string_of(config, "known_hosts"));
    if (const std::string policy = string_of(config, "host_key_check"); !policy.empty()) {
      auto p = ssh::host_key_policy_from_string(policy);
      if (!p) return fail(ErrorCode::InvalidConfig, fmt::format("host_key_check `{}`: use strict or accept-new", policy));
      t.host_key_policy = *p;
    }
    if (const std::string jump = string_of(config, "jump"); !jump.empty()) {
      auto j = ssh::parse_destination(jump, t);
      if (!j) return fail(j.error().with_context("jump"));
      t.jump = std::make_shared<const ssh::Target>(std::move(*j));
    }
    return t;
  }

  static std::string id_of(const ssh::Target& t) {
    return fmt::format("{}@{}:{}", t.user.empty() ? "" : t.user, t.host, t.port);
  }

  // hostname, os, arch, cpus, memory_mb, in one command.
  static Status record_facts(ssh::Session& session, json& attrs) {
    auto out = session.run(
        "echo hostname=$(hostname 2>/dev/null || cat /etc/hostname); echo arch=$(uname -m); "
        "echo cpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN); "
        "echo memory_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null); "
        "(. /etc/os-release 2>/dev/null && echo os=$PRETTY_NAME) || echo os=$(uname -s)");
    if (!out) return fail(out.error().with_context("recording the host's facts"));
    std::map<std::string, std::string> v;
    std::istringstream in(out->output);
    for (std::string line; std::getline(in, line);)
      if (auto eq = line.find('='); eq != std::string::npos) v[line.substr(0, eq)] = line.substr(eq + 1);
    attrs["hostname"] = v["hostname"];
    attrs["os"] = v["os"].empty() ? "unknown" : v["os"];
    attrs["arch"] = v["arch"];
    attrs["cpus"] = std::atoi(v["cpus"].c_str());
    attrs["memory_mb"] = std::atoll(v["memory_kb"].c_str()) / 1024;
    return {};
  }

  provider::ProviderSchema schema_;
  std::string stack_dir_;
};

}  // namespace

std::unique_ptr<provider::Provider> make_ssh_provider() { return std::make_unique<SshProvider>(); }

}  // namespace keel::providers::ssh_host
