// server_groups: EC2 Auto Scaling groups of instances made from a launch
// template, with a target-tracking policy on average CPU.
//
// id      the group's name, `<project>-<address>` (the launch template
//         has the same name).
// create  the launch template (CreateLaunchTemplate from size, image,
//         ssh_key and firewalls, with a ClientToken from the intent, tagged
//         at creation; an existing one of that name is reused), then
//         CreateAutoScalingGroup on its version with min, max, subnets and
//         keel's tags (propagated to the instances); a lost answer is found
//         by name and tags. Then PutScalingPolicy (TargetTrackingScaling,
//         ASGAverageCPUUtilization = scale.cpu) when `scale` is set.
// read    the project's groups (one DescribeAutoScalingGroups filtered by
//         tag:keel:project), then the group's launch template version and
//         policies.
// update  min, max, subnets in place (UpdateAutoScalingGroup); scale in
//         place (PutScalingPolicy, DeletePolicy); size, image, ssh_key and
//         firewalls in place by a new launch template version the group
//         then uses: running instances keep the old one until replaced.
// delete  DeleteAutoScalingGroup with ForceDelete (its instances go too),
//         waiting until it is gone, then the launch template.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>

#include <fmt/format.h>

#include "core/crypto.h"
#include "plugins/aws/kind.h"

namespace keel::aws {

namespace {

using kit::field_string;
using kit::value_of;

constexpr const char* kPolicy = "keel-cpu";  // the target-tracking policy's name
constexpr long long kMaxInstances = 10000;     // keel's bound on min and max

// The launch template's data as the stack gives it.
struct Template {
  std::string size, image, key_name;
  std::vector<std::string> firewalls;  // sorted
  bool operator==(const Template& o) const = default;
};

struct Wanted {
  Template lt;
  std::string ssh_key;
  long long min = 0, max = 0;
  std::vector<std::string> subnets;  // sorted
  std::optional<double> cpu;
};

Result<Wanted> wanted_of(const json& config) {
  Wanted w;
  auto size = kit::required_string(config, "size");
  if (!size) return fail(size.error());
  auto image = kit::required_string(config, "image");
  if (!image) return fail(image.error());
  w.lt.size = *size;
  w.lt.image = *image;
  auto firewalls = kit::string_list(config, "firewalls");
  if (!firewalls) return fail(firewalls.error());
  w.lt.firewalls = sorted_copy(std::move(*firewalls));
  auto subnets = kit::string_list(config, "subnets");
  if (!subnets) return fail(subnets.error());
  if (subnets->empty()) return fail(ErrorCode::InvalidConfig, "`subnets` must list at least one subnet id");
  w.subnets = sorted_copy(std::move(*subnets));
  auto key = kit::optional_string(config, "ssh_key");
  if (!key) return fail(key.error());
  w.ssh_key = key->value_or("");
  auto min = kit::optional_integer(config, "min");
  if (!min) return fail(min.error());
  auto max = kit::optional_integer(config, "max");
  if (!max) return fail(max.error());
  w.min = min->value_or(1);
  w.max = max->value_or(w.min);
  if (w.min < 0 || w.max < w.min || w.max > kMaxInstances)
    return fail(ErrorCode::InvalidConfig, fmt::format("`min` {} and `max` {}: need 0 <= min <= max <= {}", w.min, w.max,
                                                      kMaxInstances));
  const json& scale = value_of(config, "scale");
  if (!scale.is_null()) {
    if (!scale.is_object()) return fail(ErrorCode::InvalidConfig, "`scale` must be a map like {cpu: 60}");
    for (auto it = scale.begin(); it != scale.end(); ++it)
      if (it.key() != "cpu")
        return fail(ErrorCode::InvalidConfig, fmt::format("`scale` has an unknown setting `{}` (cpu)", it.key()));
    const json& cpu = value_of(scale, "cpu");
    if (!cpu.is_number() || cpu.get<double>() <= 0 || cpu.get<double>() > 100)
      return fail(ErrorCode::InvalidConfig, "`scale.cpu` must be a number above 0 and at most 100 (percent of CPU)");
    w.cpu = cpu.get<double>();
  }
  return w;
}

std::string number_text(double value) {
  if (value == static_cast<double>(static_cast<long long>(value))) return std::to_string(static_cast<long long>(value));
  return fmt::format("{}", value);
}

// A version's launchTemplateData as keel's Template.
Template template_in(const json& data) {
  Template t;
  t.size = field_string(data, "instanceType");
  t.image = field_string(data, "imageId");
  t.key_name = field_string(data, "keyName");
  for (const json& g : items(data, "securityGroupIdSet"))
    if (g.is_string()) t.firewalls.push_back(g.get<std::string>());
  t.firewalls = sorted_copy(std::move(t.firewalls));
  return t;
}

void add_template_data(Params& params, const Template& t) {
  params.emplace_back("LaunchTemplateData.ImageId", t.image);
  params.emplace_back("LaunchTemplateData.InstanceType", t.size);
  if (!t.key_name.empty()) params.emplace_back("LaunchTemplateData.KeyName", t.key_name);
  for (size_t i = 0; i < t.firewalls.size(); ++i)
    params.emplace_back(fmt::format("LaunchTemplateData.SecurityGroupId.{}", i + 1), t.firewalls[i]);
}

std::string joined(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : separator) + i;
  return out;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t end = text.find(separator, start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

long long number(const json& j, const std::string& key) {
  const std::string text = field_string(j, key);
  long long n = 0;
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

class ServerGroups final : public TaggedKind {
 public:
  explicit ServerGroups(Context& c) : TaggedKind(c, c.sources.auto_scaling_groups) {}

  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override {
    auto w = wanted_of(request.config);
    if (!w) return fail(w.error());
    const std::string name = default_name(request.tags);
    if (!w->ssh_key.empty()) {
      auto key = import_key_pair(c_.api, w->ssh_key, request.tags.project, request.progress);
      if (!key) return fail(key.error());
      w->lt.key_name = *key;
    }
    auto lt = ensure_template(name, w->lt, request.tags, request.progress);
    if (!lt) return fail(lt.error());

    Call call{.service = &autoscaling_service(), .action = "CreateAutoScalingGroup",
              .params = {{"AutoScalingGroupName", name},
                         {"LaunchTemplate.LaunchTemplateId", lt->first},
                         {"LaunchTemplate.Version", lt->second},
                         {"MinSize", std::to_string(w->min)},
                         {"MaxSize", std::to_string(w->max)},
                         {"VPCZoneIdentifier", joined(w->subnets, ",")}},
              .idempotent = false, .progress = request.progress};
    const auto tags = keel_tags(request.tags, name);
    for (size_t i = 0; i < tags.size(); ++i) {
      const std::string p = fmt::format("Tags.member.{}.", i + 1);
      call.params.emplace_back(p + "Key", tags[i].first);
      call.params.emplace_back(p + "Value", tags[i].second);
      call.params.emplace_back(p + "PropagateAtLaunch", "true");
      call.params.emplace_back(p + "ResourceId", name);
      call.params.emplace_back(p + "ResourceType", "auto-scaling-group");
    }
    kit::report(request.progress, fmt::format("creating auto scaling group {} ({} to {} x {})", name, w->min, w->max,
                                              w->lt.size));
    auto sent = c_.api.send_once(call, [&]() { return by_name(name, request.tags); });
    source_.invalidate();
    if (!sent) {
      // Made by an earlier run whose state was lost: adopt it if it is ours.
      auto failure = take_failure();
      if (!failure || failure->code != "AlreadyExists") return fail(sent.error());
      auto mine = by_name(name, request.tags);
      if (!mine) return fail(mine.error());
      if (!*mine) return fail(sent.error());
    }
    // From here the group exists: no error may read as a refusal.
    auto policy = set_policy(name, w->cpu, request.progress);
    if (!policy) return fail(kit::after_made("auto scaling group", name, policy.error()));
    auto group = fetch(name);
    if (!group) return fail(kit::after_made("auto scaling group", name, group.error()));
    if (!*group) return fail(ErrorCode::Unavailable, fmt::format("auto scaling group {} vanished after its creation", name));
    auto a = attributes(**group, request.config);
    if (!a) return fail(kit::after_made("auto scaling group", name, a.error()));
    return provider::CreateResponse{name, std::move(*a)};
  }

  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override {
    auto w = wanted_of(request.config);
    if (!w) return fail(w.error());
    auto group = current(request.id, request.progress);
    if (!group) return fail(group.error());
    if (!*group) return fail(ErrorCode::NotFound, fmt::format("auto scaling group {} is gone", request.id));
    if (!w->ssh_key.empty()) {
      auto key = import_key_pair(c_.api, w->ssh_key, request.tags.project, request.progress);
      if (!key) return fail(key.error());
      w->lt.key_name = *key;
    }
    Call call{.service = &autoscaling_service(), .action = "UpdateAutoScalingGroup",
              .params = {{"AutoScalingGroupName", request.id}}, .idempotent = true, .progress = request.progress};
    const json& lt = value_of(**group, "LaunchTemplate");
    auto data = template_data(field_string(lt, "LaunchTemplateId"), field_string(lt, "Version"));
    if (!data) return fail(data.error());
    if (template_in(*data) != w->lt) {
      auto version = new_version(field_string(lt, "LaunchTemplateId"), w->lt, request.progress);
      if (!version) return fail(version.error());
      call.params.emplace_back("LaunchTemplate.LaunchTemplateId", field_string(lt, "LaunchTemplateId"));
      call.params.emplace_back("LaunchTemplate.Version", *version);
    }
    if (number(**group, "MinSize") != w->min) call.params.emplace_back("MinSize", std::to_string(w->min));
    if (number(**group, "MaxSize") != w->max) call.params.emplace_back("MaxSize", std::to_string(w->max));
    const long long desired = number(**group, "DesiredCapacity");
    if (desired < w->min || desired > w->max)
      call.params.emplace_back("DesiredCapacity", std::to_string(std::clamp(desired, w->min, w->max)));
    if (sorted_copy(split(field_string(**group, "VPCZoneIdentifier"), ',')) != w->subnets)
      call.params.emplace_back("VPCZoneIdentifier", joined(w->subnets, ","));
    if (call.params.size() > 1) {
      kit::report(request.progress, fmt::format("updating auto scaling group {}", request.id));
      auto done = c_.api.send(call);
      if (!done) return fail(done.error());
    }
    auto policy = set_policy(request.id, w->cpu, request.progress);
    if (!policy) return fail(policy.error());
    source_.invalidate();
    auto now = current(request.id, request.progress);
    if (!now) return fail(now.error());
    if (!*now) return fail(ErrorCode::NotFound, fmt::format("auto scaling group {} is gone", request.id));
    auto a = attributes(**now, request.config);
    if (!a) return fail(a.error());
    return provider::UpdateResponse{std::move(*a)};
  }

  Status remove(const provider::DeleteRequest& request) override {
    kit::report(request.progress, fmt::format("deleting auto scaling group {} and its instances", request.id));
    auto done = c_.api.send({.service = &autoscaling_service(), .action = "DeleteAutoScalingGroup",
                             .params = {{"AutoScalingGroupName", request.id}, {"ForceDelete", "true"}},
                             .idempotent = true, .progress = request.progress});
    source_.invalidate();
    if (!done && !not_found(done.error()) && !missing(done.error())) return fail(done.error());
    auto gone = wait_gone(request.id, request.progress, request.waiting);
    if (!gone) return fail(gone.error());
    auto lt = c_.api.send({.service = nullptr, .action = "DeleteLaunchTemplate",
                           .params = {{"LaunchTemplateName", request.id}}, .idempotent = true,
                           .progress = request.progress});
    if (!lt && !not_found(lt.error()) && !missing(lt.error())) return fail(lt.error());
    return {};
  }

  Result<provider::FindResponse> find(const provider::FindRequest& request) override {
    if (!request.id.empty()) return TaggedKind::find(request);
    auto group = by_name(default_name(request.tags), request.tags);
    if (!group) return fail(group.error());
    if (!*group) return provider::FindResponse{false, "", json::object()};
    auto a = attributes(**group, request.config);
    if (!a) return fail(a.error());
    return provider::FindResponse{true, (*group)->value("id", ""), std::move(*a)};
  }

 protected:
  Result<std::optional<json>> fetch(const std::string& name) override {
    auto found = query_describe(c_.api, autoscaling_service(), "DescribeAutoScalingGroups",
                                {{"AutoScalingGroupNames.member.1", name}}, "AutoScalingGroups", "AutoScalingGroupName");
    if (!found) return fail(found.error());
    if (found->empty()) return std::optional<json>();
    return std::optional<json>(found->front());
  }

  Result<json> attributes(const json& group, const json& known) override {
    json a = json::object();
    const std::string name = field_string(group, "AutoScalingGroupName");
    a["id"] = name;
    a["name"] = name;
    a["arn"] = field_string(group, "AutoScalingGroupARN");
    a["min"] = number(group, "MinSize");
    a["max"] = number(group, "MaxSize");
    a["desired"] = number(group, "DesiredCapacity");
    a["instance_count"] = static_cast<long long>(items(group, "Instances").size());
    a["status"] = field_string(group, "Status").empty() ? "active" : field_string(group, "Status");
    a["subnets"] = kit::prefer_known(value_of(known, "subnets"), sorted_copy(split(field_string(group, "VPCZoneIdentifier"), ',')),
                                     [](const json& v) { return kit::sorted(v); });
    const json& lt = value_of(group, "LaunchTemplate");
    a["launch_template"] = field_string(lt, "LaunchTemplateId");
    a["launch_template_version"] = field_string(lt, "Version");
    auto data = template_data(field_string(lt, "LaunchTemplateId"), field_string(lt, "Version"));
    if (!data) return fail(data.error());
    const Template t = template_in(*data);
    a["size"] = t.size;
    a["image"] = t.image;
    a["key_name"] = t.key_name;
    a["firewalls"] = kit::prefer_known(value_of(known, "firewalls"), t.firewalls, [](const json& v) { return kit::sorted(v); });
    if (value_of(known, "ssh_key").is_string()) a["ssh_key"] = value_of(known, "ssh_key");
    auto cpu = policy_cpu(name);
    if (!cpu) return fail(cpu.error());
    json scale = *cpu ? json{{"cpu", **cpu}} : json();
    a["scale"] = kit::prefer_known(value_of(known, "scale"), scale, [](const json& v) {
      return v.is_object() && v.contains("cpu") && v["cpu"].is_number() ? json{{"cpu", v["cpu"].get<double>()}} : v;
    });
    return a;
  }

 private:
  // A NotFound spelled as a ValidationError ("... not found"), as Auto
  // Scaling and moto do.
  static bool missing(const Error& error) {
    auto failure = take_failure();
    if (error.code() == ErrorCode::NotFound) return true;
    return failure && (failure->cloud_message.find("not found") != std::string::npos ||
                       failure->cloud_message.find("does not exist") != std::string::npos ||
                       failure->code.ends_with("NotFoundException"));
  }

  // The group named `name` if it carries keel's tags for `tags`.
  Result<std::optional<json>> by_name(const std::string& name, const provider::ResourceTags& tags) {
    auto group = fetch(name);
    if (!group) return fail(group.error());
    if (*group && member_tag(**group, kProjectTag) == tags.project && member_tag(**group, kAddressTag) == tags.address)
      return group;
    return std::optional<json>();
  }

  // The launch template `name` (made if missing): its id and version.
  Result<std::pair<std::string, std::string>> ensure_template(const std::string& name, const Template& t,
                                                               const provider::ResourceTags& tags,
                                                               const ProgressFn& progress) {
    auto existing = template_named(name, tags);
    if (!existing) return fail(existing.error());
    if (*existing) {
      const std::string id = field_string(**existing, "launchTemplateId");
      const std::string version = field_string(**existing, "latestVersionNumber");
      auto data = template_data(id, version);
      if (!data) return fail(data.error());
      if (template_in(*data) == t) return std::make_pair(id, version);
      auto made = new_version(id, t, progress);
      if (!made) return fail(made.error());
      return std::make_pair(id, *made);
    }
    Call call{.service = nullptr, .action = "CreateLaunchTemplate", .params = {{"LaunchTemplateName", name}},
              .idempotent = false, .progress = progress};
    add_template_data(call.params, t);
    tag_at_creation(call.params, "launch-template", tags, name);
    const auto started = std::chrono::system_clock::now().time_since_epoch().count();
    call.params.emplace_back("ClientToken",
                             crypto::sha256_hex(fmt::format("{}|{}|{}", tags.project, tags.address, started)).substr(0, 64));
    kit::report(progress, fmt::format("creating launch template {}", name));
    auto sent = c_.api.send_once(call, [&]() { return template_named(name, tags); });
    if (!sent) return fail(sent.error());
    const json& lt = sent->adopted ? sent->body : value_of(sent->body, "launchTemplate");
    const std::string id = field_string(lt, "launchTemplateId");
    if (id.empty()) return fail(ErrorCode::Protocol, "EC2 CreateLaunchTemplate: the answer holds no launchTemplateId");
    std::string version = field_string(lt, "latestVersionNumber");
    return std::make_pair(id, version.empty() ? std::string("1") : version);
  }

  // The launch template named `name` if it carries keel's tags for `tags`;
  // Conflict when one of that name is someone else's (names are unique in
  // the region: keel neither takes it nor can make its own).
  Result<std::optional<json>> template_named(const std::string& name, const provider::ResourceTags& tags) {
    auto found = describe(c_.api, "DescribeLaunchTemplates", {{"LaunchTemplateName.1", name}}, "launchTemplates",
                          "launchTemplateId");
    if (!found) {
      if (not_found(found.error()) || missing(found.error())) return std::optional<json>();
      return fail(found.error());
    }
    if (found->empty()) return std::optional<json>();
    const json& lt = found->front();
    if (tag_value(lt, kProjectTag) != tags.project || tag_value(lt, kAddressTag) != tags.address)
      return fail(ErrorCode::Conflict,
                  fmt::format("a launch template named {} exists without keel's tags for {} in project {}: keel "
                              "takes over nothing it did not make; delete or rename that one",
                              name, tags.address, tags.project));
    return std::optional<json>(lt);
  }

  // A launch template version's data.
  Result<json> template_data(const std::string& id, const std::string& version) {
    if (id.empty()) return json::object();
    auto found = describe(c_.api, "DescribeLaunchTemplateVersions",
                          {{"LaunchTemplateId", id}, {"LaunchTemplateVersion.1", version.empty() ? "$Latest" : version}},
                          "launchTemplateVersionSet", "versionNumber");
    if (!found) {
      if (not_found(found.error())) return json::object();
      return fail(found.error());
    }
    if (found->empty()) return json::object();
    return value_of(found->front(), "launchTemplateData");
  }

  // A new version of the launch template holding `t`: its number.
  Result<std::string> new_version(const std::string& id, const Template& t, const ProgressFn& progress) {
    Call call{.service = nullptr, .action = "CreateLaunchTemplateVersion", .params = {{"LaunchTemplateId", id}},
              .idempotent = true, .progress = progress};
    add_template_data(call.params, t);
    std::string data;
    for (const auto& [k, v] : call.params) data += k + "=" + v + "&";
    const auto started = std::chrono::system_clock::now().time_since_epoch().count();
    call.params.emplace_back("ClientToken", crypto::sha256_hex(fmt::format("{}|{}", data, started)).substr(0, 64));
    kit::report(progress, fmt::format("launch template {}: new version ({}, {})", id, t.size, t.image));
    auto sent = c_.api.send(call);
    if (!sent) return fail(sent.error());
    const std::string version = field_string(value_of(*sent, "launchTemplateVersion"), "versionNumber");
    if (version.empty()) return fail(ErrorCode::Protocol, "EC2 CreateLaunchTemplateVersion: the answer holds no versionNumber");
    return version;
  }

  // The target value of the group's keel-cpu policy, if it has one.
  Result<std::optional<double>> policy_cpu(const std::string& group) {
    auto found = query_describe(c_.api, autoscaling_service(), "DescribePolicies", {{"AutoScalingGroupName", group}},
                                "ScalingPolicies", "PolicyName");
    if (!found) return fail(found.error());
    for (const json& p : *found) {
      if (field_string(p, "PolicyName") != kPolicy) continue;
      const std::string target = field_string(value_of(p, "TargetTrackingConfiguration"), "TargetValue");
      char* end = nullptr;
      const double value = std::strtod(target.c_str(), &end);
      if (!target.empty() && end && *end == '\0') return std::optional<double>(value);
    }
    return std::optional<double>();
  }

  // The keel-cpu policy as `cpu` says: put (an upsert), or deleted.
  Status set_policy(const std::string& group, std::optional<double> cpu, const ProgressFn& progress) {
    auto now = policy_cpu(group);
    if (!now) return fail(now.error());
    if (*now == cpu) return {};
    if (!cpu) {
      auto done = c_.api.send({.service = &autoscaling_service(), .action = "DeletePolicy",
                               .params = {{"AutoScalingGroupName", group}, {"PolicyName", kPolicy}},
                               .idempotent = true, .progress = progress});
      if (!done && !not_found(done.error()) && !missing(done.error())) return fail(done.error());
      return {};
    }
    kit::report(progress, fmt::format("auto scaling group {}: tracking {}% average CPU", group, number_text(*cpu)));
    auto done = c_.api.send(
        {.service = &autoscaling_service(), .action = "PutScalingPolicy",
         .params = {{"AutoScalingGroupName", group},
                    {"PolicyName", kPolicy},
                    {"PolicyType", "TargetTrackingScaling"},
                    {"TargetTrackingConfiguration.PredefinedMetricSpecification.PredefinedMetricType",
                     "ASGAverageCPUUtilization"},
                    {"TargetTrackingConfiguration.TargetValue", number_text(*cpu)}},
         .idempotent = true, .progress = progress});
    if (!done) return fail(done.error());
    return {};
  }

  Status wait_gone(const std::string& name, const ProgressFn& progress, const provider::WaitingFn& waiting = {}) {
    kit::Watch watch;
    watch.what = fmt::format("auto scaling group {}", name);
    watch.goal = "to be deleted";
    watch.id = name;
    watch.source = &source_;
    watch.fetch_one = [this, name]() { return fetch(name); };
    watch.done = [](const json&) -> Result<bool> { return false; };
    watch.state = [](const json& g) { return field_string(g, "Status"); };
    watch.gone_is_done = true;
    auto gone = c_.poller.until(watch, progress, waiting);
    if (!gone && gone.error().code() != ErrorCode::NotFound) return fail(gone.error());
    return {};
  }
};

}  // namespace

provider::KindSchema server_groups_schema() {
  using T = AttributeType;
  return {"server_groups",
          "AWS EC2 Auto Scaling groups from a launch template, scaled on average CPU.",
          {
              Attr("size", T::String, "Instance type, e.g. t3.micro. Changed in place (a new launch template "
                                      "version; running instances keep theirs until replaced).")
                  .required()
                  .text(1, 64, "a-z", "a-z0-9.-"),
              Attr("image", T::String, "AMI id. Changed in place as size is.").required(),
              Attr("subnets", T::List, "Subnet ids the instances go in. Changed in place.").required(),
              Attr("firewalls", T::List, "Security group ids. Changed in place as size is.")
                  .optional()
                  .default_to(json::array()),
              Attr("ssh_key", T::String, "An OpenSSH public key, or the path of one. Changed in place as size is.")
                  .optional(),
              Attr("min", T::Integer, "Fewest instances, 0 to 10000. Changed in place.")
                  .optional()
                  .default_to(1)
                  .range(0, kMaxInstances),
              Attr("max", T::Integer, "Most instances, `min` to 10000; default: `min`. Changed in place.")
                  .optional()
                  .computed()
                  .range(0, kMaxInstances),
              // A map: its cpu is checked by the provider, first thing at create and update.
              Attr("scale", T::Map,
                   "{cpu: PERCENT}: a target-tracking policy on average CPU, above 0 and at most 100. "
                   "Changed in place.")
                  .optional(),
              Attr("id", T::String, "The group's name.").computed(),
              Attr("name", T::String, "`<project>-<address>` (keel finds it by this name).").computed(),
              Attr("arn", T::String, "The group's ARN.").computed(),
              Attr("status", T::String, "active, or Delete in progress.").computed(),
              Attr("desired", T::Integer, "The desired capacity now.").computed(),
              Attr("instance_count", T::Integer, "Instances in the group now.").computed(),
              Attr("launch_template", T::String, "The launch template's id.").computed(),
              Attr("launch_template_version", T::String, "The version the group launches.").computed(),
              Attr("key_name", T::String, "The EC2 key pair.").computed(),
          }};
}

std::unique_ptr<kit::Kind> make_server_groups(Context& context) { return std::make_unique<ServerGroups>(context); }

}  // namespace keel::aws
