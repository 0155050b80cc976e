#pragma once
// The per-kind interface of keel-provider-digitalocean and what every kind
// shares: the API client, the waiter, the coalesced list sources and the
// project.
//
// A Kind implements the five operations of core/provider.h for one stack
// section (servers, databases, caches, load_balancers, firewalls, volumes);
// provider.cpp dispatches to it by request.kind. Kinds are created by
// configure(); their schemas are known before (the handshake needs them).
//
// Rules every kind follows:
// - create tags (or, for load balancers and firewalls, names) what it makes
//   so that find() adopts it after a crash, and sends the POST through
//   create_once() with a lookup by that tag or name, so that a lost response
//   adopts the resource instead of making a second one (the kinds found by
//   name share all five operations: named_kind.h);
// - read() serves from the kind's SnapshotSource (one list call for many
//   reads, at most Context::read_max_age old); a resource missing from the
//   list is fetched alone once (it may lack keel's tag, e.g. after import)
//   and answers found=false when the API says 404;
// - attributes come back as the cloud holds them, in the user's spelling
//   when the meaning is the same (attributes.h: prefer_known), so that plan
//   shows real drift and nothing else;
// - remove() of something already gone succeeds.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/provider.h"
#include "plugins/digitalocean/api_client.h"
#include "plugins/digitalocean/snapshots.h"
#include "plugins/digitalocean/waiter.h"
#include "plugins/sdk/kinds.h"

namespace keel::digitalocean {

// The requests and answers of the operations every kind implements.
using provider::CreateRequest;
using provider::CreateResponse;
using provider::DeleteRequest;
using provider::FindRequest;
using provider::FindResponse;
using provider::ReadRequest;
using provider::ReadResponse;
using provider::UpdateRequest;
using provider::UpdateResponse;

// The list calls shared by the kinds (see snapshots.h).
struct Sources {
  Sources(ApiClient& api, const std::string& project);

  SnapshotSource droplets;        // GET /v2/droplets?tag_name=keel:<project>
  SnapshotSource databases;       // GET /v2/databases?tag_name=keel:<project> (databases and caches)
  SnapshotSource load_balancers;  // GET /v2/load_balancers
  SnapshotSource firewalls;       // GET /v2/firewalls
  SnapshotSource volumes;         // GET /v2/volumes
  SnapshotSource actions;         // GET /v2/actions?per_page=200, the first page (newest first)
};

struct Context {
  ApiClient& api;
  Waiter& waiter;
  Sources& sources;
  std::string project;
  std::chrono::milliseconds read_max_age{5000};
};

// The kit's per-kind interface (plugins/sdk/kinds.h).
using kit::Kind;
using kit::report;

provider::KindSchema droplets_schema();
provider::KindSchema databases_schema();
provider::KindSchema caches_schema();
provider::KindSchema load_balancers_schema();
provider::KindSchema firewalls_schema();
provider::KindSchema volumes_schema();

std::unique_ptr<Kind> make_droplets(Context& context);
std::unique_ptr<Kind> make_databases(Context& context);
std::unique_ptr<Kind> make_caches(Context& context);
std::unique_ptr<Kind> make_load_balancers(Context& context);
std::unique_ptr<Kind> make_firewalls(Context& context);
std::unique_ptr<Kind> make_volumes(Context& context);

// --- shared steps ---------------------------------------------------------------------------

// A create's POST: where, what, and how to find what a lost response made.
struct CreateCall {
  std::string collection;  // "/v2/droplets"
  std::string key;         // "droplet": the object in the answer
  std::string what;        // "droplet acme-web-0": for progress
  nlohmann::json body;
  Lookup lookup;           // by the address tag, or by name
};
// What it made.
struct Created {
  std::string id;
  nlohmann::json resource;  // the object answered, or what the lookup found
  nlohmann::json answer;    // the whole answer (its links); null when adopted
  bool adopted = false;
};
// Sends the POST once (ApiClient::send_once: after a lost response the
// lookup adopts instead of sending again), then invalidates `source`, which
// no longer holds everything there is.
Result<Created> create_once(ApiClient& api, SnapshotSource& source, const CreateCall& call,
                            const provider::ProgressFn& progress);

// Starts an action on a droplet or volume (POST `resource_path`/actions, e.g.
// resource_path "/v2/droplets/123") and follows it until it completes. After
// a lost response, the resource's recent actions tell whether it started.
Status run_action(Context& context, const std::string& resource_path, const nlohmann::json& body,
                  const std::string& what, const provider::ProgressFn& progress);

// GET `path` and the object under `key`; nullopt on 404.
Result<std::optional<nlohmann::json>> get_one(ApiClient& api, const std::string& path, const std::string& key);

// A resource as read() sees it: from its kind's list (at most `max_age` old)
// when the list holds it, else `fetch(id)` alone (nullopt: it is gone).
using FetchOne = std::function<Result<std::optional<nlohmann::json>>(const std::string& id)>;
Result<std::optional<nlohmann::json>> listed_or_fetched(SnapshotSource& source, std::chrono::milliseconds max_age,
                                                         const std::string& id, const provider::ProgressFn& progress,
                                                         const FetchOne& fetch);

// DELETE `path`; 404 (already gone) succeeds.
Status delete_gone_ok(ApiClient& api, const std::string& path, const provider::ProgressFn& progress);

// Whether `id` can go into a path as it is (uuids, numbers); one that cannot
// is no id DigitalOcean gave out, so nothing has it.
bool safe_id(const std::string& id);

// Which of `items` carry `tag` in their "tags"; the oldest first (by
// created_at, then id), so that duplicates made by a lost response resolve
// the same way every time.
std::vector<nlohmann::json> tagged(const std::vector<nlohmann::json>& items, const std::string& tag);
// Which of `items` are named `name`, the oldest first.
std::vector<nlohmann::json> named(const std::vector<nlohmann::json>& items, const std::string& name);

// The oldest resource in a list fresh from `source` that carries `tag` (or
// is named `name`): what find() adopts. nullopt when none does; when several
// do (a duplicate from before), the others are named in the log.
Result<std::optional<nlohmann::json>> oldest_tagged(SnapshotSource& source, const std::string& tag);
Result<std::optional<nlohmann::json>> oldest_named(SnapshotSource& source, const std::string& name);

// What find() of a tagged kind starts from: the resource with request.id
// (import), else the oldest in `source` carrying the request's address tag.
Result<std::optional<nlohmann::json>> by_id_or_address_tag(const provider::FindRequest& request, SnapshotSource& source,
                                                           const FetchOne& fetch);

}  // namespace keel::digitalocean
