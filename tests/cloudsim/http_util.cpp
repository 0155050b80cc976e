#include "tests/cloudsim/http_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <filesystem>

#include "core/crypto.h"

namespace keel::cloudsim {

std::optional<std::string> bearer_token(const httplib::Request& req) {
  static const std::string kScheme = "Bearer ";
  std::string header = req.get_header_value("Authorization");
  if (header.size() <= kScheme.size() || header.compare(0, kScheme.size(), kScheme) != 0) return std::nullopt;
  std::string token = header.substr(kScheme.size());
  if (token.find_first_of(" \t") != std::string::npos) return std::nullopt;
  return token;
}

std::string token_label(const std::string& token) { return crypto::sha256_hex(token).substr(0, 8); }

std::string base_url(const httplib::Request& req) {
  std::string host = req.get_header_value("Host");
  if (host.empty()) host = req.local_addr + ":" + std::to_string(req.local_port);
  return "http://" + host;
}

void write_reply(httplib::Response& res, const Reply& reply) {
  res.status = reply.status;
  if (reply.body) res.set_content(reply.body->dump(), "application/json; charset=utf-8");
}

void write_rate_limit_headers(httplib::Response& res, const RateLimiter::Verdict& limits) {
  res.set_header("ratelimit-limit", std::to_string(limits.limit));
  res.set_header("ratelimit-remaining", std::to_string(limits.remaining));
  res.set_header("ratelimit-reset", std::to_string(limits.reset_unix));
  if (limits.retry_after_seconds > 0) res.set_header("retry-after", std::to_string(limits.retry_after_seconds));
}

httplib::Server::HandlerWithContentReader with_optional_body(httplib::Server::Handler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res,
                                        const httplib::ContentReader& reader) {
    const bool has_body = req.has_header("Content-Length") ||
                          req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos;
    if (!has_body) return handler(req, res);
    httplib::Request with_body = req;
    reader([&](const char* data, size_t length) {
      with_body.body.append(data, length);
      return true;
    });
    handler(with_body, res);
  };
}

namespace {

// The accepted socket a request came on: cpp-httplib does not hand it to
// handlers, so it is found among this process's descriptors by its two
// ports. -1 when there is none.
int connection_socket(const httplib::Request& req) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = std::atoi(entry.path().filename().c_str());
    sockaddr_in local{}, peer{};
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 || local.sin_family != AF_INET) continue;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) continue;
    if (ntohs(local.sin_port) == req.local_port && ntohs(peer.sin_port) == req.remote_port) return fd;
  }
  return -1;
}

}  // namespace

void break_connection(const httplib::Request& req, httplib::Response& res) {
  // The client must get no response at all: shut the socket down before
  // cpp-httplib writes anything, with SO_LINGER 0 so that its close sends a
  // reset. (A response cut off after its headers is no good: Prism, as a
  // proxy, then waits for the rest forever instead of failing.)
  res.status = 502;
  if (int fd = connection_socket(req); fd >= 0) {
    linger reset{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::shutdown(fd, SHUT_RDWR);
    return;
  }
  // Not found (should not happen): headers, then a body that never comes.
  res.set_content_provider(64, "application/json", [](size_t, size_t, httplib::DataSink&) { return false; });
}

}  // namespace keel::cloudsim
