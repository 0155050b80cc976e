#include "cli/providers/ssh/remote_agent.h"

#include <sys/utsname.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include "core/log.h"

#include "cli/agents/client.h"
#include "cli/providers/local/agent_process.h"
#include "core/crypto.h"
#include "core/files.h"
#include "core/http_client.h"
#include "core/tls.h"
#include "keel/templates.h"

namespace keel::providers::ssh_host {

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ssh::shell_quote;

constexpr std::size_t kTokenLength = 40;
constexpr auto kAnswerTimeout = 20s;
// For one management command (mkdir, a stop that waits 10 s, systemctl).
constexpr auto kCommandTimeout = 60s;
constexpr const char* kUnitPath = "/etc/systemd/system/keel-agent.service";

void report(const provider::ProgressFn& progress, const std::string& message) {
  logging::debug(fmt::runtime("ssh: {}"), message);
  if (progress) progress(message);
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// Runs `command`; a non-zero exit is an error carrying its output.
Result<std::string> run_checked(ssh::Session& session, const std::string& command, const std::string& what) {
  auto result = session.run(command, {}, kCommandTimeout);
  if (!result) return fail(result.error().with_context(what));
  if (result->exit_status != 0)
    return fail(ErrorCode::Unavailable, fmt::format("{}: {} failed (exit {}): {}", session.target().describe(), what,
                                                    result->exit_status, result->output));
  return result->output;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string local_arch() {
  struct utsname uts = {};
  ::uname(&uts);
  return uts.machine;
}

struct LocalBinaries {
  std::string agent, dr;            // paths
  std::string agent_sha, dr_sha;    // sha256 hex
};

Result<LocalBinaries> local_binaries() {
  auto agent = local::agent::find_binary();
  if (!agent) return fail(agent.error());
  LocalBinaries b;
  b.agent = *agent;
  b.dr = (std::filesystem::path(*agent).parent_path() / "keel-dr").string();
  for (auto [path, sha] : {std::pair{&b.agent, &b.agent_sha}, std::pair{&b.dr, &b.dr_sha}}) {
    auto content = files::read_file(*path);
    if (!content)
      return fail(ErrorCode::Unavailable, fmt::format("cannot read {} to install it: {}", *path, content.error().message()));
    *sha = crypto::sha256_hex(*content);
  }
  return b;
}

// What is on the host now, in one round trip.
struct RemoteFacts {
  std::string arch;
  bool systemd = false;
  std::string agent_sha, dr_sha;
  int configured_port = 0;   // from the agent.yaml there, 0: none
  std::string configured_health;  // its health_listen, "": none
  bool supervised = false;   // the supervisor (or the unit) runs
};

Result<RemoteFacts> remote_facts(ssh::Session& session, const AgentSettings& s) {
  const std::string command = fmt::format(
      "echo arch=$(uname -m); "
      "if [ -d /run/systemd/system ]; then echo init=systemd; else echo init=plain; fi; "
      "echo agent_sha=$(sha256sum {0}/bin/keel-agent 2>/dev/null | cut -d' ' -f1); "
      "echo dr_sha=$(sha256sum {0}/bin/keel-dr 2>/dev/null | cut -d' ' -f1); "
      "echo port=$(sed -n 's/.*\"listen\": *\"127.0.0.1:\\([0-9]*\\)\".*/\\1/p' {0}/agent.yaml 2>/dev/null | head -n1); "
      "echo health=$(sed -n 's/.*\"health_listen\": *\"\\([^\"]*\\)\".*/\\1/p' {0}/agent.yaml 2>/dev/null | head -n1); "
      "if [ -d /run/systemd/system ]; then systemctl is-active --quiet keel-agent && echo up=1; "
      "elif [ -s {0}/supervisor.pid ] && kill -0 \"$(cat {0}/supervisor.pid)\" 2>/dev/null; then echo up=1; fi; true",
      shell_quote(s.dir));
  auto out = run_checked(session, command, "looking at the host");
  if (!out) return fail(out.error());
  std::map<std::string, std::string> values;
  for (const auto& line : lines_of(*out))
    if (auto eq = line.find('='); eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
  RemoteFacts f;
  f.arch = values["arch"];
  f.systemd = values["init"] == "systemd";
  f.agent_sha = values["agent_sha"];
  f.dr_sha = values["dr_sha"];
  f.configured_port = std::atoi(values["port"].c_str());
  f.configured_health = values["health"];
  f.supervised = values["up"] == "1";
  return f;
}

bool runs_backups(const AgentJobs& jobs) { return jobs.backups.is_object() && !jobs.backups.empty(); }

std::string config_text(const AgentSettings& s, const AgentJobs& jobs) {
  const auto paths = local::agent::paths_in(s.dir);
  json config = local::agent::render_config(paths, s.port, jobs.checks,
                                            runs_backups(jobs) ? jobs.backups : json());
  if (const std::string health = config::health_listen_of(s); !health.empty()) config["health_listen"] = health;
  return "# keel-agent config, written by keel over SSH (keel apply). JSON is YAML too.\n"
         "# Replaced at the next apply: edit the stack's `checks:` and `backups:` instead.\n" +
         config.dump(2) + "\n";
}

Status upload_binaries(ssh::Session& session, const AgentSettings& s, const LocalBinaries& local,
                       const RemoteFacts& remote, const provider::ProgressFn& progress, bool& changed) {
  const std::pair<std::pair<const std::string*, const std::string*>, std::pair<const std::string*, const char*>> files[] = {
      {{&local.agent, &local.agent_sha}, {&remote.agent_sha, "keel-agent"}},
      {{&local.dr, &local.dr_sha}, {&remote.dr_sha, "keel-dr"}},
  };
  for (const auto& [l, r] : files) {
    if (*l.second == *r.first) continue;
    report(progress, fmt::format("uploading {} to {}", r.second, session.target().describe()));
    if (auto st = session.upload(*l.first, fmt::format("{}/bin/{}", s.dir, r.second), 0755); !st) return st;
    changed = true;
  }
  return {};
}

Status write_material(ssh::Session& session, const AgentSettings& s, const AgentMaterial& m, const AgentJobs& jobs) {
  const auto paths = local::agent::paths_in(s.dir);
  const std::pair<const std::string*, std::pair<const std::string*, unsigned>> wanted[] = {
      {&paths.token, {&m.token, 0600}},
      {&paths.key, {&m.key_pem, 0600}},
      {&paths.cert, {&m.cert_pem, 0644}},
      {&paths.ca, {&m.ca_pem, 0644}},
  };
  for (const auto& [path, content] : wanted)
    if (auto st = session.write_file(*path, *content.first, content.second); !st) return st;
  if (runs_backups(jobs)) {
    if (jobs.backup_key.empty()) return fail(ErrorCode::InvalidConfig, "a host that runs backups needs the stack's backup_key");
    if (auto st = session.write_file(paths.backup_key, jobs.backup_key, 0600); !st) return st;
  } else if (auto rm = run_checked(session, fmt::format("rm -f {}", shell_quote(paths.backup_key)), "removing backup.key");
             !rm) {
    return fail(rm.error());
  }
  if (auto mk = run_checked(session, fmt::format("mkdir -p {0} && chmod 700 {0}", shell_quote(paths.state_dir)),
                            "making the state directory");
      !mk)
    return fail(mk.error());
  return session.write_file(paths.config, config_text(s, jobs), 0600);
}

std::string supervisor_path(const AgentSettings& s) { return s.dir + "/supervise.sh"; }

Status stop_service(ssh::Session& session, const AgentSettings& s, bool systemd) {
  const std::string dir = shell_quote(s.dir);
  const std::string command =
      systemd ? std::string("systemctl stop keel-agent 2>/dev/null || true")
              : fmt::format(
                    // The supervisor forwards TERM to the agent and exits; wait
                    // for both (10 s), then make sure.
                    "for f in supervisor.pid agent.pid; do [ -s {0}/$f ] && kill -TERM \"$(cat {0}/$f)\" 2>/dev/null; done; "
                    "i=0; while [ $i -lt 100 ]; do alive=; for f in supervisor.pid agent.pid; do "
                    "[ -s {0}/$f ] && kill -0 \"$(cat {0}/$f)\" 2>/dev/null && alive=1; done; "
                    "[ -z \"$alive\" ] && break; sleep 0.1; i=$((i+1)); done; "
                    "for f in supervisor.pid agent.pid; do [ -s {0}/$f ] && kill -KILL \"$(cat {0}/$f)\" 2>/dev/null; "
                    "rm -f {0}/$f; done; true",
                    dir);
  auto out = run_checked(session, command, "stopping keel-agent");
  return out ? Status{} : fail(out.error());
}

Status start_service(ssh::Session& session, const AgentSettings& s, bool systemd) {
  if (systemd) {
    const std::string unit = replace_all(std::string(templates::kAgentSystemdUnit), "@DIR@", s.dir);
    if (auto st = session.write_file(kUnitPath, unit, 0644); !st) return st;
    auto out = run_checked(session, "systemctl daemon-reload && systemctl enable --quiet keel-agent && systemctl restart keel-agent",
                           "starting the keel-agent unit");
    return out ? Status{} : fail(out.error());
  }
  const std::string script = replace_all(std::string(templates::kAgentSupervisor), "@DIR@", s.dir);
  if (auto st = session.write_file(supervisor_path(s), script, 0700); !st) return st;
  // Detached from the SSH session: its own session, and no descriptor of the
  // channel held (else the command never ends).
  auto out = run_checked(session,
                         fmt::format("cd {} && (setsid sh {} </dev/null >/dev/null 2>&1 &)", shell_quote(s.dir),
                                     shell_quote(supervisor_path(s))),
                         "starting keel-agent's supervisor");
  return out ? Status{} : fail(out.error());
}

Status reload_service(ssh::Session& session, const AgentSettings& s, bool systemd) {
  const std::string command = systemd ? std::string("systemctl reload keel-agent")
                                      : fmt::format("kill -HUP \"$(cat {}/agent.pid)\"", shell_quote(s.dir));
  auto out = run_checked(session, command, "reloading keel-agent");
  return out ? Status{} : fail(out.error());
}

// Pings the agent through a tunnel until it answers (or the time is up).
Result<std::string> wait_for_answer(ssh::Session& session, const AgentSettings& s, const AgentMaterial& m,
                                    std::chrono::milliseconds timeout) {
  auto forward = session.forward("127.0.0.1", s.port);
  if (!forward) return fail(forward.error());
  http::CurlHttpClient curl;
  agents::AgentClient client(curl, {(*forward)->local_url("https"), m.ca_pem, m.token},
                             {.timeout = 3s, .attempts = 1, .reuse_connections = false});
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto pong = client.ping();
    if (pong) return std::string();
    if (std::chrono::steady_clock::now() >= deadline) return fail(pong.error());
    std::this_thread::sleep_for(200ms);
  }
}

std::string log_tail(ssh::Session& session, const AgentSettings& s) {
  auto out = session.run(fmt::format("tail -n 15 {}/agent.log 2>/dev/null", shell_quote(s.dir)));
  return out ? out->output : std::string();
}

Status wait_until_answering(ssh::Session& session, const AgentSettings& s, const AgentMaterial& m,
                            const provider::ProgressFn& progress) {
  report(progress, fmt::format("waiting for keel-agent on {} (127.0.0.1:{} there)", session.target().describe(), s.port));
  auto answered = wait_for_answer(session, s, m, kAnswerTimeout);
  if (answered) return {};
  return fail(ErrorCode::Unavailable,
              fmt::format("{}: keel-agent did not answer on 127.0.0.1:{} within {} s ({}); the end of {}/agent.log:\n{}",
                          session.target().describe(), s.port, kAnswerTimeout.count(), answered.error().message(), s.dir,
                          log_tail(session, s)));
}

}  // namespace

Result<AgentSettings> agent_settings(const json& value) {
  AgentSettings s;
  if (auto problem = config::parse_agent_setting(value, s)) return fail(ErrorCode::InvalidConfig, problem->message);
  return s;
}

Result<AgentMaterial> generate_material() {
  auto certs = tls::generate_local_certificates();
  if (!certs) return fail(certs.error());
  return AgentMaterial{crypto::random_alnum(kTokenLength), certs->ca_cert_pem, certs->server_cert_pem,
                       certs->server_key_pem};
}

Status install(ssh::Session& session, const AgentSettings& s, const AgentMaterial& m, const AgentJobs& jobs,
               const provider::ProgressFn& progress, bool restart) {
  if (!m.complete()) return fail(ErrorCode::Internal, "keel-agent install without token and TLS material");
  auto local = local_binaries();
  if (!local) return fail(local.error());
  if (auto mk = run_checked(session, fmt::format("mkdir -p {0}/bin && chmod 700 {0}", shell_quote(s.dir)),
                            fmt::format("making {}", s.dir));
      !mk)
    return fail(mk.error());
  auto remote = remote_facts(session, s);
  if (!remote) return fail(remote.error());
  if (remote->arch != local_arch())
    return fail(ErrorCode::Unavailable,
                fmt::format("{} is {}, and this keel has a keel-agent for {} only", session.target().describe(),
                            remote->arch, local_arch()));
  bool binaries_changed = false;
  if (auto st = upload_binaries(session, s, *local, *remote, progress, binaries_changed); !st) return st;
  report(progress, fmt::format("writing keel-agent's config, token and TLS files in {}", s.dir));
  if (auto st = write_material(session, s, m, jobs); !st) return st;

  const bool must_restart =
      restart || binaries_changed || !remote->supervised || remote->configured_port != s.port ||
      remote->configured_health != config::health_listen_of(s);
  if (must_restart) {
    report(progress, fmt::format("{} keel-agent ({})", remote->supervised ? "restarting" : "starting",
                                 remote->systemd ? "systemd unit" : "supervisor"));
    if (remote->supervised) {
      if (auto st = stop_service(session, s, remote->systemd); !st) return st;
    }
    if (auto st = start_service(session, s, remote->systemd); !st) return st;
  } else {
    report(progress, "keel-agent reloads its config");
    if (auto st = reload_service(session, s, remote->systemd); !st) return st;
  }
  return wait_until_answering(session, s, m, progress);
}

Status upgrade(ssh::Session& session, const AgentSettings& s, const AgentMaterial& m,
               const provider::ProgressFn& progress) {
  auto local = local_binaries();
  if (!local) return fail(local.error());
  auto remote = remote_facts(session, s);
  if (!remote) return fail(remote.error());
  if (remote->agent_sha.empty())
    return fail(ErrorCode::NotFound, fmt::format("{}: no keel-agent is installed in {}", session.target().describe(), s.dir));
  if (remote->arch != local_arch())
    return fail(ErrorCode::Unavailable, fmt::format("{} is {}, and this keel has a keel-agent for {} only",
                                                    session.target().describe(), remote->arch, local_arch()));
  bool changed = false;
  if (auto st = upload_binaries(session, s, *local, *remote, progress, changed); !st) return st;
  if (!changed && remote->supervised) {
    report(progress, "keel-agent is already this keel's");
    return wait_until_answering(session, s, m, progress);
  }
  if (remote->supervised) {
    if (auto st = stop_service(session, s, remote->systemd); !st) return st;
  }
  if (auto st = start_service(session, s, remote->systemd); !st) return st;
  return wait_until_answering(session, s, m, progress);
}

AgentStatus status(ssh::Session& session, const AgentSettings& s, const AgentMaterial& m) {
  AgentStatus out;
  auto remote = remote_facts(session, s);
  if (!remote) {
    out.error = remote.error().message();
    return out;
  }
  out.installed = !remote->agent_sha.empty();
  out.service = remote->supervised ? (remote->systemd ? "systemd" : "supervisor") : "";
  if (auto local = local_binaries(); local)
    out.current = out.installed && local->agent_sha == remote->agent_sha && local->dr_sha == remote->dr_sha;
  if (!out.installed) return out;
  auto forward = session.forward("127.0.0.1", s.port);
  if (!forward) {
    out.error = forward.error().message();
    return out;
  }
  http::CurlHttpClient curl;
  agents::AgentClient client(curl, {(*forward)->local_url("https"), m.ca_pem, m.token},
                             {.timeout = 3s, .attempts = 1, .reuse_connections = false});
  auto pong = client.ping();
  out.running = pong.has_value();
  if (!pong) out.error = pong.error().message();
  return out;
}

Status stop(ssh::Session& session, const AgentSettings& s) {
  auto remote = remote_facts(session, s);
  if (!remote) return fail(remote.error());
  return stop_service(session, s, remote->systemd);
}

Status uninstall(ssh::Session& session, const AgentSettings& s) {
  auto remote = remote_facts(session, s);
  if (!remote) return fail(remote.error());
  if (auto st = stop_service(session, s, remote->systemd); !st) return st;
  std::string command = fmt::format("rm -rf -- {}", shell_quote(s.dir));
  if (remote->systemd)
    command = fmt::format("systemctl disable --quiet keel-agent 2>/dev/null; rm -f {}; systemctl daemon-reload; {}",
                          kUnitPath, command);
  auto out = run_checked(session, command, "removing keel-agent");
  return out ? Status{} : fail(out.error());
}

namespace {

std::string string_of(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

AgentMaterial material_of(const json& attrs) {
  if (!attrs.is_object()) return {};
  return {string_of(attrs, "agent_token"), string_of(attrs, "agent_ca"), string_of(attrs, "agent_cert"),
          string_of(attrs, "agent_tls_key")};
}

Status converge_agent(ssh::Session& session, const json& prior, json& attrs, const provider::ProgressFn& progress,
                      bool enabled_by_default) {
  auto wanted = agent_settings(attrs.value("agent", json(enabled_by_default)));
  if (!wanted) return fail(wanted.error());
  auto before = agent_settings(prior.is_object() ? prior.value("agent", json(false)) : json(false));
  const bool was_installed = !material_of(prior).token.empty();
  if (was_installed && before && (before->dir != wanted->dir || !wanted->enabled)) {
    if (auto st = wanted->enabled && before->dir != wanted->dir ? uninstall(session, *before) : stop(session, *before);
        !st)
      return st;
  }
  if (!wanted->enabled) {
    set_endpoint(attrs, nullptr, material_of(prior.is_object() ? prior : attrs));
    return {};
  }
  AgentMaterial material = material_of(prior);
  // New material means an agent that may be running there (one a crashed
  // or failed install started, or one the image brought) holds another
  // token and certificate: SIGHUP would not make it take the new ones, and
  // the ping would fail on TLS. Only a restart does.
  const bool fresh_material = !material.complete();
  if (fresh_material) {
    auto made = generate_material();
    if (!made) return fail(made.error());
    material = *made;
  }
  AgentJobs jobs{attrs.value("checks", json()), attrs.value("backups", json()), string_of(attrs, "backup_key")};
  // The agent keeps its listeners through a SIGHUP: a new API or health
  // port takes a restart.
  const bool moved = before && (before->port != wanted->port || before->health_port != wanted->health_port);
  if (auto st = install(session, *wanted, material, jobs, progress, moved || fresh_material); !st) return st;
  set_endpoint(attrs, &*wanted, material);
  return {};
}

void set_endpoint(json& attrs, const AgentSettings* settings, const AgentMaterial& m) {
  auto or_null = [](const std::string& s) { return s.empty() ? json() : json(s); };
  attrs["agent_url"] = settings ? json(fmt::format("https://127.0.0.1:{}", settings->port)) : json();
  attrs["agent_port"] = settings ? json(settings->port) : json();
  attrs["agent_ca"] = or_null(m.ca_pem);
  attrs["agent_cert"] = or_null(m.cert_pem);
  attrs["agent_token"] = or_null(m.token);
  attrs["agent_tls_key"] = or_null(m.key_pem);
}

}  // namespace keel::providers::ssh_host
