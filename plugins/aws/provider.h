#pragma once
// keel-provider-aws: keel's provider for AWS (EC2, VPC, Elastic Load
// Balancing v2, Auto Scaling), through AWS's Query APIs signed with SigV4, run out of process by keel::plugin::serve
// (see docs/providers/aws.md for the user's view).
//
//   providers:
//     aws: { type: aws, region: us-east-1 }   # keys and endpoint as the AWS CLI finds them
//
// Kinds (one file each, on the kit of plugins/sdk): networks (VPC, internet
// gateway, public route table), subnets, firewalls (security groups),
// servers (EC2 instances), volumes (EBS), load_balancers (ALB, NLB),
// server_groups (launch template, Auto Scaling group). The modules:
//
//   credentials  keys, region and endpoint as the AWS CLI finds them
//   api_client   signing, the account's request budget, retries, lost
//                responses, AWS's errors, XML answers as JSON
//   kind         the project's Describe snapshots, tagging, TaggedKind
//   networks, subnets, firewalls, servers, volumes, load_balancers,
//   server_groups
//   provider     this: schema, configure, dispatch by kind
//
// configure() checks the keys with DescribeAvailabilityZones. They are
// never written to a log line, an error, state or a progress message.
//
// Thread-safe: operations run concurrently on different resources.

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/http_client.h"
#include "core/provider.h"
#include "plugins/aws/api_client.h"
#include "plugins/aws/credentials.h"
#include "plugins/sdk/poller.h"

namespace keel::aws {

struct ProviderOptions {
  http::HttpClient* http = nullptr;  // null: a CurlHttpClient of its own
  Environment environment;           // null: std::getenv
  ApiOptions api;                    // retries and budget (keys, region and endpoint come from configure)
  // EC2 states change within seconds, and a poll is one shared Describe per
  // kind however many wait (at most 5 a second of the 20 a second budget,
  // and only for the first two seconds; polls give way to every other
  // request): poll every 200 ms at first, then every tenth of the time
  // waited, at least every second, so that a wait ends at most 10% (or
  // 200 ms) after the moment the VPC is available or the instance running.
  kit::WaitOptions wait{.first = std::chrono::milliseconds(200), .factor = 1.5, .max = std::chrono::milliseconds(1000),
                        .share = 0.1};
  // How old a Describe snapshot may be to serve a read (never one from
  // before this process's last write of the kind).
  std::chrono::milliseconds read_max_age{5000};
};

class AwsProvider final : public provider::Provider {
 public:
  explicit AwsProvider(ProviderOptions options = {});
  ~AwsProvider() override;

  const provider::ProviderSchema& schema() const override { return schema_; }
  Status configure(const provider::ConfigureRequest& request) override;
  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override;
  Result<provider::ReadResponse> read(const provider::ReadRequest& request) override;
  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override;
  Status remove(const provider::DeleteRequest& request) override;
  Result<provider::FindResponse> find(const provider::FindRequest& request) override;

 private:
  struct Session;
  Result<std::shared_ptr<Session>> session() const;

  const provider::ProviderSchema schema_;
  ProviderOptions options_;
  std::unique_ptr<http::HttpClient> own_http_;
  mutable std::mutex mutex_;
  std::shared_ptr<Session> session_;
};

provider::ProviderSchema make_schema();

}  // namespace keel::aws
