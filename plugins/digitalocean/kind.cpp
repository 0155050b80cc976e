#include "plugins/digitalocean/kind.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include "core/log.h"

#include "core/time.h"
#include "plugins/digitalocean/attributes.h"
#include "plugins/digitalocean/naming.h"

namespace keel::digitalocean {

using nlohmann::json;
using provider::ProgressFn;

namespace {

SnapshotSource::Fetch list_of(ApiClient& api, std::string path, std::string key) {
  return [&api, path = std::move(path), key = std::move(key)](const ProgressFn& progress) {
    return api.list(path, key, progress);
  };
}

// An endpoint that answers one page only (not paginated, or only the
// first page is wanted).
SnapshotSource::Fetch page_of(ApiClient& api, std::string path, std::string key) {
  return [&api, path = std::move(path), key = std::move(key)](const ProgressFn& progress) -> Result<std::vector<json>> {
    auto body = api.get(path, progress);
    if (!body) return fail(body.error());
    const json& items = field(*body, key);
    if (items.is_null()) return std::vector<json>{};
    if (!items.is_array()) return fail(ErrorCode::Protocol, fmt::format("GET {}: `{}` is not a list", path_only(path), key));
    return std::vector<json>(items.begin(), items.end());
  };
}

bool older(const json& a, const json& b) {
  const std::string ca = field_string(a, "created_at"), cb = field_string(b, "created_at");
  if (ca != cb && !ca.empty() && !cb.empty()) return ca < cb;
  const std::string ia = id_text(field(a, "id")), ib = id_text(field(b, "id"));
  if (ia.size() != ib.size()) return ia.size() < ib.size();  // numeric ids: shorter is smaller
  return ia < ib;
}

}  // namespace

Sources::Sources(ApiClient& api, const std::string& project)
    : droplets("droplets", list_of(api, fmt::format("/v2/droplets?tag_name={}", query_escape(project_tag(project))), "droplets")),
      databases("databases", page_of(api, fmt::format("/v2/databases?tag_name={}", query_escape(project_tag(project))), "databases")),
      load_balancers("load balancers", list_of(api, "/v2/load_balancers", "load_balancers")),
      firewalls("firewalls", list_of(api, "/v2/firewalls", "firewalls")),
      volumes("volumes", list_of(api, "/v2/volumes", "volumes")),
      actions("actions", page_of(api, "/v2/actions?per_page=200", "actions")) {}

bool safe_id(const std::string& id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

Result<std::optional<json>> listed_or_fetched(SnapshotSource& source, std::chrono::milliseconds max_age,
                                              const std::string& id, const ProgressFn& progress,
                                              const FetchOne& fetch) {
  auto snapshot = source.recent(max_age, progress);
  if (!snapshot) return fail(snapshot.error());
  if (const json* listed = (*snapshot)->find(id)) return std::optional<json>(*listed);
  return fetch(id);
}

Result<std::optional<json>> get_one(ApiClient& api, const std::string& path, const std::string& key) {
  auto body = api.get(path);
  if (!body) {
    if (body.error().code() == ErrorCode::NotFound) {
      take_failure();  // answered, not an error
      return std::optional<json>();
    }
    return fail(body.error());
  }
  const json& item = field(*body, key);
  if (!item.is_object()) return fail(ErrorCode::Protocol, fmt::format("GET {}: no `{}` in the response", path, key));
  return std::optional<json>(item);
}

Status delete_gone_ok(ApiClient& api, const std::string& path, const ProgressFn& progress) {
  Call call;
  call.method = "DELETE";
  call.path = path;
  call.progress = progress;
  auto done = api.send(call);
  if (!done && done.error().code() == ErrorCode::NotFound) {
    take_failure();
    return {};
  }
  if (!done) return fail(done.error());
  return {};
}

Result<Created> create_once(ApiClient& api, SnapshotSource& source, const CreateCall& create, const ProgressFn& progress) {
  Call call;
  call.method = "POST";
  call.path = create.collection;
  call.body = create.body;
  call.progress = progress;
  report(progress, fmt::format("creating {}", create.what));
  auto sent = api.send_once(call, create.lookup);
  source.invalidate();
  if (!sent) return fail(sent.error());
  Created made;
  made.adopted = sent->adopted;
  made.resource = sent->adopted ? sent->body : field(sent->body, create.key);
  if (!sent->adopted) made.answer = std::move(sent->body);
  made.id = id_text(field(made.resource, "id"));
  if (made.id.empty())
    return fail(ErrorCode::Protocol, fmt::format("POST {}: the response holds no {} id", create.collection, create.key));
  return made;
}

Status run_action(Context& context, const std::string& resource_path, const json& body, const std::string& what,
                  const ProgressFn& progress) {
  const auto sent_at = std::chrono::system_clock::now();
  const std::string type = field_string(body, "type");
  Call call;
  call.method = "POST";
  call.path = fmt::format("{}/actions", resource_path);
  call.body = body;
  call.progress = progress;
  // After a lost response: an action of this type that is running, or that
  // started since we sent it (with room for clock skew), is ours. (Volume
  // actions are reported as attach_volume, detach_volume, resize_volume.)
  Lookup lookup = [&]() -> Result<std::optional<json>> {
    auto recent = context.api.get(fmt::format("{}/actions?per_page=50", resource_path));
    if (!recent) return fail(recent.error());
    for (const json& action : field(*recent, "actions")) {
      const std::string t = field_string(action, "type");
      if (t != type && t != fmt::format("{}_volume", type)) continue;
      if (field_string(action, "status") == "in-progress") return std::optional<json>(action);
      auto started = timeutil::parse_rfc3339(field_string(action, "started_at"));
      if (started && *started >= sent_at - std::chrono::minutes(2)) return std::optional<json>(action);
    }
    return std::optional<json>();
  };
  report(progress, what);
  auto sent = context.api.send_once(call, lookup);
  if (!sent) return fail(sent.error().with_context(what));
  const json action = sent->adopted ? sent->body : field(sent->body, "action");
  const std::string status = field_string(action, "status");
  if (status == "completed") return {};
  if (status == "errored") return fail(ErrorCode::Transient, fmt::format("DigitalOcean: {} errored", what));
  auto id = field_integer(action, "id");
  if (!id) return fail(ErrorCode::Protocol, fmt::format("POST {}: the response holds no action id", call.path));
  return context.waiter.action(*id, what, progress);
}

std::vector<json> tagged(const std::vector<json>& items, const std::string& tag) {
  std::vector<json> out;
  for (const json& item : items) {
    const json& tags = field(item, "tags");
    if (!tags.is_array()) continue;
    if (std::any_of(tags.begin(), tags.end(), [&](const json& t) { return t.is_string() && t.get<std::string>() == tag; }))
      out.push_back(item);
  }
  std::sort(out.begin(), out.end(), older);
  return out;
}

std::vector<json> named(const std::vector<json>& items, const std::string& name) {
  std::vector<json> out;
  for (const json& item : items)
    if (field_string(item, "name") == name) out.push_back(item);
  std::sort(out.begin(), out.end(), older);
  return out;
}

namespace {

Result<std::optional<json>> oldest(SnapshotSource& source, const std::string& what,
                                   const std::function<std::vector<json>(const std::vector<json>&)>& select) {
  auto snapshot = source.get(Clock::now());
  if (!snapshot) return fail(snapshot.error());
  auto matches = select((*snapshot)->items);
  if (matches.empty()) return std::optional<json>();
  if (matches.size() > 1) {
    std::string others;
    for (size_t i = 1; i < matches.size(); ++i) others += fmt::format("{}{}", others.empty() ? "" : ", ", id_text(field(matches[i], "id")));
    logging::warn("DigitalOcean: several {} {}: adopting the oldest ({}); also there: {}", source.name(), what,
                 id_text(field(matches[0], "id")), others);
  }
  return std::optional<json>(matches.front());
}

}  // namespace

Result<std::optional<json>> oldest_tagged(SnapshotSource& source, const std::string& tag) {
  return oldest(source, fmt::format("carry the tag {}", tag), [&](const std::vector<json>& items) { return tagged(items, tag); });
}

Result<std::optional<json>> oldest_named(SnapshotSource& source, const std::string& name) {
  return oldest(source, fmt::format("are named {}", name), [&](const std::vector<json>& items) { return named(items, name); });
}

Result<std::optional<json>> by_id_or_address_tag(const provider::FindRequest& request, SnapshotSource& source,
                                                 const FetchOne& fetch) {
  if (!request.id.empty()) return fetch(request.id);
  return oldest_tagged(source, address_tag(request.tags));
}

}  // namespace keel::digitalocean
