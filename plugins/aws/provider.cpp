#include "plugins/aws/provider.h"

#include <cstdlib>

#include <fmt/format.h>

#include "plugins/aws/kind.h"
#include "plugins/sdk/attributes.h"
#include "plugins/sdk/kinds.h"
#include "plugins/sdk/sdk.h"

namespace keel::aws {

namespace {

// Hands the HTTP status and AWS's message of the failure behind an error to
// the plugin SDK (it reports them with the error), and clears them.
template <typename T>
T reported(T result) {
  std::optional<Failure> failure = take_failure();
  if (!result && failure && result.error().message().ends_with(failure->message))
    plugin::set_error_details(failure->status, failure->cloud_message.empty()
                                                   ? std::nullopt
                                                   : std::optional<std::string>(failure->code + ": " + failure->cloud_message));
  return result;
}

}  // namespace

provider::ProviderSchema make_schema() {
  using T = provider::AttributeType;
  std::vector<provider::AttributeSchema> config = {
      kit::Attr("region", T::String, "Region; default: AWS_REGION, AWS_DEFAULT_REGION, the profile's region.").optional(),
      kit::Attr("profile", T::String, "Profile of ~/.aws/credentials and ~/.aws/config; default: AWS_PROFILE, else default.")
          .optional(),
      kit::Attr("endpoint", T::String, "API URL; default: AWS_ENDPOINT_URL, the profile's endpoint_url, else AWS's.")
          .optional(),
      kit::Attr("requests_per_second", T::Number, "The account's request budget, shared by every call in flight.")
          .optional()
          .default_to(20),
  };
  return provider::ProviderSchema{"aws",
                                  KEEL_VERSION,
                                  config,
                                  {networks_schema(), subnets_schema(), firewalls_schema(), servers_schema(), volumes_schema(),
                                   load_balancers_schema(), server_groups_schema()}};
}

struct AwsProvider::Session {
  Session(http::HttpClient& http, ApiOptions api_options, const std::string& project, const ProviderOptions& options)
      : api(http, std::move(api_options)),
        sources(api, project),
        poller(options.wait),
        context{api, poller, sources, project, api.options().region, options.read_max_age} {
    kinds.add("networks", make_networks(context));
    kinds.add("subnets", make_subnets(context));
    kinds.add("firewalls", make_firewalls(context));
    kinds.add("servers", make_servers(context));
    kinds.add("volumes", make_volumes(context));
    kinds.add("load_balancers", make_load_balancers(context));
    kinds.add("server_groups", make_server_groups(context));
  }

  ApiClient api;
  Sources sources;
  kit::Poller poller;
  Context context;
  kit::Kinds kinds{"aws"};
};

AwsProvider::AwsProvider(ProviderOptions options) : schema_(make_schema()), options_(std::move(options)) {
  if (!options_.http) {
    own_http_ = std::make_unique<http::CurlHttpClient>();
    options_.http = own_http_.get();
  }
  if (!options_.environment) {
    options_.environment = [](const std::string& name) -> std::optional<std::string> {
      const char* value = std::getenv(name.c_str());
      if (!value) return std::nullopt;
      return std::string(value);
    };
  }
}

AwsProvider::~AwsProvider() = default;

Status AwsProvider::configure(const provider::ConfigureRequest& request) {
  Wanted wanted;
  for (auto [name, out] : {std::pair{"region", &wanted.region}, {"profile", &wanted.profile}, {"endpoint", &wanted.endpoint}}) {
    auto value = kit::optional_string(request.config, name);
    if (!value) return fail(value.error().with_context("aws provider"));
    *out = value->value_or("");
  }
  auto settings = find_settings(wanted, options_.environment);
  if (!settings) return fail(settings.error().with_context("aws provider"));
  std::string endpoint = settings->endpoint;
  if (!endpoint.empty() && !endpoint.starts_with("https://") && !endpoint.starts_with("http://"))
    return fail(ErrorCode::InvalidConfig,
                fmt::format("aws provider: endpoint \"{}\" must be an http:// or https:// URL", http::redact_url(endpoint)));
  if (request.project.empty()) return fail(ErrorCode::InvalidConfig, "the aws provider needs the project's name");
  ApiOptions api_options = options_.api;
  api_options.endpoint = endpoint;
  api_options.region = settings->region;
  api_options.credentials = settings->credentials;
  if (auto rate = kit::value_of(request.config, "requests_per_second"); rate.is_number() && rate.get<double>() > 0)
    api_options.requests_per_second = rate.get<double>();
  auto session = std::make_shared<Session>(*options_.http, std::move(api_options), request.project, options_);

  // The keys, checked now rather than at the first resource.
  auto check = session->api.send({.service = nullptr, .action = "DescribeAvailabilityZones", .params = {},
                                  .idempotent = true, .progress = {}});
  if (!check) {
    std::optional<Failure> failure = take_failure();
    if (failure) plugin::set_error_details(failure->status, failure->code + ": " + failure->cloud_message);
    return fail(check.error().with_context(fmt::format("checking the AWS keys of {} in {}", settings->source, settings->region)));
  }
  std::lock_guard lock(mutex_);
  session_ = std::move(session);
  return {};
}

Result<std::shared_ptr<AwsProvider::Session>> AwsProvider::session() const {
  std::lock_guard lock(mutex_);
  if (!session_) return fail(ErrorCode::Internal, "the aws provider is not configured");
  return session_;
}

Result<provider::CreateResponse> AwsProvider::create(const provider::CreateRequest& request) {
  auto s = session();
  if (!s) return fail(s.error());
  auto kind = (*s)->kinds.get(request.kind);
  if (!kind) return fail(kind.error());
  return reported((*kind)->create(request));
}

Result<provider::ReadResponse> AwsProvider::read(const provider::ReadRequest& request) {
  auto s = session();
  if (!s) return fail(s.error());
  auto kind = (*s)->kinds.get(request.kind);
  if (!kind) return fail(kind.error());
  return reported((*kind)->read(request));
}

Result<provider::UpdateResponse> AwsProvider::update(const provider::UpdateRequest& request) {
  auto s = session();
  if (!s) return fail(s.error());
  auto kind = (*s)->kinds.get(request.kind);
  if (!kind) return fail(kind.error());
  return reported((*kind)->update(request));
}

Status AwsProvider::remove(const provider::DeleteRequest& request) {
  auto s = session();
  if (!s) return fail(s.error());
  auto kind = (*s)->kinds.get(request.kind);
  if (!kind) return fail(kind.error());
  return reported((*kind)->remove(request));
}

Result<provider::FindResponse> AwsProvider::find(const provider::FindRequest& request) {
  auto s = session();
  if (!s) return fail(s.error());
  auto kind = (*s)->kinds.get(request.kind);
  if (!kind) return fail(kind.error());
  return reported((*kind)->find(request));
}

}  // namespace keel::aws
