// The agent's network checks against real servers on 127.0.0.1: an HTTP(S)
// target served by cpp-httplib inside the test, a GraphQL server of
// graphql-core (tests/support/graphql_server.py), Debian's monitoring-plugins
// run as exec checks, and PostgreSQL and Redis started through the local
// provider (as tests/integration/local_provider_test.cpp does), removed by
// RAII guards even when an assertion fails.

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <httplib.h>

#include "agent/checks/check.h"
#include "cli/providers/local/local_provider.h"
#include "core/files.h"
#include "core/process.h"
#include "tests/support/services.h"

namespace {

using namespace std::chrono_literals;
using keel::agent::CheckResult;
using keel::checks::CheckStatus;
using keel::provider::Attributes;
using keel::provider::Provider;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

CheckResult run(keel::checks::CheckParams params, std::chrono::milliseconds timeout = 5s) {
  keel::checks::CheckSpec spec;
  spec.name = "test";
  spec.timeout = timeout;
  spec.params = std::move(params);
  return keel::agent::run_check(spec);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

struct TempDir {
  std::string path;
  explicit TempDir(mode_t mode = 0700) {
    char pattern[] = "/tmp/keel-checks-it.XXXXXX";
    const char* made = ::mkdtemp(pattern);
    REQUIRE(made != nullptr);
    path = made;
    ::chmod(path.c_str(), mode);
  }
  ~TempDir() { (void)keel::files::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

// ---- the HTTP target ----------------------------------------------------------

constexpr const char* kToken = "Bearer secret-token-4711";

void add_routes(httplib::Server& server) {
  server.Get("/ok", [](const httplib::Request&, httplib::Response& res) { res.set_content("all good", "text/plain"); });
  server.Get(R"(/status/(\d+))", [](const httplib::Request& req, httplib::Response& res) {
    res.status = std::stoi(req.matches[1]);
    res.set_content("status", "text/plain");
  });
  server.Get("/redirect", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/ok"); });
  // The needle early, or only after 100 KiB.
  server.Get("/big-early", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(fmt::format("needle{}", std::string(200 * 1024, '.')), "text/plain");
  });
  server.Get("/big-late", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(100 * 1024, '.') + "needle", "text/plain");
  });
  server.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(1500ms);
    res.set_content("late", "text/plain");
  });
  server.Post("/slow", [](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(1500ms);
    res.set_content("{}", "application/json");
  });
  server.Get("/auth", [](const httplib::Request& req, httplib::Response& res) {
    res.status = req.get_header_value("Authorization") == kToken ? 200 : 401;
  });
  server.Post("/post-only", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  // Browser caching headers; httplib gzips the text when the client accepts it.
  server.Get("/cached", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "public, max-age=600");
    res.set_header("Vary", "Accept-Encoding");
    res.set_header("Vary", "Origin");
    res.set_header("Set-Cookie", "session=cookie-secret-0815");
    res.set_content(std::string(2000, 'x'), "text/plain");
  });
  server.Get("/json", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status": "ok", "count": 2, "items": [{"name": "web", "port": 8080}, {"name": "db"}]})",
                    "application/json");
  });
  server.Get("/not-json", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("<html>ok</html>", "text/html");
  });
}

// A server on 127.0.0.1 and a free port, in its own thread.
class TestServer {
 public:
  explicit TestServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {
    add_routes(*server_);
    // A kept-alive connection (the check reuses it) holds a server thread,
    // and stop() waits for it until this timeout.
    server_->set_keep_alive_timeout(1);
    port_ = server_->bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    REQUIRE(eventually([this] { return server_->is_running(); }, 5s));
  }
  ~TestServer() {
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::string url(const std::string& path, const std::string& scheme = "http") const {
    return fmt::format("{}://127.0.0.1:{}{}", scheme, port_, path);
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

keel::checks::HttpCheck http(const std::string& url) {
  keel::checks::HttpCheck check;
  check.url = url;
  return check;
}

// tests/support/graphql_server.py on a free port of 127.0.0.1, run by a
// python3 that has graphql-core (pip's 3.x or Debian's python3-graphql-core
// 2.x); its process group is killed when the test ends.
class GraphqlServer {
 public:
  GraphqlServer() {
    auto port = keel::process::free_local_port();
    REQUIRE(port);
    port_ = *port;
    keel::process::Child::Spec spec;
    spec.argv = {python(), keel::testing::support_script("graphql_server.py"), std::to_string(port_)};
    spec.new_process_group = true;
    auto child = keel::process::Child::start(spec);
    REQUIRE(child);
    child_.emplace(std::move(*child));
    REQUIRE(eventually([this] { return keel::process::port_open(port_); }, 30s));
  }
  std::string url(const std::string& path = "/graphql") const {
    return fmt::format("http://127.0.0.1:{}{}", port_, path);
  }

 private:
  static std::string python() {
    for (const char* candidate : {"python3", "/usr/bin/python3"}) {
      keel::process::Options options;
      options.argv = {candidate, "-c", "import graphql"};
      options.timeout = 30s;
      if (auto ran = keel::process::run(options); ran && ran->exit_code == 0) return candidate;
    }
    FAIL("no python3 with graphql-core: install python3-graphql-core (scripts/install-deps.sh)");
    return {};
  }

  int port_ = 0;
  std::optional<keel::process::Child> child_;
};

keel::checks::GraphqlCheck graphql(const std::string& url, const std::string& query) {
  keel::checks::GraphqlCheck check;
  check.url = url;
  check.query = query;
  return check;
}

// A self-signed certificate for 127.0.0.1, made with the openssl command.
struct Certificate {
  std::string cert, key;
};

Certificate make_certificate(const std::string& dir, const std::string& name, int days) {
  Certificate out{fmt::format("{}/{}.pem", dir, name), fmt::format("{}/{}.key", dir, name)};
  keel::process::Options options;
  options.argv = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-keyout", out.key, "-out", out.cert, "-days", std::to_string(days), "-subj", "/CN=127.0.0.1",
                  "-addext", "subjectAltName=IP:127.0.0.1"};
  options.timeout = 30s;
  auto made = keel::process::run(options);
  REQUIRE(made);
  INFO(made->output);
  REQUIRE(made->exit_code == 0);
  return out;
}

// A certificate whose notAfter is its notBefore: expired a second later.
Certificate make_expired_certificate(const std::string& dir) {
  Certificate out = make_certificate(dir, "expired", 1);
  const std::string csr = dir + "/expired.csr";
  for (std::vector<std::string> argv :
       {std::vector<std::string>{"openssl", "req", "-new", "-key", out.key, "-subj", "/CN=127.0.0.1", "-out", csr},
        std::vector<std::string>{"openssl", "x509", "-req", "-in", csr, "-signkey", out.key, "-days", "0", "-out",
                                 out.cert}}) {
    keel::process::Options options;
    options.argv = argv;
    options.timeout = 30s;
    auto made = keel::process::run(options);
    REQUIRE(made);
    INFO(made->output);
    REQUIRE(made->exit_code == 0);
  }
  return out;
}

// ---- local provider services -------------------------------------------------------

struct Stack {
  TempDir dir;
  std::unique_ptr<Provider> provider = keel::providers::local::make_local_provider();
  Stack() {
    auto st = provider->configure({Json::object(), dir.path + "/.keel", "test", ""});
    REQUIRE(st);
  }
  std::string id_of(const std::string& kind, const std::string& name) const {
    return fmt::format("{}/.keel/local/{}/{}", dir.path, kind, name);
  }
};

// Removes the resource at the end of the test, pass or fail.
struct Cleanup {
  Provider& provider;
  std::string kind, id;
  ~Cleanup() {
    auto st = provider.remove({kind, id, Json::object(), nullptr});
    if (!st) std::fprintf(stderr, "cleanup of %s failed: %s\n", id.c_str(), st.error().message().c_str());
  }
};

Attributes create(Stack& stack, const std::string& kind, const std::string& address, Json config) {
  auto created = stack.provider->create({kind, {"test", address}, std::move(config), nullptr});
  if (!created) FAIL("create " << address << ": " << created.error().message());
  return created->attributes;
}

constexpr const char* kPlugins = "/usr/lib/nagios/plugins";

}  // namespace

// ---- http ------------------------------------------------------------------------------

TEST_CASE("http check: status rules as Consul has them", "[integration][agent][checks][http]") {
  TestServer server(std::make_unique<httplib::Server>());
  auto ok = run(http(server.url("/ok")));
  CHECK(ok.status == CheckStatus::Passing);
  CHECK(ok.output.rfind("HTTP 200 OK in ", 0) == 0);
  CHECK(run(http(server.url("/status/204"))).status == CheckStatus::Passing);

  // 429 (a warning) is covered by the unit test with a raw peer: cpp-httplib
  // 0.11 cannot send it (no status line for codes it does not know).
  CHECK(run(http(server.url("/status/500"))).status == CheckStatus::Critical);
  CHECK(run(http(server.url("/status/404"))).status == CheckStatus::Critical);

  // Redirects are not followed: a 302 is critical unless expected.
  auto redirect = run(http(server.url("/redirect")));
  CHECK(redirect.status == CheckStatus::Critical);
  CHECK(contains(redirect.output, "HTTP 302"));

  auto expected = http(server.url("/status/404"));
  expected.expect_status = {404, 410};
  CHECK(run(expected).status == CheckStatus::Passing);
  expected.url = server.url("/ok");
  auto unexpected = run(expected);
  CHECK(unexpected.status == CheckStatus::Critical);
  CHECK(contains(unexpected.output, "(expected 404, 410)"));
}

TEST_CASE("http check: body_contains reads at most 64 KiB", "[integration][agent][checks][http]") {
  TestServer server(std::make_unique<httplib::Server>());
  auto check = http(server.url("/ok"));
  check.body_contains = "good";
  CHECK(run(check).status == CheckStatus::Passing);
  check.body_contains = "bad";
  auto absent = run(check);
  CHECK(absent.status == CheckStatus::Critical);
  CHECK(contains(absent.output, "body does not contain \"bad\""));

  check.body_contains = "needle";
  check.url = server.url("/big-early");
  CHECK(run(check).status == CheckStatus::Passing);  // found, though the body is cut at 64 KiB
  check.url = server.url("/big-late");
  auto late = run(check);
  CHECK(late.status == CheckStatus::Critical);
  CHECK(contains(late.output, "first 64 KiB"));
  // Without body_contains a big body is fine, and the connection is usable after a cut.
  CHECK(run(http(server.url("/big-late"))).status == CheckStatus::Passing);
  CHECK(run(http(server.url("/ok"))).status == CheckStatus::Passing);
}

TEST_CASE("http check: timeout, method and headers", "[integration][agent][checks][http]") {
  TestServer server(std::make_unique<httplib::Server>());
  auto start = Clock::now();
  auto slow = run(http(server.url("/slow")), 500ms);
  CHECK(Clock::now() - start < 1500ms);
  CHECK(slow.status == CheckStatus::Critical);
  CHECK(contains(slow.output, "timed out"));

  auto post = http(server.url("/post-only"));
  CHECK(run(post).status == CheckStatus::Critical);  // GET: 404
  post.method = "POST";
  CHECK(run(post).status == CheckStatus::Passing);
  auto head = http(server.url("/ok"));
  head.method = "HEAD";
  CHECK(run(head).status == CheckStatus::Passing);

  auto auth = http(server.url("/auth"));
  auth.headers["Authorization"] = "Bearer wrong-token-0815";
  auto denied = run(auth);
  CHECK(denied.status == CheckStatus::Critical);
  CHECK_FALSE(contains(denied.output, "wrong-token-0815"));
  auth.headers["Authorization"] = kToken;
  auto allowed = run(auth);
  CHECK(allowed.status == CheckStatus::Passing);
  CHECK_FALSE(contains(allowed.output, "secret-token"));
}

TEST_CASE("http check: expect_headers finds a pattern in a header's value", "[integration][agent][checks][http]") {
  TestServer server(std::make_unique<httplib::Server>());
  auto check = http(server.url("/cached"));
  check.expect_headers = {{"Cache-Control", "max-age=\\d+"}, {"vary", "^Accept-Encoding, Origin"}};
  auto cached = run(check);
  INFO(cached.output);
  CHECK(cached.status == CheckStatus::Passing);  // a partial match; names without case; repeats joined

  check.expect_headers = {{"Cache-Control", "no-store"}, {"ETag", "."}, {"Set-Cookie", "^id="}};
  auto missed = run(check);
  INFO(missed.output);
  CHECK(missed.status == CheckStatus::Critical);
  CHECK(contains(missed.output, "HTTP 200 OK in "));
  CHECK(contains(missed.output, "header Cache-Control \"public, max-age=600\" does not match \"no-store\""));
  CHECK(contains(missed.output, "no ETag header"));
  CHECK(contains(missed.output, "header Set-Cookie (its value is not shown) does not match \"^id=\""));
  CHECK_FALSE(contains(missed.output, "cookie-secret"));

  // Content-Encoding: what the server sends for the request's Accept-Encoding.
  check.expect_headers = {{"Content-Encoding", "^gzip$"}};
  CHECK(run(check).status == CheckStatus::Critical);
  check.headers = {{"Accept-Encoding", "gzip"}};
  auto gzipped = run(check);
  INFO(gzipped.output);
  CHECK(gzipped.status == CheckStatus::Passing);
}

TEST_CASE("http check: expect_json compares values at paths of the body", "[integration][agent][checks][http]") {
  TestServer server(std::make_unique<httplib::Server>());
  auto check = http(server.url("/json"));
  check.expect_json = {{"$.status", "ok"}, {"$.count", 2}, {"$.items[0].name", "web"}, {"$.items[0].port", 8080}};
  auto ok = run(check);
  INFO(ok.output);
  CHECK(ok.status == CheckStatus::Passing);
  // Compressed on the wire, compared decompressed.
  check.headers = {{"Accept-Encoding", "gzip"}};
  CHECK(run(check).status == CheckStatus::Passing);

  check.expect_json = {{"$.status", "down"}, {"$.items[1].port", 5432}, {"$.count", "2"}};
  auto wrong = run(check);
  INFO(wrong.output);
  CHECK(wrong.status == CheckStatus::Critical);
  CHECK(contains(wrong.output, "$.count is 2, expected \"2\""));
  CHECK(contains(wrong.output, "$.items[1].port is missing"));
  CHECK(contains(wrong.output, "$.status is \"ok\", expected \"down\""));

  check.url = server.url("/not-json");
  auto html = run(check);
  CHECK(html.status == CheckStatus::Critical);
  CHECK(contains(html.output, "the body is not JSON (at byte 1)"));

  // The 64 KiB bound holds: a larger body is not parsed.
  check.url = server.url("/big-late");
  auto big = run(check);
  CHECK(big.status == CheckStatus::Critical);
  CHECK(contains(big.output, "larger than 64 KiB"));
}

// ---- graphql ------------------------------------------------------------------------------

TEST_CASE("graphql check against a graphql-core server", "[integration][agent][checks][graphql]") {
  GraphqlServer server;
  auto check = graphql(server.url(), "{ status items { name port } }");
  auto ok = run(check);
  INFO(ok.output);
  CHECK(ok.status == CheckStatus::Passing);
  CHECK(ok.output.rfind("HTTP 200 OK in ", 0) == 0);

  check.expect = {{"$.data.status", "ok"}, {"$.data.items[1].port", 5432}};
  CHECK(run(check).status == CheckStatus::Passing);
  check.expect = {{"$.data.status", "degraded"}};
  auto unexpected = run(check);
  CHECK(unexpected.status == CheckStatus::Critical);
  CHECK(contains(unexpected.output, "$.data.status is \"ok\", expected \"degraded\""));

  SECTION("variables are sent as JSON, typed") {
    auto echo = graphql(server.url(), "query($text: String!) { echo(text: $text) }");
    echo.variables = {{"text", "hello"}};
    echo.expect = {{"$.data.echo", "hello"}};
    auto result = run(echo);
    INFO(result.output);
    CHECK(result.status == CheckStatus::Passing);
    // A number, not a String: graphql-core 3 refuses it, 2 answers "42".
    echo.variables = {{"text", 42}};
    auto typed = run(echo);
    INFO(typed.output);
    CHECK(typed.status == CheckStatus::Critical);
    CHECK((contains(typed.output, "GraphQL error") || contains(typed.output, "$.data.echo is \"42\"")));
  }
  SECTION("errors beside data fail, with the first message") {
    auto broken = run(graphql(server.url(), "{ status broken }"));
    INFO(broken.output);
    CHECK(broken.status == CheckStatus::Critical);
    CHECK(contains(broken.output, "HTTP 200 OK"));
    CHECK(contains(broken.output, "GraphQL error: \"the database is down\""));
  }
  SECTION("a query that does not parse: 400 with its error") {
    auto bad = run(graphql(server.url(), "{ status "));
    INFO(bad.output);
    CHECK(bad.status == CheckStatus::Critical);
    CHECK(contains(bad.output, "HTTP 400"));
    CHECK(contains(bad.output, "expected HTTP 200; GraphQL error: \"Syntax Error"));
  }
  SECTION("a 500 fails even with data") {
    auto failed = run(graphql(server.url("/graphql-500"), "{ status }"));
    CHECK(failed.status == CheckStatus::Critical);
    CHECK(contains(failed.output, "HTTP 500"));
  }
  SECTION("the timeout holds") {
    TestServer slow(std::make_unique<httplib::Server>());
    auto start = Clock::now();
    auto late = run(graphql(slow.url("/slow"), "{ status }"), 500ms);
    CHECK(Clock::now() - start < 1500ms);
    CHECK(late.status == CheckStatus::Critical);
  }
}

TEST_CASE("graphql check: answers that are not GraphQL fail clearly", "[integration][agent][checks][graphql]") {
  TestServer server(std::make_unique<httplib::Server>());
  // A POST route that answers 204 without a body.
  auto empty = run(graphql(server.url("/post-only"), "{ status }"));
  INFO(empty.output);
  CHECK(empty.status == CheckStatus::Critical);
  CHECK(contains(empty.output, "expected HTTP 200"));
}

TEST_CASE("https check: certificate expiry and verification", "[integration][agent][checks][http]") {
  TempDir dir;
  const Certificate soon = make_certificate(dir.path, "soon", 5);
  TestServer server(std::make_unique<httplib::SSLServer>(soon.cert.c_str(), soon.key.c_str()));
  const std::string url = server.url("/ok", "https");

  // Self-signed: verification fails unless told the CA or told not to verify.
  auto unverified = run(http(url));
  CHECK(unverified.status == CheckStatus::Critical);
  CHECK(contains(unverified.output, "certificate"));

  auto check = http(url);
  check.tls_verify = false;
  auto warning = run(check);
  CHECK(warning.status == CheckStatus::Warning);
  CHECK(contains(warning.output, "HTTP 200 OK in "));
  INFO(warning.output);
  // 5 days less the seconds since it was made: 4 whole days, or 5 within its first second.
  CHECK((contains(warning.output, "certificate expires in 4 days") ||
         contains(warning.output, "certificate expires in 5 days")));
  // Again over the reused connection: the expiry is still seen.
  CHECK(run(check).status == CheckStatus::Warning);

  auto verified = http(url);
  verified.ca_file = soon.cert;
  CHECK(run(verified).status == CheckStatus::Warning);
  verified.cert_days_warning = 3;
  auto passing = run(verified);
  CHECK(passing.status == CheckStatus::Passing);
  CHECK_FALSE(contains(passing.output, "certificate"));
}

TEST_CASE("https check: an expired certificate is critical", "[integration][agent][checks][http]") {
  TempDir dir;
  const Certificate expired = make_expired_certificate(dir.path);
  TestServer server(std::make_unique<httplib::SSLServer>(expired.cert.c_str(), expired.key.c_str()));
  auto check = http(server.url("/ok", "https"));
  check.tls_verify = false;
  CHECK(eventually([&] { return run(check).status == CheckStatus::Critical; }, 5s));
  CHECK(contains(run(check).output, "certificate expired"));
  check.tls_verify = true;  // and a verifying check fails in the handshake
  check.ca_file = expired.cert;
  auto verified = run(check);
  CHECK(verified.status == CheckStatus::Critical);
  CHECK(contains(verified.output, "expired"));
}

// ---- monitoring-plugins through exec ---------------------------------------------------

TEST_CASE("exec check runs Debian's monitoring-plugins unchanged", "[integration][agent][checks][exec]") {
  const std::string check_tcp = fmt::format("{}/check_tcp", kPlugins);
  const std::string check_http = fmt::format("{}/check_http", kPlugins);
  if (::access(check_tcp.c_str(), X_OK) != 0 || ::access(check_http.c_str(), X_OK) != 0) {
    WARN("skipped: monitoring-plugins-basic is not installed (no " << check_tcp << ")");
    return;
  }
  TestServer server(std::make_unique<httplib::Server>());
  const std::string port = std::to_string(server.port());
  auto tcp = run(keel::checks::ExecCheck{{check_tcp, "-H", "127.0.0.1", "-p", port}});
  CHECK(tcp.status == CheckStatus::Passing);
  CHECK(contains(tcp.output, "TCP OK"));

  auto free_port = keel::process::free_local_port();
  REQUIRE(free_port);
  auto refused = run(keel::checks::ExecCheck{{check_tcp, "-H", "127.0.0.1", "-p", std::to_string(*free_port)}});
  CHECK(refused.status == CheckStatus::Critical);
  CHECK(contains(refused.output, "Connection refused"));

  auto page = run(keel::checks::ExecCheck{{check_http, "-H", "127.0.0.1", "-p", port, "-u", "/ok"}});
  CHECK(page.status == CheckStatus::Passing);
  CHECK(contains(page.output, "HTTP OK"));
  auto missing = run(keel::checks::ExecCheck{{check_http, "-H", "127.0.0.1", "-p", port, "-u", "/status/404", "-e", "200"}});
  CHECK(missing.status == CheckStatus::Critical);
}

// ---- postgres ----------------------------------------------------------------------------

TEST_CASE("postgres check against a real server", "[integration][agent][checks][postgres]") {
  Stack stack;
  Cleanup cleanup{*stack.provider, "databases", stack.id_of("databases", "main")};
  Attributes db = create(stack, "databases", "databases.main", {{"engine", "postgres"}, {"running", true}});
  const std::string password = db["password"];
  const std::string uri = db["uri"];
  const int port = db["port"];

  auto ok = run(keel::checks::PostgresCheck{uri, "SELECT 1"});
  INFO(ok.output);
  CHECK(ok.status == CheckStatus::Passing);
  CHECK(ok.output.rfind("SELECT 1 -> 1 (1 row) in ", 0) == 0);
  CHECK_FALSE(contains(ok.output, password));

  const std::string base = fmt::format("host=127.0.0.1 port={} dbname=main user=keel", port);
  auto keywords = run(keel::checks::PostgresCheck{fmt::format("{} password={}", base, password),
                                                  "SELECT count(*) FROM pg_database"});
  CHECK(keywords.status == CheckStatus::Passing);
  CHECK(contains(keywords.output, "(1 row)"));

  auto wrong = run(keel::checks::PostgresCheck{fmt::format("{} password=not-the-password-42", base), "SELECT 1"});
  CHECK(wrong.status == CheckStatus::Critical);
  CHECK(contains(wrong.output, "password authentication failed"));
  CHECK_FALSE(contains(wrong.output, "not-the-password-42"));
  CHECK(wrong.output.find('\n') == std::string::npos);

  auto bad_query = run(keel::checks::PostgresCheck{uri, "SELECT * FROM no_such_table"});
  CHECK(bad_query.status == CheckStatus::Critical);
  CHECK(contains(bad_query.output, "no_such_table"));

  auto start = Clock::now();
  auto slow = run(keel::checks::PostgresCheck{uri, "SELECT pg_sleep(30)"}, 500ms);
  CHECK(Clock::now() - start < 1500ms);
  CHECK(slow.status == CheckStatus::Critical);
  CHECK(contains(slow.output, "timed out"));
  // The cancelled query does not linger: the server is free again.
  CHECK(eventually([&] {
    auto active = run(keel::checks::PostgresCheck{
        uri, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'"});
    return contains(active.output, "-> 0 (1 row)");
  }));
}

// ---- redis --------------------------------------------------------------------------------

TEST_CASE("redis check against a real server", "[integration][agent][checks][redis]") {
  Stack stack;
  Cleanup cleanup{*stack.provider, "caches", stack.id_of("caches", "sessions")};
  Attributes cache = create(stack, "caches", "caches.sessions", {{"engine", "redis"}, {"running", true}});
  const std::string password = cache["password"];
  const int port = cache["port"];

  auto with_user = run(keel::checks::RedisCheck{"127.0.0.1", port, "default", password, ""});
  INFO(with_user.output);
  CHECK(with_user.status == CheckStatus::Passing);
  CHECK(with_user.output.rfind("PONG, role master in ", 0) == 0);
  CHECK(run(keel::checks::RedisCheck{"127.0.0.1", port, "", password, ""}).status == CheckStatus::Passing);
  CHECK(run(keel::checks::RedisCheck{"127.0.0.1", port, "", password, "master"}).status == CheckStatus::Passing);

  auto replica = run(keel::checks::RedisCheck{"127.0.0.1", port, "", password, "replica"});
  CHECK(replica.status == CheckStatus::Critical);
  CHECK(contains(replica.output, "role master"));

  auto wrong = run(keel::checks::RedisCheck{"127.0.0.1", port, "default", "not-the-password-42", ""});
  CHECK(wrong.status == CheckStatus::Critical);
  CHECK(contains(wrong.output, "WRONGPASS"));
  CHECK_FALSE(contains(wrong.output, "not-the-password-42"));

  auto anonymous = run(keel::checks::RedisCheck{"127.0.0.1", port, "", "", ""});
  CHECK(anonymous.status == CheckStatus::Critical);
  CHECK(contains(anonymous.output, "NOAUTH"));
}
