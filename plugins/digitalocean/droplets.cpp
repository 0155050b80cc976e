// servers: DigitalOcean Droplets.
//
// create  POST /v2/droplets with keel's tags, follows the create action,
//         then waits for the droplet to be `active` (droplets snapshot).
// read    the project's droplets snapshot (GET /v2/droplets?tag_name=...).
// update  in place: name (rename action), size (shutdown -> resize without
//         disk -> power_on), droplet_backups (enable_backups /
//         disable_backups),
//         tags (the tags API). Everything else is force-new.
// delete  DELETE /v2/droplets/{id}.
// find    by keel's address tag, or by id (import).

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include "core/log.h"

#include "plugins/digitalocean/attributes.h"
#include "plugins/digitalocean/kind.h"
#include "plugins/digitalocean/naming.h"

namespace keel::digitalocean {

namespace {

constexpr std::size_t kMaxUserData = 64 * 1024;

// DigitalOcean's droplet backups. Not `backups`: on servers keel reserves
// `backups` (and `checks`, `backup_key`) for what it fills in from the
// stack's top-level sections.
constexpr const char* kBackups = "droplet_backups";

// A droplet as the user configured it.
struct DropletSpec {
  std::string name;
  std::string region;
  std::string size;
  json image;  // a slug or a numeric id
  json ssh_keys = json::array();
  std::vector<std::string> tags;  // the user's, without keel's
  std::optional<std::string> user_data;
  std::optional<std::string> vpc;
  bool backups = false;
  bool monitoring = false;
};

Result<DropletSpec> spec_from(const json& config, const std::string& fallback_name) {
  DropletSpec s;
  auto name = optional_string(config, "name");
  if (!name) return fail(name.error());
  s.name = name->value_or(fallback_name);
  if (auto problem = name_problem(s.name, NameRules::Droplet)) return fail(ErrorCode::InvalidConfig, *problem);
  auto region = required_string(config, "region");
  if (!region) return fail(region.error());
  s.region = *region;
  auto size = required_string(config, "size");
  if (!size) return fail(size.error());
  s.size = *size;
  s.image = value_of(config, "image");
  if (!(s.image.is_string() && !s.image.get<std::string>().empty()) && !(s.image.is_number_integer() && s.image.get<long long>() > 0))
    return fail(ErrorCode::InvalidConfig, s.image.is_null() ? std::string("`image` is required")
                                                           : fmt::format("`image` must be a slug like \"ubuntu-24-04-x64\" or a numeric image id, not {}", s.image.dump()));
  json keys = value_of(config, "ssh_keys");
  if (!keys.is_null()) {
    if (!keys.is_array()) return fail(ErrorCode::InvalidConfig, "`ssh_keys` must be a list of key ids or fingerprints");
    for (size_t i = 0; i < keys.size(); ++i)
      if (!(keys[i].is_string() && !keys[i].get<std::string>().empty()) && !keys[i].is_number_integer())
        return fail(ErrorCode::InvalidConfig,
                    fmt::format("`ssh_keys[{}]` must be a key id or fingerprint, not {}", i, keys[i].dump()));
    s.ssh_keys = keys;
  }
  auto tags = string_list(config, "tags");
  if (!tags) return fail(tags.error());
  for (const auto& t : *tags)
    if (auto problem = tag_problem(t)) return fail(ErrorCode::InvalidConfig, fmt::format("`tags`: {}", *problem));
  s.tags = *tags;
  auto user_data = optional_string(config, "user_data");
  if (!user_data) return fail(user_data.error());
  if (*user_data && (*user_data)->size() > kMaxUserData)
    return fail(ErrorCode::InvalidConfig, "`user_data` is larger than DigitalOcean's limit of 64 KiB");
  s.user_data = *user_data;
  auto vpc = optional_string(config, "vpc");
  if (!vpc) return fail(vpc.error());
  s.vpc = *vpc;
  auto backups = boolean(config, kBackups, false);
  if (!backups) return fail(backups.error());
  s.backups = *backups;
  auto monitoring = boolean(config, "monitoring", false);
  if (!monitoring) return fail(monitoring.error());
  s.monitoring = *monitoring;
  return s;
}

std::vector<std::string> user_tags(const json& droplet) {
  std::vector<std::string> out;
  for (const json& t : field(droplet, "tags"))
    if (t.is_string() && !is_keel_tag(t.get<std::string>())) out.push_back(t.get<std::string>());
  return out;
}

std::string ipv4(const json& droplet, const std::string& type) {
  for (const json& n : field(field(droplet, "networks"), "v4"))
    if (field_string(n, "type") == type) return field_string(n, "ip_address");
  return "";
}

std::optional<bool> has_feature(const json& droplet, const std::string& feature) {
  const json& features = field(droplet, "features");
  if (!features.is_array()) return std::nullopt;
  return std::any_of(features.begin(), features.end(), [&](const json& f) { return f == feature; });
}

std::string size_slug(const json& droplet) {
  std::string slug = field_string(droplet, "size_slug");
  return slug.empty() ? field_string(field(droplet, "size"), "slug") : slug;
}

// The droplet's image in the user's spelling when it is the same image.
json image_of(const json& droplet, const json& known) {
  const json& image = field(droplet, "image");
  const std::string slug = field_string(image, "slug");
  const auto id = field_integer(image, "id");
  if (known.is_string() && !slug.empty() && known.get<std::string>() == slug) return known;
  if (id && (known == *id || known == std::to_string(*id))) return known;
  if (!slug.empty()) return slug;
  if (id) return *id;
  return known;
}

// Every attribute of `droplet`, with what the API does not show (ssh_keys,
// user_data) taken from `known`.
json attributes(const json& droplet, const json& known) {
  json a = json::object();
  a["id"] = id_text(field(droplet, "id"));
  std::string name = field_string(droplet, "name");
  a["name"] = name.empty() ? value_of(known, "name") : json(name);
  std::string region = region_slug(droplet);
  a["region"] = region.empty() ? value_of(known, "region") : json(region);
  std::string size = size_slug(droplet);
  a["size"] = size.empty() ? value_of(known, "size") : json(size);
  a["image"] = image_of(droplet, value_of(known, "image"));
  json keys = value_of(known, "ssh_keys");
  a["ssh_keys"] = keys.is_null() ? json::array() : keys;
  a["tags"] = prefer_known(value_of(known, "tags"), json(user_tags(droplet)), sorted);
  if (is_set(known, "user_data")) a["user_data"] = value_of(known, "user_data");
  std::string vpc = field_string(droplet, "vpc_uuid");
  if (!vpc.empty()) a["vpc"] = vpc;
  else if (is_set(known, "vpc")) a["vpc"] = value_of(known, "vpc");
  json known_backups = value_of(known, kBackups), known_monitoring = value_of(known, "monitoring");
  a[kBackups] = has_feature(droplet, "backups").value_or(known_backups.is_boolean() && known_backups.get<bool>());
  a["monitoring"] = has_feature(droplet, "monitoring").value_or(known_monitoring.is_boolean() && known_monitoring.get<bool>());
  a["ipv4"] = ipv4(droplet, "public");
  a["private_ipv4"] = ipv4(droplet, "private");
  a["status"] = field_string(droplet, "status");
  return a;
}

bool numeric(const std::string& id) {
  return !id.empty() && id.size() < 19 && std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; });
}

class Droplets final : public Kind {
 public:
  explicit Droplets(Context& context) : c_(context) {}

  Result<CreateResponse> create(const CreateRequest& request) override {
    auto spec = spec_from(request.config, default_name(request.tags, NameRules::Droplet));
    if (!spec) return fail(spec.error());
    const std::string tag = address_tag(request.tags);
    json tags = json::array({project_tag(request.tags.project), tag});
    for (const auto& t : spec->tags) tags.push_back(t);
    json body = {{"name", spec->name},         {"region", spec->region},   {"size", spec->size},
                 {"image", spec->image},       {"ssh_keys", spec->ssh_keys}, {"backups", spec->backups},
                 {"monitoring", spec->monitoring}, {"tags", tags}};
    if (spec->user_data) body["user_data"] = *spec->user_data;
    if (spec->vpc) body["vpc_uuid"] = *spec->vpc;

    auto made = create_once(c_.api, c_.sources.droplets,
                            {"/v2/droplets", "droplet", fmt::format("droplet {}", spec->name), std::move(body),
                             [&]() -> Result<std::optional<json>> { return by_tag(tag); }},
                            request.progress);
    if (!made) return fail(made.error());
    const std::string& id = made->id;
    const json& droplet = made->resource;
    if (!made->adopted && field_string(droplet, "status") != "active") {
      for (const json& link : field(field(made->answer, "links"), "actions")) {
        auto action = field_integer(link, "id");
        if (!action || field_string(link, "rel") != "create") continue;
        if (auto st = c_.waiter.action(*action, fmt::format("create droplet {}", id), request.progress); !st)
          return fail(st.error().with_context(fmt::format("droplet {}", id)));
      }
    }
    auto ready = wait_active(id, droplet, request.progress);
    if (!ready) return fail(ready.error());
    return CreateResponse{id, attributes(*ready, request.config)};
  }

  Result<ReadResponse> read(const ReadRequest& request) override {
    auto droplet = lookup_id(request.id, request.progress);
    if (!droplet) return fail(droplet.error());
    if (!*droplet) return ReadResponse{false, json::object()};
    return ReadResponse{true, attributes(**droplet, request.attributes)};
  }

  Result<UpdateResponse> update(const UpdateRequest& request) override {
    const std::string fallback_name = field_string(request.prior, "name");
    auto spec = spec_from(request.config, fallback_name.empty() ? default_name(request.tags, NameRules::Droplet) : fallback_name);
    if (!spec) return fail(spec.error());
    auto current = fetch(request.id);
    if (!current) return fail(current.error());
    if (!*current) return fail(ErrorCode::NotFound, fmt::format("droplet {} no longer exists", request.id));
    json droplet = std::move(**current);
    const std::string path = fmt::format("/v2/droplets/{}", request.id);
    const ProgressFn& progress = request.progress;

    // What the answer leaves out is taken as it was.
    if (const std::string name = field_string(droplet, "name"); !name.empty() && name != spec->name) {
      if (auto st = run_action(c_, path, {{"type", "rename"}, {"name", spec->name}},
                               fmt::format("rename droplet {} to {}", request.id, spec->name), progress);
          !st)
        return fail(st.error());
    }
    // Without `features` in the answer, state knows best.
    const json prior_backups = value_of(request.prior, kBackups);
    const bool backups_now = has_feature(droplet, "backups").value_or(prior_backups.is_boolean() && prior_backups.get<bool>());
    if (backups_now != spec->backups) {
      const char* type = spec->backups ? "enable_backups" : "disable_backups";
      if (auto st = run_action(c_, path, {{"type", type}}, fmt::format("{} on droplet {}", type, request.id), progress); !st)
        return fail(st.error());
    }
    if (const std::string size = size_slug(droplet); !size.empty() && size != spec->size) {
      if (auto st = resize(request.id, field_string(droplet, "status"), spec->size, progress); !st) return fail(st.error());
    }
    if (auto st = retag(request.id, user_tags(droplet), spec->tags, progress); !st) return fail(st.error());

    c_.sources.droplets.invalidate();
    auto updated = fetch(request.id);
    if (!updated) return fail(updated.error());
    if (!*updated) return fail(ErrorCode::NotFound, fmt::format("droplet {} disappeared during the update", request.id));
    return UpdateResponse{attributes(**updated, request.config)};
  }

  Status remove(const DeleteRequest& request) override {
    if (!numeric(request.id)) return {};  // never a droplet id: nothing to delete
    report(request.progress, fmt::format("deleting droplet {}", request.id));
    auto st = delete_gone_ok(c_.api, fmt::format("/v2/droplets/{}", request.id), request.progress);
    c_.sources.droplets.invalidate();
    return st;
  }

  Result<FindResponse> find(const FindRequest& request) override {
    auto found = by_id_or_address_tag(request, c_.sources.droplets, [this](const std::string& id) { return fetch(id); });
    if (!found) return fail(found.error());
    std::optional<json> droplet = std::move(*found);
    if (!droplet) return FindResponse{};
    const std::string id = id_text(field(*droplet, "id"));
    if (request.id.empty() && field_string(*droplet, "status") == "new") {
      auto ready = wait_active(id, *droplet, request.progress);
      if (!ready) return fail(ready.error());
      droplet = std::move(*ready);
    }
    return FindResponse{true, id, attributes(*droplet, request.config)};
  }

 private:
  // The oldest droplet carrying `tag`, from a list taken now.
  Result<std::optional<json>> by_tag(const std::string& tag) { return oldest_tagged(c_.sources.droplets, tag); }

  // One GET; nullopt on 404 (or an id that cannot be a droplet's).
  Result<std::optional<json>> fetch(const std::string& id) {
    if (!numeric(id)) return std::optional<json>();
    return get_one(c_.api, fmt::format("/v2/droplets/{}", id), "droplet");
  }

  // From the coalesced snapshot; a droplet missing from it (no keel tag,
  // or deleted) is asked for alone.
  Result<std::optional<json>> lookup_id(const std::string& id, const ProgressFn& progress) {
    return listed_or_fetched(c_.sources.droplets, c_.read_max_age, id, progress,
                             [this](const std::string& one) { return fetch(one); });
  }

  Result<json> wait_active(const std::string& id, const json& droplet, const ProgressFn& progress) {
    if (field_string(droplet, "status") == "active") return droplet;
    Watch watch;
    watch.what = fmt::format("droplet {}", id);
    watch.goal = "to become active";
    watch.id = id;
    watch.source = &c_.sources.droplets;
    watch.fetch_one = [this, id] { return fetch(id); };
    watch.done = [id](const json& d) -> Result<bool> {
      const std::string status = field_string(d, "status");
      if (status == "archive")
        return fail(ErrorCode::Conflict, fmt::format("droplet {} was archived while waiting for it", id));
      return status == "active";
    };
    return c_.waiter.until(watch, progress);
  }

  // Resizing needs the droplet off: shut it down (power it off if that
  // fails), resize the CPU and memory only (disk: false, so that it can
  // be resized back), and power it on again if it was on.
  Status resize(const std::string& id, const std::string& status, const std::string& size, const ProgressFn& progress) {
    const std::string path = fmt::format("/v2/droplets/{}", id);
    const bool was_on = status != "off";
    if (was_on) {
      if (auto st = run_action(c_, path, {{"type", "shutdown"}}, fmt::format("shut down droplet {}", id), progress); !st) {
        logging::info("DigitalOcean: shutting down droplet {} failed ({}); powering it off", id, st.error().message());
        if (auto off = run_action(c_, path, {{"type", "power_off"}}, fmt::format("power off droplet {}", id), progress); !off)
          return off;
      }
    }
    if (auto st = run_action(c_, path, {{"type", "resize"}, {"size", size}, {"disk", false}},
                             fmt::format("resize droplet {} to {}", id, size), progress);
        !st)
      return st;
    if (was_on)
      return run_action(c_, path, {{"type", "power_on"}}, fmt::format("power on droplet {}", id), progress);
    return {};
  }

  // Brings the droplet's own tags (keel's are left alone) to `wanted`.
  Status retag(const std::string& id, const std::vector<std::string>& now, const std::vector<std::string>& wanted,
               const ProgressFn& progress) {
    const std::set<std::string> have(now.begin(), now.end()), want(wanted.begin(), wanted.end());
    const json resources = {{"resources", json::array({{{"resource_id", id}, {"resource_type", "droplet"}}})}};
    for (const auto& tag : want) {
      if (have.count(tag)) continue;
      report(progress, fmt::format("tagging droplet {} with {}", id, tag));
      Call attach;
      attach.method = "POST";
      attach.path = fmt::format("/v2/tags/{}/resources", tag);
      attach.body = resources;
      attach.repeatable = true;
      attach.progress = progress;
      auto done = c_.api.send(attach);
      if (!done && done.error().code() == ErrorCode::NotFound) {
        take_failure();
        // The tag does not exist yet.
        Call make;
        make.method = "POST";
        make.path = "/v2/tags";
        make.body = {{"name", tag}};
        make.repeatable = true;
        make.progress = progress;
        if (auto made = c_.api.send(make); !made) return fail(made.error());
        done = c_.api.send(attach);
      }
      if (!done) return fail(done.error());
    }
    for (const auto& tag : have) {
      if (want.count(tag)) continue;
      report(progress, fmt::format("untagging droplet {} from {}", id, tag));
      Call detach;
      detach.method = "DELETE";
      detach.path = fmt::format("/v2/tags/{}/resources", tag);
      detach.body = resources;
      detach.progress = progress;
      auto done = c_.api.send(detach);
      if (!done && done.error().code() == ErrorCode::NotFound) take_failure();
      else if (!done) return fail(done.error());
    }
    return {};
  }

  Context& c_;
};

}  // namespace

provider::KindSchema droplets_schema() {
  using T = AttributeType;
  return {"servers",
          "DigitalOcean Droplets.",
          {
              Attr("id", T::String, "The droplet's id.").computed(),
              Attr("name", T::String, "Droplet name; default `<project>-<name>[-<index>]`. Changed in place (rename).")
                  .optional()
                  .computed(),
              Attr("region", T::String, "Region slug, e.g. nyc3.").required().force_new(),
              Attr("size", T::String, "Size slug, e.g. s-1vcpu-1gb. Changed in place (power off, resize without disk, power on).")
                  .required(),
              Attr("image", T::Any, "Image slug (ubuntu-24-04-x64) or numeric image id.").required().force_new(),
              Attr("ssh_keys", T::List, "SSH key ids or fingerprints to install.").optional().force_new().default_to(json::array()),
              Attr("tags", T::List, "Tags besides keel's own (keel:...). Changed in place.").optional().default_to(json::array()),
              Attr("user_data", T::String, "cloud-init user data (at most 64 KiB).").optional().force_new(),
              Attr("vpc", T::String, "VPC uuid; default: the region's default VPC.").optional().computed().force_new(),
              Attr(kBackups, T::Bool, "DigitalOcean's own droplet backups (weekly images). Changed in place.")
                  .optional()
                  .default_to(false),
              Attr("monitoring", T::Bool, "Install the metrics agent.").optional().force_new().default_to(false),
              Attr("ipv4", T::String, "Public IPv4 address.").computed(),
              Attr("private_ipv4", T::String, "Private (VPC) IPv4 address.").computed(),
              Attr("status", T::String, "new, active, off or archive.").computed(),
          }};
}

std::unique_ptr<Kind> make_droplets(Context& context) { return std::make_unique<Droplets>(context); }

}  // namespace keel::digitalocean
