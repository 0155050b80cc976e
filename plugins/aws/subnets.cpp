// subnets: subnets of a keel network.
//
// create  CreateSubnet (tagged; a lost answer is found by its tags), wait
//         for `available`; a public one then maps public addresses on
//         launch and joins the network's public route table, side by
//         side, that table looked up during the wait.
// read    the project's subnets (one DescribeSubnets).
// update  `public` in place (ModifySubnetAttribute, route table
//         association); network, cidr and zone are force-new.
// delete  waits for the project's instances in it to be terminated (a
//         public one looks up its route table association meanwhile), then
//         DeleteSubnet beside the association's DisassociateRouteTable (a
//         refused delete joins the table again; retried while others, not
//         keel's, still use the subnet).

#include <future>
#include <optional>

#include <fmt/format.h>

#include "plugins/aws/kind.h"
#include "plugins/sdk/rate_budget.h"

namespace keel::aws {

namespace {

using kit::field_string;
using kit::value_of;

class Subnets final : public TaggedKind {
 public:
  explicit Subnets(Context& c) : TaggedKind(c, c.sources.subnets) {}

  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override {
    auto network = kit::required_string(request.config, "network");
    if (!network) return fail(network.error());
    auto cidr = kit::required_string(request.config, "cidr");
    if (!cidr) return fail(cidr.error());
    auto zone = kit::required_string(request.config, "zone");
    if (!zone) return fail(zone.error());
    auto is_public = kit::boolean(request.config, "public", false);
    if (!is_public) return fail(is_public.error());
    Call call{.service = nullptr, .action = "CreateSubnet",
              .params = {{"VpcId", *network}, {"CidrBlock", *cidr}, {"AvailabilityZone", *zone}},
              .idempotent = false, .progress = request.progress};
    tag_at_creation(call.params, "subnet", request.tags, default_name(request.tags));
    kit::report(request.progress, fmt::format("creating subnet {} in {}", *cidr, *zone));
    auto sent = c_.api.send_once(call, [&]() {
      return find_tagged(c_.api, "DescribeSubnets", "subnetSet", "subnetId", request.tags);
    });
    source_.invalidate();
    if (!sent) return fail(sent.error());
    json subnet = sent->adopted ? sent->body : value_of(sent->body, "subnet");
    const std::string id = field_string(subnet, "subnetId");
    if (id.empty()) return fail(ErrorCode::Protocol, "EC2 CreateSubnet: the answer holds no subnetId");
    // The network's public route table does not depend on the subnet: it
    // is looked up while the subnet becomes available.
    std::future<Result<std::vector<json>>> tables;
    if (*is_public)
      tables = std::async(std::launch::async, [&] { return public_tables(*network, request.progress); });
    auto ready = wait_available(id, request.progress, request.waiting);
    std::optional<Result<std::vector<json>>> found_tables;
    if (tables.valid()) found_tables = tables.get();
    // From here the subnet exists: no error may read as a refusal.
    if (!ready) return fail(kit::after_made("subnet", id, ready.error()));
    json subnet_now = *ready;
    if (*is_public) {
      auto made = set_public(id, *network, true, request.progress, &*found_tables);
      if (!made) return fail(kit::after_made("subnet", id, made.error()));
      source_.invalidate();
      // What ModifySubnetAttribute just set, as a Describe would show it
      // (one request fewer on the apply's critical path).
      subnet_now["mapPublicIpOnLaunch"] = "true";
    }
    auto a = attributes(subnet_now, request.config);
    if (!a) return fail(kit::after_made("subnet", id, a.error()));
    return provider::CreateResponse{id, std::move(*a)};
  }

  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override {
    auto is_public = kit::boolean(request.config, "public", false);
    if (!is_public) return fail(is_public.error());
    auto network = kit::required_string(request.config, "network");
    if (!network) return fail(network.error());
    auto done = set_public(request.id, *network, *is_public, request.progress);
    if (!done) return fail(done.error());
    source_.invalidate();
    auto subnet = current(request.id, request.progress);
    if (!subnet) return fail(subnet.error());
    if (!*subnet) return fail(ErrorCode::NotFound, fmt::format("subnet {} is gone", request.id));
    auto a = attributes(**subnet, request.config);
    if (!a) return fail(a.error());
    return provider::UpdateResponse{std::move(*a)};
  }

  Status remove(const provider::DeleteRequest& request) override {
    kit::report(request.progress, fmt::format("deleting subnet {}", request.id));
    const std::string& id = request.id;
    // A public subnet's place in the network's route table, looked up
    // while its instances terminate (it needs nothing of them).
    std::future<Result<std::vector<Association>>> joined;
    if (value_of(request.attributes, "public") == json(true))
      joined = std::async(std::launch::async, [&] {
        kit::Background aside;  // off the critical path: the deletes waiting for the budget go first
        return associations_of(id, request.progress);
      });
    auto empty = wait_instances_gone(c_, fmt::format("the instances in subnet {}", id),
                                     [&](const json& i) { return field_string(i, "subnetId") == id; }, request.progress,
                                     request.waiting);
    auto held = joined.valid() ? joined.get() : Result<std::vector<Association>>(std::vector<Association>{});
    if (!empty) return fail(empty.error());
    if (!held) return fail(held.error());
    Call remove_subnet{.service = nullptr, .action = "DeleteSubnet", .params = {{"SubnetId", id}}, .idempotent = true,
                       .progress = request.progress};
    // It lets go of the route table beside its delete, so that the
    // network's delete finds the table free (not a request more in a row
    // there). A delete AWS refuses joins the table again at once: a subnet
    // that stays keeps its route.
    auto letting_go = std::async(std::launch::async, [&] { return leave(*held, request.progress); });
    auto once = c_.api.send(remove_subnet);
    Status left = letting_go.get();
    source_.invalidate();
    // Gone: what the network's delete needs of the table it sees itself (a
    // table still in use is looked up there).
    if (once || not_found(once.error())) return {};
    auto failure = take_failure();
    if (left)
      if (Status back = rejoin(id, *held, request.progress); !back)
        return fail(Error(once.error().code(), fmt::format("{}; and subnet {} is left out of its route table: {}",
                                                           once.error().message(), id, back.error().message())));
    if (!failure || failure->code != "DependencyViolation") return fail(once.error());
    // Others' instances or interfaces still in it: retried while they go.
    auto gone = send_patiently(c_.api, remove_subnet);
    source_.invalidate();
    return gone;
  }

 protected:
  Result<std::optional<json>> fetch(const std::string& id) override {
    Params params;
    add_filter(params, "subnet-id", {id});
    return describe_one(c_.api, "DescribeSubnets", params, "subnetSet", "subnetId");
  }

  Result<json> attributes(const json& subnet, const json& /*known*/) override {
    json a = json::object();
    a["id"] = subnet.value("id", "");
    a["network"] = field_string(subnet, "vpcId");
    a["cidr"] = field_string(subnet, "cidrBlock");
    a["zone"] = field_string(subnet, "availabilityZone");
    a["public"] = field_string(subnet, "mapPublicIpOnLaunch") == "true";
    a["name"] = tag_value(subnet, "Name");
    a["arn"] = field_string(subnet, "subnetArn").empty() ? ec2_arn(c_, subnet, "subnet/" + subnet.value("id", ""))
                                                         : field_string(subnet, "subnetArn");
    a["status"] = field_string(subnet, "state");
    return a;
  }

 private:
  Result<json> wait_available(const std::string& id, const ProgressFn& progress, const provider::WaitingFn& waiting = {}) {
    kit::Watch watch;
    watch.what = fmt::format("subnet {}", id);
    watch.goal = "to become available";
    watch.id = id;
    watch.source = &source_;
    watch.fetch_one = [this, id]() { return fetch(id); };
    watch.done = [](const json& s) -> Result<bool> { return field_string(s, "state") == "available"; };
    watch.state = [](const json& s) { return field_string(s, "state"); };
    watch.missing_polls_allowed = 10;
    return c_.poller.until(watch, progress, waiting);
  }

  // A subnet's association with one of keel's public route tables.
  struct Association {
    std::string id, table;
  };

  Result<std::vector<Association>> associations_of(const std::string& subnet, const ProgressFn& progress) {
    Params params;
    add_filter(params, "association.subnet-id", {subnet});
    add_filter(params, "tag:keel:role", {"public"});
    auto tables = describe(c_.api, "DescribeRouteTables", params, "routeTableSet", "routeTableId", progress);
    if (!tables) return fail(tables.error());
    std::vector<Association> out;
    for (const json& rtb : *tables)
      for (const json& a : items(rtb, "associationSet"))
        if (field_string(a, "subnetId") == subnet)
          out.push_back({field_string(a, "routeTableAssociationId"), rtb.value("id", "")});
    return out;
  }

  // Lets go of `held` (gone already, with the subnet: done).
  Status leave(const std::vector<Association>& held, const ProgressFn& progress) {
    for (const Association& a : held) {
      auto done = c_.api.send({.service = nullptr, .action = "DisassociateRouteTable",
                               .params = {{"AssociationId", a.id}}, .idempotent = true, .progress = progress});
      if (!done && !not_found(done.error())) return fail(done.error());
    }
    return {};
  }

  Status rejoin(const std::string& subnet, const std::vector<Association>& held, const ProgressFn& progress) {
    for (const Association& a : held) {
      auto done = c_.api.send({.service = nullptr, .action = "AssociateRouteTable",
                               .params = {{"RouteTableId", a.table}, {"SubnetId", subnet}}, .idempotent = true,
                               .progress = progress});
      if (!done) return fail(done.error());
    }
    return {};
  }

  // keel's public route table(s) of network `vpc`.
  Result<std::vector<json>> public_tables(const std::string& vpc, const ProgressFn& progress) {
    Params params;
    add_filter(params, "vpc-id", {vpc});
    add_filter(params, "tag:keel:role", {"public"});
    return describe(c_.api, "DescribeRouteTables", params, "routeTableSet", "routeTableId", progress);
  }

  // Public: addresses on launch and the network's public route table;
  // private: neither. The attribute and the association are set side by
  // side; `known_tables`: public_tables() already looked up.
  Status set_public(const std::string& id, const std::string& vpc, bool on, const ProgressFn& progress,
                    const Result<std::vector<json>>* known_tables = nullptr) {
    auto mapped = std::async(std::launch::async, [&] {
      return c_.api.send({.service = nullptr, .action = "ModifySubnetAttribute",
                          .params = {{"SubnetId", id}, {"MapPublicIpOnLaunch.Value", on ? "true" : "false"}},
                          .idempotent = true, .progress = progress});
    });
    Status associated = associate(id, vpc, on, progress, known_tables);
    auto map_done = mapped.get();
    if (!map_done) return fail(map_done.error());
    return associated;
  }

  Status associate(const std::string& id, const std::string& vpc, bool on, const ProgressFn& progress,
                   const Result<std::vector<json>>* known_tables) {
    auto tables = known_tables ? *known_tables : public_tables(vpc, progress);
    if (!tables) return fail(tables.error());
    if (tables->empty()) {
      if (!on) return {};
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("subnet {} is public, but network {} has no public route table (is it a keel network?)", id, vpc));
    }
    const json& rtb = tables->front();
    std::string association;
    for (const json& a : items(rtb, "associationSet"))
      if (field_string(a, "subnetId") == id) association = field_string(a, "routeTableAssociationId");
    if (on && association.empty()) {
      auto done = c_.api.send({.service = nullptr, .action = "AssociateRouteTable",
                               .params = {{"RouteTableId", rtb.value("id", "")}, {"SubnetId", id}},
                               .idempotent = true, .progress = progress});
      if (!done) return fail(done.error());
    } else if (!on && !association.empty()) {
      auto done = c_.api.send({.service = nullptr, .action = "DisassociateRouteTable",
                               .params = {{"AssociationId", association}}, .idempotent = true, .progress = progress});
      if (!done && !not_found(done.error())) return fail(done.error());
    }
    return {};
  }
};

}  // namespace

provider::KindSchema subnets_schema() {
  using T = AttributeType;
  return {"subnets",
          "Subnets of an AWS network (VPC).",
          {
              Attr("network", T::String, "The network's id (`${networks.NAME.id}`).").required().force_new(),
              Attr("cidr", T::String, "The subnet's IPv4 range, inside the network's.").required().force_new(),
              Attr("zone", T::String, "The availability zone, e.g. us-east-1a.").required().force_new(),
              Attr("public", T::Bool, "Public addresses on launch and a route to the internet. Changed in place.")
                  .optional()
                  .default_to(false),
              Attr("id", T::String, "The subnet id.").computed(),
              Attr("arn", T::String, "The subnet's ARN.").computed(),
              Attr("name", T::String, "The Name tag.").computed(),
              Attr("status", T::String, "pending or available.").computed(),
          }};
}

std::unique_ptr<kit::Kind> make_subnets(Context& context) { return std::make_unique<Subnets>(context); }

}  // namespace keel::aws
