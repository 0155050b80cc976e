#include <httplib.h>

#include <fmt/format.h>

#include "agent/webhook.h"

namespace keel::agent {

// One attempt: the Webhook's own loop retries with backoff, so nothing here
// does. The agent posts with cpp-httplib's client, the library that already
// serves its API, rather than libcurl: libcurl would load some twenty more
// shared libraries (GnuTLS, Kerberos, LDAP, ...) into every agent and cost
// about 3.5 MB of resident memory (see docs/decisions.md).
Status post_webhook(const WebhookConfig& config, const std::string& body) {
  const std::string& url = config.url;
  const auto scheme_end = url.find("://");
  const auto path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  const std::string origin = url.substr(0, path_start);
  const std::string path = path_start == std::string::npos ? "/" : url.substr(path_start);

  httplib::Client client(origin);
  if (!client.is_valid()) return fail(ErrorCode::InvalidConfig, fmt::format("webhook: bad URL {}", origin));
  const auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(config.timeout);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  client.enable_server_certificate_verification(true);
  client.set_follow_location(false);
  httplib::Headers headers = {{"User-Agent", "keel-agent/" KEEL_VERSION}};
  auto result = client.Post(path, headers, body, "application/json");
  if (!result) return fail(ErrorCode::Transient, fmt::format("POST {}: {}", origin, httplib::to_string(result.error())));
  if (result->status < 200 || result->status >= 300)
    return fail(ErrorCode::Transient, fmt::format("POST {}: HTTP {}", origin, result->status));
  return {};
}

}  // namespace keel::agent
