#pragma once
// keel-provider-digitalocean: keel's provider for DigitalOcean, through its
// public API (https://api.digitalocean.com/v2), run out of process by
// keel::plugin::serve (see docs/providers/digitalocean.md for the user's
// view).
//
//   providers:
//     do: { type: digitalocean, token: "${env.DO_TOKEN}", endpoint: ... }
//
// Kinds: servers (droplets), databases and caches (managed clusters),
// load_balancers, firewalls, volumes; one file each, behind the Kind
// interface of kind.h. The modules:
//
//   api_client  one exchange at a time through http::HttpClient, with the
//               token's request budget, retries, lost-response adoption,
//               pagination and DigitalOcean's errors
//   snapshots   coalesced list calls: many reads or waits, one request
//   waiter      following actions and polling statuses on those snapshots
//   naming      keel's tags and default names
//   attributes  the schema builder and attribute readers
//   kind        the per-kind interface and the steps the kinds share
//   droplets, databases (and caches), load_balancers, firewalls, volumes
//               one kind each
//   provider    this: schema, configure, dispatch by kind
//
// configure() takes the token (`token`, else $DIGITALOCEAN_TOKEN, as doctl
// reads it) and the endpoint, and checks the token with GET /v2/account.
// The token is never written to a log line, an error or a progress message.
//
// Thread-safe: operations run concurrently on different resources.

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/http_client.h"
#include "core/provider.h"
#include "plugins/digitalocean/api_client.h"
#include "plugins/digitalocean/waiter.h"

namespace keel::digitalocean {

struct ProviderOptions {
  // The HTTP client to send through; null: a CurlHttpClient of its own.
  http::HttpClient* http = nullptr;
  // Reads the plugin's environment; null: std::getenv.
  std::function<std::optional<std::string>(const std::string& name)> environment;
  ApiOptions api;  // retries and budget (endpoint and token come from configure)
  WaitOptions wait;
  // How old a list may be to serve a read (never one from before this
  // process's last write of the kind). keel reads each resource once per
  // run, all of them at the start (refresh), --parallelism at a time: with
  // 0, every wave of reads would need a list of its own (51 requests to
  // refresh 230 resources, against 250 a minute); 5 s serves the whole
  // refresh from one or two lists. A change made behind keel's back while a
  // run is reading may then be seen only by the next run.
  std::chrono::milliseconds read_max_age{5000};
};

class DigitalOceanProvider final : public provider::Provider {
 public:
  explicit DigitalOceanProvider(ProviderOptions options = {});
  ~DigitalOceanProvider() override;

  const provider::ProviderSchema& schema() const override { return schema_; }
  Status configure(const provider::ConfigureRequest& request) override;
  Result<provider::CreateResponse> create(const provider::CreateRequest& request) override;
  Result<provider::ReadResponse> read(const provider::ReadRequest& request) override;
  Result<provider::UpdateResponse> update(const provider::UpdateRequest& request) override;
  Status remove(const provider::DeleteRequest& request) override;
  Result<provider::FindResponse> find(const provider::FindRequest& request) override;

  // After configure (tests): the client every operation uses.
  ApiClient* api() const;

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

}  // namespace keel::digitalocean
