// servers: EC2 instances.
//
// create  the key pair (ImportKeyPair, named by the key's hash, once per
//         key), then RunInstances with a ClientToken derived from the
//         intent (so a retry of this create is the same request) and keel's
//         tags on the instance and its volumes; a lost answer is found by
//         its tags. Then waits for `running` (NotFound right after the
//         create is eventual consistency, waited out).
// read    the project's instances (one DescribeInstances); a terminated one
//         is gone.
// update  size in place (stop, ModifyInstanceAttribute, start), firewalls
//         in place (ModifyInstanceAttribute GroupId), `user` (keel's login
//         user, recorded only); image, subnet, ssh_key and user_data are
//         force-new.
// delete  TerminateInstances (the concurrent deletes' ids in one call:
//         batcher.h), without waiting for `terminated`: what can go only
//         then (the subnet, the security groups) waits for it itself
//         (wait_instances_gone), so that many terminations overlap. An
//         instance shutting down counts as gone.

#include <chrono>

#include <fmt/format.h>

#include "core/crypto.h"
#include "plugins/aws/batcher.h"
#include "plugins/aws/kind.h"

namespace keel::aws {

namespace {

using kit::field_string;
using kit::value_of;

constexpr std::size_t kMaxUserData = 16 * 1024;  // EC2's limit

std::string state_of(const json& instance) { return instance_state(instance); }

class Servers final : public TaggedKind {
 public:
  explicit Servers(Context& c) : TaggedKind(c, c.sources.instances) {}

  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override {
    const json& config = request.config;
    auto image = kit::required_string(config, "image");
    if (!image) return fail(image.error());
    auto size = kit::required_string(config, "size");
    if (!size) return fail(size.error());
    auto subnet = kit::required_string(config, "subnet");
    if (!subnet) return fail(subnet.error());
    auto firewalls = kit::string_list(config, "firewalls");
    if (!firewalls) return fail(firewalls.error());
    auto user_data = kit::optional_string(config, "user_data");
    if (!user_data) return fail(user_data.error());
    if (*user_data && (*user_data)->size() > kMaxUserData)
      return fail(ErrorCode::InvalidConfig, fmt::format("`user_data` is over EC2's {} bytes", kMaxUserData));
    auto key = kit::optional_string(config, "ssh_key");
    if (!key) return fail(key.error());

    Call call{.service = nullptr, .action = "RunInstances",
              .params = {{"ImageId", *image}, {"InstanceType", *size}, {"MinCount", "1"}, {"MaxCount", "1"},
                         {"SubnetId", *subnet}},
              .idempotent = false, .progress = request.progress};
    for (size_t i = 0; i < firewalls->size(); ++i)
      call.params.emplace_back(fmt::format("SecurityGroupId.{}", i + 1), (*firewalls)[i]);
    if (*key && !(*key)->empty()) {
      auto name = import_key_pair(c_.api, **key, request.tags.project, request.progress);
      if (!name) return fail(name.error());
      call.params.emplace_back("KeyName", *name);
    }
    if (*user_data) call.params.emplace_back("UserData", crypto::base64_encode(**user_data));
    // The same request on every retry of this create; a new one for a
    // later create of the same address (after a destroy).
    const auto started = std::chrono::system_clock::now().time_since_epoch().count();
    call.params.emplace_back("ClientToken", crypto::sha256_hex(fmt::format("{}|{}|{}|{}", request.tags.project,
                                                                          request.tags.address, config.dump(), started))
                                                .substr(0, 64));
    const std::string name = default_name(request.tags);
    tag_at_creation(call.params, "instance", request.tags, name);
    tag_at_creation(call.params, "volume", request.tags, name);
    kit::report(request.progress, fmt::format("creating instance {} ({}, {})", name, *size, *image));
    auto sent = c_.api.send_once(call, [&]() {
      return find_tagged(c_.api, "DescribeInstances", "reservationSet", "instanceId", request.tags);
    });
    source_.invalidate();
    if (!sent) return fail(sent.error());
    json instance;
    if (sent->adopted) instance = sent->body;
    else {
      auto list = items(sent->body, "instancesSet");
      if (!list.empty()) instance = list.front();
    }
    const std::string id = field_string(instance, "instanceId");
    if (id.empty()) return fail(ErrorCode::Protocol, "EC2 RunInstances: the answer holds no instanceId");
    auto running = wait_state(id, "running", request.progress, request.waiting);
    if (!running) return fail(running.error());
    auto a = attributes(*running, config);
    if (!a) return fail(a.error());
    return provider::CreateResponse{id, std::move(*a)};
  }

  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override {
    auto size = kit::required_string(request.config, "size");
    if (!size) return fail(size.error());
    auto firewalls = kit::string_list(request.config, "firewalls");
    if (!firewalls) return fail(firewalls.error());
    auto instance = current(request.id, request.progress);
    if (!instance) return fail(instance.error());
    if (!*instance) return fail(ErrorCode::NotFound, fmt::format("instance {} is gone", request.id));
    if (field_string(**instance, "instanceType") != *size) {
      auto resized = resize(request.id, *size, request.progress);
      if (!resized) return fail(resized.error());
    }
    std::vector<std::string> held;
    for (const json& g : items(**instance, "groupSet")) held.push_back(field_string(g, "groupId"));
    std::vector<std::string> wanted = *firewalls;
    std::sort(held.begin(), held.end());
    std::sort(wanted.begin(), wanted.end());
    if (held != wanted && !wanted.empty()) {
      Call call{.service = nullptr, .action = "ModifyInstanceAttribute", .params = {{"InstanceId", request.id}},
                .idempotent = true, .progress = request.progress};
      for (size_t i = 0; i < wanted.size(); ++i) call.params.emplace_back(fmt::format("GroupId.{}", i + 1), wanted[i]);
      auto done = c_.api.send(call);
      if (!done) return fail(done.error());
    }
    source_.invalidate();
    auto now = current(request.id, request.progress);
    if (!now) return fail(now.error());
    if (!*now) return fail(ErrorCode::NotFound, fmt::format("instance {} is gone", request.id));
    auto a = attributes(**now, request.config);
    if (!a) return fail(a.error());
    return provider::UpdateResponse{std::move(*a)};
  }

  Status remove(const provider::DeleteRequest& request) override {
    kit::report(request.progress, fmt::format("terminating instance {}", request.id));
    // The delete only joins a batched TerminateInstances: a share of one
    // request however many join, so it holds no parallelism slot, and the
    // deletes of 50 servers join one or two calls instead of one per slot.
    if (request.waiting) request.waiting();
    auto done = terminations_.run(request.id, request.progress);
    source_.invalidate();
    c_.sources.live_instances.invalidate();
    return done;
  }

 protected:
  Result<std::optional<json>> fetch(const std::string& id) override {
    Params params{{"InstanceId.1", id}};
    auto found = describe(c_.api, "DescribeInstances", params, "reservationSet", "instanceId");
    if (!found) {
      if (not_found(found.error())) return std::optional<json>();
      return fail(found.error());
    }
    if (found->empty()) return std::optional<json>();
    return std::optional<json>(found->front());
  }

  // shutting-down leads only to terminated.
  bool gone(const json& instance) const override {
    return state_of(instance) == "terminated" || state_of(instance) == "shutting-down";
  }

  Result<json> attributes(const json& instance, const json& known) override {
    json a = json::object();
    const std::string id = instance.value("id", field_string(instance, "instanceId"));
    a["id"] = id;
    a["size"] = field_string(instance, "instanceType");
    a["image"] = field_string(instance, "imageId");
    a["subnet"] = field_string(instance, "subnetId");
    a["network"] = field_string(instance, "vpcId");
    a["zone"] = field_string(value_of(instance, "placement"), "availabilityZone");
    json groups = json::array();
    for (const json& g : items(instance, "groupSet")) groups.push_back(field_string(g, "groupId"));
    a["firewalls"] = kit::prefer_known(value_of(known, "firewalls"), groups,
                                       [](const json& v) { return kit::sorted(v); });
    a["ipv4"] = field_string(instance, "ipAddress");
    a["private_ipv4"] = field_string(instance, "privateIpAddress");
    a["status"] = state_of(instance);
    a["name"] = tag_value(instance, "Name");
    a["arn"] = ec2_arn(c_, instance, "instance/" + id);
    a["key_name"] = field_string(instance, "keyName");
    // What EC2 does not describe back: as configured (force-new, or only
    // keel's like `user`).
    for (const char* k : {"ssh_key", "user_data", "user"})
      if (is_set_string(known, k)) a[k] = value_of(known, k);
    return a;
  }

 private:
  static bool is_set_string(const json& j, const char* k) { return value_of(j, k).is_string(); }

  Result<json> wait_state(const std::string& id, const std::string& goal, const ProgressFn& progress,
                          const provider::WaitingFn& waiting = {}) {
    kit::Watch watch;
    watch.what = fmt::format("instance {}", id);
    watch.goal = fmt::format("to be {}", goal);
    watch.id = id;
    watch.source = &source_;
    watch.fetch_one = [this, id]() { return fetch(id); };
    watch.done = [goal, id](const json& instance) -> Result<bool> {
      const std::string state = state_of(instance);
      if (state == goal) return true;
      if (goal == "running" && (state == "terminated" || state == "shutting-down"))
        return fail(ErrorCode::Transient,
                    fmt::format("instance {} is {} instead of running: {}", id, state,
                                field_string(value_of(instance, "stateReason"), "message")));
      return false;
    };
    watch.state = [](const json& instance) { return state_of(instance); };
    watch.missing_polls_allowed = 10;  // NotFound right after RunInstances
    return c_.poller.until(watch, progress, waiting);
  }

  // One TerminateInstances for `ids`. An id AWS does not know fails the
  // whole call: then each goes alone, and one already gone is done.
  Status terminate(const std::vector<std::string>& ids, const ProgressFn& progress) {
    Call call{.service = nullptr, .action = "TerminateInstances", .params = {}, .idempotent = true, .progress = progress};
    for (size_t i = 0; i < ids.size(); ++i) call.params.emplace_back(fmt::format("InstanceId.{}", i + 1), ids[i]);
    auto done = c_.api.send(call);
    if (done) return {};
    if (!not_found(done.error())) return fail(done.error());
    if (ids.size() == 1) return {};  // already gone
    for (const std::string& id : ids)
      if (auto one = terminate({id}, progress); !one) return one;
    return {};
  }

  // Concurrent deletes share their TerminateInstances calls (100 ids at
  // most each). The engine hands over the deletes that became ready
  // together one after another as its slots free up (30-50 ms for 50 under
  // load): a call goes once none joined for 30 ms, 300 ms at the latest,
  // so that they all make one call rather than two, the second only after
  // the first one's answer.
  Batcher terminations_{100, std::chrono::milliseconds(30), std::chrono::milliseconds(300),
                        [this](const std::vector<std::string>& ids, const ProgressFn& progress) {
                          return terminate(ids, progress);
                        }};

  Status resize(const std::string& id, const std::string& size, const ProgressFn& progress) {
    kit::report(progress, fmt::format("resizing instance {} to {}: stopping it", id, size));
    auto stop = c_.api.send({.service = nullptr, .action = "StopInstances", .params = {{"InstanceId.1", id}},
                             .idempotent = true, .progress = progress});
    if (!stop) return fail(stop.error());
    source_.invalidate();
    auto stopped = wait_state(id, "stopped", progress);
    if (!stopped) return fail(stopped.error());
    auto modified = c_.api.send({.service = nullptr, .action = "ModifyInstanceAttribute",
                                 .params = {{"InstanceId", id}, {"InstanceType.Value", size}}, .idempotent = true,
                                 .progress = progress});
    if (!modified) return fail(modified.error());
    auto start = c_.api.send({.service = nullptr, .action = "StartInstances", .params = {{"InstanceId.1", id}},
                              .idempotent = true, .progress = progress});
    if (!start) return fail(start.error());
    source_.invalidate();
    auto running = wait_state(id, "running", progress);
    if (!running) return fail(running.error());
    return {};
  }
};

}  // namespace

provider::KindSchema servers_schema() {
  using T = AttributeType;
  return {"servers",
          "AWS EC2 instances.",
          {
              Attr("size", T::String, "Instance type, e.g. t3.micro. Changed in place (stop, modify, start).").required(),
              Attr("image", T::String, "AMI id, e.g. ami-12c6146b.").required().force_new(),
              Attr("subnet", T::String, "The subnet's id (`${subnets.NAME.id}`).").required().force_new(),
              Attr("firewalls", T::List, "Security group ids. Changed in place.").optional().default_to(json::array()),
              Attr("ssh_key", T::String, "An OpenSSH public key, or the path of one (~/.ssh/id_ed25519.pub).")
                  .optional()
                  .force_new(),
              // keel's, not EC2's: the user keel logs in as over SSH (the
              // CLI's cloud_servers.h), so a new one changes nothing here.
              Attr("user", T::String, "The login user of the image keel connects as (admin on Debian). Changed in place.")
                  .optional(),
              Attr("user_data", T::String, "cloud-init user data (at most 16 KiB).").optional().force_new(),
              Attr("id", T::String, "The instance id.").computed(),
              Attr("arn", T::String, "The instance's ARN.").computed(),
              Attr("network", T::String, "The VPC id.").computed(),
              Attr("zone", T::String, "The availability zone.").computed(),
              Attr("ipv4", T::String, "Public IPv4 address (public subnets).").computed(),
              Attr("private_ipv4", T::String, "Private IPv4 address.").computed(),
              Attr("status", T::String, "pending, running, stopping, stopped, ...").computed(),
              Attr("name", T::String, "The Name tag.").computed(),
              Attr("key_name", T::String, "The EC2 key pair.").computed(),
          }};
}

std::unique_ptr<kit::Kind> make_servers(Context& context) { return std::make_unique<Servers>(context); }

}  // namespace keel::aws
