// The http(s) check, with Consul's rules: without `status`, any 2xx passes,
// 429 warns and anything else fails; with `status`, a listed code passes and
// anything else fails. Redirects are not followed (a 301 is what the
// endpoint said). `body_contains` looks at the first 64 KiB of the body;
// https also reports how soon the server's certificate expires.
//
// Cost matters (the agent runs thousands of these): each thread keeps one
// libcurl easy handle, so connections, TLS sessions and DNS answers are
// reused from one run to the next; curl_easy_reset clears the options but
// keeps those caches.
//
// Header values may carry tokens: none is ever put into the output.

#include <dlfcn.h>
#include <strings.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string_view>

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/asn1.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "agent/checks/check.h"

namespace keel::agent {
namespace {

using checks::CheckStatus;

constexpr size_t kMaxBody = 64 * 1024;  // more is not read: the transfer is stopped
constexpr long kMaxConnections = 16;    // per thread: one per target, for a typical host's checks
constexpr long kCaCacheSeconds = 600;

// ---- the per-thread handle --------------------------------------------------

struct EasyHandle {
  CURL* curl = nullptr;
  EasyHandle() {
    // curl_global_init is not thread-safe in every libcurl build: once.
    static std::once_flag once;
    std::call_once(once, [] { ::curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl = ::curl_easy_init();
  }
  ~EasyHandle() {
    if (curl) ::curl_easy_cleanup(curl);
  }
  EasyHandle(const EasyHandle&) = delete;
  EasyHandle& operator=(const EasyHandle&) = delete;
};

CURL* thread_handle() {
  thread_local EasyHandle handle;
  if (handle.curl) ::curl_easy_reset(handle.curl);
  return handle.curl;
}

// ---- the server certificate ---------------------------------------------------

// SSL_get0_peer_certificate lives in libssl, which libcurl has loaded but
// keel does not link; looking it up at run time also keeps the check working
// (without the expiry) under a libcurl built for another TLS library.
using PeerCertificateFn = X509* (*)(const SSL*);

PeerCertificateFn peer_certificate_fn() {
  static const PeerCertificateFn fn =
      reinterpret_cast<PeerCertificateFn>(::dlsym(RTLD_DEFAULT, "SSL_get0_peer_certificate"));
  return fn;
}

struct CertExpiry {
  bool known = false;
  int days = 0;  // whole days left; negative once expired
  bool expired = false;
};

// Asked while the transfer runs: afterwards libcurl has detached the
// connection and no longer hands out its SSL pointer.
CertExpiry certificate_expiry(CURL* curl) {
  CertExpiry out;
  curl_tlssessioninfo* info = nullptr;
  if (::curl_easy_getinfo(curl, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || !info || !info->internals ||
      info->backend != CURLSSLBACKEND_OPENSSL) {
    return out;
  }
  PeerCertificateFn peer_certificate = peer_certificate_fn();
  if (!peer_certificate) return out;
  X509* cert = peer_certificate(static_cast<const SSL*>(info->internals));
  const ASN1_TIME* not_after = cert ? ::X509_get0_notAfter(cert) : nullptr;
  int days = 0, seconds = 0;
  if (!not_after || ::ASN1_TIME_diff(&days, &seconds, nullptr, not_after) != 1) return out;
  out.known = true;
  out.days = days;
  out.expired = days < 0 || seconds < 0;
  return out;
}

// ---- one transfer ---------------------------------------------------------------

struct Transfer {
  CURL* curl = nullptr;
  bool https = false;
  bool keep_body = false;  // body_contains is set
  std::string body;        // its first kMaxBody bytes, when kept
  size_t body_bytes = 0;
  bool body_cut = false;   // more than kMaxBody arrived, and we stopped there
  char reason[64] = {};    // the reason phrase of the (last) status line
  bool looked_at_cert = false;
  CertExpiry cert;
};

// "HTTP/1.1 404 Not Found\r\n" -> "Not Found"; HTTP/2 has none.
void remember_reason(Transfer& t, std::string_view line) {
  size_t first = line.find(' ');
  size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  std::string_view reason = second == std::string_view::npos ? std::string_view() : line.substr(second + 1);
  while (!reason.empty() && (reason.back() == '\r' || reason.back() == '\n')) reason.remove_suffix(1);
  size_t n = std::min(reason.size(), sizeof t.reason - 1);
  for (size_t i = 0; i < n; ++i) t.reason[i] = (reason[i] >= 0x20 && reason[i] < 0x7f) ? reason[i] : ' ';
  t.reason[n] = '\0';
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t total = size * count;
  std::string_view line(data, total);
  if (line.starts_with("HTTP/")) remember_reason(t, line);
  if (t.https && !t.looked_at_cert) {
    t.looked_at_cert = true;
    t.cert = certificate_expiry(t.curl);
  }
  return total;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const size_t total = size * count;
  const size_t room = kMaxBody - t.body_bytes;
  const size_t take = std::min(total, room);
  if (t.keep_body) t.body.append(data, take);
  t.body_bytes += take;
  if (total > room) {
    t.body_cut = true;
    return 0;  // stops the transfer (CURLE_WRITE_ERROR, which we expect)
  }
  return total;
}

struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { ::curl_slist_free_all(list); }
};

bool has_body_method(std::string_view method) { return method == "POST" || method == "PUT" || method == "PATCH"; }

void set_method(CURL* curl, const std::string& method) {
  if (method.empty() || method == "GET") return;
  if (method == "HEAD") {
    ::curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    return;
  }
  ::curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  // An empty body, so that the request says "Content-Length: 0" as servers
  // expect of these methods.
  if (has_body_method(method)) {
    ::curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    ::curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
  }
}

bool set_headers(CURL* curl, const checks::HttpCheck& check, HeaderList& headers) {
  for (const auto& [name, value] : check.headers) {
    // "Name;" is how libcurl is told to send a header with an empty value.
    std::string line = value.empty() ? fmt::format("{};", name) : fmt::format("{}: {}", name, value);
    curl_slist* grown = ::curl_slist_append(headers.list, line.c_str());
    if (!grown) return false;
    headers.list = grown;
  }
  if (headers.list) ::curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list);
  return true;
}

void set_options(CURL* curl, const checks::HttpCheck& check, std::chrono::milliseconds timeout, Transfer& t,
                 char* error_buffer) {
  ::curl_easy_setopt(curl, CURLOPT_URL, check.url.c_str());
  ::curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  ::curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  ::curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  ::curl_easy_setopt(curl, CURLOPT_MAXCONNECTS, kMaxConnections);
  ::curl_easy_setopt(curl, CURLOPT_USERAGENT, "keel-agent/" KEEL_VERSION);
  ::curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  ::curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  ::curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  ::curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  ::curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  if (!check.tls_verify) {
    ::curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    ::curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!check.ca_file.empty()) ::curl_easy_setopt(curl, CURLOPT_CAINFO, check.ca_file.c_str());
  // libcurl keeps a parsed CA store per handle, by file name, for 24 hours by
  // default; a CA file rotated in place should count sooner than that.
  ::curl_easy_setopt(curl, CURLOPT_CA_CACHE_TIMEOUT, kCaCacheSeconds);
  set_method(curl, check.method);
}

// ---- judging the response -------------------------------------------------------

CheckStatus status_rule(const checks::HttpCheck& check, long code) {
  if (!check.expect_status.empty()) {
    bool listed = std::find(check.expect_status.begin(), check.expect_status.end(), code) != check.expect_status.end();
    return listed ? CheckStatus::Passing : CheckStatus::Critical;
  }
  if (code >= 200 && code <= 299) return CheckStatus::Passing;
  if (code == 429) return CheckStatus::Warning;
  return CheckStatus::Critical;
}

std::string shortened(std::string_view text, size_t limit = 60) {
  if (text.size() <= limit) return std::string(text);
  return fmt::format("{}...", text.substr(0, limit));
}

CheckResult judge(const checks::HttpCheck& check, const Transfer& t, long code, long long ms) {
  CheckResult result;
  result.status = status_rule(check, code);
  result.output = t.reason[0] ? fmt::format("HTTP {} {} in {} ms", code, t.reason, ms)
                              : fmt::format("HTTP {} in {} ms", code, ms);
  if (result.status != CheckStatus::Passing && !check.expect_status.empty()) {
    result.output += fmt::format(" (expected {})", fmt::join(check.expect_status, ", "));
  }
  if (!check.body_contains.empty() && t.body.find(check.body_contains) == std::string::npos) {
    result.status = checks::worst(result.status, CheckStatus::Critical);
    result.output += fmt::format("; body does not contain \"{}\"{}", shortened(check.body_contains),
                                 t.body_cut ? " (in its first 64 KiB)" : "");
  }
  if (t.cert.known && t.cert.expired) {
    result.status = checks::worst(result.status, CheckStatus::Critical);
    result.output += t.cert.days < 0 ? fmt::format("; certificate expired {} days ago", -t.cert.days)
                                     : std::string("; certificate expired");
  } else if (t.cert.known && t.cert.days < check.cert_days_warning) {
    result.status = checks::worst(result.status, CheckStatus::Warning);
    result.output += fmt::format("; certificate expires in {} day{}", t.cert.days, t.cert.days == 1 ? "" : "s");
  }
  return result;
}

}  // namespace

CheckResult run_http_check(const checks::HttpCheck& check, std::chrono::milliseconds timeout) {
  CURL* curl = thread_handle();
  if (!curl) return {CheckStatus::Unknown, "cannot initialise libcurl"};
  Transfer t;
  t.curl = curl;
  t.https = check.url.size() >= 8 && ::strncasecmp(check.url.c_str(), "https://", 8) == 0;
  t.keep_body = !check.body_contains.empty();
  char error_buffer[CURL_ERROR_SIZE];
  error_buffer[0] = '\0';
  set_options(curl, check, timeout, t, error_buffer);
  HeaderList headers;
  if (!set_headers(curl, check, headers)) return {CheckStatus::Unknown, "out of memory"};

  const CURLcode rc = ::curl_easy_perform(curl);
  // Options point at locals (the error buffer, the header list): drop them now.
  ::curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  ::curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && t.body_cut)) {
    return {CheckStatus::Critical, error_buffer[0] ? std::string(error_buffer) : ::curl_easy_strerror(rc)};
  }
  long code = 0;
  ::curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  if (code == 0) return {CheckStatus::Critical, "no HTTP response"};
  curl_off_t micros = 0;
  ::curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME_T, &micros);
  return judge(check, t, code, static_cast<long long>(micros / 1000));
}

}  // namespace keel::agent
