// The local provider's schema and its operations. `servers` go to
// server_host; `databases` and `caches` share one lifecycle here (directory,
// records, port, running flag) around the Server of their engine.
#include "cli/providers/local/local_provider.h"

#include <filesystem>

#include <fmt/format.h>
#include "core/log.h"

#include "cli/providers/local/common.h"
#include "cli/providers/local/memcached.h"
#include "cli/providers/local/postgres.h"
#include "cli/providers/local/redis.h"
#include "cli/providers/local/server_host.h"
#include "cli/providers/schema_builder.h"
#include "core/files.h"

namespace keel::providers::local {

namespace {

namespace fs = std::filesystem;
using provider::AttributeSchema;
using provider::AttributeType;

// A port picked by us may be taken by another process before the server binds
// it; so many fresh ports are tried before giving up.
constexpr int kStartAttempts = 4;

using schema::Attr;

constexpr auto String = AttributeType::String;
constexpr auto Integer = AttributeType::Integer;
constexpr auto Bool = AttributeType::Bool;

AttributeSchema host_attribute() { return Attr("host", String, "Always 127.0.0.1.").computed(); }

AttributeSchema port_attribute() {
  return Attr("port", Integer,
              "TCP port on 127.0.0.1; a free one when unset. Changing it restarts the server on "
              "the new port.")
      .optional()
      .computed()
      .range(1, 65535);
}

AttributeSchema running_attribute() {
  return Attr("running", Bool,
              "Whether the server runs: false stops it, true starts it. Read reports the truth, "
              "so a server stopped behind keel's back shows as drift.")
      .optional()
      .default_to(true);
}

provider::KindSchema databases_schema() {
  return {"databases",
          "A PostgreSQL cluster on this machine (initdb + pg_ctl), on 127.0.0.1.",
          {Attr("engine", String, "Database engine.")
               .optional()
               .force_new()
               .default_to("postgres")
               .one_of({"postgres"}),
           Attr("version", String,
                "PostgreSQL major version; the newest installed under /usr/lib/postgresql when unset.")
               .optional()
               .computed()
               .force_new()
               .text(1, 4, "", "0-9"),
           port_attribute(),
           // PostgreSQL names (NAMEDATALEN - 1), and plain enough for a path
           // and a command line: what postgres.cpp's valid_identifier takes.
           Attr("user", String, "The superuser's name.")
               .optional()
               .force_new()
               .default_to("keel")
               .text(1, 63, "A-Za-z_-", "A-Za-z0-9_-")
               .reserved({"postgres", "pg_*"}),  // keel's superuser; PostgreSQL's roles
           Attr("database", String,
                "Database to create; the resource's name when unset (databases.db[2] -> db_2).")
               .optional()
               .computed()
               .force_new()
               .text(1, 63, "", "A-Za-z0-9_-")
               .reserved({"template0", "template1"}),  // the cluster's own templates
           running_attribute(), host_attribute(),
           Attr("password", String, "The user's generated password.").computed().sensitive(),
           Attr("uri", String, "postgresql://user:password@127.0.0.1:port/database").computed().sensitive(),
           Attr("data_dir", String, "The cluster's data directory.").computed()}};
}

provider::KindSchema caches_schema() {
  return {
      "caches",
      "A Redis or Memcached server process on this machine, on 127.0.0.1.",
      {Attr("engine", String, "Cache engine.").required().force_new().one_of({"redis", "memcached"}),
       port_attribute(), running_attribute(), host_attribute(),
       Attr("password", String, "Redis: the generated password (none for memcached).").computed().sensitive(),
       Attr("uri", String, "redis://default:password@127.0.0.1:port/0 or memcached://127.0.0.1:port")
           .computed()
           .sensitive()}};
}

provider::KindSchema servers_schema() {
  return {"servers",
          "This machine as a host: a directory under .keel/local/servers running its own keel-agent on "
          "127.0.0.1, with TLS and a bearer token.",
          {host_attribute(), Attr("os", String, "PRETTY_NAME from /etc/os-release.").computed(),
           Attr("arch", String, "Machine architecture (uname).").computed(),
           Attr("cpus", Integer, "Online CPUs.").computed(),
           Attr("memory_mb", Integer, "Physical memory in MiB.").computed(),
           Attr("dir", String, "The host directory.").computed(),
           Attr("checks", AttributeType::Map,
                "Health checks the host's agent runs, name -> definition. Filled from the stack's "
                "`checks:` entries whose `on:` selects this server; changing one reconfigures the "
                "running agent.")
               .optional(),
           Attr("backups", AttributeType::Map,
                "Backup jobs the host's agent runs, name -> definition (the agent's form, the source's "
                "address and credentials included). Filled from the stack's `backups:` entries that run on "
                "this server; changing one reconfigures the running agent.")
               .optional()
               .sensitive(),
           Attr("backup_key", String,
                "The stack's backup encryption key (base64), given to the agent as backup.key (0600) when "
                "the host runs backups. Made by keel and kept in state; `keel backup key export` prints it.")
               .optional()
               .sensitive(),
           Attr("agent", Bool,
                "Whether the host's keel-agent runs: false stops it, true starts it. Read reports the "
                "truth, so an agent that died shows as drift and apply starts it again.")
               .optional()
               .default_to(true),
           Attr("agent_url", String, "The agent's API: https://127.0.0.1:PORT.").computed(),
           Attr("agent_port", Integer, "The agent's TCP port on 127.0.0.1 (a free one).").computed(),
           Attr("agent_ca", String, "PEM certificate of the CA that signed the agent's TLS certificate: "
                                    "what clients trust.")
               .computed(),
           Attr("agent_token", String, "The bearer token of the agent's API.").computed().sensitive(),
           Attr("agent_tls_key", String, "The private key of the agent's TLS certificate (PEM).")
               .computed()
               .sensitive()}};
}

void report(const provider::ProgressFn& progress, const std::string& message) {
  logging::debug(fmt::runtime("local: {}"), message);
  if (progress) progress(message);
}

class LocalProvider final : public provider::Provider {
 public:
  LocalProvider()
      : postgres_(make_postgres_server()), redis_(make_redis_server()), memcached_(make_memcached_server()) {
    schema_.name = "local";
    schema_.version = KEEL_VERSION;
    schema_.kinds = {databases_schema(), caches_schema(), servers_schema()};
  }

  const provider::ProviderSchema& schema() const override { return schema_; }

  Status configure(const provider::ConfigureRequest& request) override {
    if (request.work_dir.empty())
      return fail(ErrorCode::InvalidConfig, "local: the stack's work directory is not set");
    std::error_code ec;
    fs::path dir = fs::absolute(request.work_dir, ec).lexically_normal();
    if (ec) return fail(ErrorCode::InvalidConfig, "local: work directory: " + ec.message());
    if (dir.filename().empty()) dir = dir.parent_path();  // "x/.keel/" -> "x/.keel"
    context_ = std::make_unique<Context>();
    context_->work_dir = dir.string();
    context_->project = request.project;
    return {};
  }

  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override {
    if (auto st = ready(request.kind); !st) return fail(st.error());
    provider::CreateRequest r = request;
    if (r.tags.project.empty()) r.tags.project = context_->project;
    auto result = r.kind == "servers" ? server_host::create(*context_, r) : create_service(r);
    if (!result) return fail(result.error().with_context("local"));
    return result;
  }

  Result<provider::ReadResponse> read(const provider::ReadRequest& request) override {
    if (auto st = ready(request.kind); !st) return fail(st.error());
    auto result = request.kind == "servers" ? server_host::read(*context_, request) : read_service(request);
    if (!result) return fail(result.error().with_context("local"));
    return result;
  }

  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override {
    if (auto st = ready(request.kind); !st) return fail(st.error());
    auto result =
        request.kind == "servers" ? server_host::update(*context_, request) : update_service(request);
    if (!result) return fail(result.error().with_context("local"));
    return result;
  }

  Status remove(const provider::DeleteRequest& request) override {
    if (auto st = ready(request.kind); !st) return st;
    auto result =
        request.kind == "servers" ? server_host::remove(*context_, request) : remove_service(request);
    if (!result) return fail(result.error().with_context("local"));
    return result;
  }

  Result<provider::FindResponse> find(const provider::FindRequest& request) override {
    if (auto st = ready(request.kind); !st) return fail(st.error());
    auto result = request.kind == "servers" ? server_host::find(*context_, request) : find_service(request);
    if (!result) return fail(result.error().with_context("local"));
    return result;
  }

 private:
  Status ready(const std::string& kind) const {
    if (!context_) return fail(ErrorCode::Internal, "local: used before configure");
    if (!schema_.find_kind(kind))
      return fail(ErrorCode::InvalidConfig, fmt::format("local: no resource kind '{}'", kind));
    return {};
  }

  // --- databases and caches ---

  Result<const Server*> server_for(const std::string& kind, const std::string& engine) const {
    if (kind == "databases" && (engine.empty() || engine == "postgres")) return postgres_.get();
    if (kind == "caches" && engine == "redis") return redis_.get();
    if (kind == "caches" && engine == "memcached") return memcached_.get();
    return fail(ErrorCode::InvalidConfig,
                fmt::format("local {} have no engine '{}' (offered: {})", kind, engine,
                            kind == "caches" ? "redis, memcached" : "postgres"));
  }

  Result<const Server*> server_of(const Instance& instance) const {
    return server_for(instance.kind, instance.facts.value("engine", ""));
  }

  // Every server a directory of this kind may hold: cleaning up without a
  // record (a crashed create), each stops its own program if it runs there.
  std::vector<const Server*> servers_of_kind(const std::string& kind) const {
    if (kind == "databases") return {postgres_.get()};
    return {redis_.get(), memcached_.get()};
  }

  Status stop_everything(const std::string& kind, const std::string& dir) const {
    for (const Server* server : servers_of_kind(kind)) {
      if (auto st = server->stop(dir); !st) return st;
    }
    return {};
  }

  Status remove_external_dirs(const std::string& kind, const std::string& dir) const {
    for (const Server* server : servers_of_kind(kind)) {
      for (const auto& external : server->external_dirs(dir)) {
        if (auto st = files::remove_all(external); !st) return st;
      }
    }
    return {};
  }

  void discard_leftover(const std::string& kind, const std::string& dir) const {
    // A killed keel leaves its children running (initdb, say): they would
    // keep writing while the directory is wiped and recreated.
    std::vector<std::string> paths = {dir + "/"};
    for (const Server* server : servers_of_kind(kind))
      for (const auto& external : server->external_dirs(dir)) paths.push_back(external);
    kill_processes_using(paths);
    auto st = stop_everything(kind, dir);
    if (st) st = remove_external_dirs(kind, dir);
    if (!st) logging::warn(fmt::runtime("local: cleaning up {}: {}"), dir, st.error().message());
  }

  provider::Attributes full_attributes(const Server& server, const Instance& instance) const {
    provider::Attributes attributes = server.attributes(instance);
    attributes["running"] = server.running(instance);
    return attributes;
  }

  // Starts the server; when its port was picked by us and another process
  // took it meanwhile, moves to a fresh port and tries again.
  Status start_on_free_port(const Server& server, Instance& instance, bool port_fixed,
                            const provider::ProgressFn& progress) const {
    for (int attempt = 1;; ++attempt) {
      const int port = instance.port();
      report(progress, fmt::format("starting {} on 127.0.0.1:{}", instance.tags.address, port));
      Status started = fail(ErrorCode::Conflict, fmt::format("port {} on 127.0.0.1 is in use", port));
      if (!process::port_open(port)) started = server.start(instance);
      if (started || started.error().code() != ErrorCode::Conflict) return started;
      if (port_fixed)
        return fail(started.error().with_context("set another port, or leave port unset to get a free one"));
      if (attempt == kStartAttempts) return started;
      auto next = context_->ports.take();
      if (!next) return fail(next.error());
      logging::debug(fmt::runtime("local: port {} was taken meanwhile; {} tries {}"), port,
                    instance.tags.address, *next);
      instance.facts["port"] = *next;
    }
  }

  // The first life of a new instance: data, first start, then its record.
  // `fixed_port` is the user's port, if any.
  Status build(const Server& server, Instance& instance, std::optional<int> fixed_port, bool want_running,
               const provider::ProgressFn& progress) const {
    if (auto st = files::make_dirs(instance.dir, 0755); !st) return st;
    auto port = fixed_port ? Result<int>(*fixed_port) : context_->ports.take();
    if (!port) return fail(port.error());
    instance.facts["port"] = *port;
    report(progress, fmt::format("initialising {} in {}", instance.tags.address, instance.dir));
    if (auto st = server.init(instance); !st) return st;
    if (auto st = start_on_free_port(server, instance, fixed_port.has_value(), progress); !st) return st;
    if (auto st = server.after_first_start(instance); !st) return st;
    if (!want_running) {
      if (auto st = server.stop(instance.dir); !st) return st;
    }
    return save_instance(instance);
  }

  Result<provider::CreateResponse> create_service(const provider::CreateRequest& r) const {
    auto dir = resource_dir(*context_, r.kind, r.tags.address);
    if (!dir) return fail(dir.error());
    auto engine = string_setting(r.config, "engine", r.kind == "databases" ? "postgres" : "");
    if (!engine) return fail(engine.error());
    auto server = server_for(r.kind, *engine);
    if (!server) return fail(server.error());
    auto port = port_setting(r.config);
    if (!port) return fail(port.error());
    auto want_running = bool_setting(r.config, "running", true);
    if (!want_running) return fail(want_running.error());

    Instance instance{.dir = *dir, .kind = r.kind, .tags = r.tags};
    if (auto st = (*server)->plan(r, instance); !st) return fail(st.error());
    auto discard = [this, &r](const std::string& d) { discard_leftover(r.kind, d); };
    if (auto st = clear_for_create(*dir, r.kind, r.tags, discard); !st) return fail(st.error());
    if (auto st = build(**server, instance, *port, *want_running, r.progress); !st) {
      // Leave no server running; the files stay for a look at the log, and
      // the next create wipes them.
      (void)(*server)->stop(instance.dir);
      return fail(st.error());
    }
    return provider::CreateResponse{instance.dir, full_attributes(**server, instance)};
  }

  Result<provider::ReadResponse> read_service(const provider::ReadRequest& r) const {
    if (r.id.empty()) return provider::ReadResponse{};
    auto instance = load_instance(r.id);
    if (!instance || instance->kind != r.kind) return provider::ReadResponse{};
    auto server = server_of(*instance);
    if (!server) return fail(server.error());
    return provider::ReadResponse{true, full_attributes(**server, *instance)};
  }

  Result<provider::UpdateResponse> update_service(const provider::UpdateRequest& r) const {
    auto instance = load_instance(r.id);
    if (!instance)
      return fail(ErrorCode::NotFound,
                  fmt::format("{} is gone or incomplete; refresh, then apply to create it again", r.id));
    auto server = server_of(*instance);
    if (!server) return fail(server.error());
    auto port = port_setting(r.config);
    if (!port) return fail(port.error());
    auto want_running = bool_setting(r.config, "running", true);
    if (!want_running) return fail(want_running.error());

    bool running = (*server)->running(*instance);
    if (*port && **port != instance->port()) {
      if (running) {
        if (auto st = (*server)->stop(instance->dir); !st) return fail(st.error());
        running = false;
      }
      instance->facts["port"] = **port;
      if (auto st = save_instance(*instance); !st) return fail(st.error());
    }
    if (*want_running && !running) {
      auto st = start_on_free_port(**server, *instance, port->has_value(), r.progress);
      // Saved even on failure: a port moved to stays recorded.
      if (auto saved = save_instance(*instance); !saved) return fail(saved.error());
      if (!st) return fail(st.error());
    } else if (!*want_running && running) {
      report(r.progress, "stopping " + r.tags.address);
      if (auto st = (*server)->stop(instance->dir); !st) return fail(st.error());
    }
    return provider::UpdateResponse{full_attributes(**server, *instance)};
  }

  Status remove_service(const provider::DeleteRequest& r) const {
    if (r.id.empty()) return {};
    if (files::exists(r.id)) {
      if (auto st = check_removable(*context_, r.kind, r.id); !st) return st;
    }
    // Stopped even when the directory is gone: a cluster kept outside it
    // (see postgres.h) may still run.
    if (auto st = stop_everything(r.kind, r.id); !st) return st;
    if (auto st = remove_external_dirs(r.kind, r.id); !st) return st;
    return files::remove_all(r.id);
  }

  Result<provider::FindResponse> find_service(const provider::FindRequest& r) const {
    auto instance = find_instance(*context_, r);
    if (!instance) return provider::FindResponse{};
    auto server = server_of(*instance);
    if (!server) return fail(server.error());
    // Adopting after a crash (by tags, not import): bring the server up as
    // the config wants it, so the adopted resource is whole.
    if (r.id.empty()) {
      auto want_running = bool_setting(r.config, "running", true);
      if (!want_running) return fail(want_running.error());
      auto port = port_setting(r.config);
      if (!port) return fail(port.error());
      if (*want_running && !(*server)->running(*instance)) {
        auto st = start_on_free_port(**server, *instance, port->has_value(), r.progress);
        if (!st) return fail(st.error().with_context("adopting " + instance->dir));
        if (auto saved = save_instance(*instance); !saved) return fail(saved.error());
      }
    }
    return provider::FindResponse{true, instance->dir, full_attributes(**server, *instance)};
  }

  provider::ProviderSchema schema_;
  std::unique_ptr<Context> context_;  // set by configure, read-only afterwards
  std::unique_ptr<Server> postgres_, redis_, memcached_;
};

}  // namespace

std::unique_ptr<provider::Provider> make_local_provider() { return std::make_unique<LocalProvider>(); }

}  // namespace keel::providers::local
