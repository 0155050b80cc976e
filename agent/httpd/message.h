#pragma once
// The HTTP/1.1 messages of the agent's own server (agent/httpd): a request
// as agent/httpd/request_reader parsed it, within its limits, and the
// response a handler makes. Nothing here reads a socket.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::agent::httpd {

struct Header {
  std::string name, value;
};

struct Request {
  std::string method;       // as sent, case-sensitive: GET, PUT, ...
  std::string target;       // the request-target as sent: /v1/runs?job=app-db
  std::string path;         // the target before `?`, still percent-encoded
  std::string query;        // after `?`, without it
  int minor_version = 1;    // HTTP/1.<minor_version>
  std::vector<Header> headers;
  std::string body;         // de-chunked when it came chunked
  std::string remote_addr;  // the peer's IP address

  // The first header of that name (names compare case-insensitively), or "".
  std::string_view header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  // A query parameter, percent-decoded (`+` is a space); nullopt when absent
  // or badly escaped.
  std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<Header> headers;  // besides Content-Type, Content-Length and Connection
};

// "OK", "Not Found", ...; "Unknown" for a code this server never sends.
std::string_view status_text(int status);

// The response as bytes on the wire. A HEAD request gets the headers
// (Content-Length included) without the body; `keep_alive` false adds
// `Connection: close`.
std::string serialize(const Response& response, bool head_request, bool keep_alive);

// %XX decoding (and `+` as a space when `plus_is_space`); nullopt for a bad
// escape or a decoded NUL.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

// The server's and the API's error answer: {"error": message}, as JSON.
Response error_response(int status, std::string_view message);

// ASCII case-insensitive equality (header names, tokens).
bool iequals(std::string_view a, std::string_view b);

}  // namespace keel::agent::httpd
