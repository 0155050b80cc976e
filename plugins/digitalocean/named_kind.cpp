#include "plugins/digitalocean/named_kind.h"

#include <utility>

#include <fmt/format.h>

#include "plugins/digitalocean/attributes.h"

namespace keel::digitalocean {

NamedKind::NamedKind(Context& context, Traits traits) : c_(context), traits_(std::move(traits)) {}

Result<CreateResponse> NamedKind::create(const CreateRequest& request) {
  auto spec = body_from(request.config, default_name(request.tags, traits_.name_rules));
  if (!spec) return fail(spec.error());
  const std::string name = spec->name;
  auto made = create_once(c_.api, source(),
                          {traits_.collection, traits_.key, fmt::format("{} {}", traits_.noun, name), spec->body,
                           [&]() -> Result<std::optional<json>> { return by_name(name); }},
                          request.progress);
  if (!made) return fail(made.error());
  auto done = wait_settled(made->id, made->resource, request.progress);
  if (!done) return fail(done.error());
  return CreateResponse{made->id, attributes(*done, request.config)};
}

Result<ReadResponse> NamedKind::read(const ReadRequest& request) {
  auto found = listed_or_fetched(source(), c_.read_max_age, request.id, request.progress,
                                 [this](const std::string& id) { return fetch(id); });
  if (!found) return fail(found.error());
  if (!*found) return ReadResponse{false, json::object()};
  return ReadResponse{true, attributes(**found, request.attributes)};
}

Result<UpdateResponse> NamedKind::update(const UpdateRequest& request) {
  // A name keel chose at create stays, whatever default_name says today.
  const std::string prior_name = field_string(request.prior, "name");
  auto spec = body_from(request.config,
                        prior_name.empty() ? default_name(request.tags, traits_.name_rules) : prior_name);
  if (!spec) return fail(spec.error());
  if (!safe_id(request.id)) return fail(ErrorCode::NotFound, fmt::format("no {} {}", traits_.noun, request.id));
  Call call;
  call.method = "PUT";
  call.path = path_of(request.id);
  call.body = spec->body;
  call.progress = request.progress;
  report(request.progress, fmt::format("updating {} {}", traits_.noun, request.id));
  auto put = c_.api.send(call);
  source().invalidate();
  if (!put) return fail(put.error());
  auto updated = answered_or_fetched(*put, request.id);
  if (!updated) return fail(updated.error());
  auto done = wait_settled(request.id, *updated, request.progress);
  if (!done) return fail(done.error());
  return UpdateResponse{attributes(*done, request.config)};
}

Status NamedKind::remove(const DeleteRequest& request) {
  if (!safe_id(request.id)) return {};
  report(request.progress, fmt::format("deleting {} {}", traits_.noun, request.id));
  auto st = delete_gone_ok(c_.api, path_of(request.id), request.progress);
  source().invalidate();
  return st;
}

Result<FindResponse> NamedKind::find(const FindRequest& request) {
  std::optional<json> found;
  if (!request.id.empty()) {
    auto one = fetch(request.id);
    if (!one) return fail(one.error());
    found = std::move(*one);
  } else {
    auto name = optional_string(request.config, "name");
    if (!name) return fail(name.error());
    auto named = by_name(name->value_or(default_name(request.tags, traits_.name_rules)));
    if (!named) return fail(named.error());
    found = std::move(*named);
    if (found) {
      auto done = wait_settled(id_text(field(*found, "id")), *found, request.progress);
      if (!done) return fail(done.error());
      found = std::move(*done);
    }
  }
  if (!found) return FindResponse{};
  return FindResponse{true, id_text(field(*found, "id")), attributes(*found, request.config)};
}

std::string NamedKind::path_of(const std::string& id) const {
  return fmt::format("{}/{}", traits_.collection, id);
}

Result<std::optional<json>> NamedKind::by_name(const std::string& name) { return oldest_named(source(), name); }

Result<std::optional<json>> NamedKind::fetch(const std::string& id) {
  if (!safe_id(id)) return std::optional<json>();
  return get_one(c_.api, path_of(id), traits_.key);
}

Result<json> NamedKind::answered_or_fetched(const json& answer, const std::string& id) {
  const json& object = field(answer, traits_.key);
  if (object.is_object()) return object;
  auto one = fetch(id);
  if (!one) return fail(one.error());
  if (!*one) return fail(ErrorCode::NotFound, fmt::format("{} {} disappeared during the update", traits_.noun, id));
  return std::move(**one);
}

Result<json> NamedKind::wait_settled(const std::string& id, const json& resource, const ProgressFn& progress) {
  auto now = settled(id, resource);
  if (!now) return fail(now.error());
  if (*now) return resource;
  Watch watch;
  watch.what = fmt::format("{} {}", traits_.noun, id);
  watch.goal = traits_.goal;
  watch.id = id;
  watch.source = &source();
  watch.fetch_one = [this, id] { return fetch(id); };
  watch.done = [this, id](const json& current) { return settled(id, current); };
  watch.timeout = traits_.settle_timeout;
  return c_.waiter.until(watch, progress);
}

}  // namespace keel::digitalocean
