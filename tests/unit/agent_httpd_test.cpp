// The agent's HTTP server without sockets: the request reader's parsing and
// limits (agent/httpd/request_reader), the answers' bytes, and the API's
// token check and routing (ApiServer::admit and handle). The same requests
// over real connections are in tests/integration/agent_api_test.cpp.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "agent/api.h"
#include "agent/httpd/message.h"
#include "agent/httpd/request_reader.h"

using namespace keel;
using namespace keel::agent;
using namespace keel::agent::httpd;
using Event = RequestReader::Event;

namespace {

// Feeds `bytes` (all at once, or one byte at a time) and reads on past the
// head, as the server does after admitting it. The last event.
Event read_all(RequestReader& reader, std::string& buffer, const std::string& bytes, bool bytewise = false) {
  Event event = Event::NeedMore;
  auto step = [&] {
    for (;;) {
      event = reader.feed(buffer);
      if (event != Event::HeadReady) return;
    }
  };
  if (!bytewise) {
    buffer += bytes;
    step();
    return event;
  }
  for (char c : bytes) {
    buffer += c;
    step();
    if (event == Event::RequestReady || event == Event::Failed) return event;
  }
  return event;
}

Refusal refusal_of(const std::string& bytes, Limits limits = {}) {
  RequestReader reader(limits);
  std::string buffer;
  Event event = read_all(reader, buffer, bytes);
  INFO(bytes.substr(0, 200));
  REQUIRE(event == Event::Failed);
  return reader.refusal();
}

const std::string kToken = "tok-0123456789abcdef";

// An ApiServer with no checks and no jobs, never started: admit and handle.
struct Api {
  AgentCounters counters;
  CheckScheduler scheduler{[](const StatusChange&) {}};
  ApiServer api{ApiContext{.scheduler = &scheduler,
                           .counters = &counters,
                           .token = [] { return kToken; },
                           .put_config = [](const std::string&) -> Result<nlohmann::json> {
                             return fail(ErrorCode::PermissionDenied, "remote config changes are turned off");
                           },
                           .hostname = "test",
                           .jobs = nullptr}};

  Request request(const std::string& method, const std::string& path, const std::string& authorization = "") {
    Request req;
    req.method = method;
    req.target = req.path = path;
    if (size_t q = path.find('?'); q != std::string::npos) {
      req.path = path.substr(0, q);
      req.query = path.substr(q + 1);
    }
    if (!authorization.empty()) req.headers.push_back({"Authorization", authorization});
    return req;
  }
};

}  // namespace

TEST_CASE("httpd reader: a request, whole or a byte at a time, and the next one after it", "[agent][httpd]") {
  const std::string two = "GET /v1/runs?job=app%2Ddb&x=a+b HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization:  Bearer t \r\n\r\n"
                          "PUT /v1/config HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  for (bool bytewise : {false, true}) {
    RequestReader reader;
    std::string buffer;
    REQUIRE(read_all(reader, buffer, two, bytewise) == Event::RequestReady);
    const Request& r = reader.request();
    CHECK(r.method == "GET");
    CHECK(r.path == "/v1/runs");
    CHECK(r.query_param("job") == "app-db");
    CHECK(r.query_param("x") == "a b");
    CHECK_FALSE(r.query_param("y"));
    CHECK(r.header("authorization") == "Bearer t");  // names in any case; the value without OWS
    CHECK(reader.keep_alive());
    reader.reset();
    if (bytewise) buffer = two.substr(two.find("PUT"));
    REQUIRE(read_all(reader, buffer, "") == Event::RequestReady);
    CHECK(reader.request().method == "PUT");
    CHECK(reader.request().body == "hello");
    CHECK(buffer.empty());
  }
}

TEST_CASE("httpd reader: the head is announced before any byte of the body is taken", "[agent][httpd]") {
  RequestReader reader;
  std::string buffer = "PUT /v1/config HTTP/1.1\r\nContent-Length: 2000000\r\n\r\nxxxx";
  CHECK(reader.feed(buffer) == Event::HeadReady);
  CHECK(buffer == "xxxx");
  // Over the limit: refused at once, before the body is read.
  CHECK(reader.feed(buffer) == Event::Failed);
  CHECK(reader.refusal().status == 413);
  CHECK_FALSE(reader.expects_continue());
}

TEST_CASE("httpd reader: heads over the limits get 431 or 414", "[agent][httpd]") {
  std::string many = "GET /v1/health HTTP/1.1\r\n";
  for (int i = 0; i < 10'000; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
  CHECK(refusal_of(many + "\r\n").status == 431);
  // Without the end of the head: refused as soon as the limit is passed.
  CHECK(refusal_of(many).status == 431);
  CHECK(refusal_of("GET / HTTP/1.1\r\nX: " + std::string(20'000, 'a')).status == 431);
  CHECK(refusal_of("GET /" + std::string(9'000, 'a')).status == 414);
  CHECK(refusal_of("GET /" + std::string(9'000, 'a') + " HTTP/1.1\r\n\r\n").status == 414);
  // Exactly 100 fields pass.
  std::string hundred = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i) hundred += "X-" + std::to_string(i) + ": y\r\n";
  RequestReader reader;
  std::string buffer;
  CHECK(read_all(reader, buffer, hundred + "\r\n") == Event::RequestReady);
  CHECK(refusal_of(hundred + "X-101: y\r\n\r\n").status == 431);
}

TEST_CASE("httpd reader: chunked bodies are de-chunked, and refused past the limit", "[agent][httpd]") {
  for (bool bytewise : {false, true}) {
    RequestReader reader;
    std::string buffer;
    REQUIRE(read_all(reader, buffer,
                     "PUT /v1/config HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
                     "5;name=value\r\nhello\r\n0006\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nGET",
                     bytewise) == Event::RequestReady);
    CHECK(reader.request().body == "hello world");
    CHECK_FALSE(reader.request().has_header("X-Trailer"));  // a trailer never becomes a header
    if (!bytewise) CHECK(buffer == "GET");
  }
  Limits small;
  small.max_body = 10;
  CHECK(refusal_of("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n", small).status ==
        413);
  CHECK(refusal_of("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n").status == 413);
  CHECK(refusal_of("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").status == 400);
  CHECK(refusal_of("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n").status == 400);
  CHECK(refusal_of("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(5000, '0')).status == 400);
  // 1-byte chunks cost no more than their data: 1 MiB of them is fine,
  // one more byte is not.
  std::string body;
  for (int i = 0; i < 1024; ++i) body += "400\r\n" + std::string(1024, 'x') + "\r\n";
  RequestReader reader;
  std::string buffer;
  CHECK(read_all(reader, buffer, "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + body + "0\r\n\r\n") ==
        Event::RequestReady);
  CHECK(reader.request().body.size() == 1 << 20);
  CHECK(refusal_of("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + body + "1\r\n").status == 413);
}

TEST_CASE("httpd reader: malformed and ambiguous requests are refused", "[agent][httpd]") {
  CHECK(refusal_of("PUT / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n").status == 400);
  CHECK(refusal_of("PUT / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").status == 400);
  CHECK(refusal_of("PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").status == 400);
  CHECK(refusal_of("PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n").status == 400);
  CHECK(refusal_of("PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").status == 501);
  CHECK(refusal_of("PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").status == 400);
  CHECK(refusal_of("GET / HTTP/2.0\r\n\r\n").status == 505);
  CHECK(refusal_of("GET / FTP/1.0\r\n\r\n").status == 400);
  CHECK(refusal_of("GET  / HTTP/1.1\r\n\r\n").status == 400);
  CHECK(refusal_of("GET http://x/ HTTP/1.1\r\n\r\n").status == 400);
  CHECK(refusal_of("GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n").status == 400);
  CHECK(refusal_of("GET / HTTP/1.1\r\nX : a\r\n\r\n").status == 400);
  CHECK(refusal_of("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n").status == 400);
  CHECK(refusal_of(std::string("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26)).status == 400);
  CHECK(refusal_of("GET / HTTP/1.1\r\nExpect: something\r\n\r\n").status == 417);
}

TEST_CASE("httpd reader: keep-alive, 100-continue, and blank lines between requests", "[agent][httpd]") {
  auto reader_for = [](const std::string& bytes) {
    auto reader = std::make_unique<RequestReader>();
    std::string buffer = bytes;
    REQUIRE(reader->feed(buffer) == Event::HeadReady);
    return reader;
  };
  CHECK_FALSE(reader_for("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")->keep_alive());
  CHECK_FALSE(reader_for("GET / HTTP/1.0\r\n\r\n")->keep_alive());
  CHECK(reader_for("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")->keep_alive());
  CHECK(reader_for("PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")->expects_continue());
  CHECK_FALSE(reader_for("PUT / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n")->expects_continue());
  CHECK(reader_for("\r\n\r\nGET /x HTTP/1.1\r\n\r\n")->request().path == "/x");
}

TEST_CASE("httpd: answers on the wire", "[agent][httpd]") {
  Response res = error_response(404, "no check named `x`");
  CHECK(serialize(res, false, true) ==
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 31\r\n\r\n"
        "{\"error\":\"no check named `x`\"}\n");
  CHECK(serialize(res, true, false) ==
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 31\r\nConnection: close\r\n\r\n");
  CHECK(percent_decode("a%2fb%zz", false) == std::nullopt);
  CHECK(percent_decode("a%2fb+c", false) == "a/b+c");
  CHECK(percent_decode("%00", false) == std::nullopt);
  CHECK(percent_decode("%4", false) == std::nullopt);
}

TEST_CASE("agent api: the bearer scheme in any case, the token exact", "[agent][httpd]") {
  Api t;
  CHECK_FALSE(t.api.admit(t.request("GET", "/v1/health", "Bearer " + kToken)));
  CHECK_FALSE(t.api.admit(t.request("GET", "/v1/health", "bearer " + kToken)));
  CHECK_FALSE(t.api.admit(t.request("GET", "/v1/health", "BEARER   " + kToken)));
  CHECK_FALSE(t.api.admit(t.request("GET", "/v1/ping")));  // ping needs no token
  for (const std::string& wrong : std::vector<std::string>{"", "Bearer", "Bearer ", "Bearer" + kToken, "Basic " + kToken,
                                   "Bearer " + kToken + "x", "Bearer " + kToken.substr(1), "Bearerx " + kToken}) {
    INFO(wrong);
    auto refusal = t.api.admit(t.request("GET", "/v1/health", wrong));
    REQUIRE(refusal);
    CHECK(refusal->status == 401);
    CHECK(refusal->body.find(kToken) == std::string::npos);
  }
  // A handler is never reached without the token, whoever calls it.
  CHECK(t.api.handle(t.request("GET", "/v1/checks")).status == 401);
  // A flood of refusals is counted whole, though not all logged.
  for (int i = 0; i < 100; ++i) t.api.log(t.request("GET", "/v1/checks"), *t.api.admit(t.request("GET", "/v1/checks")));
  CHECK(t.counters.api_errors == 100);
}

TEST_CASE("agent api: routes, 404 and 405, without std::regex", "[agent][httpd]") {
  Api t;
  const std::string auth = "Bearer " + kToken;
  CHECK(t.api.handle(t.request("GET", "/v1/health", auth)).status == 200);
  CHECK(t.api.handle(t.request("HEAD", "/v1/health", auth)).status == 200);
  CHECK(t.api.handle(t.request("GET", "/v1/checks", auth)).status == 200);
  auto missing = t.api.handle(t.request("GET", "/v1/checks/we%62", auth));
  CHECK(missing.status == 404);
  CHECK(nlohmann::json::parse(missing.body)["error"] == "no check named `web`");
  auto wrong = t.api.handle(t.request("DELETE", "/v1/checks", auth));
  CHECK(wrong.status == 405);
  CHECK(wrong.headers.at(0).value == "GET");
  CHECK(t.api.handle(t.request("GET", "/v1/checks/", auth)).status == 404);
  CHECK(t.api.handle(t.request("GET", "/v1/jobs", auth)).status == 404);  // no jobs here
  CHECK(t.api.handle(t.request("GET", "/v1/%zz", auth)).status == 400);
  // A path of 100,000 characters is a plain 404 (std::regex would recurse
  // once per character).
  CHECK(t.api.handle(t.request("GET", "/v1/checks/" + std::string(100'000, 'a'), auth)).status == 404);
  auto forbidden = t.api.handle([&] {
    auto req = t.request("PUT", "/v1/config", auth);
    req.body = "checks: {}";
    return req;
  }());
  CHECK(forbidden.status == 403);
}
