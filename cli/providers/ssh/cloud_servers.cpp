#include "cli/providers/ssh/cloud_servers.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include "core/log.h"

#include "cli/providers/schema_builder.h"
#include "cli/providers/ssh/remote_agent.h"
#include "cli/ssh/hosts.h"
#include "core/files.h"

namespace keel::providers::ssh_host {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using provider::AttributeType;
using schema::Attr;

// A fresh machine's sshd comes up some tens of seconds after the cloud
// reports it running; keel waits this long for it, trying every few seconds.
constexpr auto kSshUpTimeout = 300s;
constexpr auto kSshRetryPause = 2s;
// ... and sshd may answer before cloud-init has installed the key: a refused
// key is tried again for this long, then it is the error.
constexpr auto kKeyGrace = 90s;

// The settable attributes keel adds to a cloud server kind. `user` only
// when the plugin has none of its own.
std::vector<provider::AttributeSchema> settable_attributes(bool add_user) {
  constexpr auto String = AttributeType::String;
  std::vector<provider::AttributeSchema> out;
  if (add_user) out.push_back(Attr("user", String, "Login user for SSH; root when unset.").optional());
  out.push_back(Attr("private_key", String,
                     "Private key file keel logs in with (relative to the stack's directory; ~/ expanded). Unset: "
                     "ssh-agent, then ~/.ssh/id_*. It never leaves this machine.")
                    .optional());
  out.push_back(Attr("ssh_port", AttributeType::Integer, "SSH port; 22 when unset.").optional().range(1, 65535));
  out.push_back(Attr("connect", String,
                     "Which address keel connects to: public (ipv4, the default) or private (private_ipv4, e.g. "
                     "through `jump` or a VPN).")
                    .optional()
                    .one_of({"public", "private"}));
  out.push_back(Attr("jump", String, "Jump host, [user@]host[:port] (like ssh -J); same key and known_hosts.").optional());
  out.push_back(Attr("known_hosts", String, "known_hosts file; keel's own .keel/known_hosts when unset.").optional());
  out.push_back(Attr("host_key_check", String,
                     "accept-new (default): a new server's key is added to known_hosts; strict: it must be there. A "
                     "changed key is refused either way.")
                    .optional()
                    .one_of({"accept-new", "strict"}));
  out.push_back(Attr("agent", AttributeType::Any,
                     "Install and run keel-agent over SSH: false (default), true, or {port: N, dir: PATH, "
                     "health_port: N} (defaults 7300, /opt/keel/agent, none; health_port opens a plain-HTTP port on "
                     "every address for load balancers' health checks). Read reports false when the agent does not "
                     "answer.")
                    .optional());
  out.push_back(Attr("checks", AttributeType::Map,
                     "Health checks the server's agent runs. Filled from the stack's `checks:` entries whose `on:` "
                     "selects this server.")
                    .optional());
  out.push_back(Attr("backups", AttributeType::Map,
                     "Backup jobs the server's agent runs. Filled from the stack's `backups:` entries that run on it.")
                    .optional());
  out.push_back(Attr("backup_key", String, "The stack's backup key, given to the agent as backup.key (0600).")
                    .optional()
                    .sensitive());
  return out;
}

std::vector<provider::AttributeSchema> computed_attributes() {
  constexpr auto String = AttributeType::String;
  return {
      Attr("ssh", AttributeType::Map, "How keel reaches the server: host, port, user, key, known_hosts, "
                                      "host_key_check, jump (used by keel exec, deploy, health).")
          .computed(),
      Attr("agent_url", String, "The agent's API as the server sees it: https://127.0.0.1:PORT (keel reaches it "
                                "through an SSH forward).")
          .computed(),
      Attr("agent_port", AttributeType::Integer, "The agent's port on the server's 127.0.0.1.").computed(),
      Attr("agent_ca", String, "PEM certificate of the CA that signed the agent's certificate.").computed(),
      Attr("agent_cert", String, "The agent's TLS certificate (PEM), for 127.0.0.1.").computed(),
      Attr("agent_token", String, "The bearer token of the agent's API.").computed().sensitive(),
      Attr("agent_tls_key", String, "The private key of the agent's TLS certificate (PEM).").computed().sensitive(),
  };
}

// The `agent` setting (absent: false), and whether the stack's checks and
// backup jobs, which only an agent runs, have one.
Result<AgentSettings> wanted_agent(const json& config) {
  auto wanted = agent_settings(config.value("agent", json(false)));
  if (!wanted) return fail(ErrorCode::InvalidConfig, fmt::format("`agent`: {}", wanted.error().message()));
  if (wanted->enabled) return wanted;
  for (const char* needs : {"checks", "backups"}) {
    auto it = config.find(needs);
    if (it != config.end() && it->is_object() && !it->empty())
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("the stack's `{}` for this server run in its keel-agent: set `agent: true`", needs));
  }
  return wanted;
}

// Whether the block asks for anything that needs SSH to the server. A block
// that sets none of these (only the plugin's own settings) is a plain cloud
// server: one the cloud gave no address keel can use gets no `ssh` map, and
// that is not an error (a private server with no SSH use must not fail).
bool uses_ssh(const json& config, const AgentSettings& wanted) {
  if (wanted.enabled) return true;
  if (!config.is_object()) return false;
  for (const char* name : {"private_key", "connect", "jump", "ssh_port"})
    if (auto it = config.find(name); it != config.end() && !it->is_null()) return true;
  for (const char* name : {"checks", "backups"})
    if (auto it = config.find(name); it != config.end() && it->is_object() && !it->empty()) return true;
  return false;
}

// Fresh machines: connection refused or timing out until sshd is up.
bool worth_waiting(ErrorCode code) {
  return code == ErrorCode::Unavailable || code == ErrorCode::Timeout || code == ErrorCode::Transient;
}

// Sleeps `pause` unless the person asks keel to stop first: false then.
bool pause_unless_stopped(std::chrono::milliseconds pause, const provider::StoppingFn& stopping) {
  constexpr auto kSlice = 100ms;
  const auto until = std::chrono::steady_clock::now() + pause;
  for (auto now = std::chrono::steady_clock::now(); now < until; now = std::chrono::steady_clock::now()) {
    if (stopping && stopping()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(kSlice, until - now));
  }
  return !(stopping && stopping());
}

// Waits for a new server's sshd, up to kSshUpTimeout, or until the person
// asks keel to stop: the server is recorded either way, and the next apply
// finishes its install, so a first Ctrl-C need not wait minutes for it.
Result<std::unique_ptr<ssh::Session>> connect_when_up(const ssh::Target& target, const provider::ProgressFn& progress,
                                                      const provider::StoppingFn& stopping) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + kSshUpTimeout;
  auto next_report = start;
  for (;;) {
    auto session = ssh::Session::connect(target);
    if (session) return session;
    const auto now = std::chrono::steady_clock::now();
    const ErrorCode code = session.error().code();
    const bool key_not_yet = code == ErrorCode::PermissionDenied && now - start < kKeyGrace;
    if ((!worth_waiting(code) && !key_not_yet) || now >= deadline) return session;
    if (progress && std::chrono::steady_clock::now() >= next_report) {
      progress(fmt::format("waiting for SSH on {}: {}", target.describe(), session.error().message()));
      next_report = std::chrono::steady_clock::now() + 30s;
    }
    if (!pause_unless_stopped(kSshRetryPause, stopping))
      return fail(Error(ErrorCode::Unavailable, "keel was asked to stop while waiting for SSH on " + target.describe()));
  }
}

// Past the plugin's create the server exists: no failure may read as a
// refusal (the engine would forget the intent and the next apply would
// make a second server).
Error after_creation(const Error& e, const std::string& id) {
  const ErrorCode code = worth_waiting(e.code()) || e.code() == ErrorCode::Internal ? e.code() : ErrorCode::Unavailable;
  return Error(code, fmt::format("server {} was made, but {}; the next apply finishes it", id, e.message()));
}

class CloudServersProvider final : public provider::Provider {
 public:
  explicit CloudServersProvider(std::unique_ptr<provider::Provider> inner) : inner_(std::move(inner)) {
    schema_ = inner_->schema();
    for (auto& kind : schema_.kinds) {
      if (!joins_fleet(kind)) continue;
      auto names = fleet_attribute_names(kind);
      fleet_names_[kind.kind] = std::set<std::string>(names.begin(), names.end());
      for (auto& a : settable_attributes(kind.find("user") == nullptr)) kind.attributes.push_back(std::move(a));
      for (auto& a : computed_attributes()) kind.attributes.push_back(std::move(a));
    }
  }

  const provider::ProviderSchema& schema() const override { return schema_; }

  Status configure(const provider::ConfigureRequest& request) override {
    std::error_code ec;
    fs::path work = fs::absolute(request.work_dir, ec).lexically_normal();
    if (work.filename().empty()) work = work.parent_path();
    paths_.stack_dir = request.stack_dir.empty() ? work.parent_path().string() : request.stack_dir;
    paths_.known_hosts = (work / "known_hosts").string();
    return inner_->configure(request);
  }

  Result<provider::CreateResponse> create(const provider::CreateRequest& r) override {
    const auto* names = fleet_of(r.kind);
    if (!names) return inner_->create(r);
    // Everything keel needs is checked before anything is made.
    auto access = cloud_access(r.config, paths_);
    if (!access) return fail(access.error());
    auto wanted = wanted_agent(r.config);
    if (!wanted) return fail(wanted.error());
    provider::CreateRequest plugin = r;
    plugin.config = without(r.config, *names);
    // A slot given up while the server boots would not come back for the
    // SSH work after it (the agent's install): --parallelism must bound that.
    if (uses_ssh(r.config, *wanted)) plugin.waiting = nullptr;
    auto created = inner_->create(plugin);
    if (!created) return created;
    json attrs = with_settings(created->attributes, r.config, *names);
    auto target = cloud_target(*access, attrs);
    if (!target) {
      if (uses_ssh(r.config, *wanted)) return undo_create(r, *created, target.error());
      logging::debug(fmt::runtime("{}: no `ssh` map ({})"), created->id, target.error().message());
      remember(created->id, attrs);
      return provider::CreateResponse{created->id, std::move(attrs)};
    }
    attrs["ssh"] = ssh::target_to_json(*target);
    if (wanted->enabled) {
      auto session = connect_when_up(*target, r.progress, r.stopping);
      if (!session) return fail(after_creation(session.error(), created->id));
      if (auto st = converge_agent(**session, json(), attrs, r.progress, false); !st)
        return fail(after_creation(st.error(), created->id));
    }
    remember(created->id, attrs);
    return provider::CreateResponse{created->id, std::move(attrs)};
  }

  Result<provider::ReadResponse> read(const provider::ReadRequest& r) override {
    const auto* names = fleet_of(r.kind);
    if (!names) return inner_->read(r);
    provider::ReadRequest plugin = r;
    plugin.attributes = without(r.attributes, *names);
    auto read = inner_->read(plugin);
    if (!read || !read->found) return read;
    json attrs = with_settings(read->attributes, r.attributes, *names);
    for (const auto& a : computed_attributes())  // what keel recorded, not the plugin
      if (r.attributes.contains(a.name)) attrs[a.name] = r.attributes[a.name];
    // The address may have changed (a stopped and started instance gets a
    // new public one): the `ssh` map follows it.
    if (auto access = cloud_access(attrs, paths_); access)
      if (auto target = cloud_target(*access, attrs); target) attrs["ssh"] = ssh::target_to_json(*target);
    check_agent(attrs, r.progress);
    remember(r.id, attrs);
    return provider::ReadResponse{true, std::move(attrs)};
  }

  Result<provider::UpdateResponse> update(const provider::UpdateRequest& r) override {
    const auto* names = fleet_of(r.kind);
    if (!names) return inner_->update(r);
    auto access = cloud_access(r.config, paths_);
    if (!access) return fail(access.error());
    auto wanted = wanted_agent(r.config);
    if (!wanted) return fail(wanted.error());
    // Checked before the plugin is asked: a refusal after its update would
    // leave the state stale. The server's addresses are those it has now.
    const bool needs_ssh = uses_ssh(r.config, *wanted);
    if (needs_ssh)
      if (auto now = cloud_target(*access, r.prior); !now) return fail(now.error());
    json plugin_attrs = without(r.prior, *names);
    if (plugin_changed(r.kind, r.prior, r.config, *names)) {
      provider::UpdateRequest plugin = r;
      plugin.prior = plugin_attrs;
      plugin.config = without(r.config, *names);
      plugin.waiting = nullptr;  // as in create: SSH work may follow (an installed agent's refresh too)
      auto updated = inner_->update(plugin);
      if (!updated) return fail(updated.error());
      plugin_attrs = std::move(updated->attributes);
    }
    json attrs = with_settings(plugin_attrs, r.config, *names);
    for (const char* kept : {"agent_ca", "agent_token", "agent_tls_key", "agent_cert", "agent_url", "agent_port"})
      if (r.prior.contains(kept)) attrs[kept] = r.prior[kept];
    auto target = cloud_target(*access, attrs);
    if (!target) {
      remember(r.id, attrs);
      return without_address(std::move(attrs), needs_ssh, target.error(), r.progress);
    }
    attrs["ssh"] = ssh::target_to_json(*target);
    remember(r.id, attrs);
    const bool was_installed = !material_of(r.prior).token.empty();
    if (!wanted->enabled && !was_installed) return provider::UpdateResponse{std::move(attrs)};
    auto session = connect_when_up(*target, r.progress, r.stopping);
    if (!session) return fail(session.error());
    if (auto st = converge_agent(**session, r.prior, attrs, r.progress, false); !st) return fail(st.error());
    return provider::UpdateResponse{std::move(attrs)};
  }

  Status remove(const provider::DeleteRequest& r) override {
    const auto* names = fleet_of(r.kind);
    if (!names) return inner_->remove(r);
    // The machine goes with its agent: nothing to uninstall first.
    provider::DeleteRequest plugin = r;
    plugin.attributes = without(r.attributes, *names);
    if (auto st = inner_->remove(plugin); !st) return st;
    forget_host_key(r.id, r.attributes);
    return {};
  }

  Result<provider::FindResponse> find(const provider::FindRequest& r) override {
    const auto* names = fleet_of(r.kind);
    if (!names) return inner_->find(r);
    provider::FindRequest plugin = r;
    plugin.config = r.config.is_object() ? without(r.config, *names) : r.config;
    auto found = inner_->find(plugin);
    if (!found || !found->found) return found;
    json config = r.config.is_object() ? r.config : json::object();
    json attrs = with_settings(found->attributes, config, *names);
    if (auto access = cloud_access(attrs, paths_); access)
      if (auto target = cloud_target(*access, attrs); target) attrs["ssh"] = ssh::target_to_json(*target);
    // Its agent, if one is wanted, is installed by the update that follows
    // adoption (or by the next apply after an import): its token and TLS
    // are made then.
    if (auto wanted = agent_settings(config.value("agent", json(false))); wanted && wanted->enabled)
      attrs["agent"] = false;
    remember(found->id, attrs);
    return provider::FindResponse{true, found->id, std::move(attrs)};
  }

 private:
  const std::set<std::string>* fleet_of(const std::string& kind) const {
    auto it = fleet_names_.find(kind);
    return it == fleet_names_.end() ? nullptr : &it->second;
  }

  static json without(const json& attrs, const std::set<std::string>& names) {
    if (!attrs.is_object()) return attrs;
    json out = json::object();
    for (auto it = attrs.begin(); it != attrs.end(); ++it)
      if (!names.count(it.key())) out[it.key()] = it.value();
    return out;
  }

  // The plugin's attributes plus the settings keel keeps from `config`
  // (only those set: an unset one stays absent, so plans compare equal).
  static json with_settings(json attrs, const json& config, const std::set<std::string>& names) {
    if (!attrs.is_object()) attrs = json::object();
    if (!config.is_object()) return attrs;
    for (const auto& a : settable_attributes(true))
      if (names.count(a.name) && config.contains(a.name) && !config[a.name].is_null()) attrs[a.name] = config[a.name];
    return attrs;
  }

  // Whether any attribute the plugin is sent differs from what it holds.
  bool plugin_changed(const std::string& kind, const json& prior, const json& config,
                      const std::set<std::string>& names) const {
    const provider::KindSchema* k = inner_->schema().find_kind(kind);
    if (!k) return true;
    for (const auto& a : k->attributes) {
      if (!a.settable() || names.count(a.name)) continue;
      const json before = prior.is_object() && prior.contains(a.name) ? prior[a.name] : json();
      const json after = config.is_object() && config.contains(a.name) ? config[a.name] : json();
      if (after.is_null() && a.computed) continue;
      if (before != after) return true;
    }
    return false;
  }

  // The plugin's update (done: it is recorded, never refused now) left the
  // server without the address keel connects to. Nothing over SSH happens;
  // a wanted agent reads as not running, so the next plan shows it and its
  // update says why (the check above, on the address it has then).
  static Result<provider::UpdateResponse> without_address(json attrs, bool needs_ssh, const Error& why,
                                                          const provider::ProgressFn& progress) {
    if (needs_ssh) {
      if (progress) progress(fmt::format("not reachable over SSH after the update: {}", why.message()));
      logging::warn(fmt::runtime("not reachable over SSH after the update: {}"), why.message());
      if (auto a = agent_settings(attrs.value("agent", json(false))); a && a->enabled) attrs["agent"] = false;
    }
    return provider::UpdateResponse{std::move(attrs)};
  }

  // The server was made but cannot be reached as configured: it is taken
  // away again, so that the refusal leaves nothing behind.
  Result<provider::CreateResponse> undo_create(const provider::CreateRequest& r,
                                               const provider::CreateResponse& created, const Error& why) {
    if (r.progress) r.progress(fmt::format("{}: deleting server {} again", why.message(), created.id));
    auto gone = inner_->remove({r.kind, created.id, created.attributes, r.progress, r.waiting, r.tags.address});
    if (!gone) return fail(after_creation(why, created.id));
    return fail(why);
  }

  // An agent that should run and does not answer reads as `agent: false`:
  // the plan shows it and apply starts it again. A server keel cannot reach
  // stays as it was, with a warning.
  static void check_agent(json& attrs, const provider::ProgressFn& progress) {
    auto settings = agent_settings(attrs.value("agent", json(false)));
    const AgentMaterial material = material_of(attrs);
    if (!settings || !settings->enabled || material.token.empty()) return;
    auto target = ssh::target_from_attributes(attrs);
    if (!target || !*target) return;
    auto session = ssh::Session::connect(**target);
    if (!session) {
      if (progress) progress(fmt::format("unreachable: {}", session.error().message()));
      logging::warn(fmt::runtime("{}"), session.error().message());
      return;
    }
    if (!status(**session, *settings, material).running) attrs["agent"] = false;
  }

  // The known_hosts name of the host:port a server's `ssh` map reaches, when
  // that is in keel's own known_hosts (empty otherwise).
  std::string host_key_name(const json& attrs) const {
    auto target = ssh::target_from_attributes(attrs);
    if (!target || !*target || (*target)->known_hosts != paths_.known_hosts) return {};
    const std::string& host = (*target)->host;
    return (*target)->port == 22 ? host : fmt::format("[{}]:{}", host, (*target)->port);
  }

  // Which host key each server this provider created, read, updated or
  // found in this run uses: a refresh reads every server in state, so that
  // a delete knows whether another one still reaches the same host:port.
  void remember(const std::string& id, const json& attrs) {
    const std::string name = host_key_name(attrs);
    std::lock_guard lock(known_hosts_mutex_);
    if (name.empty()) reached_.erase(id);
    else reached_[id] = name;
  }

  // A server keel deleted will not come back; its address will be another
  // machine's. Its key leaves keel's own known_hosts (never a file of the
  // user's), so that the next server there is accepted as new, not refused
  // as a changed key; unless another server keel knows still reaches that
  // host:port (the same address through another bastion), whose key it is.
  void forget_host_key(const std::string& id, const json& attrs) {
    const std::string pattern = host_key_name(attrs);
    if (pattern.empty()) return;
    std::lock_guard lock(known_hosts_mutex_);
    reached_.erase(id);
    for (const auto& [other, name] : reached_)
      if (name == pattern) {
        logging::debug(fmt::runtime("{} keeps its key in {}: {} still reaches it"), pattern, paths_.known_hosts, other);
        return;
      }
    auto text = files::read_file(paths_.known_hosts);
    if (!text) return;
    std::string kept;
    std::istringstream in(*text);
    bool dropped = false;
    for (std::string line; std::getline(in, line);) {
      std::string names = line.substr(0, line.find(' '));
      bool match = false;
      for (size_t start = 0; start <= names.size();) {
        size_t comma = names.find(',', start);
        if (comma == std::string::npos) comma = names.size();
        match |= names.compare(start, comma - start, pattern) == 0 && comma - start == pattern.size();
        start = comma + 1;
      }
      if (match) dropped = true;
      else kept += line + "\n";
    }
    if (!dropped) return;
    if (auto st = files::write_atomic(paths_.known_hosts, kept, 0600); !st)
      logging::warn(fmt::runtime("cannot remove {}'s key from {}: {}"), pattern, paths_.known_hosts, st.error().message());
  }

  std::unique_ptr<provider::Provider> inner_;
  provider::ProviderSchema schema_;
  std::map<std::string, std::set<std::string>> fleet_names_;  // kind -> names keel handles
  CloudPaths paths_;
  std::mutex known_hosts_mutex_;              // also guards reached_
  std::map<std::string, std::string> reached_;  // server id -> known_hosts name (host_key_name)
};

}  // namespace

bool joins_fleet(const provider::KindSchema& kind) {
  auto computed = [&](const char* name) {
    const auto* a = kind.find(name);
    return a && a->computed;
  };
  if (kind.kind != "servers" || !computed("ipv4") || !computed("private_ipv4")) return false;
  // A name of keel's that the plugin has too would shadow the plugin's own
  // (it would never be sent its value): such a kind stays the plugin's
  // alone. `user` is the exception: a plugin's own (AWS's login user) is
  // kept, sent to it and used for SSH (settable_attributes).
  for (const auto& name : fleet_attribute_names(provider::KindSchema{kind.kind, {}, {}}))
    if (name != "user" && kind.find(name)) {
      logging::debug(fmt::runtime("`{}` has its own `{}`: keel does not add SSH settings to it"), kind.kind, name);
      return false;
    }
  return true;
}

std::vector<std::string> fleet_attribute_names(const provider::KindSchema& plugin_kind) {
  std::vector<std::string> out;
  for (const auto& a : settable_attributes(plugin_kind.find("user") == nullptr)) out.push_back(a.name);
  for (const auto& a : computed_attributes()) out.push_back(a.name);
  return out;
}

std::unique_ptr<provider::Provider> make_cloud_servers_provider(std::unique_ptr<provider::Provider> inner) {
  return std::make_unique<CloudServersProvider>(std::move(inner));
}

}  // namespace keel::providers::ssh_host
