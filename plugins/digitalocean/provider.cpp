#include "plugins/digitalocean/provider.h"

#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "plugins/digitalocean/attributes.h"
#include "plugins/digitalocean/kind.h"
#include "plugins/sdk/sdk.h"

namespace keel::digitalocean {

using provider::ProviderSchema;

namespace {

constexpr const char* kDefaultEndpoint = "https://api.digitalocean.com";

// Hands the HTTP status and DigitalOcean's message of the failure behind an
// error to the plugin SDK (it reports them with the error), and clears them.
template <typename T>
T reported(T result) {
  std::optional<Failure> failure = take_failure();
  if (!result && failure && result.error().message().ends_with(failure->message))
    plugin::set_error_details(failure->status, failure->cloud_message.empty() ? std::nullopt
                                                                              : std::optional<std::string>(failure->cloud_message));
  return result;
}

}  // namespace

ProviderSchema make_schema() {
  using T = AttributeType;
  std::vector<AttributeSchema> config = {
      Attr("token", T::String, "API token; default: the plugin's $DIGITALOCEAN_TOKEN (as doctl reads it).")
          .optional()
          .sensitive(),
      Attr("endpoint", T::String, "API base URL (tests point it at a simulator).").optional().default_to(kDefaultEndpoint),
  };
  return ProviderSchema{"digitalocean",
                        KEEL_VERSION,
                        config,
                        {droplets_schema(), databases_schema(), caches_schema(), load_balancers_schema(),
                         firewalls_schema(), volumes_schema()}};
}

// Everything configure() sets up, alive as long as an operation uses it.
struct DigitalOceanProvider::Session {
  Session(http::HttpClient& http, ApiOptions api_options, const std::string& project, const ProviderOptions& options)
      : api(http, std::move(api_options)),
        sources(api, project),
        waiter(api, sources.actions, options.wait),
        context{api, waiter, sources, project, options.read_max_age} {
    kinds.add("servers", make_droplets(context));
    kinds.add("databases", make_databases(context));
    kinds.add("caches", make_caches(context));
    kinds.add("load_balancers", make_load_balancers(context));
    kinds.add("firewalls", make_firewalls(context));
    kinds.add("volumes", make_volumes(context));
  }

  Result<Kind*> kind(const std::string& name) { return kinds.get(name); }

  ApiClient api;
  Sources sources;
  Waiter waiter;
  Context context;
  kit::Kinds kinds{"digitalocean"};
};

DigitalOceanProvider::DigitalOceanProvider(ProviderOptions options) : schema_(make_schema()), options_(std::move(options)) {
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

DigitalOceanProvider::~DigitalOceanProvider() = default;

Status DigitalOceanProvider::configure(const provider::ConfigureRequest& request) {
  auto token = optional_string(request.config, "token");
  if (!token) return fail(token.error().with_context("digitalocean provider"));
  std::string secret = token->value_or("");
  if (secret.empty()) secret = options_.environment("DIGITALOCEAN_TOKEN").value_or("");
  if (secret.empty())
    return fail(ErrorCode::InvalidConfig, "no DigitalOcean token: set `token` or DIGITALOCEAN_TOKEN");
  auto endpoint = optional_string(request.config, "endpoint");
  if (!endpoint) return fail(endpoint.error().with_context("digitalocean provider"));
  std::string base = endpoint->value_or("");
  if (base.empty()) base = kDefaultEndpoint;
  if (!base.starts_with("https://") && !base.starts_with("http://"))
    return fail(ErrorCode::InvalidConfig,
                fmt::format("`endpoint` \"{}\" must be an http:// or https:// URL", http::redact_url(base)));
  while (base.back() == '/') base.pop_back();
  if (request.project.empty()) return fail(ErrorCode::InvalidConfig, "the digitalocean provider needs the project's name");

  ApiOptions api_options = options_.api;
  api_options.endpoint = base;
  api_options.token = secret;
  auto session = std::make_shared<Session>(*options_.http, std::move(api_options), request.project, options_);

  // Check the token now rather than at the first resource.
  Call check;
  check.path = "/v2/account";
  check.attempts = 3;
  auto account = session->api.send(check);
  if (!account) {
    std::optional<Failure> failure = take_failure();
    if (failure && failure->status == 401) {
      plugin::set_error_details(401, failure->cloud_message);
      return fail(ErrorCode::PermissionDenied,
                  fmt::format("DigitalOcean refused the token (401 unauthorized): {}", failure->cloud_message));
    }
    if (failure && account.error().message().ends_with(failure->message))
      plugin::set_error_details(failure->status, failure->cloud_message);
    return fail(account.error().with_context(fmt::format("checking the DigitalOcean token at {}", http::redact_url(base))));
  }
  std::lock_guard lock(mutex_);
  session_ = std::move(session);
  return {};
}

Result<std::shared_ptr<DigitalOceanProvider::Session>> DigitalOceanProvider::session() const {
  std::lock_guard lock(mutex_);
  if (!session_) return fail(ErrorCode::Internal, "the digitalocean provider is not configured");
  return session_;
}

ApiClient* DigitalOceanProvider::api() const {
  std::lock_guard lock(mutex_);
  return session_ ? &session_->api : nullptr;
}

Result<provider::CreateResponse> DigitalOceanProvider::create(const provider::CreateRequest& request) {
  auto s = session();
  if (!s) return fail(s.error());
  auto kind = (*s)->kind(request.kind);
  if (!kind) return fail(kind.error());
  return reported((*kind)->create(request));
}

Result<provider::ReadResponse> DigitalOceanProvider::read(const provider::ReadRequest& request) {
  auto s = session();
  if (!s) return fail(s.error());
  auto kind = (*s)->kind(request.kind);
  if (!kind) return fail(kind.error());
  return reported((*kind)->read(request));
}

Result<provider::UpdateResponse> DigitalOceanProvider::update(const provider::UpdateRequest& request) {
  auto s = session();
  if (!s) return fail(s.error());
  auto kind = (*s)->kind(request.kind);
  if (!kind) return fail(kind.error());
  return reported((*kind)->update(request));
}

Status DigitalOceanProvider::remove(const provider::DeleteRequest& request) {
  auto s = session();
  if (!s) return fail(s.error());
  auto kind = (*s)->kind(request.kind);
  if (!kind) return fail(kind.error());
  return reported((*kind)->remove(request));
}

Result<provider::FindResponse> DigitalOceanProvider::find(const provider::FindRequest& request) {
  auto s = session();
  if (!s) return fail(s.error());
  auto kind = (*s)->kind(request.kind);
  if (!kind) return fail(kind.error());
  return reported((*kind)->find(request));
}

}  // namespace keel::digitalocean
