// volumes: EBS volumes, attached to a server or not.
//
// create  CreateVolume (tagged, with a ClientToken from the intent; a lost
//         answer is found by its tags), wait for `available`, then
//         AttachVolume when `server` is set and wait for `in-use`.
// read    the project's volumes (one DescribeVolumes).
// update  `size` grows in place (ModifyVolume; smaller is refused), `server`
//         in place (detach, attach); zone, type and device are force-new.
// delete  detach when attached, then DeleteVolume.

#include <chrono>

#include <fmt/format.h>

#include "core/crypto.h"
#include "core/text.h"
#include "plugins/aws/kind.h"

namespace keel::aws {

namespace {

using kit::field_string;
using kit::value_of;

std::string attached_to(const json& volume) {
  for (const json& a : items(volume, "attachmentSet"))
    if (field_string(a, "status") == "attached" || field_string(a, "status") == "attaching")
      return field_string(a, "instanceId");
  return "";
}

class Volumes final : public TaggedKind {
 public:
  explicit Volumes(Context& c) : TaggedKind(c, c.sources.volumes) {}

  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override {
    const json& config = request.config;
    auto size = kit::optional_integer(config, "size");
    if (!size) return fail(size.error());
    if (!*size || **size < 1 || **size > 16384)
      return fail(ErrorCode::InvalidConfig, "`size` must be a number of GiB from 1 to 16384");
    auto zone = kit::required_string(config, "zone");
    if (!zone) return fail(zone.error());
    auto type = kit::optional_string(config, "type");
    if (!type) return fail(type.error());
    const auto started = std::chrono::system_clock::now().time_since_epoch().count();
    Call call{.service = nullptr, .action = "CreateVolume",
              .params = {{"AvailabilityZone", *zone}, {"Size", std::to_string(**size)},
                         {"VolumeType", type->value_or("gp3")},
                         {"ClientToken", crypto::sha256_hex(fmt::format("{}|{}|{}|{}", request.tags.project,
                                                                       request.tags.address, config.dump(), started))
                                             .substr(0, 64)}},
              .idempotent = false, .progress = request.progress};
    tag_at_creation(call.params, "volume", request.tags, default_name(request.tags));
    kit::report(request.progress, fmt::format("creating a {} GiB volume in {}", **size, *zone));
    auto sent = c_.api.send_once(call, [&]() {
      return find_tagged(c_.api, "DescribeVolumes", "volumeSet", "volumeId", request.tags);
    });
    source_.invalidate();
    if (!sent) return fail(sent.error());
    const std::string id = field_string(sent->body, "volumeId");
    if (id.empty()) return fail(ErrorCode::Protocol, "EC2 CreateVolume: the answer holds no volumeId");
    // From here the volume exists: no error may read as a refusal.
    auto ready = wait_status(id, "available", request.progress, request.waiting);
    if (!ready) return fail(kit::after_made("volume", id, ready.error()));
    auto server = kit::optional_string(config, "server");
    if (!server) return fail(kit::after_made("volume", id, server.error()));
    if (*server && !(*server)->empty()) {
      auto attached = attach(id, **server, config, request.progress);
      if (!attached) return fail(kit::after_made("volume", id, attached.error()));
    }
    auto answered = answer<provider::CreateResponse>(id, config, request.progress);
    if (!answered) return fail(kit::after_made("volume", id, answered.error()));
    return answered;
  }

  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override {
    auto volume = current(request.id, request.progress);
    if (!volume) return fail(volume.error());
    if (!*volume) return fail(ErrorCode::NotFound, fmt::format("volume {} is gone", request.id));
    auto size = kit::optional_integer(request.config, "size");
    if (!size) return fail(size.error());
    const long long held = text::parse_int64(field_string(**volume, "size")).value_or(0);
    if (*size && **size < held)
      return fail(ErrorCode::InvalidConfig, fmt::format("`size`: volume {} is {} GiB and EBS volumes only grow", request.id, held));
    if (*size && **size > held) {
      kit::report(request.progress, fmt::format("growing volume {} to {} GiB", request.id, **size));
      auto grown = c_.api.send({.service = nullptr, .action = "ModifyVolume",
                                .params = {{"VolumeId", request.id}, {"Size", std::to_string(**size)}},
                                .idempotent = true, .progress = request.progress});
      if (!grown) return fail(grown.error());
    }
    auto server = kit::optional_string(request.config, "server");
    if (!server) return fail(server.error());
    const std::string wanted = server->value_or(""), now = attached_to(**volume);
    if (wanted != now) {
      if (!now.empty()) {
        auto detached = detach(request.id, now, request.progress);
        if (!detached) return fail(detached.error());
      }
      if (!wanted.empty()) {
        auto attached = attach(request.id, wanted, request.config, request.progress);
        if (!attached) return fail(attached.error());
      }
    }
    source_.invalidate();
    auto made = answer<provider::CreateResponse>(request.id, request.config, request.progress);
    if (!made) return fail(made.error());
    return provider::UpdateResponse{std::move(made->attributes)};
  }

  Status remove(const provider::DeleteRequest& request) override {
    auto volume = current(request.id, request.progress);
    if (!volume) return fail(volume.error());
    if (!*volume) return {};
    if (const std::string server = attached_to(**volume); !server.empty()) {
      auto detached = detach(request.id, server, request.progress);
      if (!detached) return fail(detached.error());
    }
    kit::report(request.progress, fmt::format("deleting volume {}", request.id));
    auto gone = send_patiently(c_.api, {.service = nullptr, .action = "DeleteVolume",
                                        .params = {{"VolumeId", request.id}}, .idempotent = true,
                                        .progress = request.progress});
    source_.invalidate();
    return gone;
  }

 protected:
  Result<std::optional<json>> fetch(const std::string& id) override {
    Params params;
    add_filter(params, "volume-id", {id});
    return describe_one(c_.api, "DescribeVolumes", params, "volumeSet", "volumeId");
  }

  bool gone(const json& volume) const override { return field_string(volume, "status") == "deleted"; }

  Result<json> attributes(const json& volume, const json& known) override {
    json a = json::object();
    a["id"] = volume.value("id", "");
    a["size"] = text::parse_int64(field_string(volume, "size")).value_or(0);
    a["zone"] = field_string(volume, "availabilityZone");
    a["type"] = field_string(volume, "volumeType");
    a["server"] = attached_to(volume);
    a["device"] = value_of(known, "device").is_string() ? value_of(known, "device") : json("/dev/sdf");
    for (const json& att : items(volume, "attachmentSet"))
      if (!field_string(att, "device").empty()) a["device"] = field_string(att, "device");
    a["status"] = field_string(volume, "status");
    a["arn"] = ec2_arn(c_, volume, "volume/" + volume.value("id", ""));
    return a;
  }

 private:
  Result<json> wait_status(const std::string& id, const std::string& goal, const ProgressFn& progress,
                           const provider::WaitingFn& waiting = {}) {
    kit::Watch watch;
    watch.what = fmt::format("volume {}", id);
    watch.goal = fmt::format("to be {}", goal);
    watch.id = id;
    watch.source = &source_;
    watch.fetch_one = [this, id]() { return fetch(id); };
    watch.done = [goal](const json& v) -> Result<bool> { return field_string(v, "status") == goal; };
    watch.state = [](const json& v) { return field_string(v, "status"); };
    watch.missing_polls_allowed = 10;
    return c_.poller.until(watch, progress, waiting);
  }

  Status attach(const std::string& id, const std::string& server, const json& config, const ProgressFn& progress) {
    auto device = kit::optional_string(config, "device");
    if (!device) return fail(device.error());
    kit::report(progress, fmt::format("attaching volume {} to {}", id, server));
    auto done = c_.api.send({.service = nullptr, .action = "AttachVolume",
                             .params = {{"Device", device->value_or("/dev/sdf")}, {"InstanceId", server}, {"VolumeId", id}},
                             .idempotent = true, .progress = progress});
    if (!done) {
      auto failure = take_failure();  // a retry of a call AWS ran
      if (!failure || failure->code != "VolumeInUse") return fail(done.error());
    }
    source_.invalidate();
    auto in_use = wait_status(id, "in-use", progress);
    if (!in_use) return fail(in_use.error());
    return {};
  }

  Status detach(const std::string& id, const std::string& server, const ProgressFn& progress) {
    kit::report(progress, fmt::format("detaching volume {} from {}", id, server));
    auto done = c_.api.send({.service = nullptr, .action = "DetachVolume",
                             .params = {{"InstanceId", server}, {"VolumeId", id}}, .idempotent = true,
                             .progress = progress});
    if (!done) {
      auto failure = take_failure();
      if (!failure || (failure->code != "IncorrectState" && !failure->code.ends_with("NotFound"))) return fail(done.error());
    }
    source_.invalidate();
    auto available = wait_status(id, "available", progress);
    if (!available) return fail(available.error());
    return {};
  }

  template <typename Response>
  Result<Response> answer(const std::string& id, const json& config, const ProgressFn& progress) {
    source_.invalidate();
    auto volume = current(id, progress);
    if (!volume) return fail(volume.error());
    if (!*volume) return fail(ErrorCode::NotFound, fmt::format("volume {} is gone", id));
    auto a = attributes(**volume, config);
    if (!a) return fail(a.error());
    return Response{id, std::move(*a)};
  }
};

}  // namespace

provider::KindSchema volumes_schema() {
  using T = AttributeType;
  return {"volumes",
          "AWS EBS volumes.",
          {
              Attr("size", T::Integer, "GiB. Grows in place (ModifyVolume); EBS volumes do not shrink.").required(),
              Attr("zone", T::String, "The availability zone, the server's.").required().force_new(),
              Attr("type", T::String, "gp3, gp2, io2, st1, ...").optional().default_to("gp3").force_new(),
              Attr("server", T::String, "The instance to attach to (`${servers.NAME.id}`). Changed in place.").optional(),
              Attr("device", T::String, "The device name on the instance.").optional().default_to("/dev/sdf").force_new(),
              Attr("id", T::String, "The volume id.").computed(),
              Attr("arn", T::String, "The volume's ARN.").computed(),
              Attr("status", T::String, "creating, available, in-use, ...").computed(),
          }};
}

std::unique_ptr<kit::Kind> make_volumes(Context& context) { return std::make_unique<Volumes>(context); }

}  // namespace keel::aws
