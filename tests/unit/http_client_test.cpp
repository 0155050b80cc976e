// core/http_client against small cpp-httplib servers on 127.0.0.1 (no
// external services): statuses, retries with backoff and Retry-After,
// timeouts, TLS with a CA made by core/tls, and secrets kept out of errors.
#include <httplib.h>
#include <openssl/pem.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/http_client.h"
#include "core/process.h"
#include "core/tls.h"

using namespace keel;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

// A cpp-httplib server on a free 127.0.0.1 port, serving on its own thread
// for the life of the object. Register handlers before handing it over.
// Connections close after each response unless `keep_alive`: httplib's stop
// waits for idle keep-alive connections (the client keeps one per thread).
class TestServer {
 public:
  explicit TestServer(std::unique_ptr<httplib::Server> server, bool keep_alive = false) : server_(std::move(server)) {
    if (keep_alive) {
      server_->set_keep_alive_timeout(1);
    } else {
      server_->set_keep_alive_max_count(1);
    }
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!server_->is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
  }
  ~TestServer() {
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string url(const std::string& path, const char* scheme = "http") const {
    return fmt::format("{}://127.0.0.1:{}{}", scheme, port_, path);
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

// An HTTPS server with a certificate from `certs`.
std::unique_ptr<httplib::Server> tls_server(const tls::LocalCertificates& certs) {
  BIO* cert_bio = BIO_new_mem_buf(certs.server_cert_pem.data(), static_cast<int>(certs.server_cert_pem.size()));
  BIO* key_bio = BIO_new_mem_buf(certs.server_key_pem.data(), static_cast<int>(certs.server_key_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  auto server = std::make_unique<httplib::SSLServer>(cert, key);
  X509_free(cert);
  EVP_PKEY_free(key);
  BIO_free(cert_bio);
  BIO_free(key_bio);
  return server;
}

// A retry policy that records its waits instead of sleeping.
struct RecordedSleeps {
  std::mutex mu;
  std::vector<milliseconds> sleeps;
  http::RetryPolicy policy(int attempts) {
    http::RetryPolicy p;
    p.attempts = attempts;
    p.initial_backoff = 100ms;
    p.max_backoff = 1s;
    p.sleep = [this](milliseconds d) {
      std::lock_guard lock(mu);
      sleeps.push_back(d);
    };
    return p;
  }
};

http::Request get(const std::string& url) {
  http::Request r;
  r.url = url;
  r.timeout = 5s;
  r.connect_timeout = 2s;
  return r;
}

}  // namespace

TEST_CASE("http: a GET returns status, headers and body", "[unit][http]") {
  auto server = std::make_unique<httplib::Server>();
  server->Get("/hello", [](const httplib::Request& req, httplib::Response& res) {
    res.set_header("X-Answer", "42");
    res.set_content(fmt::format("{{\"accept\":\"{}\"}}", req.get_header_value("Accept")), "application/json");
  });
  server->Get("/missing", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content(R"({"error":"no such thing"})", "application/json");
  });
  TestServer ts(std::move(server));
  http::CurlHttpClient client;

  auto ok = client.send(get(ts.url("/hello")));
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(ok->ok());
  CHECK(ok->header("x-answer") == "42");
  CHECK(ok->header("X-ANSWER") == "42");
  CHECK(ok->header("content-type") == "application/json");
  CHECK(ok->body == R"({"accept":"application/json"})");

  // A 404 is a response, not an error; status_error makes it one.
  http::Request r = get(ts.url("/missing"));
  auto missing = client.send(r);
  REQUIRE(missing);
  CHECK(missing->status == 404);
  auto checked = http::send_checked(client, r);
  REQUIRE_FALSE(checked);
  CHECK(checked.error().code() == ErrorCode::NotFound);
  CHECK(checked.error().message() == fmt::format("GET {}: HTTP 404 Not Found: no such thing", ts.url("/missing")));
}

TEST_CASE("http: PUT sends the body as JSON and the bearer token", "[unit][http]") {
  std::mutex mu;
  std::string seen_body, seen_type, seen_auth, seen_method;
  auto server = std::make_unique<httplib::Server>();
  server->Put("/v1/config", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    seen_body = req.body;
    seen_type = req.get_header_value("Content-Type");
    seen_auth = req.get_header_value("Authorization");
    seen_method = req.method;
    res.set_content(R"({"applied":true})", "application/json");
  });
  TestServer ts(std::move(server));
  http::CurlHttpClient client;
  http::Request r = get(ts.url("/v1/config"));
  r.method = "PUT";
  r.body = R"({"checks":{}})";
  r.bearer_token = "tok123";
  auto response = client.send(r);
  REQUIRE(response);
  CHECK(response->status == 200);
  std::lock_guard lock(mu);
  CHECK(seen_method == "PUT");
  CHECK(seen_body == R"({"checks":{}})");
  CHECK(seen_type == "application/json");
  CHECK(seen_auth == "Bearer tok123");
}

TEST_CASE("http: 503 is retried with backoff until it succeeds", "[unit][http]") {
  std::atomic<int> calls{0};
  auto server = std::make_unique<httplib::Server>();
  server->Get("/flaky", [&](const httplib::Request&, httplib::Response& res) {
    if (++calls <= 2) {
      res.status = 503;
      res.set_content(R"({"error":"warming up"})", "application/json");
      return;
    }
    res.set_content("done", "text/plain");
  });
  TestServer ts(std::move(server));
  http::CurlHttpClient curl;
  RecordedSleeps recorded;
  http::RetryingHttpClient client(curl, recorded.policy(4));
  auto response = client.send(get(ts.url("/flaky")));
  REQUIRE(response);
  CHECK(response->status == 200);
  CHECK(response->body == "done");
  CHECK(calls == 3);
  REQUIRE(recorded.sleeps.size() == 2);
  // Equal jitter: between half and all of 100 ms, then of 200 ms.
  CHECK(recorded.sleeps[0] >= 50ms);
  CHECK(recorded.sleeps[0] <= 100ms);
  CHECK(recorded.sleeps[1] >= 100ms);
  CHECK(recorded.sleeps[1] <= 200ms);
}

TEST_CASE("http: Retry-After sets the wait, and too long a wait returns the response", "[unit][http]") {
  std::atomic<int> calls{0};
  auto server = std::make_unique<httplib::Server>();
  server->Get("/busy", [&](const httplib::Request&, httplib::Response& res) {
    if (++calls == 1) {
      res.status = 503;
      res.set_header("Retry-After", "2");
      return;
    }
    res.set_content("ok", "text/plain");
  });
  server->Get("/later", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Retry-After", "3600");
  });
  TestServer ts(std::move(server));
  http::CurlHttpClient curl;
  RecordedSleeps recorded;
  http::RetryingHttpClient client(curl, recorded.policy(3));

  auto response = client.send(get(ts.url("/busy")));
  REQUIRE(response);
  CHECK(response->status == 200);
  REQUIRE(recorded.sleeps.size() == 1);
  CHECK(recorded.sleeps[0] == 2000ms);

  recorded.sleeps.clear();
  auto later = client.send(get(ts.url("/later")));
  REQUIRE(later);
  CHECK(later->status == 429);  // an hour is longer than max_retry_after: the caller decides
  CHECK(recorded.sleeps.empty());
}

TEST_CASE("http: requested_delay reads Retry-After and rate-limit headers", "[unit][http]") {
  using std::chrono::system_clock;
  const auto now = system_clock::from_time_t(1'700'000'000);
  http::Response r;
  r.status = 503;
  CHECK(http::requested_delay(r, now) == milliseconds(-1));
  r.headers = {{"retry-after", "7"}};
  CHECK(http::requested_delay(r, now) == 7000ms);
  // An HTTP date 30 s after `now` (1700000000 is Tue, 14 Nov 2023 22:13:20 GMT).
  r.headers = {{"retry-after", "Tue, 14 Nov 2023 22:13:50 GMT"}};
  CHECK(http::requested_delay(r, now) == 30000ms);
  r.headers = {{"retry-after", "Tue, 14 Nov 2023 22:00:00 GMT"}};  // in the past
  CHECK(http::requested_delay(r, now) == 0ms);
  // RateLimit-Reset only counts on a 429: a Unix time, or seconds.
  r.headers = {{"ratelimit-reset", "1700000012"}};
  CHECK(http::requested_delay(r, now) == milliseconds(-1));
  r.status = 429;
  CHECK(http::requested_delay(r, now) == 12000ms);
  r.headers = {{"x-ratelimit-reset", "5"}};
  CHECK(http::requested_delay(r, now) == 5000ms);
}

TEST_CASE("http: requested_delay reads the three forms of HTTP date", "[unit][http]") {
  using namespace std::chrono_literals;
  const auto now = std::chrono::system_clock::from_time_t(1700000000);  // Tue, 14 Nov 2023 22:13:20 GMT
  http::Response r;
  r.status = 503;
  r.headers = {{"retry-after", "Tue, 14 Nov 2023 22:13:50 GMT"}};  // IMF-fixdate
  CHECK(http::requested_delay(r, now) == 30000ms);
  r.headers = {{"retry-after", "Tuesday, 14-Nov-23 22:13:50 GMT"}};  // RFC 850
  CHECK(http::requested_delay(r, now) == 30000ms);
  r.headers = {{"retry-after", "Tue Nov 14 22:13:50 2023"}};  // asctime
  CHECK(http::requested_delay(r, now) == 30000ms);
  r.headers = {{"retry-after", "Tue, 14 Nov 2023 22:13:50 GMT trailing"}};
  CHECK(http::requested_delay(r, now) == std::chrono::milliseconds(-1));
}

TEST_CASE("http: 429 is retried, and after the last attempt its response comes back", "[unit][http]") {
  std::atomic<int> calls{0};
  auto server = std::make_unique<httplib::Server>();
  server->Get("/limited", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 429;
    res.set_content(R"({"id":"too_many_requests","message":"API rate limit exceeded"})", "application/json");
  });
  TestServer ts(std::move(server));
  http::CurlHttpClient curl;
  RecordedSleeps recorded;
  http::RetryingHttpClient client(curl, recorded.policy(3));
  http::Request r = get(ts.url("/limited"));
  auto response = client.send(r);
  REQUIRE(response);
  CHECK(response->status == 429);
  CHECK(calls == 3);
  CHECK(recorded.sleeps.size() == 2);
  Error e = http::status_error(r, *response);
  CHECK(e.code() == ErrorCode::Transient);
  CHECK(e.message().find("HTTP 429 Too Many Requests: API rate limit exceeded") != std::string::npos);
}

TEST_CASE("http: a POST is not retried after a 500, but is after a 503", "[unit][http]") {
  std::atomic<int> calls500{0}, calls503{0};
  auto server = std::make_unique<httplib::Server>();
  server->Post("/create", [&](const httplib::Request&, httplib::Response& res) {
    ++calls500;
    res.status = 500;
  });
  server->Post("/unavailable", [&](const httplib::Request&, httplib::Response& res) {
    res.status = ++calls503 == 1 ? 503 : 201;
  });
  TestServer ts(std::move(server));
  http::CurlHttpClient curl;
  RecordedSleeps recorded;
  http::RetryingHttpClient client(curl, recorded.policy(4));
  http::Request r = get(ts.url("/create"));
  r.method = "POST";
  r.body = "{}";
  auto response = client.send(r);
  REQUIRE(response);
  CHECK(response->status == 500);
  CHECK(calls500 == 1);  // it may have been created: never sent twice

  r.url = ts.url("/unavailable");
  response = client.send(r);
  REQUIRE(response);
  CHECK(response->status == 201);
  CHECK(calls503 == 2);
}

TEST_CASE("http: a slow server times out with ErrorCode::Timeout naming the URL", "[unit][http]") {
  std::atomic<bool> release{false};
  auto server = std::make_unique<httplib::Server>();
  server->Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    const auto until = std::chrono::steady_clock::now() + 3s;
    while (!release && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(10ms);
    res.set_content("late", "text/plain");
  });
  TestServer ts(std::move(server));
  http::CurlHttpClient client;
  http::Request r = get(ts.url("/slow?token=hidden"));
  r.timeout = 300ms;
  const auto started = std::chrono::steady_clock::now();
  auto response = client.send(r);
  const auto took = std::chrono::steady_clock::now() - started;
  release = true;
  REQUIRE_FALSE(response);
  CHECK(response.error().code() == ErrorCode::Timeout);
  CHECK(response.error().message().find(fmt::format("GET http://127.0.0.1:{}/slow:", ts.port())) == 0);
  CHECK(response.error().message().find("hidden") == std::string::npos);  // no query string in messages
  CHECK(took < 2s);
}

TEST_CASE("http: nothing listening is ErrorCode::Unavailable, retried", "[unit][http]") {
  auto port = process::free_local_port();
  REQUIRE(port);
  http::CurlHttpClient curl;
  RecordedSleeps recorded;
  http::RetryingHttpClient client(curl, recorded.policy(3));
  http::Request r = get(fmt::format("http://127.0.0.1:{}/v1/ping", *port));
  r.method = "POST";  // even a POST: nothing was sent
  auto response = client.send(r);
  REQUIRE_FALSE(response);
  CHECK(response.error().code() == ErrorCode::Unavailable);
  CHECK(recorded.sleeps.size() == 2);
}

TEST_CASE("http: TLS is verified against the CA given in memory", "[unit][http]") {
  auto certs = tls::generate_local_certificates();
  REQUIRE(certs);
  auto server = tls_server(*certs);
  server->Get("/v1/ping", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  TestServer ts(std::move(server));
  http::CurlHttpClient client;

  http::Request r = get(ts.url("/v1/ping", "https"));
  r.ca_pem = certs->ca_cert_pem;
  auto ok = client.send(r);
  if (!ok) FAIL(ok.error().message());
  CHECK(ok->status == 200);
  CHECK(ok->body == R"({"status":"ok"})");

  // The same server under the name "localhost" is in the certificate too.
  r.url = fmt::format("https://localhost:{}/v1/ping", ts.port());
  auto by_name = client.send(r);
  if (!by_name) FAIL(by_name.error().message());

  // The system's CAs do not know it; another CA does not either.
  r.url = ts.url("/v1/ping", "https");
  r.ca_pem.clear();
  auto untrusted = client.send(r);
  REQUIRE_FALSE(untrusted);
  CHECK(untrusted.error().code() == ErrorCode::Protocol);
  auto other = tls::generate_local_certificates();
  REQUIRE(other);
  r.ca_pem = other->ca_cert_pem;
  auto wrong_ca = client.send(r);
  REQUIRE_FALSE(wrong_ca);
  CHECK(wrong_ca.error().code() == ErrorCode::Protocol);

  // A verification failure is not worth retrying.
  RecordedSleeps recorded;
  http::RetryingHttpClient retrying(client, recorded.policy(3));
  CHECK_FALSE(retrying.send(r));
  CHECK(recorded.sleeps.empty());
}

TEST_CASE("http: the bearer token and URL credentials never reach an error message", "[unit][http]") {
  const std::string token = "TOKEN-s3cr3t-5f1e";
  std::atomic<int> calls{0};
  std::string seen_auth;
  std::mutex mu;
  auto server = std::make_unique<httplib::Server>();
  server->Get("/broken", [&](const httplib::Request& req, httplib::Response& res) {
    ++calls;
    {
      std::lock_guard lock(mu);
      seen_auth = req.get_header_value("Authorization");
    }
    res.status = 500;
  });
  TestServer ts(std::move(server));
  http::CurlHttpClient curl;
  RecordedSleeps recorded;
  http::RetryingHttpClient client(curl, recorded.policy(2));

  http::Request r = get(fmt::format("http://user:pa55word@127.0.0.1:{}/broken?sig=abc", ts.port()));
  r.bearer_token = token;
  auto response = http::send_checked(client, r);
  REQUIRE_FALSE(response);
  {
    std::lock_guard lock(mu);
    CHECK(seen_auth == "Bearer " + token);  // it was sent
  }
  CHECK(calls == 2);
  const std::string& message = response.error().message();
  CHECK(message.find(token) == std::string::npos);
  CHECK(message.find("pa55word") == std::string::npos);
  CHECK(message.find("sig=abc") == std::string::npos);
  CHECK(message.find(fmt::format("GET http://127.0.0.1:{}/broken: HTTP 500", ts.port())) == 0);

  // Transport errors too.
  auto port = process::free_local_port();
  REQUIRE(port);
  r.url = fmt::format("http://user:pa55word@127.0.0.1:{}/x", *port);
  auto refused = client.send(r);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message().find(token) == std::string::npos);
  CHECK(refused.error().message().find("pa55word") == std::string::npos);
}

TEST_CASE("http: redact_url drops credentials, query and fragment", "[unit][http]") {
  CHECK(http::redact_url("https://api.example.com/v2/droplets") == "https://api.example.com/v2/droplets");
  CHECK(http::redact_url("https://u:p@api.example.com:8443/v2/x?page=2#top") == "https://api.example.com:8443/v2/x");
  CHECK(http::redact_url("http://127.0.0.1:7001") == "http://127.0.0.1:7001");
  CHECK(http::redact_url("http://a@b@host/path") == "http://host/path");
  CHECK(http::redact_url("host/path?x") == "host/path");
}

TEST_CASE("http: status_error maps statuses to error codes", "[unit][http]") {
  http::Request r;
  r.method = "DELETE";
  r.url = "https://api.example.com/v1/servers/1";
  auto code_for = [&](long status, const std::string& body = "") {
    http::Response response;
    response.status = status;
    response.body = body;
    return http::status_error(r, response).code();
  };
  CHECK(code_for(400) == ErrorCode::InvalidConfig);
  CHECK(code_for(422) == ErrorCode::InvalidConfig);
  CHECK(code_for(401) == ErrorCode::PermissionDenied);
  CHECK(code_for(403) == ErrorCode::PermissionDenied);
  CHECK(code_for(404) == ErrorCode::NotFound);
  CHECK(code_for(409) == ErrorCode::Conflict);
  CHECK(code_for(504) == ErrorCode::Timeout);
  CHECK(code_for(502) == ErrorCode::Transient);
  CHECK(code_for(302) == ErrorCode::Protocol);
  http::Response hetzner;
  hetzner.status = 422;
  hetzner.body = R"({"error":{"code":"invalid_input","message":"name is already used"}})";
  CHECK(http::status_error(r, hetzner).message() ==
        "DELETE https://api.example.com/v1/servers/1: HTTP 422 Unprocessable Entity: name is already used");
  http::Response text;
  text.status = 500;
  text.body = "oops\nsecond line";
  CHECK(http::status_error(r, text).message() ==
        "DELETE https://api.example.com/v1/servers/1: HTTP 500 Internal Server Error: oops second line");
}

TEST_CASE("http: one client serves many threads at once", "[unit][http]") {
  std::atomic<int> calls{0};
  auto server = std::make_unique<httplib::Server>();
  server->Get("/n", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::to_string(++calls), "text/plain");
  });
  TestServer ts(std::move(server), /*keep_alive=*/true);
  http::CurlHttpClient curl;
  http::RetryingHttpClient client(curl);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto response = client.send(get(ts.url("/n")));
        if (response && response->status == 200) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 80);
  CHECK(calls == 80);
}
