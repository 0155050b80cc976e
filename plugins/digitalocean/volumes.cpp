// volumes: DigitalOcean Block Storage volumes.
//
// create  POST /v2/volumes with keel's tags; then, with `droplet_id`, the
//         attach action, followed to completion.
// read    the volumes snapshot (GET /v2/volumes, all pages: the list does
//         not filter by tag).
// update  in place: size grows (resize action; shrinking is refused),
//         droplet_id attaches and detaches (volume actions). The rest is
//         force-new (DigitalOcean cannot rename a volume or change its
//         description).
// delete  detaches it from its droplet first, then DELETE /v2/volumes/{id}.
// find    by keel's address tag, or by id (import).

#include <algorithm>

#include <fmt/format.h>

#include "plugins/digitalocean/attributes.h"
#include "plugins/digitalocean/kind.h"
#include "plugins/digitalocean/naming.h"

namespace keel::digitalocean {

namespace {

constexpr long long kMaxSize = 16 * 1024;

struct VolumeSpec {
  std::string name;
  long long size = 0;
  std::string region;
  std::optional<std::string> filesystem;
  std::optional<long long> droplet;
  std::optional<std::string> description;
};

Result<VolumeSpec> spec_from(const json& config, const std::string& fallback_name) {
  VolumeSpec s;
  auto name = optional_string(config, "name");
  if (!name) return fail(name.error());
  s.name = name->value_or(fallback_name);
  if (auto problem = name_problem(s.name, NameRules::Volume)) return fail(ErrorCode::InvalidConfig, *problem);
  auto size = optional_integer(config, "size");
  if (!size) return fail(size.error());
  if (!*size) return fail(ErrorCode::InvalidConfig, "`size` (in GB) is required");
  if (**size < 1 || **size > kMaxSize)
    return fail(ErrorCode::InvalidConfig, fmt::format("`size` must be 1 to {} GB, not {}", kMaxSize, **size));
  s.size = **size;
  auto region = required_string(config, "region");
  if (!region) return fail(region.error());
  s.region = *region;
  auto filesystem = optional_string(config, "filesystem");
  if (!filesystem) return fail(filesystem.error());
  if (*filesystem && **filesystem != "ext4" && **filesystem != "xfs")
    return fail(ErrorCode::InvalidConfig, fmt::format("`filesystem` \"{}\" is not one of: ext4, xfs", **filesystem));
  s.filesystem = *filesystem;
  json droplet = value_of(config, "droplet_id");
  if (!droplet.is_null() && droplet != "") {
    auto id = numeric_id(droplet, "droplet_id");
    if (!id) return fail(id.error());
    s.droplet = *id;
  }
  auto description = optional_string(config, "description");
  if (!description) return fail(description.error());
  s.description = *description;
  return s;
}

std::vector<long long> attached(const json& volume) {
  std::vector<long long> out;
  for (const json& id : field(volume, "droplet_ids"))
    if (auto n = numeric_id(id, "droplet id")) out.push_back(*n);
  return out;
}

json attributes(const json& volume, const json& known) {
  json a = json::object();
  auto or_known = [&](const std::string& cloud, const char* name) {
    return cloud.empty() ? value_of(known, name) : json(cloud);
  };
  a["id"] = id_text(field(volume, "id"));
  a["name"] = or_known(field_string(volume, "name"), "name");
  auto size = field_integer(volume, "size_gigabytes");
  a["size"] = size ? json(*size) : value_of(known, "size");
  a["region"] = or_known(region_slug(volume), "region");
  a["filesystem"] = or_known(field_string(volume, "filesystem_type"), "filesystem");
  auto droplets = attached(volume);
  if (!droplets.empty()) {
    a["droplet_id"] = prefer_known(value_of(known, "droplet_id"), json(droplets.front()), [](const json& v) {
      auto n = numeric_id(v, "droplet_id");
      return n ? json(*n) : v;
    });
  }
  a["description"] = or_known(field_string(volume, "description"), "description");
  for (auto it = a.begin(); it != a.end();) {
    if (it->is_null()) it = a.erase(it);
    else ++it;
  }
  return a;
}

class Volumes final : public Kind {
 public:
  explicit Volumes(Context& context) : c_(context) {}

  Result<CreateResponse> create(const CreateRequest& request) override {
    auto spec = spec_from(request.config, default_name(request.tags, NameRules::Volume));
    if (!spec) return fail(spec.error());
    const std::string tag = address_tag(request.tags);
    json body = {{"name", spec->name},
                 {"size_gigabytes", spec->size},
                 {"region", spec->region},
                 {"tags", json::array({project_tag(request.tags.project), tag})}};
    if (spec->filesystem) body["filesystem_type"] = *spec->filesystem;
    if (spec->description) body["description"] = *spec->description;
    auto made = create_once(c_.api, c_.sources.volumes,
                            {"/v2/volumes", "volume", fmt::format("volume {}", spec->name), std::move(body),
                             [&]() -> Result<std::optional<json>> { return by_tag(tag); }},
                            request.progress);
    if (!made) return fail(made.error());
    const std::string id = made->id;
    json volume = std::move(made->resource);
    if (spec->droplet) {
      if (auto st = attach(id, volume, *spec, request.progress); !st) return fail(st.error());
      auto now = fetch(id);
      if (!now) return fail(now.error());
      if (!*now) return fail(ErrorCode::NotFound, fmt::format("volume {} disappeared while attaching it", id));
      volume = std::move(**now);
    }
    return CreateResponse{id, attributes(volume, request.config)};
  }

  Result<ReadResponse> read(const ReadRequest& request) override {
    auto volume = listed_or_fetched(c_.sources.volumes, c_.read_max_age, request.id, request.progress,
                                [this](const std::string& id) { return fetch(id); });
    if (!volume) return fail(volume.error());
    if (!*volume) return ReadResponse{false, json::object()};
    return ReadResponse{true, attributes(**volume, request.attributes)};
  }

  Result<UpdateResponse> update(const UpdateRequest& request) override {
    const std::string fallback_name = field_string(request.prior, "name");
    auto spec = spec_from(request.config, fallback_name.empty() ? default_name(request.tags, NameRules::Volume) : fallback_name);
    if (!spec) return fail(spec.error());
    auto current = fetch(request.id);
    if (!current) return fail(current.error());
    if (!*current) return fail(ErrorCode::NotFound, fmt::format("volume {} no longer exists", request.id));
    json volume = std::move(**current);
    const std::string path = fmt::format("/v2/volumes/{}", request.id);
    const long long size = field_integer(volume, "size_gigabytes").value_or(spec->size);
    if (spec->size < size)
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("`size` can only grow: volume {} has {} GB, and shrinking it to {} GB would lose data "
                              "(give it a new name to replace it with a smaller one)",
                              request.id, size, spec->size));
    if (spec->size > size) {
      if (auto st = run_action(c_, path,
                               {{"type", "resize"}, {"size_gigabytes", spec->size}, {"region", region_of(volume, *spec)}},
                               fmt::format("resize volume {} to {} GB", request.id, spec->size), request.progress);
          !st)
        return fail(st.error());
    }
    for (long long droplet : attached(volume)) {
      if (spec->droplet && *spec->droplet == droplet) continue;
      if (auto st = detach(request.id, volume, droplet, request.progress); !st) return fail(st.error());
    }
    if (spec->droplet) {
      auto now = attached(volume);
      if (std::find(now.begin(), now.end(), *spec->droplet) == now.end())
        if (auto st = attach(request.id, volume, *spec, request.progress); !st) return fail(st.error());
    }
    c_.sources.volumes.invalidate();
    auto updated = fetch(request.id);
    if (!updated) return fail(updated.error());
    if (!*updated) return fail(ErrorCode::NotFound, fmt::format("volume {} disappeared during the update", request.id));
    return UpdateResponse{attributes(**updated, request.config)};
  }

  Status remove(const DeleteRequest& request) override {
    auto current = fetch(request.id);
    if (!current) return fail(current.error());
    if (!*current) return {};  // already gone
    for (long long droplet : attached(**current))
      if (auto st = detach(request.id, **current, droplet, request.progress); !st) return st;
    report(request.progress, fmt::format("deleting volume {}", request.id));
    auto st = delete_gone_ok(c_.api, fmt::format("/v2/volumes/{}", request.id), request.progress);
    c_.sources.volumes.invalidate();
    return st;
  }

  Result<FindResponse> find(const FindRequest& request) override {
    auto volume = by_id_or_address_tag(request, c_.sources.volumes, [this](const std::string& id) { return fetch(id); });
    if (!volume) return fail(volume.error());
    if (!*volume) return FindResponse{};
    return FindResponse{true, id_text(field(**volume, "id")), attributes(**volume, request.config)};
  }

 private:
  static std::string region_of(const json& volume, const VolumeSpec& spec) {
    std::string region = region_slug(volume);
    return region.empty() ? spec.region : region;
  }

  Status attach(const std::string& id, const json& volume, const VolumeSpec& spec, const ProgressFn& progress) {
    auto st = run_action(c_, fmt::format("/v2/volumes/{}", id),
                         {{"type", "attach"}, {"droplet_id", *spec.droplet}, {"region", region_of(volume, spec)}},
                         fmt::format("attach volume {} to droplet {}", id, *spec.droplet), progress);
    c_.sources.volumes.invalidate();
    return st;
  }

  Status detach(const std::string& id, const json& volume, long long droplet, const ProgressFn& progress) {
    json body = {{"type", "detach"}, {"droplet_id", droplet}};
    if (auto region = region_slug(volume); !region.empty()) body["region"] = region;
    auto st = run_action(c_, fmt::format("/v2/volumes/{}", id), body,
                         fmt::format("detach volume {} from droplet {}", id, droplet), progress);
    c_.sources.volumes.invalidate();
    return st;
  }

  Result<std::optional<json>> by_tag(const std::string& tag) { return oldest_tagged(c_.sources.volumes, tag); }

  Result<std::optional<json>> fetch(const std::string& id) {
    if (!safe_id(id)) return std::optional<json>();
    return get_one(c_.api, fmt::format("/v2/volumes/{}", id), "volume");
  }

  Context& c_;
};

}  // namespace

provider::KindSchema volumes_schema() {
  using T = AttributeType;
  return {"volumes",
          "DigitalOcean Block Storage volumes.",
          {
              Attr("id", T::String, "The volume's uuid.").computed(),
              Attr("name", T::String, "Name; default `<project>-<name>[-<index>]` (lower case).").optional().computed().force_new(),
              Attr("size", T::Integer, "Size in GB (GiB). Grows in place; shrinking is refused.").required(),
              Attr("region", T::String, "Region slug, e.g. nyc3 (the droplet's).").required().force_new(),
              Attr("filesystem", T::String, "Format it with this filesystem; default: unformatted.")
                  .optional()
                  .computed()
                  .force_new()
                  .one_of({"ext4", "xfs"}),
              Attr("droplet_id", T::Any, "The droplet to attach it to (its id). Attached and detached in place.").optional(),
              Attr("description", T::String, "Free-form description.").optional().force_new(),
          }};
}

std::unique_ptr<Kind> make_volumes(Context& context) { return std::make_unique<Volumes>(context); }

}  // namespace keel::digitalocean
