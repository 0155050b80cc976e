#include "plugins/aws/kind.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include "core/log.h"

#include "core/crypto.h"

namespace keel::aws {

namespace {

SnapshotSource::Fetch project_list(ApiClient& api, const std::string& project, std::string action, std::string list,
                                   std::string id_key, Params filters = {}) {
  return [&api, project, action = std::move(action), list = std::move(list), id_key = std::move(id_key),
          filters = std::move(filters)](const ProgressFn& progress) -> Result<std::vector<json>> {
    Params params = filters;
    add_filter(params, fmt::format("tag:{}", kProjectTag), {project});
    return describe(api, action, std::move(params), list, id_key, progress);
  };
}

Params not_terminated() {
  Params params;
  add_filter(params, "instance-state-name", {"pending", "running", "shutting-down", "stopping", "stopped"});
  return params;
}

bool older(const json& a, const json& b) {
  const std::string ia = a.value("id", ""), ib = b.value("id", "");
  if (ia.size() != ib.size()) return ia.size() < ib.size();
  return ia < ib;
}

// `ssh_key`: a public key, or the path of one (~ is $HOME).
Result<std::string> public_key(const std::string& value) {
  if (value.starts_with("ssh-") || value.starts_with("ecdsa-")) return value;
  std::string path = value;
  if (path.starts_with("~/")) {
    const char* home = std::getenv("HOME");
    path = std::string(home ? home : "") + path.substr(1);
  }
  std::ifstream in(path);
  if (!in) return fail(ErrorCode::InvalidConfig, fmt::format("`ssh_key`: cannot read {}", value));
  std::string key;
  std::getline(in, key);
  if (!key.starts_with("ssh-") && !key.starts_with("ecdsa-"))
    return fail(ErrorCode::InvalidConfig, fmt::format("`ssh_key`: {} holds no OpenSSH public key", value));
  while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
  return key;
}

}  // namespace

Result<std::string> import_key_pair(ApiClient& api, const std::string& ssh_key, const std::string& project,
                                    const ProgressFn& progress) {
  auto key = public_key(ssh_key);
  if (!key) return fail(key.error());
  const std::string name = fmt::format("keel-{}-{}", project, crypto::sha256_hex(*key).substr(0, 16));
  auto done = api.send({.service = nullptr, .action = "ImportKeyPair",
                        .params = {{"KeyName", name}, {"PublicKeyMaterial", crypto::base64_encode(*key)}},
                        .idempotent = true, .progress = progress});
  if (!done) {
    auto failure = take_failure();
    if (!failure || failure->code != "InvalidKeyPair.Duplicate") return fail(done.error().with_context("`ssh_key`"));
  }
  return name;
}

Sources::Sources(ApiClient& api, const std::string& project)
    : vpcs("vpcs", project_list(api, project, "DescribeVpcs", "vpcSet", "vpcId")),
      subnets("subnets", project_list(api, project, "DescribeSubnets", "subnetSet", "subnetId")),
      security_groups("security groups", project_list(api, project, "DescribeSecurityGroups", "securityGroupInfo", "groupId")),
      instances("instances", project_list(api, project, "DescribeInstances", "reservationSet", "instanceId")),
      live_instances("instances",
                     project_list(api, project, "DescribeInstances", "reservationSet", "instanceId", not_terminated())),
      volumes("volumes", project_list(api, project, "DescribeVolumes", "volumeSet", "volumeId")),
      load_balancers("load balancers",
                     [&api](const ProgressFn& progress) {
                       return query_describe(api, elbv2_service(), "DescribeLoadBalancers", {}, "LoadBalancers",
                                             "LoadBalancerArn", progress);
                     }),
      auto_scaling_groups("auto scaling groups", [&api, project](const ProgressFn& progress) {
        Params params{{"Filters.member.1.Name", fmt::format("tag:{}", kProjectTag)},
                      {"Filters.member.1.Values.member.1", project}};
        return query_describe(api, autoscaling_service(), "DescribeAutoScalingGroups", std::move(params),
                              "AutoScalingGroups", "AutoScalingGroupName", progress);
      }) {}

const json& result_of(const json& body, const std::string& action) {
  return kit::field(body, action + "Result");
}

Result<std::vector<json>> query_describe(ApiClient& api, const Service& service, const std::string& action,
                                         Params params, const std::string& list, const std::string& id_key,
                                         const ProgressFn& progress) {
  const bool elb = &service == &elbv2_service();
  const std::string marker_in = elb ? "Marker" : "NextToken", marker_out = elb ? "NextMarker" : "NextToken";
  std::vector<json> out;
  std::string token;
  for (int page = 0; page < 1000; ++page) {
    Call call{.service = &service, .action = action, .params = params, .idempotent = true, .progress = progress};
    if (!token.empty()) call.params.emplace_back(marker_in, token);
    auto body = api.send(call);
    if (!body) return fail(body.error());
    const json& result = result_of(*body, action);
    for (json item : items(result, list)) {
      if (item.is_object()) item["id"] = kit::field_string(item, id_key);
      out.push_back(std::move(item));
    }
    token = kit::field_string(result, marker_out);
    if (token.empty()) return out;
  }
  return fail(ErrorCode::Protocol, fmt::format("{} {}: more than 1000 pages", service.label, action));
}

void add_members(Params& params, const std::string& prefix, const std::vector<std::string>& values) {
  for (size_t i = 0; i < values.size(); ++i) params.emplace_back(fmt::format("{}.member.{}", prefix, i + 1), values[i]);
}

std::vector<std::pair<std::string, std::string>> keel_tags(const provider::ResourceTags& tags, const std::string& name) {
  return {{kProjectTag, tags.project}, {kAddressTag, tags.address}, {"Name", name}};
}

std::string member_tag(const json& resource, const std::string& key) {
  for (const json& tag : items(resource, "Tags"))
    if (kit::field_string(tag, "Key") == key) return kit::field_string(tag, "Value");
  return "";
}

std::string fitted_name(const provider::ResourceTags& tags, const std::string& suffix, size_t limit) {
  std::string name = readable_name(tags);
  const std::string hash = name_hash(tags);
  const size_t room = limit > suffix.size() + hash.size() + 1 ? limit - suffix.size() - hash.size() - 1 : 0;
  name = name.substr(0, room);
  while (name.ends_with("-")) name.pop_back();
  return (name.empty() ? "" : name + "-") + hash + suffix;
}

std::vector<std::string> sorted_copy(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return values;
}

Result<std::optional<json>> describe_one(ApiClient& api, const std::string& action, const Params& params,
                                         const std::string& list, const std::string& id_key) {
  auto found = describe(api, action, params, list, id_key);
  if (!found) return fail(found.error());
  if (found->empty()) return std::optional<json>();
  return std::optional<json>(std::move(found->front()));
}

Result<std::vector<json>> describe(ApiClient& api, const std::string& action, Params params, const std::string& list,
                                   const std::string& id_key, const ProgressFn& progress) {
  std::vector<json> out;
  std::string token;
  for (int page = 0; page < 1000; ++page) {
    Call call{.service = nullptr, .action = action, .params = params, .idempotent = true, .progress = progress};
    if (!token.empty()) call.params.emplace_back("NextToken", token);
    auto body = api.send(call);
    if (!body) return fail(body.error());
    for (json item : items(*body, list)) {
      // DescribeInstances answers reservations, each with its instances.
      if (list == "reservationSet") {
        for (json instance : items(item, "instancesSet")) {
          instance["id"] = instance.value(id_key, "");
          out.push_back(std::move(instance));
        }
        continue;
      }
      if (item.is_object()) item["id"] = item.value(id_key, "");
      out.push_back(std::move(item));
    }
    token = body->is_object() && (*body)["nextToken"].is_string() ? (*body)["nextToken"].get<std::string>() : "";
    if (token.empty()) return out;
  }
  return fail(ErrorCode::Protocol, fmt::format("EC2 {}: more than 1000 pages", action));
}

namespace {

// `text` in the characters AWS takes in names: letters and digits kept,
// every other character `-`, no `-` twice in a row.
std::string name_characters(const std::string& text) {
  std::string out;
  for (char c : text) {
    const char kept = std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
    if (kept == '-' && out.ends_with("-")) continue;
    out += kept;
  }
  return out;
}

}  // namespace

std::string readable_name(const provider::ResourceTags& tags) {
  std::string name = name_characters(tags.project + "-" + tags.address);
  while (name.starts_with("-")) name.erase(0, 1);
  while (name.ends_with("-")) name.pop_back();
  // ELBv2 refuses names starting `internal-` (its internal schemes' DNS).
  std::string head = name.substr(0, 9);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (head == "internal-") name = "keel-" + name;
  return name;
}

std::string name_hash(const provider::ResourceTags& tags) {
  // A byte no project or address holds between them: ("a", "b.c") and
  // ("a-b", "c") hash apart.
  return crypto::sha256_hex(tags.project + '\0' + tags.address).substr(0, 8);
}

std::string default_name(const provider::ResourceTags& tags) { return fitted_name(tags, "", 63); }

void tag_at_creation(Params& params, const std::string& resource_type, const provider::ResourceTags& tags,
                     const std::string& name, const std::vector<std::pair<std::string, std::string>>& extra) {
  int n = 1;
  while (std::any_of(params.begin(), params.end(),
                     [&](const auto& p) { return p.first == fmt::format("TagSpecification.{}.ResourceType", n); }))
    ++n;
  const std::string prefix = fmt::format("TagSpecification.{}", n);
  params.emplace_back(prefix + ".ResourceType", resource_type);
  std::vector<std::pair<std::string, std::string>> tag_list = {
      {kProjectTag, tags.project}, {kAddressTag, tags.address}, {"Name", name}};
  tag_list.insert(tag_list.end(), extra.begin(), extra.end());
  for (size_t i = 0; i < tag_list.size(); ++i) {
    params.emplace_back(fmt::format("{}.Tag.{}.Key", prefix, i + 1), tag_list[i].first);
    params.emplace_back(fmt::format("{}.Tag.{}.Value", prefix, i + 1), tag_list[i].second);
  }
}

std::optional<json> oldest_with_address(const std::vector<json>& list, const provider::ResourceTags& tags) {
  std::vector<json> matches;
  for (const json& item : list)
    if (tag_value(item, kProjectTag) == tags.project && tag_value(item, kAddressTag) == tags.address)
      matches.push_back(item);
  if (matches.empty()) return std::nullopt;
  std::sort(matches.begin(), matches.end(), older);
  if (matches.size() > 1)
    logging::warn("AWS: {} resources carry keel:address {}: adopting the oldest ({})", matches.size(), tags.address,
                 matches.front().value("id", ""));
  return matches.front();
}

Result<std::optional<json>> find_tagged(ApiClient& api, const std::string& action, const std::string& list,
                                        const std::string& id_key, const provider::ResourceTags& tags,
                                        const std::vector<std::pair<std::string, std::string>>& extra) {
  Params params;
  add_filter(params, fmt::format("tag:{}", kProjectTag), {tags.project});
  add_filter(params, fmt::format("tag:{}", kAddressTag), {tags.address});
  for (const auto& [key, value] : extra) add_filter(params, fmt::format("tag:{}", key), {value});
  auto found = describe(api, action, std::move(params), list, id_key);
  if (!found) return fail(found.error());
  std::vector<json> live;
  for (const json& item : *found) {
    // An instance on its way out is not what a create made: after a
    // replacement's terminate the old one still carries the address.
    const std::string state = instance_state(item);
    if (state == "terminated" || state == "shutting-down") continue;
    live.push_back(item);
  }
  return oldest_with_address(live, tags);
}

std::string instance_state(const json& instance) {
  return kit::field_string(kit::value_of(instance, "instanceState"), "name");
}

Status wait_instances_gone(Context& c, const std::string& what, const std::function<bool(const json&)>& uses,
                           const ProgressFn& progress, const provider::WaitingFn& waiting) {
  return c.poller.until_all(
      c.sources.live_instances, fmt::format("{} to terminate", what),
      [&](const kit::Snapshot& snapshot) -> Result<bool> {
        for (const json& instance : snapshot.items)
          if (instance_state(instance) != "terminated" && uses(instance)) return false;
        return true;
      },
      progress, std::chrono::minutes(20), waiting);
}

Status send_patiently(ApiClient& api, const Call& call, std::chrono::seconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  std::chrono::milliseconds pause{1000};
  for (;;) {
    auto done = api.send(call);
    if (done) return {};
    if (not_found(done.error())) return {};
    auto failure = take_failure();
    const bool waiting = failure && (failure->code == "DependencyViolation" || failure->code == "InvalidGroup.InUse" ||
                                        failure->code == "ResourceInUse");
    if (!waiting || std::chrono::steady_clock::now() + pause > deadline) return fail(done.error());
    if (call.progress) call.progress(fmt::format("{}: still in use, retrying", call.action));
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(10'000));
  }
}

std::string ec2_arn(const Context& context, const json& resource, const std::string& path) {
  std::string owner = resource.is_object() ? resource.value("ownerId", "") : "";
  return fmt::format("arn:aws:ec2:{}:{}:{}", context.region, owner, path);
}

bool not_found(const Error& error) {
  if (error.code() != ErrorCode::NotFound) return false;
  take_failure();  // answered, not an error
  return true;
}

Result<std::optional<json>> TaggedKind::current(const std::string& id, const ProgressFn& progress) {
  auto snapshot = source_.recent(c_.read_max_age, progress);
  if (!snapshot) return fail(snapshot.error());
  std::optional<json> item;
  if (const json* listed = (*snapshot)->find(id)) item = *listed;
  else {
    auto one = fetch(id);
    if (!one) return fail(one.error());
    item = std::move(*one);
  }
  if (item && gone(*item)) return std::optional<json>();
  return item;
}

Result<provider::ReadResponse> TaggedKind::read(const provider::ReadRequest& request) {
  auto item = current(request.id, request.progress);
  if (!item) return fail(item.error());
  if (!*item) return provider::ReadResponse{false, json::object()};
  auto a = attributes(**item, request.attributes);
  if (!a) return fail(a.error());
  return provider::ReadResponse{true, std::move(*a)};
}

Result<provider::FindResponse> TaggedKind::find(const provider::FindRequest& request) {
  std::optional<json> item;
  if (!request.id.empty()) {
    auto one = fetch(request.id);
    if (!one) return fail(one.error());
    item = std::move(*one);
  } else {
    auto snapshot = source_.get(kit::Clock::now(), request.progress);
    if (!snapshot) return fail(snapshot.error());
    std::vector<json> live;
    for (const json& i : (*snapshot)->items)
      if (!gone(i)) live.push_back(i);
    item = oldest_with_address(live, request.tags);
  }
  if (!item || gone(*item)) return provider::FindResponse{false, "", json::object()};
  auto a = attributes(*item, request.config);
  if (!a) return fail(a.error());
  return provider::FindResponse{true, item->value("id", ""), std::move(*a)};
}

}  // namespace keel::aws
