#pragma once
// What the kinds of keel-provider-aws share: the API client, the poller,
// the coalesced Describe calls of the project, and TaggedKind, the read and
// find every kind does the same way.
//
// Rules every kind follows:
// - create tags what it makes at creation (TagSpecification: keel:project,
//   keel:address, Name), so that find() adopts it after a crash, and sends
//   the create through ApiClient::send_once() with a lookup by the address
//   tag (or a ClientToken where the call takes one), so that a lost
//   response adopts the resource instead of making a second one;
// - read() serves from the kind's Describe snapshot, filtered by the
//   project's tag (one call for every resource of the kind, at most
//   Context::read_max_age old); a resource missing from it is described
//   alone (it may lack keel's tag, after import) and NotFound is found=false;
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
#include "plugins/aws/api_client.h"
#include "plugins/sdk/attributes.h"
#include "plugins/sdk/kinds.h"
#include "plugins/sdk/poller.h"
#include "plugins/sdk/snapshots.h"

namespace keel::aws {

using kit::Attr;
using kit::SnapshotSource;
using provider::AttributeType;

inline constexpr const char* kProjectTag = "keel:project";
inline constexpr const char* kAddressTag = "keel:address";

// The project's resources of each kind: one Describe call each, filtered by
// tag:keel:project. Items carry their AWS id as "id" too.
struct Sources {
  Sources(ApiClient& api, const std::string& project);

  SnapshotSource vpcs;
  SnapshotSource subnets;
  SnapshotSource security_groups;
  SnapshotSource instances;
  // The instances not terminated yet, for the waits for terminations: the
  // answer shrinks as they go and the look that sees the last one go is
  // empty, where the project's whole list keeps every terminated instance
  // (AWS lists them for an hour) and takes longer to answer the more there
  // are (moto: 0.15 s for 50).
  SnapshotSource live_instances;
  SnapshotSource volumes;
  // ELBv2 lists no tags and filters by none: every load balancer of the
  // region (one call per 400), matched by ARN.
  SnapshotSource load_balancers;
  SnapshotSource auto_scaling_groups;
};

struct Context {
  ApiClient& api;
  kit::Poller& poller;
  Sources& sources;
  std::string project;
  std::string region;
  std::chrono::milliseconds read_max_age{5000};
};

// One Describe call: every item under the answer's `list` (for instances,
// reservationSet[].instancesSet[]), with "id" set from `id_key`, following
// nextToken.
Result<std::vector<json>> describe(ApiClient& api, const std::string& action, Params params, const std::string& list,
                                   const std::string& id_key, const ProgressFn& progress = {});

// The one item `action` answers for `params` (an id filter), or none.
Result<std::optional<json>> describe_one(ApiClient& api, const std::string& action, const Params& params,
                                         const std::string& list, const std::string& id_key);

// TagSpecification.N for `resource_type` with keel's tags and a Name.
// `extra` tags come after keel's (e.g. keel:role on a network's parts).
void tag_at_creation(Params& params, const std::string& resource_type, const provider::ResourceTags& tags,
                     const std::string& name, const std::vector<std::pair<std::string, std::string>>& extra = {});
// The oldest live item that `action` (a Describe call) answers with keel's
// project and address tags (and `extra` filters): what a lost create made.
Result<std::optional<json>> find_tagged(ApiClient& api, const std::string& action, const std::string& list,
                                        const std::string& id_key, const provider::ResourceTags& tags,
                                        const std::vector<std::pair<std::string, std::string>>& extra = {});
// A call that may meet DependencyViolation while what depends on the
// resource goes away (an instance terminating, a load balancer letting go
// of its target group: ResourceInUse): retried for up to `patience`.
Status send_patiently(ApiClient& api, const Call& call, std::chrono::seconds patience = std::chrono::seconds(300));
// Waits until no instance of the project that `uses` the resource is left
// short of `terminated` (shutting-down counts as there): AWS deletes a
// subnet or security group only then, and a server's delete does not wait
// for it, so that the terminations of many servers overlap instead of each
// holding one of keel's workers (--parallelism) for the whole shutdown. One
// shared DescribeInstances per round, however many wait. `what`: "the
// instances in subnet subnet-1".
// `waiting`: the delete's WaitingFn (core/provider.h), told at once.
Status wait_instances_gone(Context& c, const std::string& what, const std::function<bool(const json&)>& uses,
                           const ProgressFn& progress, const provider::WaitingFn& waiting = {});
// An instance's state: pending, running, shutting-down, terminated, ...
std::string instance_state(const json& instance);
// The ARN of an EC2 resource ("vpc/vpc-123").
std::string ec2_arn(const Context& context, const json& resource, const std::string& path);
// `<project>-<address>-<hash>` in AWS's names: [A-Za-z0-9-], at most 63
// characters. Every character but a letter or a digit becomes `-`, so
// web_1, web-1 and web[1] would read alike: the hash (name_hash) of the
// exact project and address keeps the names of two resources apart.
std::string default_name(const provider::ResourceTags& tags);
// `<project>-<address>` in AWS's characters, no `-` at either end, and
// never starting `internal-` (ELBv2 refuses it): the readable part.
std::string readable_name(const provider::ResourceTags& tags);
// 8 hex digits of SHA-256 over the exact project and address.
std::string name_hash(const provider::ResourceTags& tags);

// The EC2 key pair holding `ssh_key` (a public key, or the path of one; ~
// is $HOME), imported once: named by the key's hash, so the same key is one
// key pair whoever imports it (servers, server groups).
Result<std::string> import_key_pair(ApiClient& api, const std::string& ssh_key, const std::string& project,
                                    const ProgressFn& progress);

// --- the Query services (ELBv2, Auto Scaling): PascalCase answers under <Action>Result

// The <Action>Result member of an answer (null when absent).
const json& result_of(const json& body, const std::string& action);
// One Describe call of ELBv2 or Auto Scaling: every item under the result's
// `list`, with "id" set from `id_key`, following the service's page marker
// (ELBv2 Marker/NextMarker, Auto Scaling NextToken).
Result<std::vector<json>> query_describe(ApiClient& api, const Service& service, const std::string& action,
                                         Params params, const std::string& list, const std::string& id_key,
                                         const ProgressFn& progress = {});
// params += PREFIX.member.N = values[N-1].
void add_members(Params& params, const std::string& prefix, const std::vector<std::string>& values);
// keel's tags and a Name, as the Query services take them (Tags.member.N).
std::vector<std::pair<std::string, std::string>> keel_tags(const provider::ResourceTags& tags, const std::string& name);
// A tag's value in a Query answer's Tags list ({Key, Value}), "" when absent.
std::string member_tag(const json& resource, const std::string& key);
// readable_name(tags), cut to fit, + "-" + name_hash(tags) + suffix in at
// most `limit` characters (ELBv2 names: 32): the suffix and the hash are
// always whole.
std::string fitted_name(const provider::ResourceTags& tags, const std::string& suffix, size_t limit);
// Sorted copy.
std::vector<std::string> sorted_copy(std::vector<std::string> values);

// The oldest (by id) item of `items` carrying keel's address tag.
std::optional<json> oldest_with_address(const std::vector<json>& items, const provider::ResourceTags& tags);

// The read and find of a kind whose resources are tagged by keel.
class TaggedKind : public kit::Kind {
 public:
  Result<provider::ReadResponse> read(const provider::ReadRequest& request) override;
  Result<provider::FindResponse> find(const provider::FindRequest& request) override;

 protected:
  TaggedKind(Context& context, SnapshotSource& source) : c_(context), source_(source) {}

  // The resource alone (import, or missing from the snapshot); nullopt: gone.
  virtual Result<std::optional<json>> fetch(const std::string& id) = 0;
  // keel's attributes of `resource`; `known` is what the user wrote or state holds.
  virtual Result<json> attributes(const json& resource, const json& known) = 0;
  // Whether `resource` counts as gone (a terminated instance).
  virtual bool gone(const json& /*resource*/) const { return false; }

  // The resource as read() sees it; nullopt when gone.
  Result<std::optional<json>> current(const std::string& id, const ProgressFn& progress);

  Context& c_;
  SnapshotSource& source_;
};

// Not found (an id AWS never gave out, or gone): success for delete.
bool not_found(const Error& error);

provider::KindSchema networks_schema();
provider::KindSchema subnets_schema();
provider::KindSchema firewalls_schema();
provider::KindSchema servers_schema();
provider::KindSchema volumes_schema();
provider::KindSchema load_balancers_schema();
provider::KindSchema server_groups_schema();

std::unique_ptr<kit::Kind> make_networks(Context& context);
std::unique_ptr<kit::Kind> make_subnets(Context& context);
std::unique_ptr<kit::Kind> make_firewalls(Context& context);
std::unique_ptr<kit::Kind> make_servers(Context& context);
std::unique_ptr<kit::Kind> make_volumes(Context& context);
std::unique_ptr<kit::Kind> make_load_balancers(Context& context);
std::unique_ptr<kit::Kind> make_server_groups(Context& context);

}  // namespace keel::aws
