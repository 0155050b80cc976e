#pragma once
// The few places where the simulator touches cpp-httplib's request and
// response objects, shared by the API pipeline and the admin API.

#include <optional>
#include <string>

#include <httplib.h>

#include "tests/cloudsim/rate_limiter.h"
#include "tests/cloudsim/router.h"

namespace keel::cloudsim {

// The T of "Authorization: Bearer T"; nullopt when absent or malformed.
std::optional<std::string> bearer_token(const httplib::Request& req);

// A short, stable label for a token, for logs (tokens are not logged).
std::string token_label(const std::string& token);

// "http://" + the Host header the client sent.
std::string base_url(const httplib::Request& req);

void write_reply(httplib::Response& res, const Reply& reply);
void write_rate_limit_headers(httplib::Response& res, const RateLimiter::Verdict& limits);

// For POST, PUT and PATCH routes. cpp-httplib answers a bare 400 by itself
// to such a request without Content-Length (what `curl -X POST URL` sends);
// through a content reader the body is read only when there is one, so a
// bodiless request reaches `handler` with an empty body.
httplib::Server::HandlerWithContentReader with_optional_body(httplib::Server::Handler handler);

// Breaks the connection before any response is written: the client sees a
// transport error (curl: "Empty reply from server"; behind Prism, Prism's
// 500 "socket hang up"), never a response.
void break_connection(const httplib::Request& req, httplib::Response& res);

}  // namespace keel::cloudsim
