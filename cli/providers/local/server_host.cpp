#include "cli/providers/local/server_host.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>
#include "core/log.h"

#include "cli/agents/client.h"
#include "cli/providers/local/agent_process.h"
#include "core/check_spec.h"
#include "core/crypto.h"
#include "core/files.h"
#include "core/http_client.h"
#include "core/tls.h"

namespace keel::providers::local::server_host {

namespace {

using namespace std::chrono_literals;

constexpr const char* kKind = "servers";
constexpr const char* kFactsFile = "facts.json";
constexpr std::size_t kTokenLength = 40;
// A port picked by us may be taken before the agent binds it: fresh ports
// are tried this many times in all.
constexpr int kStartAttempts = 4;

void report(const provider::ProgressFn& progress, const std::string& message) {
  logging::debug(fmt::runtime("local: {}"), message);
  if (progress) progress(message);
}

// PRETTY_NAME from /etc/os-release, e.g. "Debian GNU/Linux 12 (bookworm)".
std::string os_name() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string value = line.substr(12);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\''))
      value = value.substr(1, value.size() - 2);
    return value;
  }
  return "unknown";
}

Json gather_facts() {
  char hostname[256] = {};
  ::gethostname(hostname, sizeof hostname - 1);
  struct utsname uts = {};
  ::uname(&uts);
  const long long pages = ::sysconf(_SC_PHYS_PAGES);
  const long long page_size = ::sysconf(_SC_PAGE_SIZE);
  return Json{{"hostname", hostname},
              {"os", os_name()},
              {"arch", uts.machine},
              {"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)},
              {"memory_mb", pages > 0 && page_size > 0 ? pages * page_size / (1024 * 1024) : 0}};
}

agent::Paths paths_of(const Instance& instance) { return agent::paths_in(instance.dir); }

std::string agent_url(int port) { return fmt::format("https://127.0.0.1:{}", port); }

// --- settings -------------------------------------------------------------------

std::string string_of(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}


// The `checks` setting: null (none) or a map of name -> definition, each
// checked as the agent will check it, so that a typo fails the apply here
// with every problem named rather than in the agent's log.
Result<Json> checks_setting(const Json& config) {
  if (!config.is_object() || !config.contains("checks") || config["checks"].is_null()) return Json();
  const Json& checks = config["checks"];
  if (!checks.is_object())
    return fail(ErrorCode::InvalidConfig, "checks must be a map of check name -> definition");
  std::vector<std::string> problems;
  for (auto it = checks.begin(); it != checks.end(); ++it) {
    if (!checks::valid_check_name(it.key())) {
      problems.push_back(fmt::format("check name `{}`: use letters, digits, '_', '-' and '.' (at most 64)", it.key()));
      continue;
    }
    Json definition = it.value();
    if (definition.is_object()) definition.erase("on");
    if (auto spec = checks::check_from_json(it.key(), definition); !spec)
      problems.push_back(fmt::format("check `{}`: {}", it.key(), spec.error().message()));
  }
  if (!problems.empty()) return fail(ErrorCode::InvalidConfig, fmt::format("{}", fmt::join(problems, "; ")));
  return checks;
}

// The `backups` setting: null (none) or a map of job name -> the agent's job
// definition (the engine builds them from the stack's `backups:`; the agent
// checks them fully), and `backup_key`, which a host with jobs must have.
Result<Json> backups_setting(const Json& config) {
  if (!config.is_object() || !config.contains("backups") || config["backups"].is_null()) return Json();
  const Json& backups = config["backups"];
  if (!backups.is_object())
    return fail(ErrorCode::InvalidConfig, "backups must be a map of job name -> definition");
  for (auto it = backups.begin(); it != backups.end(); ++it)
    if (!it.value().is_object())
      return fail(ErrorCode::InvalidConfig, fmt::format("backup `{}` must be a map", it.key()));
  if (!backups.empty() && string_of(config, "backup_key").empty())
    return fail(ErrorCode::InvalidConfig, "a host that runs backups needs the stack's backup_key");
  return backups;
}

Json backup_key_setting(const Json& config) {
  const std::string key = string_of(config, "backup_key");
  return key.empty() ? Json() : Json(key);
}

bool runs_backups(const Instance& instance) {
  const Json backups = instance.secrets.value("backups", Json());
  return backups.is_object() && !backups.empty();
}

Json agent_config(const Instance& instance) {
  return agent::render_config(paths_of(instance), instance.port(), instance.secrets.value("checks", Json()),
                              runs_backups(instance) ? instance.secrets.at("backups") : Json());
}

// backup.key (0600) beside the config that names it: written before the
// agent reads the config, removed when the host runs no jobs any more.
Status write_backup_key(const Instance& instance) {
  const std::string path = paths_of(instance).backup_key;
  if (!runs_backups(instance)) return files::exists(path) ? files::remove_all(path) : Status{};
  return files::write_atomic(path, string_of(instance.secrets, "backup_key"), 0600);
}

// What the agent reads at start: the key file, then the config naming it.
Status write_agent_files(const Instance& instance) {
  if (auto st = write_backup_key(instance); !st) return st;
  return agent::write_config(paths_of(instance), agent_config(instance));
}

// --- the agent's material -----------------------------------------------------------

// Token, TLS certificate and key, a port, and their files: made when missing
// (a new host, or one recorded before servers ran agents), rewritten when a
// file went missing. Returns whether the record changed.
Result<bool> ensure_agent_material(const Context& context, Instance& instance) {
  bool changed = false;
  if (string_of(instance.secrets, "agent_token").empty()) {
    instance.secrets["agent_token"] = crypto::random_alnum(kTokenLength);
    changed = true;
  }
  if (string_of(instance.facts, "agent_ca").empty() || string_of(instance.facts, "agent_cert").empty() ||
      string_of(instance.secrets, "agent_tls_key").empty()) {
    auto certs = tls::generate_local_certificates();
    if (!certs) return fail(certs.error());
    instance.facts["agent_ca"] = certs->ca_cert_pem;
    instance.facts["agent_cert"] = certs->server_cert_pem;
    instance.secrets["agent_tls_key"] = certs->server_key_pem;
    changed = true;
  }
  if (instance.port() == 0) {
    auto port = context.ports.take();
    if (!port) return fail(port.error());
    instance.facts["port"] = *port;
    changed = true;
  }
  const agent::Paths paths = paths_of(instance);
  const std::pair<const std::string*, std::pair<std::string, unsigned>> files_wanted[] = {
      {&paths.token, {string_of(instance.secrets, "agent_token"), 0600}},
      {&paths.key, {string_of(instance.secrets, "agent_tls_key"), 0600}},
      {&paths.cert, {string_of(instance.facts, "agent_cert"), 0644}},
      {&paths.ca, {string_of(instance.facts, "agent_ca"), 0644}},
  };
  for (const auto& [path, content] : files_wanted) {
    if (!changed && files::exists(*path)) continue;
    if (auto st = files::write_atomic(*path, content.first, content.second); !st) return fail(st.error());
  }
  // Inside the host directory, never through a link planted there.
  if (auto st = files::make_dirs_inside(instance.dir, paths.state_dir, 0700); !st) return fail(st.error());
  return changed;
}

// Writes the config and starts the agent, moving to a fresh port when ours
// was taken meanwhile.
Status start_agent(const Context& context, Instance& instance, const provider::ProgressFn& progress) {
  auto binary = agent::find_binary();
  if (!binary) return fail(binary.error());
  const agent::Paths paths = paths_of(instance);
  for (int attempt = 1;; ++attempt) {
    report(progress, fmt::format("starting keel-agent for {} on 127.0.0.1:{}", instance.tags.address, instance.port()));
    if (auto st = write_agent_files(instance); !st) return st;
    auto started = agent::start({*binary, paths, instance.port(), string_of(instance.facts, "agent_ca")});
    if (started) return {};
    if (started.error().code() != ErrorCode::Conflict || attempt == kStartAttempts) return fail(started.error());
    auto next = context.ports.take();
    if (!next) return fail(next.error());
    logging::debug(fmt::runtime("local: port {} was taken; keel-agent for {} tries {}"), instance.port(),
                  instance.tags.address, *next);
    instance.facts["port"] = *next;
  }
}

// Hands the running agent its new config (it keeps the state of the checks
// that did not change), restarting it only when it says it must.
Status reconfigure_agent(const Context& context, Instance& instance, const provider::ProgressFn& progress) {
  if (auto st = write_backup_key(instance); !st) return st;  // the agent checks that the file is there
  http::CurlHttpClient curl;
  agents::AgentClient client(curl,
                             {agent_url(instance.port()), string_of(instance.facts, "agent_ca"),
                              string_of(instance.secrets, "agent_token")},
                             {.timeout = 10s, .attempts = 3, .reuse_connections = false});
  auto result = client.put_config(agent_config(instance));
  if (!result) return fail(result.error().with_context("reconfigure keel-agent"));
  std::vector<std::string> parts;
  for (const auto& [what, names] : {std::pair{"added", &result->added}, std::pair{"changed", &result->changed},
                                    std::pair{"removed", &result->removed}})
    if (!names->empty()) parts.push_back(fmt::format("{} {}", what, fmt::join(*names, ", ")));
  report(progress, parts.empty() ? std::string("keel-agent reconfigured")
                                 : fmt::format("keel-agent reconfigured: {}", fmt::join(parts, "; ")));
  if (!result->restart_required) return {};
  report(progress, "keel-agent asks for a restart");
  if (auto st = agent::stop(paths_of(instance)); !st) return st;
  return start_agent(context, instance, progress);
}

// --- attributes -------------------------------------------------------------------

// Every attribute: the host's facts from facts.json, the agent's endpoint
// and secrets from the record, and whether the agent runs.
Result<provider::Attributes> attributes(const Instance& instance) {
  const std::string facts_path = join(instance.dir, kFactsFile);
  auto text = files::read_regular_file(facts_path, 1 << 20);
  if (!text) return fail(text.error());
  Json facts = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (facts.is_discarded() || !facts.is_object())
    return fail(ErrorCode::Corrupt, fmt::format("{}: not a JSON object", facts_path));
  provider::Attributes a = Json::object();
  a["host"] = "127.0.0.1";
  for (const char* key : {"os", "arch", "cpus", "memory_mb"}) a[key] = facts.value(key, Json());
  a["dir"] = instance.dir;
  a["checks"] = instance.secrets.value("checks", Json());
  a["backups"] = instance.secrets.value("backups", Json());
  a["backup_key"] = instance.secrets.value("backup_key", Json());
  const int port = instance.port();
  a["agent"] = agent::running(paths_of(instance), port);
  a["agent_port"] = port > 0 ? Json(port) : Json();
  a["agent_url"] = port > 0 ? Json(agent_url(port)) : Json();
  const std::string ca = string_of(instance.facts, "agent_ca");
  const std::string token = string_of(instance.secrets, "agent_token");
  const std::string key = string_of(instance.secrets, "agent_tls_key");
  a["agent_ca"] = ca.empty() ? Json() : Json(ca);
  a["agent_token"] = token.empty() ? Json() : Json(token);
  a["agent_tls_key"] = key.empty() ? Json() : Json(key);
  return a;
}

// What a killed keel may have left running in a host directory without a
// complete record: the agent first (politely), then anything else there.
void stop_leftovers(const std::string& dir) {
  if (auto st = agent::stop(agent::paths_in(dir)); !st)
    logging::warn(fmt::runtime("local: cleaning up {}: {}"), dir, st.error().message());
  kill_processes_using({dir + "/"});
}

}  // namespace

Result<provider::CreateResponse> create(const Context& context, const provider::CreateRequest& request) {
  auto dir = resource_dir(context, kKind, request.tags.address);
  if (!dir) return fail(dir.error());
  auto want_agent = bool_setting(request.config, "agent", true);
  if (!want_agent) return fail(want_agent.error());
  auto checks = checks_setting(request.config);
  if (!checks) return fail(checks.error());
  auto backups = backups_setting(request.config);
  if (!backups) return fail(backups.error());
  if (*want_agent) {  // before anything is made
    if (auto binary = agent::find_binary(); !binary) return fail(binary.error());
  }
  if (auto st = clear_for_create(*dir, kKind, request.tags, stop_leftovers); !st) return fail(st.error());
  // 0700: the directory holds the agent's token and key.
  if (auto st = files::make_dirs(*dir, 0700); !st) return fail(st.error());
  if (auto st = files::write_atomic(join(*dir, kFactsFile), gather_facts().dump(2) + "\n"); !st)
    return fail(st.error());

  Instance instance{.dir = *dir, .kind = kKind, .tags = request.tags};
  instance.facts["host"] = "127.0.0.1";
  instance.secrets["checks"] = *checks;
  instance.secrets["backups"] = *backups;
  instance.secrets["backup_key"] = backup_key_setting(request.config);
  auto build = [&]() -> Status {
    report(request.progress, fmt::format("making the host directory {}", instance.dir));
    if (auto made = ensure_agent_material(context, instance); !made) return fail(made.error());
    if (*want_agent) {
      if (auto st = start_agent(context, instance, request.progress); !st) return st;
    } else if (auto st = write_agent_files(instance); !st) {
      return st;
    }
    return save_instance(instance);  // meta.json last: the host is complete
  };
  if (auto st = build(); !st) {
    // Nothing stays running; the files stay for a look at agent.log, and the
    // next create wipes them.
    (void)agent::stop(paths_of(instance));
    return fail(st.error());
  }
  auto attrs = attributes(instance);
  if (!attrs) return fail(attrs.error());
  return provider::CreateResponse{instance.dir, *attrs};
}

Result<provider::ReadResponse> read(const Context&, const provider::ReadRequest& request) {
  if (request.id.empty()) return provider::ReadResponse{};
  auto instance = load_instance(request.id);
  if (!instance || instance->kind != kKind) return provider::ReadResponse{};
  auto attrs = attributes(*instance);
  if (!attrs) return fail(attrs.error());
  return provider::ReadResponse{true, *attrs};
}

Result<provider::UpdateResponse> update(const Context& context, const provider::UpdateRequest& request) {
  auto instance = load_instance(request.id);
  if (!instance)
    return fail(ErrorCode::NotFound,
                fmt::format("{} is gone or incomplete; refresh, then apply to create it again", request.id));
  auto want_agent = bool_setting(request.config, "agent", true);
  if (!want_agent) return fail(want_agent.error());
  auto checks = checks_setting(request.config);
  if (!checks) return fail(checks.error());
  auto backups = backups_setting(request.config);
  if (!backups) return fail(backups.error());
  const Json backup_key = backup_key_setting(request.config);

  auto made = ensure_agent_material(context, *instance);
  if (!made) return fail(made.error());
  if (*made) {
    if (auto st = save_instance(*instance); !st) return fail(st.error());
  }
  const agent::Paths paths = paths_of(*instance);
  bool running = agent::running(paths, instance->port());

  const bool checks_changed = instance->secrets.value("checks", Json()) != *checks;
  const bool backups_changed = instance->secrets.value("backups", Json()) != *backups ||
                               instance->secrets.value("backup_key", Json()) != backup_key;
  if (checks_changed || backups_changed) {
    instance->secrets["checks"] = *checks;
    instance->secrets["backups"] = *backups;
    instance->secrets["backup_key"] = backup_key;
    if (running && *want_agent) {
      report(request.progress, fmt::format("sending the new {} to keel-agent",
                                           checks_changed && backups_changed ? "checks and backup jobs"
                                           : checks_changed                  ? "checks"
                                                                             : "backup jobs"));
      if (auto st = reconfigure_agent(context, *instance, request.progress); !st) return fail(st.error());
    }
    if (auto st = write_agent_files(*instance); !st) return fail(st.error());
    if (auto st = save_instance(*instance); !st) return fail(st.error());
    running = agent::running(paths, instance->port());
  }
  if (*want_agent && !running) {
    // A dead agent's leftovers (a process that no longer answers) go first.
    if (auto st = agent::stop(paths); !st) return fail(st.error());
    auto st = start_agent(context, *instance, request.progress);
    // Saved even on failure: a port moved to stays recorded.
    if (auto saved = save_instance(*instance); !saved) return fail(saved.error());
    if (!st) return fail(st.error());
  } else if (!*want_agent && running) {
    report(request.progress, fmt::format("stopping keel-agent of {}", request.tags.address));
    if (auto st = agent::stop(paths); !st) return fail(st.error());
  }
  auto attrs = attributes(*instance);
  if (!attrs) return fail(attrs.error());
  return provider::UpdateResponse{*attrs};
}

Status remove(const Context& context, const provider::DeleteRequest& request) {
  if (request.id.empty()) return {};
  if (files::exists(request.id)) {
    if (auto st = check_removable(context, kKind, request.id); !st) return st;
  }
  // Stopped even when the directory is gone: its command line names it.
  if (auto st = agent::stop(agent::paths_in(request.id)); !st) return st;
  return files::remove_all(request.id);
}

Result<provider::FindResponse> find(const Context& context, const provider::FindRequest& request) {
  auto instance = find_instance(context, request);
  if (!instance) return provider::FindResponse{};
  // Adopting after a crash (by tags, not import): bring the agent up as the
  // config wants it, so the adopted host is whole.
  if (request.id.empty()) {
    auto want_agent = bool_setting(request.config, "agent", true);
    if (!want_agent) return fail(want_agent.error());
    if (*want_agent && !agent::running(paths_of(*instance), instance->port())) {
      auto made = ensure_agent_material(context, *instance);
      if (!made) return fail(made.error());
      if (auto st = agent::stop(paths_of(*instance)); !st) return fail(st.error());
      auto st = start_agent(context, *instance, request.progress);
      if (auto saved = save_instance(*instance); !saved) return fail(saved.error());
      if (!st) return fail(st.error().with_context(fmt::format("adopting {}", instance->dir)));
    }
  }
  auto attrs = attributes(*instance);
  if (!attrs) return fail(attrs.error());
  return provider::FindResponse{true, instance->dir, *attrs};
}

}  // namespace keel::providers::local::server_host
