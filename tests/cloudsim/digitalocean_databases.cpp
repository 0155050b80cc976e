// Managed databases: create (201, "creating" -> "online" after
// provisioning), list (not paginated, as on DigitalOcean), get, delete,
// resize ("resizing" -> "online" after half the provisioning time, the new
// size applying then), and the trusted-sources firewall. Connection
// details are made up: host names end in .invalid, and nothing listens.

#include "core/crypto.h"
#include "tests/cloudsim/digitalocean_catalog.h"
#include "tests/cloudsim/digitalocean_protocol.h"
#include "tests/cloudsim/digitalocean_resources.h"
#include "tests/cloudsim/digitalocean_routes.h"

namespace keel::cloudsim::digitalocean {

namespace {

constexpr int kMaxNodes = 3;

// ---- connection details ----

std::string host_name(const Store& store, const std::string& prefix, const std::string& name) {
  return prefix + name + "-do-user-" + std::to_string(store.account_number) + "-0.db.example.invalid";
}

std::string connection_uri(const Engine& engine, const std::string& password, const std::string& host,
                           const std::string& cluster) {
  const std::string who = std::string(engine.user) + ":" + password + "@";
  if (engine.name == "pg")
    return "postgresql://" + who + host + ":" + std::to_string(engine.port) + "/defaultdb?sslmode=require";
  if (engine.name == "mysql")
    return "mysql://" + who + host + ":" + std::to_string(engine.port) + "/defaultdb?ssl-mode=REQUIRED";
  if (engine.name == "mongodb")
    return "mongodb+srv://" + who + host + "/admin?tls=true&authSource=admin&replicaSet=" + cluster;
  return "rediss://" + who + host + ":" + std::to_string(engine.port);
}

Json connection(const Engine& engine, const std::string& password, const std::string& host,
                const std::string& cluster) {
  return Json{{"uri", connection_uri(engine, password, host, cluster)},
              {"database", engine.database},
              {"host", host},
              {"port", engine.port},
              {"user", engine.user},
              {"password", password},
              {"ssl", true}};
}

// ---- requests ----

Problem check_rule(Store& store, const Json& rule) {
  if (!rule.is_object() || !rule.contains("type") || !rule["type"].is_string() || !rule.contains("value") ||
      !rule["value"].is_string() || rule["value"].get<std::string>().empty())
    return "Each firewall rule needs a type and a value.";
  const std::string type = rule["type"].get<std::string>();
  const std::string value = rule["value"].get<std::string>();
  if (type == "ip_addr") return valid_address(value) ? Problem() : "`" + value + "` is not a valid IP address.";
  if (type == "droplet") return find_droplet(store, value) ? Problem() : "Droplet " + value + " could not be found.";
  if (type == "tag") return valid_tag(value) ? Problem() : "`" + value + "` is not a valid tag.";
  if (type == "k8s" || type == "app") return std::nullopt;
  return "`" + type + "` is not a valid firewall rule type (droplet, k8s, ip_addr, tag, app).";
}

Problem check_rules(Store& store, const Json& rules) {
  if (!rules.is_array()) return "rules must be an array.";
  for (const auto& rule : rules)
    if (auto p = check_rule(store, rule)) return p;
  return std::nullopt;
}

Json stored_rules(const Json& rules, const std::string& cluster, TimePoint now) {
  Json out = Json::array();
  for (const auto& rule : rules) {
    out.push_back({{"uuid", crypto::uuid_v4()},
                   {"cluster_uuid", cluster},
                   {"type", rule["type"]},
                   {"value", rule["value"]},
                   {"created_at", iso_time(now)}});
  }
  return out;
}

Problem check_size(const Json& body) {
  if (!body.contains("size") || !body["size"].is_string() || !is_database_size(body["size"].get<std::string>()))
    return "You specified an invalid size for the database cluster.";
  if (!body.contains("num_nodes") || !body["num_nodes"].is_number_integer() || body["num_nodes"].get<int>() < 1 ||
      body["num_nodes"].get<int>() > kMaxNodes)
    return "num_nodes must be an integer from 1 to 3.";
  return std::nullopt;
}

bool name_taken(Store& store, const std::string& name) {
  for (const Json* db : store.databases.list())
    if ((*db)["name"] == name) return true;
  return false;
}

// The engine and version of a create request, or the problem.
std::expected<std::pair<const Engine*, std::string>, std::string> read_engine(const Json& body) {
  const Engine* engine = find_engine(string_or(body, "engine", ""));
  if (!engine) return std::unexpected("You specified an invalid engine: use pg, mysql, mongodb, redis or valkey.");
  std::string version = string_or(body, "version", std::string(engine->versions.back()));
  if (std::find(engine->versions.begin(), engine->versions.end(), version) == engine->versions.end())
    return std::unexpected("Version " + version + " is not available for " + std::string(engine->name) + ".");
  return std::make_pair(engine, version);
}

Problem check_create(Store& store, const Json& body) {
  const std::string name = string_or(body, "name", "");
  if (!valid_database_name(name))
    return "Name `" + name +
           "` is invalid: use 3 to 63 lower-case letters, numbers and dashes, starting with a letter.";
  if (name_taken(store, name)) return "The name `" + name + "` is already in use by another database cluster.";
  if (!find_region(string_or(body, "region", ""))) return "You specified an invalid region for the database cluster.";
  if (auto p = check_size(body)) return p;
  if (auto p = check_tags(body)) return p;
  if (auto p = check_optional_string(body, "private_network_uuid")) return p;
  if (body.contains("storage_size_mib") && !body["storage_size_mib"].is_number_integer())
    return "storage_size_mib must be an integer.";
  if (body.contains("rules")) return check_rules(store, body["rules"]);
  return std::nullopt;
}

Json new_database(Store& store, const Json& body, const Engine& engine, const std::string& version, TimePoint now) {
  const std::string id = crypto::uuid_v4();
  const std::string name = body["name"].get<std::string>();
  const std::string region = body["region"].get<std::string>();
  const std::string password = crypto::random_alnum(16);
  return Json{
      {"id", id},
      {"name", name},
      {"engine", engine.name},
      {"version", version},
      {"semantic_version", semantic_version(engine, version)},
      {"connection", connection(engine, password, host_name(store, "", name), name)},
      {"private_connection", connection(engine, password, host_name(store, "private-", name), name)},
      {"users", Json::array({Json{{"name", engine.user}, {"role", "primary"}, {"password", password}}})},
      {"db_names", engine.database.empty() ? Json::array() : Json::array({engine.database})},
      {"num_nodes", body["num_nodes"]},
      {"region", region},
      {"status", "creating"},
      {"created_at", iso_time(now)},
      {"maintenance_window", {{"day", "tuesday"}, {"hour", "02:00:00"}, {"pending", false}, {"description", Json::array()}}},
      {"size", body["size"]},
      {"tags", tags_of(body)},
      {"private_network_uuid", string_or(body, "private_network_uuid", store.default_vpc(region))},
      {"project_id", store.project_id},
      {"rules", stored_rules(body.contains("rules") ? body["rules"] : Json::array(), id, now)},
      {"storage_size_mib", int_or(body, "storage_size_mib", 10240)}};
}

// Status `to` when the clock reaches `due`, unless the cluster is gone.
void settle_status(Store& store, const std::string& id, TimePoint due, const std::string& to) {
  store.at(due, [&store, id, to](TimePoint) {
    if (Json* db = store.databases.find(id)) (*db)["status"] = to;
  });
}

// ---- handlers ----

Reply create_database(const Call& call, Store& store) {
  auto body = object_body(call, 422);
  if (!body) return body.error();
  auto engine = read_engine(*body);
  if (!engine) return unprocessable(engine.error());
  if (auto p = check_create(store, *body)) return unprocessable(*p);
  Json db = new_database(store, *body, *engine->first, engine->second, call.now);
  store.remember_tags(db["tags"]);
  const std::string id = db["id"].get<std::string>();
  settle_status(store, id, after_seconds(call.now, call.provision_seconds), "online");
  return json_reply(201, {{"database", store.databases.add(id, std::move(db))}});
}

Reply list_databases(const Call& call, Store& store) {
  const auto tag = call.query_value("tag_name");
  Json items = Json::array();
  for (const Json* db : store.databases.list())
    if (!tag || has_tag(*db, *tag)) items.push_back(*db);
  return json_reply(200, {{"databases", items}});
}

Reply get_database(const Call& call, Store& store) {
  const Json* db = store.databases.find(call.param("id"));
  if (!db) return not_found();
  return json_reply(200, {{"database", *db}});
}

Reply delete_database(const Call& call, Store& store) {
  if (!store.databases.erase(call.param("id"))) return not_found();
  return no_content();
}

Reply resize_database(const Call& call, Store& store) {
  Json* db = store.databases.find(call.param("id"));
  if (!db) return not_found();
  auto body = object_body(call, 422);
  if (!body) return body.error();
  if (auto p = check_size(*body)) return unprocessable(*p);
  if ((*db)["status"] != "online") return unprocessable("The database cluster must be online before it can be resized.");
  (*db)["status"] = "resizing";
  const std::string id = call.param("id");
  store.at(after_seconds(call.now, call.provision_seconds / 2),
           [&store, id, size = (*body)["size"], nodes = (*body)["num_nodes"]](TimePoint) {
             Json* d = store.databases.find(id);
             if (!d) return;
             (*d)["size"] = size;
             (*d)["num_nodes"] = nodes;
             (*d)["status"] = "online";
           });
  return Reply{202, std::nullopt};
}

Reply get_firewall(const Call& call, Store& store) {
  const Json* db = store.databases.find(call.param("id"));
  if (!db) return not_found();
  return json_reply(200, {{"rules", (*db)["rules"]}});
}

Reply put_firewall(const Call& call, Store& store) {
  Json* db = store.databases.find(call.param("id"));
  if (!db) return not_found();
  auto body = object_body(call, 422);
  if (!body) return body.error();
  if (!body->contains("rules")) return unprocessable("rules is required.");
  if (auto p = check_rules(store, (*body)["rules"])) return unprocessable(*p);
  (*db)["rules"] = stored_rules((*body)["rules"], call.param("id"), call.now);
  return no_content();
}

}  // namespace

void add_database_routes(Routes& routes) {
  routes.add("POST", "/v2/databases", create_database);
  routes.add("GET", "/v2/databases", list_databases);
  routes.add("GET", "/v2/databases/{id}", get_database);
  routes.add("DELETE", "/v2/databases/{id}", delete_database);
  routes.add("PUT", "/v2/databases/{id}/resize", resize_database);
  routes.add("GET", "/v2/databases/{id}/firewall", get_firewall);
  routes.add("PUT", "/v2/databases/{id}/firewall", put_firewall);
}

}  // namespace keel::cloudsim::digitalocean
