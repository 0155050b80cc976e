// databases and caches: DigitalOcean managed database clusters.
//
// One implementation for both kinds; they differ in the engines they take
// (databases: postgres, mysql, mongodb; caches: redis, valkey).
//
// create  POST /v2/databases with keel's tags, then waits for `online`
//         (databases snapshot: GET /v2/databases?tag_name=keel:<project>,
//         one call for every database and cache of the project).
// read    that snapshot.
// update  in place: size and nodes (PUT /v2/databases/{id}/resize), then
//         waits until the cluster is `online` at the new size.
// delete  DELETE /v2/databases/{id}.
// find    by keel's address tag, or by id (import).

#include <algorithm>

#include <fmt/format.h>

#include "plugins/digitalocean/attributes.h"
#include "plugins/digitalocean/kind.h"
#include "plugins/digitalocean/naming.h"

namespace keel::digitalocean {

namespace {

struct Engine {
  std::string keel;  // as the stack says it
  std::string api;   // as DigitalOcean says it
};

struct Flavor {
  std::string kind;
  std::string noun;  // "database", "cache"
  std::vector<Engine> engines;
};

const Flavor& databases_flavor() {
  static const Flavor f{"databases", "database", {{"postgres", "pg"}, {"mysql", "mysql"}, {"mongodb", "mongodb"}}};
  return f;
}

const Flavor& caches_flavor() {
  static const Flavor f{"caches", "cache", {{"redis", "redis"}, {"valkey", "valkey"}}};
  return f;
}

struct ClusterSpec {
  std::string name;
  Engine engine;
  std::optional<std::string> version;
  std::string size;
  std::string region;
  long long nodes = 1;
};

Result<ClusterSpec> spec_from(const Flavor& flavor, const json& config, const std::string& fallback_name) {
  ClusterSpec s;
  auto name = optional_string(config, "name");
  if (!name) return fail(name.error());
  s.name = name->value_or(fallback_name);
  if (auto problem = name_problem(s.name, NameRules::Database)) return fail(ErrorCode::InvalidConfig, *problem);
  auto engine = required_string(config, "engine");
  if (!engine) return fail(engine.error());
  auto it = std::find_if(flavor.engines.begin(), flavor.engines.end(), [&](const Engine& e) { return e.keel == *engine; });
  if (it == flavor.engines.end()) {
    std::string allowed;
    for (const auto& e : flavor.engines) allowed += fmt::format("{}{}", allowed.empty() ? "" : ", ", e.keel);
    return fail(ErrorCode::InvalidConfig, fmt::format("`engine` \"{}\" is not one of: {}", *engine, allowed));
  }
  s.engine = *it;
  auto version = optional_string(config, "version");
  if (!version) return fail(version.error());
  s.version = *version;
  auto size = required_string(config, "size");
  if (!size) return fail(size.error());
  s.size = *size;
  auto region = required_string(config, "region");
  if (!region) return fail(region.error());
  s.region = *region;
  auto nodes = optional_integer(config, "nodes");
  if (!nodes) return fail(nodes.error());
  s.nodes = nodes->value_or(1);
  if (s.nodes < 1 || s.nodes > 3) return fail(ErrorCode::InvalidConfig, fmt::format("`nodes` must be 1, 2 or 3, not {}", s.nodes));
  return s;
}

std::string keel_engine(const Flavor& flavor, const std::string& api) {
  for (const auto& e : flavor.engines)
    if (e.api == api) return e.keel;
  for (const auto& e : databases_flavor().engines)  // a cluster of the other flavor (import)
    if (e.api == api) return e.keel;
  return api;
}

json attributes(const Flavor& flavor, const json& db, const json& known) {
  json a = json::object();
  auto or_known = [&](const std::string& cloud, const char* name) {
    return cloud.empty() ? value_of(known, name) : json(cloud);
  };
  a["id"] = id_text(field(db, "id"));
  a["name"] = or_known(field_string(db, "name"), "name");
  const std::string engine = field_string(db, "engine");
  a["engine"] = engine.empty() ? value_of(known, "engine") : json(keel_engine(flavor, engine));
  a["version"] = or_known(field_string(db, "version"), "version");
  a["size"] = or_known(field_string(db, "size"), "size");
  a["region"] = or_known(region_slug(db), "region");
  auto nodes = field_integer(db, "num_nodes");
  a["nodes"] = nodes ? json(*nodes) : value_of(known, "nodes");
  const json& connection = field(db, "connection");
  a["host"] = or_known(field_string(connection, "host"), "host");
  auto port = field_integer(connection, "port");
  a["port"] = port ? json(*port) : value_of(known, "port");
  a["user"] = or_known(field_string(connection, "user"), "user");
  a["database"] = or_known(field_string(connection, "database"), "database");
  // Without the database:view_credentials scope the API leaves these out.
  a["password"] = or_known(field_string(connection, "password"), "password");
  a["uri"] = or_known(field_string(connection, "uri"), "uri");
  a["private_host"] = or_known(field_string(field(db, "private_connection"), "host"), "private_host");
  a["status"] = field_string(db, "status");
  for (auto it = a.begin(); it != a.end();) {
    if (it->is_null()) it = a.erase(it);
    else ++it;
  }
  return a;
}

class Clusters final : public Kind {
 public:
  Clusters(Context& context, const Flavor& flavor) : c_(context), f_(flavor) {}

  Result<CreateResponse> create(const CreateRequest& request) override {
    auto spec = spec_from(f_, request.config, default_name(request.tags, NameRules::Database));
    if (!spec) return fail(spec.error());
    const std::string tag = address_tag(request.tags);
    json body = {{"name", spec->name},     {"engine", spec->engine.api}, {"region", spec->region},
                 {"size", spec->size},     {"num_nodes", spec->nodes},
                 {"tags", json::array({project_tag(request.tags.project), tag})}};
    if (spec->version) body["version"] = *spec->version;
    auto made = create_once(c_.api, c_.sources.databases,
                            {"/v2/databases", "database", fmt::format("{} cluster {}", spec->engine.keel, spec->name),
                             std::move(body), [&]() -> Result<std::optional<json>> { return by_tag(tag); }},
                            request.progress);
    if (!made) return fail(made.error());
    const std::string& id = made->id;
    const json& db = made->resource;
    // The connection (and its password) comes with the creation's answer.
    auto online = wait_online(id, db, spec->size, spec->nodes, request.progress);
    if (!online) return fail(online.error());
    return CreateResponse{id, attributes(f_, *online, merged(request.config, db))};
  }

  Result<ReadResponse> read(const ReadRequest& request) override {
    auto db = listed_or_fetched(c_.sources.databases, c_.read_max_age, request.id, request.progress,
                                [this](const std::string& id) { return fetch(id); });
    if (!db) return fail(db.error());
    if (!*db) return ReadResponse{false, json::object()};
    return ReadResponse{true, attributes(f_, **db, request.attributes)};
  }

  Result<UpdateResponse> update(const UpdateRequest& request) override {
    const std::string fallback_name = field_string(request.prior, "name");
    auto spec = spec_from(f_, request.config, fallback_name.empty() ? default_name(request.tags, NameRules::Database) : fallback_name);
    if (!spec) return fail(spec.error());
    auto current = fetch(request.id);
    if (!current) return fail(current.error());
    if (!*current) return fail(ErrorCode::NotFound, fmt::format("{} {} no longer exists", f_.noun, request.id));
    json db = std::move(**current);
    const std::string size = field_string(db, "size");
    if ((!size.empty() && size != spec->size) || field_integer(db, "num_nodes").value_or(spec->nodes) != spec->nodes) {
      Call call;
      call.method = "PUT";
      call.path = fmt::format("/v2/databases/{}/resize", request.id);
      call.body = {{"size", spec->size}, {"num_nodes", spec->nodes}};
      call.progress = request.progress;
      report(request.progress, fmt::format("resizing {} {} to {} x {}", f_.noun, request.id, spec->nodes, spec->size));
      auto done = c_.api.send(call);
      c_.sources.databases.invalidate();
      if (!done) return fail(done.error());
      db["status"] = "resizing";
      auto online = wait_online(request.id, db, spec->size, spec->nodes, request.progress);
      if (!online) return fail(online.error());
      db = std::move(*online);
    }
    // What keel knows: the prior state (with the secrets), as now configured.
    json known = request.prior.is_object() ? request.prior : json::object();
    if (request.config.is_object()) known.update(request.config);
    return UpdateResponse{attributes(f_, db, known)};
  }

  Status remove(const DeleteRequest& request) override {
    if (!safe_id(request.id)) return {};
    report(request.progress, fmt::format("deleting {} {}", f_.noun, request.id));
    auto st = delete_gone_ok(c_.api, fmt::format("/v2/databases/{}", request.id), request.progress);
    c_.sources.databases.invalidate();
    return st;
  }

  Result<FindResponse> find(const FindRequest& request) override {
    auto found = by_id_or_address_tag(request, c_.sources.databases, [this](const std::string& id) { return fetch(id); });
    if (!found) return fail(found.error());
    std::optional<json> db = std::move(*found);
    if (request.id.empty() && db && field_string(*db, "status") == "creating") {
      // a cluster a crashed create left behind: wait for it as create would have
      const std::string id = id_text(field(*db, "id"));
      auto online = wait_online(id, *db, field_string(*db, "size"), field_integer(*db, "num_nodes").value_or(1),
                                request.progress);
      if (!online) return fail(online.error());
      db = std::move(*online);
    }
    if (!db) return FindResponse{};
    return FindResponse{true, id_text(field(*db, "id")), attributes(f_, *db, request.config)};
  }

 private:
  // The configuration with the secrets of the creation's answer (a list may
  // leave them out).
  static json merged(const json& config, const json& db) {
    json known = config.is_object() ? config : json::object();
    const json& connection = field(db, "connection");
    for (const char* key : {"password", "uri"})
      if (auto v = field_string(connection, key); !v.empty()) known[key] = v;
    return known;
  }

  Result<std::optional<json>> by_tag(const std::string& tag) { return oldest_tagged(c_.sources.databases, tag); }

  Result<std::optional<json>> fetch(const std::string& id) {
    if (!safe_id(id)) return std::optional<json>();
    return get_one(c_.api, fmt::format("/v2/databases/{}", id), "database");
  }

  // Until the cluster is `online` with the given size and node count.
  Result<json> wait_online(const std::string& id, const json& db, const std::string& size, long long nodes,
                           const ProgressFn& progress) {
    auto ready = [size, nodes](const json& d) {
      const std::string now = field_string(d, "size");
      return field_string(d, "status") == "online" && (now.empty() || now == size) &&
             field_integer(d, "num_nodes").value_or(nodes) == nodes;
    };
    if (ready(db)) return db;
    Watch watch;
    watch.what = fmt::format("{} {}", f_.noun, id);
    watch.goal = "to be online";
    watch.id = id;
    watch.source = &c_.sources.databases;
    watch.fetch_one = [this, id] { return fetch(id); };
    watch.done = [ready](const json& d) -> Result<bool> { return ready(d); };
    watch.timeout = std::chrono::minutes(60);
    auto online = c_.waiter.until(watch, progress);
    if (!online) return fail(online.error());
    // Keep the secrets of the answer we had if the list left them out.
    json out = std::move(*online);
    const json& before = field(db, "connection");
    if (out.is_object() && before.is_object()) {
      json& connection = out["connection"];
      if (!connection.is_object()) connection = json::object();
      for (const char* key : {"password", "uri"})
        if (field_string(connection, key).empty() && !field_string(before, key).empty()) connection[key] = before[key];
    }
    return out;
  }

  Context& c_;
  const Flavor& f_;
};

std::vector<AttributeSchema> cluster_attributes(const Flavor& flavor) {
  using T = AttributeType;
  std::vector<std::string> engines;
  for (const auto& e : flavor.engines) engines.push_back(e.keel);
  return {
      Attr("id", T::String, "The cluster's uuid.").computed(),
      Attr("name", T::String, "Cluster name; default `<project>-<name>[-<index>]`.").optional().computed().force_new(),
      Attr("engine", T::String, "The engine.").required().force_new().one_of(engines),
      Attr("version", T::String, "Engine version (\"16\"); default: DigitalOcean's current one.").optional().computed().force_new(),
      Attr("size", T::String, "Node size slug, e.g. db-s-1vcpu-1gb. Changed in place (resize).").required(),
      Attr("region", T::String, "Region slug, e.g. nyc3.").required().force_new(),
      Attr("nodes", T::Integer, "Number of nodes, 1 to 3. Changed in place (resize).").optional().default_to(1),
      Attr("host", T::String, "Public host name.").computed(),
      Attr("port", T::Integer, "Port.").computed(),
      Attr("user", T::String, "Default user.").computed(),
      Attr("database", T::String, "Default database.").computed(),
      Attr("password", T::String, "The default user's password.").computed().sensitive(),
      Attr("uri", T::String, "Connection URI, with the password.").computed().sensitive(),
      Attr("private_host", T::String, "Host name inside the VPC.").computed(),
      Attr("status", T::String, "creating, online, resizing, migrating or forking.").computed(),
  };
}

}  // namespace

provider::KindSchema databases_schema() {
  return {"databases", "DigitalOcean managed databases (PostgreSQL, MySQL, MongoDB).", cluster_attributes(databases_flavor())};
}

provider::KindSchema caches_schema() {
  return {"caches", "DigitalOcean managed caches (Redis, Valkey).", cluster_attributes(caches_flavor())};
}

std::unique_ptr<Kind> make_databases(Context& context) { return std::make_unique<Clusters>(context, databases_flavor()); }
std::unique_ptr<Kind> make_caches(Context& context) { return std::make_unique<Clusters>(context, caches_flavor()); }

}  // namespace keel::digitalocean
