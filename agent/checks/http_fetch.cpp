// The HTTP transport of the http and graphql checks (http_fetch.h).
// Redirects are not followed (a 301 is what the endpoint said).
//
// It uses cpp-httplib's client, the library that already serves the agent's
// API, rather than libcurl: Debian's libcurl loads some twenty more shared
// libraries (GnuTLS, Kerberos, LDAP, ...) and costs about 3.4 MB of resident
// memory in every agent (see docs/decisions.md).
//
// Cost matters (the agent runs thousands of these): each thread keeps one
// client per origin (and TLS settings), so connections are kept alive and
// reused from one run to the next.
//
// Header values may carry tokens: none is ever put into the output.

#include <strings.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <httplib.h>
#include <openssl/asn1.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "agent/checks/http_fetch.h"
#include "core/crypto.h"

namespace keel::agent::detail {
namespace {

using checks::CheckStatus;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxClients = 16;      // per thread: one per target, for a typical host's checks
// A client loads its CA file once; a CA file rotated in place should count
// after this long (and a client unused this long is dropped).
constexpr auto kClientLifetime = std::chrono::seconds(600);

// ---- the URL ----------------------------------------------------------------------

struct Url {
  bool https = false;
  std::string host;       // without brackets
  int port = 0;
  std::string authority;  // for the Host header: host[:port], brackets kept
  std::string target;     // path and query, "/" at least
  std::string user, password;
  bool has_user = false;
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

Result<Url> parse_url(std::string_view text) {
  Url url;
  const size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) return fail(ErrorCode::InvalidConfig, "URL without a scheme");
  const std::string_view scheme = text.substr(0, scheme_end);
  if (scheme.size() == 5 && ::strncasecmp(scheme.data(), "https", 5) == 0) url.https = true;
  else if (!(scheme.size() == 4 && ::strncasecmp(scheme.data(), "http", 4) == 0))
    return fail(ErrorCode::InvalidConfig, fmt::format("unsupported URL scheme \"{}\"", scheme.substr(0, 20)));
  std::string_view rest = text.substr(scheme_end + 3);
  if (const size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  const size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  url.target = target.empty() ? "/" : target.front() == '?' ? fmt::format("/{}", target) : std::string(target);

  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    url.has_user = true;
    url.user = percent_decoded(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) url.password = percent_decoded(userinfo.substr(colon + 1));
    authority = authority.substr(at + 1);
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail(ErrorCode::InvalidConfig, "bad IPv6 address in the URL");
    url.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail(ErrorCode::InvalidConfig, "bad port in the URL");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) return fail(ErrorCode::InvalidConfig, "URL without a host");
  const int default_port = url.https ? 443 : 80;
  url.port = default_port;
  if (!port_text.empty()) {
    int port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) return fail(ErrorCode::InvalidConfig, "bad port in the URL");
      port = port * 10 + (c - '0');
    }
    if (port < 1 || port > 65535) return fail(ErrorCode::InvalidConfig, "bad port in the URL");
    url.port = port;
  }
  const std::string host = url.host.find(':') != std::string::npos ? fmt::format("[{}]", url.host) : url.host;
  url.authority = url.port == default_port ? host : fmt::format("{}:{}", host, url.port);
  return url;
}

// ---- the server certificate ---------------------------------------------------

struct CertExpiry {
  bool known = false;
  int days = 0;  // whole days left; negative once expired
  bool expired = false;
};

CertExpiry expiry_of(const X509* cert) {
  CertExpiry out;
  const ASN1_TIME* not_after = cert ? ::X509_get0_notAfter(cert) : nullptr;
  int days = 0, seconds = 0;
  if (!not_after || ::ASN1_TIME_diff(&days, &seconds, nullptr, not_after) != 1) return out;
  out.known = true;
  out.days = days;
  out.expired = days < 0 || seconds < 0;
  return out;
}

// ---- the per-thread clients -----------------------------------------------------

struct Target {
  std::unique_ptr<httplib::ClientImpl> client;
  bool verify = true;
  CertExpiry cert;  // of the last handshake: a reused connection keeps its certificate
  Clock::time_point created, used;
};

// OpenSSL calls this in every handshake, whether the chain is to be verified
// or not (httplib verifies the host name itself, afterwards).
int on_verify_certificate(X509_STORE_CTX* ctx, void* arg) {
  auto& target = *static_cast<Target*>(arg);
  target.cert = expiry_of(::X509_STORE_CTX_get0_cert(ctx));
  return target.verify ? ::X509_verify_cert(ctx) : 1;
}

std::unique_ptr<Target> make_target(const Url& url, const checks::HttpCheck& check) {
  auto target = std::make_unique<Target>();
  target->verify = check.tls_verify;
  target->created = Clock::now();
  if (url.https) {
    auto client = std::make_unique<httplib::SSLClient>(url.host, url.port);
    client->enable_server_certificate_verification(check.tls_verify);
    if (!check.ca_file.empty()) client->set_ca_cert_path(check.ca_file);
    if (SSL_CTX* ctx = client->ssl_context()) ::SSL_CTX_set_cert_verify_callback(ctx, on_verify_certificate, target.get());
    target->client = std::move(client);
  } else {
    target->client = std::make_unique<httplib::ClientImpl>(url.host, url.port);
  }
  target->client->set_keep_alive(true);
  target->client->set_follow_location(false);
  return target;
}

Target& thread_target(const Url& url, const checks::HttpCheck& check) {
  thread_local std::unordered_map<std::string, std::unique_ptr<Target>> targets;
  const auto now = Clock::now();
  std::erase_if(targets, [&](const auto& item) { return now - item.second->created > kClientLifetime; });
  std::string key = fmt::format("{}|{}|{}|{}|{}", url.https ? "https" : "http", url.host, url.port,
                                check.tls_verify ? 1 : 0, check.ca_file);
  auto found = targets.find(key);
  if (found == targets.end()) {
    if (targets.size() >= kMaxClients) {
      auto oldest = std::min_element(targets.begin(), targets.end(),
                                     [](const auto& a, const auto& b) { return a.second->used < b.second->used; });
      targets.erase(oldest);
    }
    found = targets.emplace(std::move(key), make_target(url, check)).first;
  }
  found->second->used = now;
  return *found->second;
}

// ---- the deadline of the whole check -----------------------------------------------

// httplib bounds each connect, read and write by its timeout, not the whole
// request (a server that trickles its headers could hold a check for long):
// one thread for the process stops a client's request at the check's
// deadline, by shutting its socket down (httplib's stop(), which is meant to
// be called from another thread).
class Watchdog {
 public:
  struct Arm {
    httplib::ClientImpl* client = nullptr;
    enum State { Armed, Stopping, Fired } state = Armed;
    std::multimap<Clock::time_point, Arm*>::iterator at;
  };

  static Watchdog& instance() {
    static Watchdog* watchdog = new Watchdog;  // never destroyed: its thread runs until exit
    return *watchdog;
  }

  // False when no thread could be started (the per-read timeouts still hold).
  bool arm(Arm& arm, Clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    if (!started_) {
      try {
        std::thread([this] { run(); }).detach();
      } catch (const std::system_error&) {
        return false;
      }
      started_ = true;
    }
    arm.state = Arm::Armed;
    arm.at = armed_.emplace(deadline, &arm);
    if (arm.at == armed_.begin()) wake_.notify_one();
    return true;
  }

  // After this the watchdog no longer touches arm.client. True if it fired.
  bool disarm(Arm& arm) {
    std::unique_lock lock(mutex_);
    stopped_.wait(lock, [&] { return arm.state != Arm::Stopping; });
    if (arm.state == Arm::Armed) armed_.erase(arm.at);
    return arm.state == Arm::Fired;
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (armed_.empty()) {
        wake_.wait(lock);
        continue;
      }
      auto first = armed_.begin();
      if (Clock::now() < first->first) {
        // A copy: disarm() may erase the node (and its key) while we wait.
        const Clock::time_point deadline = first->first;
        wake_.wait_until(lock, deadline);
        continue;
      }
      Arm* due = first->second;
      armed_.erase(first);
      due->state = Arm::Stopping;
      // stop() waits while the client connects: not under our lock, which
      // every other check's arm() and disarm() need. disarm() waits for it.
      lock.unlock();
      due->client->stop();
      lock.lock();
      due->state = Arm::Fired;
      stopped_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, stopped_;
  std::multimap<Clock::time_point, Arm*> armed_;
  bool started_ = false;
};

// ---- the request ------------------------------------------------------------------

std::string basic_credentials(const std::string& user, const std::string& password) {
  return fmt::format("Basic {}", crypto::base64_encode(fmt::format("{}:{}", user, password)));
}

struct Transfer {
  bool keep_body = false;  // the check reads the body
  std::string body;        // its first kMaxBody bytes, when kept
  size_t body_bytes = 0;
  bool body_cut = false;   // more than kMaxBody arrived, and we stopped there
  bool timed_out = false;  // the deadline passed while the body arrived
  Clock::time_point deadline;
};

void build_request(httplib::Request& req, const HttpExchange& exchange, const Url& url, Transfer& t) {
  const checks::HttpCheck& check = exchange.check;
  req.method = check.method.empty() ? "GET" : check.method;
  req.path = url.target;
  for (const auto& [name, value] : check.headers) req.headers.emplace(name, value);
  if (!exchange.body.empty()) {
    req.body = exchange.body;
    if (!req.has_header("Content-Type")) req.headers.emplace("Content-Type", exchange.content_type);
  }
  if (!req.has_header("Host")) req.headers.emplace("Host", url.authority);
  if (!req.has_header("User-Agent")) req.headers.emplace("User-Agent", "keel-agent/" KEEL_VERSION);
  if (url.has_user && !req.has_header("Authorization"))
    req.headers.emplace("Authorization", basic_credentials(url.user, url.password));
  // httplib sends "Content-Length: 0" for an empty POST, PUT or PATCH, as
  // servers expect of these methods, and reads no body after HEAD.
  req.content_receiver = [&t](const char* data, size_t size, uint64_t, uint64_t) {
    if (Clock::now() >= t.deadline) {
      t.timed_out = true;
      return false;
    }
    const size_t room = kMaxBody - t.body_bytes;
    const size_t take = std::min(size, room);
    if (t.keep_body) t.body.append(data, take);
    t.body_bytes += take;
    if (size > room) {
      t.body_cut = true;
      return false;  // stops the transfer (Error::Canceled, which we expect)
    }
    return true;
  };
}

std::string failure_text(httplib::Error error, const Url& url, const Target& target, long long ms,
                         std::chrono::milliseconds timeout, const checks::HttpCheck& check) {
  using httplib::Error;
  const std::string where = url.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", url.host, url.port)
                                                                     : fmt::format("{}:{}", url.host, url.port);
  const bool late = ms + 20 >= timeout.count();
  switch (error) {
    case Error::ConnectionTimeout:
      return fmt::format("connecting to {} timed out after {} ms", where, ms);
    case Error::Connection:
      return late ? fmt::format("connecting to {} timed out after {} ms", where, ms)
                  : fmt::format("could not connect to {}", where);
    case Error::Read:
    case Error::Write:
    case Error::Unknown:
      return late ? fmt::format("timed out after {} ms waiting for {}", ms, where)
                  : fmt::format("no valid HTTP response from {} (connection closed or not HTTP)", where);
    case Error::SSLConnection:
      return late ? fmt::format("TLS handshake with {} timed out after {} ms", where, ms)
                  : fmt::format("TLS handshake with {} failed", where);
    case Error::SSLLoadingCerts:
      return check.ca_file.empty() ? std::string("cannot load the system's CA certificates")
                                   : fmt::format("cannot load the CA certificates from {}", check.ca_file);
    case Error::SSLServerVerification: {
      const long verify = static_cast<const httplib::SSLClient&>(*target.client).get_openssl_verify_result();
      if (verify != X509_V_OK) return fmt::format("SSL certificate problem: {}", ::X509_verify_cert_error_string(verify));
      return fmt::format("SSL: the certificate of {} does not match the host name", where);
    }
    case Error::Compression:
      return fmt::format("cannot decompress the response of {}", where);
    default:
      return fmt::format("request to {} failed ({})", where, httplib::to_string(error));
  }
}

// The reason phrase of the status line, printable and bounded.
std::string clean_reason(std::string_view reason) {
  while (!reason.empty() && (reason.back() == '\r' || reason.back() == '\n' || reason.back() == ' '))
    reason.remove_suffix(1);
  std::string out(reason.substr(0, 63));
  for (char& c : out) c = (c >= 0x20 && c < 0x7f) ? c : ' ';
  return out;
}

// The values of the headers asked for. httplib compares names without case.
std::map<std::string, std::string> wanted_headers(const httplib::Response& res, const std::vector<std::string>& names) {
  std::map<std::string, std::string> out;
  for (const auto& name : names) {
    auto [first, last] = res.headers.equal_range(name);
    if (first == last) continue;
    std::string joined;
    for (auto it = first; it != last; ++it) joined += (joined.empty() ? "" : ", ") + it->second;
    out[name] = std::move(joined);
  }
  return out;
}

}  // namespace

HttpAnswer fetch_http(const HttpExchange& exchange, std::chrono::milliseconds timeout) {
  const checks::HttpCheck& check = exchange.check;
  const auto start = Clock::now();
  HttpAnswer answer;
  auto url = parse_url(check.url);
  if (!url) {
    answer.failure = CheckResult{CheckStatus::Critical, fmt::format("bad URL: {}", url.error().message())};
    return answer;
  }
  Target& target = thread_target(*url, check);
  if (!target.client->is_valid()) {
    answer.failure = CheckResult{CheckStatus::Unknown, "cannot set up the HTTP client"};
    return answer;
  }
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(timeout);
  target.client->set_connection_timeout(micros);
  target.client->set_read_timeout(micros);
  target.client->set_write_timeout(micros);

  Transfer t;
  t.keep_body = exchange.keep_body;
  t.deadline = start + timeout;
  httplib::Request req;
  build_request(req, exchange, *url, t);
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  Watchdog::Arm arm;
  arm.client = target.client.get();
  const bool armed = Watchdog::instance().arm(arm, t.deadline);
  const bool ok = target.client->send(req, res, error);
  const bool stopped = armed && Watchdog::instance().disarm(arm);
  answer.ms = elapsed_ms(start);
  if (!ok && !(error == httplib::Error::Canceled && t.body_cut)) {
    if (stopped) answer.failure = CheckResult{CheckStatus::Critical, fmt::format("timed out after {} ms", answer.ms)};
    else if (t.timed_out)
      answer.failure = CheckResult{CheckStatus::Critical, fmt::format("timed out after {} ms reading the body", answer.ms)};
    else answer.failure = CheckResult{CheckStatus::Critical, failure_text(error, *url, target, answer.ms, timeout, check)};
    return answer;
  }
  if (res.status <= 0) {
    answer.failure = CheckResult{CheckStatus::Critical, "no HTTP response"};
    return answer;
  }
  answer.status = res.status;
  answer.reason = clean_reason(res.reason);
  answer.headers = wanted_headers(res, exchange.want_headers);
  answer.body = std::move(t.body);
  answer.body_cut = t.body_cut;
  if (url->https) {
    answer.cert_known = target.cert.known;
    answer.cert_expired = target.cert.expired;
    answer.cert_days = target.cert.days;
  }
  return answer;
}

std::string status_text(const HttpAnswer& answer) {
  return answer.reason.empty() ? fmt::format("HTTP {} in {} ms", answer.status, answer.ms)
                               : fmt::format("HTTP {} {} in {} ms", answer.status, answer.reason, answer.ms);
}

void judge_certificate(const HttpAnswer& answer, int days_warning, CheckResult& result) {
  if (!answer.cert_known) return;
  if (answer.cert_expired) {
    result.status = checks::worst(result.status, CheckStatus::Critical);
    result.output += answer.cert_days < 0 ? fmt::format("; certificate expired {} days ago", -answer.cert_days)
                                          : std::string("; certificate expired");
  } else if (answer.cert_days < days_warning) {
    result.status = checks::worst(result.status, CheckStatus::Warning);
    result.output += fmt::format("; certificate expires in {} day{}", answer.cert_days, answer.cert_days == 1 ? "" : "s");
  }
}

std::string shortened(std::string_view text, size_t limit) {
  if (text.size() <= limit) return std::string(text);
  return fmt::format("{}...", text.substr(0, limit));
}

}  // namespace keel::agent::detail
