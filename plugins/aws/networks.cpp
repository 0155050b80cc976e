// networks: a VPC with an internet gateway and a route table for the
// public subnets (0.0.0.0/0 through the gateway).
//
// create  CreateVpc (tagged; a lost answer is found by its tags), wait for
//         `available` (CreateInternetGateway meanwhile), then the parts:
//         AttachInternetGateway, CreateRouteTable (tagged keel:role=public)
//         + CreateRoute. A VPC this create made has no parts yet: they are
//         made without looking (a lost answer of theirs is found by its
//         tags). A VPC found instead (adopted: find(), a lost CreateVpc
//         answer) has each part looked for first, so a create cut short by
//         a crash is completed, never doubled.
// read    the project's VPCs (one DescribeVpcs); the parts' ids as state
//         holds them.
// update  completes the parts (nothing of the VPC itself changes in place:
//         cidr is force-new).
// delete  the route table and the gateway (detached), side by side, as
//         state records them (looked up when it has none, or AWS says the
//         recorded one is not there); then the VPC (keel's parts looked up
//         once more if something still holds it).
//
// The gateway and the route table are made side by side too (the route
// needs both).

#include <future>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "plugins/aws/kind.h"

namespace keel::aws {

namespace {

using kit::field_string;
using kit::value_of;

class Networks final : public TaggedKind {
 public:
  explicit Networks(Context& c) : TaggedKind(c, c.sources.vpcs) {}

  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override {
    auto cidr = kit::required_string(request.config, "cidr");
    if (!cidr) return fail(cidr.error());
    Call call{.service = nullptr, .action = "CreateVpc", .params = {{"CidrBlock", *cidr}}, .idempotent = false,
              .progress = request.progress};
    tag_at_creation(call.params, "vpc", request.tags, default_name(request.tags));
    kit::report(request.progress, fmt::format("creating VPC {}", *cidr));
    auto sent = c_.api.send_once(call, [&]() {
      return find_tagged(c_.api, "DescribeVpcs", "vpcSet", "vpcId", request.tags);
    });
    source_.invalidate();
    if (!sent) return fail(sent.error());
    json vpc = sent->adopted ? sent->body : value_of(sent->body, "vpc");
    const std::string id = field_string(vpc, "vpcId");
    if (id.empty()) return fail(ErrorCode::Protocol, "EC2 CreateVpc: the answer holds no vpcId");
    // A new VPC has no gateway: one is made while the VPC becomes
    // available (it needs nothing of the VPC until it is attached).
    std::future<Result<std::string>> gateway;
    if (!sent->adopted)
      gateway = std::async(std::launch::async, [&] { return make_gateway(id, request.tags, request.progress); });
    auto ready = wait_available(id, request.progress, request.waiting);
    std::optional<Result<std::string>> made_gateway;
    if (gateway.valid()) made_gateway = gateway.get();
    // From here the VPC exists: no error may read as a refusal.
    if (!ready) {
      // A gateway made for a VPC that did not come up is attached to
      // nothing, where no destroy looks: let it go.
      Error e = ready.error();
      if (made_gateway && *made_gateway)
        if (auto gone = drop_gateway(**made_gateway, request.progress); !gone)
          e = e.with_context(fmt::format("internet gateway {} is left unattached ({})", **made_gateway,
                                         gone.error().message()));
      return fail(kit::after_made("VPC", id, e));
    }
    if (made_gateway && !*made_gateway) return fail(kit::after_made("VPC", id, made_gateway->error()));
    auto parts = ensure_parts(id, request.tags, request.progress, sent->adopted ? Parts::LookFirst : Parts::New,
                              made_gateway ? &**made_gateway : nullptr);
    if (!parts) return fail(kit::after_made("VPC", id, parts.error()));
    auto a = attributes(*ready, request.config);
    if (!a) return fail(kit::after_made("VPC", id, a.error()));
    (*a)["internet_gateway_id"] = parts->first;
    (*a)["route_table_id"] = parts->second;
    return provider::CreateResponse{id, std::move(*a)};
  }

  // A VPC found by keel's tags is one of ours whose create was cut short
  // (kill -9 between the VPC and its parts): its parts are completed here,
  // since the plan sees no difference in computed ids and sends no update.
  // An import (by id) is left as it is found.
  Result<provider::FindResponse> find(const provider::FindRequest& request) override {
    auto found = TaggedKind::find(request);
    if (!found || !found->found || !request.id.empty()) return found;
    auto parts = ensure_parts(found->id, request.tags, request.progress);
    if (!parts) return fail(parts.error());
    found->attributes["internet_gateway_id"] = parts->first;
    found->attributes["route_table_id"] = parts->second;
    return found;
  }

  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override {
    auto vpc = current(request.id, request.progress);
    if (!vpc) return fail(vpc.error());
    if (!*vpc) return fail(ErrorCode::NotFound, fmt::format("VPC {} is gone", request.id));
    auto parts = ensure_parts(request.id, request.tags, request.progress);
    if (!parts) return fail(parts.error());
    auto a = attributes(**vpc, request.config);
    if (!a) return fail(a.error());
    (*a)["internet_gateway_id"] = parts->first;
    (*a)["route_table_id"] = parts->second;
    return provider::UpdateResponse{std::move(*a)};
  }

  Status remove(const provider::DeleteRequest& request) override {
    const std::string& id = request.id;
    kit::report(request.progress, fmt::format("deleting VPC {}", id));
    const std::string gateway = recorded(request.attributes, "internet_gateway_id");
    const std::string table = recorded(request.attributes, "route_table_id");
    // The route table and the gateway go at once: neither waits for the
    // other. Each as state records it, not looked up first (the bound of a
    // destroy: a request fewer in a row); looked up when state has none or
    // AWS says the recorded one is not the one there.
    auto tables = std::async(std::launch::async, [&] {
      return table.empty() ? remove_route_tables(id, request.progress) : remove_route_table(id, table, request.progress);
    });
    Status gateways = gateway.empty() ? remove_gateways(id, request.progress) : remove_gateway(id, gateway, request.progress);
    Status tables_gone = tables.get();
    if (!tables_gone) return tables_gone;
    if (!gateways) return gateways;
    Call remove_vpc{.service = nullptr, .action = "DeleteVpc", .params = {{"VpcId", id}}, .idempotent = true,
                    .progress = request.progress};
    auto once = c_.api.send(remove_vpc);
    source_.invalidate();
    if (once || not_found(once.error())) return {};
    auto failure = take_failure();
    if (!failure || failure->code != "DependencyViolation") return fail(once.error());
    // Something still holds the VPC: keel's parts that state did not know
    // (looked up now) or what others are still letting go of (retried).
    if (!table.empty() || !gateway.empty()) {
      auto parts = std::async(std::launch::async, [&] { return remove_route_tables(id, request.progress); });
      Status gateways_gone = remove_gateways(id, request.progress);
      if (Status t = parts.get(); !t) return t;
      if (!gateways_gone) return gateways_gone;
    }
    auto gone = send_patiently(c_.api, remove_vpc);
    source_.invalidate();
    return gone;
  }

 protected:
  Result<std::optional<json>> fetch(const std::string& id) override {
    Params params;
    add_filter(params, "vpc-id", {id});
    return describe_one(c_.api, "DescribeVpcs", params, "vpcSet", "vpcId");
  }

  Result<json> attributes(const json& vpc, const json& known) override {
    json a = json::object();
    a["id"] = vpc.value("id", "");
    a["cidr"] = field_string(vpc, "cidrBlock");
    a["name"] = tag_value(vpc, "Name");
    a["arn"] = ec2_arn(c_, vpc, "vpc/" + vpc.value("id", ""));
    a["status"] = field_string(vpc, "state");
    // The parts are not described on every read (a refresh stays one call
    // per kind): state's ids stand until update() checks them.
    a["internet_gateway_id"] = value_of(known, "internet_gateway_id").is_string() ? value_of(known, "internet_gateway_id") : json("");
    a["route_table_id"] = value_of(known, "route_table_id").is_string() ? value_of(known, "route_table_id") : json("");
    return a;
  }

 private:
  Result<json> wait_available(const std::string& id, const ProgressFn& progress, const provider::WaitingFn& waiting = {}) {
    kit::Watch watch;
    watch.what = fmt::format("VPC {}", id);
    watch.goal = "to become available";
    watch.id = id;
    watch.source = &source_;
    watch.fetch_one = [this, id]() { return fetch(id); };
    watch.done = [](const json& vpc) -> Result<bool> { return field_string(vpc, "state") == "available"; };
    watch.state = [](const json& vpc) { return field_string(vpc, "state"); };
    watch.missing_polls_allowed = 10;  // NotFound right after a create: eventual consistency
    return c_.poller.until(watch, progress, waiting);
  }

  // An id state records for a part ("" when none).
  static std::string recorded(const json& attributes, const char* key) {
    const json& v = value_of(attributes, key);
    return v.is_string() ? v.get<std::string>() : std::string();
  }

  // The route table state records: deleted at once (the subnets let go of
  // it as they were deleted); one AWS does not know, or that still has
  // subnets, is handled by remove_route_tables (which looks up keel's).
  Status remove_route_table(const std::string& vpc, const std::string& table, const ProgressFn& progress) {
    auto gone = c_.api.send({.service = nullptr, .action = "DeleteRouteTable", .params = {{"RouteTableId", table}},
                             .idempotent = true, .progress = progress});
    if (gone) return {};
    if (!not_found(gone.error())) {
      auto failure = take_failure();
      if (!failure || failure->code != "DependencyViolation") return fail(gone.error());
    }
    return remove_route_tables(vpc, progress);
  }

  // The gateway state records: detached and deleted at once. One that is
  // not attached to this VPC (or not known) is not the one there: the
  // attached ones are looked up instead (a VPC has one at most).
  Status remove_gateway(const std::string& vpc, const std::string& igw, const ProgressFn& progress) {
    Call detach{.service = nullptr, .action = "DetachInternetGateway",
                .params = {{"InternetGatewayId", igw}, {"VpcId", vpc}}, .idempotent = true, .progress = progress};
    auto detached = c_.api.send(detach);
    if (!detached) {
      if (not_found(detached.error())) return remove_gateways(vpc, progress);
      auto failure = take_failure();
      const std::string code = failure ? failure->code : "";
      if (code == "Gateway.NotAttached") return remove_gateways(vpc, progress);
      // Public addresses still mapped in the VPC (instances shutting down):
      // retried while they let go.
      if (code != "DependencyViolation") return fail(detached.error());
      if (Status later = send_patiently(c_.api, detach); !later) return later;
    }
    return drop_gateway(igw, progress);
  }

  // keel's route tables of the VPC, their subnets let go first.
  Status remove_route_tables(const std::string& vpc, const ProgressFn& progress) {
    Params tables;
    add_filter(tables, "vpc-id", {vpc});
    add_filter(tables, "tag:keel:role", {"public"});
    auto rtbs = describe(c_.api, "DescribeRouteTables", tables, "routeTableSet", "routeTableId", progress);
    if (!rtbs) return fail(rtbs.error());
    for (const json& rtb : *rtbs) {
      // The associations (one per subnet) need nothing of each other: let go
      // side by side.
      std::vector<std::future<Status>> letting_go;
      for (const json& association : items(rtb, "associationSet")) {
        if (field_string(association, "main") == "true") continue;
        const std::string id = field_string(association, "routeTableAssociationId");
        letting_go.push_back(std::async(std::launch::async, [this, id, &progress] {
          return send_patiently(c_.api, {.service = nullptr, .action = "DisassociateRouteTable",
                                         .params = {{"AssociationId", id}}, .idempotent = true, .progress = progress});
        }));
      }
      std::optional<Error> failed;
      for (auto& f : letting_go)
        if (Status gone = f.get(); !gone && !failed) failed = gone.error();
      if (failed) return fail(*failed);
      auto gone = send_patiently(c_.api, {.service = nullptr, .action = "DeleteRouteTable",
                                          .params = {{"RouteTableId", rtb.value("id", "")}}, .idempotent = true,
                                          .progress = progress});
      if (!gone) return fail(gone.error());
    }
    return {};
  }

  // The internet gateways attached to the VPC: detached and deleted.
  Status remove_gateways(const std::string& vpc, const ProgressFn& progress) {
    Params gateways;
    add_filter(gateways, "attachment.vpc-id", {vpc});
    auto igws = describe(c_.api, "DescribeInternetGateways", gateways, "internetGatewaySet", "internetGatewayId", progress);
    if (!igws) return fail(igws.error());
    for (const json& igw : *igws) {
      const std::string igw_id = igw.value("id", "");
      auto detached = send_patiently(c_.api, {.service = nullptr, .action = "DetachInternetGateway",
                                              .params = {{"InternetGatewayId", igw_id}, {"VpcId", vpc}},
                                              .idempotent = true, .progress = progress});
      if (!detached) return fail(detached.error());
      auto gone = send_patiently(c_.api, {.service = nullptr, .action = "DeleteInternetGateway",
                                          .params = {{"InternetGatewayId", igw_id}}, .idempotent = true,
                                          .progress = progress});
      if (!gone) return fail(gone.error());
    }
    return {};
  }

  // Whether the VPC may have parts already: LookFirst for one that keel
  // did not just make (adopted after a crash or a lost answer, updated),
  // New for the VPC this create's own CreateVpc answered, which has none:
  // three Describes fewer on the apply's critical path.
  enum class Parts { LookFirst, New };

  // The internet gateway and the public route table, made when missing.
  // `made_gateway`: the gateway make_gateway() made for this VPC (not
  // attached yet).
  Result<std::pair<std::string, std::string>> ensure_parts(const std::string& vpc, const provider::ResourceTags& tags,
                                                           const ProgressFn& progress, Parts parts = Parts::LookFirst,
                                                           const std::string* made_gateway = nullptr) {
    // The gateway and the table need nothing of each other: made side by
    // side; only the route needs both.
    auto gateway = std::async(std::launch::async, [&] { return ensure_gateway(vpc, tags, progress, parts, made_gateway); });
    auto rtb = ensure_route_table(vpc, tags, progress, parts);
    auto igw = gateway.get();
    if (!igw) return fail(igw.error());
    if (!rtb) return fail(rtb.error());
    auto routed = ensure_route(*rtb, *igw, progress);
    if (!routed) return fail(routed.error());
    return std::pair{*igw, *routed};
  }

  // A new internet gateway for `vpc` (tagged; a lost answer is found by
  // its tags), not attached yet: its id.
  Result<std::string> make_gateway(const std::string& vpc, const provider::ResourceTags& tags, const ProgressFn& progress) {
    auto lookup = [&]() {
      return find_tagged(c_.api, "DescribeInternetGateways", "internetGatewaySet", "internetGatewayId", tags);
    };
    Call call{.service = nullptr, .action = "CreateInternetGateway", .params = {}, .idempotent = false, .progress = progress};
    tag_at_creation(call.params, "internet-gateway", tags, default_name(tags));
    kit::report(progress, fmt::format("creating the internet gateway of VPC {}", vpc));
    auto sent = c_.api.send_once(call, lookup);
    if (!sent) return fail(sent.error());
    json igw = sent->adopted ? sent->body : value_of(sent->body, "internetGateway");
    std::string id = field_string(igw, "internetGatewayId");
    if (id.empty() && sent->adopted) id = igw.value("id", "");
    if (id.empty()) return fail(ErrorCode::Protocol, "EC2 CreateInternetGateway: the answer holds no internetGatewayId");
    return id;
  }

  Result<std::string> ensure_gateway(const std::string& vpc, const provider::ResourceTags& tags,
                                     const ProgressFn& progress, Parts parts, const std::string* made = nullptr) {
    if (made) return attach_gateway(*made, vpc, progress);
    auto lookup = [&]() {
      return find_tagged(c_.api, "DescribeInternetGateways", "internetGatewaySet", "internetGatewayId", tags);
    };
    Result<std::optional<json>> existing = std::optional<json>();
    if (parts == Parts::LookFirst) {
      Params attached;
      add_filter(attached, "attachment.vpc-id", {vpc});
      auto igws = describe(c_.api, "DescribeInternetGateways", attached, "internetGatewaySet", "internetGatewayId", progress);
      if (!igws) return fail(igws.error());
      if (!igws->empty()) return igws->front().value("id", "");
      // One made before a crash, not attached yet; else a new one.
      existing = lookup();
    }
    if (!existing) return fail(existing.error());
    std::string id;
    if (*existing) id = (*existing)->value("id", "");
    else {
      auto made_now = make_gateway(vpc, tags, progress);
      if (!made_now) return fail(made_now.error());
      id = *made_now;
    }
    return attach_gateway(id, vpc, progress);
  }

  // Deletes a gateway that was never attached.
  Status drop_gateway(const std::string& id, const ProgressFn& progress) {
    auto gone = send_patiently(c_.api, {.service = nullptr, .action = "DeleteInternetGateway",
                                        .params = {{"InternetGatewayId", id}}, .idempotent = true, .progress = progress});
    if (!gone) return fail(gone.error());
    return {};
  }

  // Attaches gateway `id` to `vpc` (already attached: done): the id.
  Result<std::string> attach_gateway(const std::string& id, const std::string& vpc, const ProgressFn& progress) {
    auto attach = c_.api.send({.service = nullptr, .action = "AttachInternetGateway",
                               .params = {{"InternetGatewayId", id}, {"VpcId", vpc}}, .idempotent = true,
                               .progress = progress});
    if (!attach) {
      auto failure = take_failure();
      if (!failure || failure->code != "Resource.AlreadyAssociated") return fail(attach.error());
    }
    return id;
  }

  // The public route table (its routes as they are).
  Result<json> ensure_route_table(const std::string& vpc, const provider::ResourceTags& tags,
                                  const ProgressFn& progress, Parts parts) {
    const std::vector<std::pair<std::string, std::string>> role = {{"keel:role", "public"}};
    auto lookup = [&]() {
      return find_tagged(c_.api, "DescribeRouteTables", "routeTableSet", "routeTableId", tags, role);
    };
    Result<std::optional<json>> existing = parts == Parts::LookFirst ? lookup() : std::optional<json>();
    if (!existing) return fail(existing.error());
    json rtb;
    if (*existing) rtb = **existing;
    else {
      Call call{.service = nullptr, .action = "CreateRouteTable", .params = {{"VpcId", vpc}}, .idempotent = false,
                .progress = progress};
      tag_at_creation(call.params, "route-table", tags, default_name(tags) + "-public", role);
      auto sent = c_.api.send_once(call, lookup);
      if (!sent) return fail(sent.error());
      rtb = sent->adopted ? sent->body : value_of(sent->body, "routeTable");
    }
    return rtb;
  }

  // The table's route to the internet through `igw`, made when missing:
  // the table's id.
  Result<std::string> ensure_route(const json& rtb, const std::string& igw, const ProgressFn& progress) {
    const std::string id = field_string(rtb, "routeTableId");
    if (id.empty()) return fail(ErrorCode::Protocol, "EC2 CreateRouteTable: the answer holds no routeTableId");
    for (const json& route : items(rtb, "routeSet"))
      if (field_string(route, "destinationCidrBlock") == "0.0.0.0/0") return id;
    auto route = c_.api.send({.service = nullptr, .action = "CreateRoute",
                              .params = {{"DestinationCidrBlock", "0.0.0.0/0"}, {"GatewayId", igw}, {"RouteTableId", id}},
                              .idempotent = true, .progress = progress});
    if (!route) {
      auto failure = take_failure();
      if (!failure || failure->code != "RouteAlreadyExists") return fail(route.error());
    }
    return id;
  }
};

}  // namespace

provider::KindSchema networks_schema() {
  using T = AttributeType;
  return {"networks",
          "AWS VPCs, each with an internet gateway and a route table for its public subnets.",
          {
              Attr("cidr", T::String, "The VPC's IPv4 range, e.g. 10.77.0.0/16.").required().force_new(),
              Attr("id", T::String, "The VPC id.").computed(),
              Attr("arn", T::String, "The VPC's ARN.").computed(),
              Attr("name", T::String, "The Name tag: `<project>-<name>`.").computed(),
              Attr("status", T::String, "pending or available.").computed(),
              Attr("internet_gateway_id", T::String, "The internet gateway.").computed(),
              Attr("route_table_id", T::String, "The route table of the public subnets.").computed(),
          }};
}

std::unique_ptr<kit::Kind> make_networks(Context& context) { return std::make_unique<Networks>(context); }

}  // namespace keel::aws
