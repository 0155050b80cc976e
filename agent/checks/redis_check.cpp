// The redis check: plain RESP over TCP, no client library. One round trip
// carries AUTH (when a password is set), PING and ROLE; every step is
// bounded by the check's deadline.

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "agent/checks/check.h"

namespace keel::agent {
namespace {

using checks::CheckStatus;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxReplyBytes = 1 << 20;  // ROLE of a master lists its replicas; far below this
constexpr int kMaxDepth = 8;

struct Reply {
  char type = 0;     // '+', '-', ':', '$', '*'
  std::string text;  // the line, the bulk string, or an array's first element
};

enum class Parse { Ok, Incomplete, Bad };

std::optional<long long> parse_int(std::string_view text) {
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Parses one RESP2 value at `pos`, moving `pos` past it only when complete.
// `out` (if given) receives its type and text.
Parse parse_value(std::string_view buf, size_t& pos, Reply* out, int depth = 0) {
  if (depth > kMaxDepth) return Parse::Bad;
  if (pos >= buf.size()) return Parse::Incomplete;
  size_t crlf = buf.find("\r\n", pos);
  if (crlf == std::string_view::npos) return Parse::Incomplete;
  const char type = buf[pos];
  const std::string_view line = buf.substr(pos + 1, crlf - pos - 1);
  size_t next = crlf + 2;
  switch (type) {
    case '+':
    case '-':
    case ':':
      if (out) *out = {type, std::string(line)};
      pos = next;
      return Parse::Ok;
    case '$': {
      auto len = parse_int(line);
      if (!len || *len > static_cast<long long>(kMaxReplyBytes)) return Parse::Bad;
      if (*len < 0) {  // null bulk string
        if (out) *out = {type, ""};
        pos = next;
        return Parse::Ok;
      }
      size_t size = static_cast<size_t>(*len);
      if (buf.size() < next + size + 2) return Parse::Incomplete;
      if (buf.substr(next + size, 2) != "\r\n") return Parse::Bad;
      if (out) *out = {type, std::string(buf.substr(next, size))};
      pos = next + size + 2;
      return Parse::Ok;
    }
    case '*': {
      auto count = parse_int(line);
      if (!count || *count > static_cast<long long>(kMaxReplyBytes)) return Parse::Bad;
      Reply first;
      for (long long i = 0; i < *count; ++i) {
        Parse r = parse_value(buf, next, i == 0 ? &first : nullptr, depth + 1);
        if (r != Parse::Ok) return r;
      }
      if (out) *out = {type, std::move(first.text)};
      pos = next;
      return Parse::Ok;
    }
    default:
      return Parse::Bad;
  }
}

void append_command(std::string& out, std::initializer_list<std::string_view> args) {
  fmt::format_to(std::back_inserter(out), "*{}\r\n", args.size());
  for (std::string_view arg : args) fmt::format_to(std::back_inserter(out), "${}\r\n{}\r\n", arg.size(), arg);
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

// Waits until `fd` is ready for `events`; false at the deadline.
bool wait_ready(int fd, short events, Clock::time_point deadline, int& err) {
  for (;;) {
    pollfd pfd{fd, events, 0};
    int ready = ::poll(&pfd, 1, remaining_ms(deadline));
    if (ready > 0) return true;
    if (ready < 0 && errno == EINTR) continue;
    err = ready == 0 ? ETIMEDOUT : errno;
    return false;
  }
}

// 0 when all of `data` was sent, else an errno.
int send_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return errno;
    int err = 0;
    if (!wait_ready(fd, POLLOUT, deadline, err)) return err;
  }
  return 0;
}

// Reads until `count` replies are complete. The error text names what went
// wrong (the server's text never carries our password).
Result<std::vector<Reply>> read_replies(int fd, size_t count, Clock::time_point deadline) {
  std::string buf;
  std::vector<Reply> replies;
  size_t pos = 0;
  char chunk[16384];
  while (replies.size() < count) {
    Reply reply;
    Parse parsed = parse_value(buf, pos, &reply);
    if (parsed == Parse::Ok) {
      replies.push_back(std::move(reply));
      continue;
    }
    if (parsed == Parse::Bad || buf.size() > kMaxReplyBytes) {
      return fail(ErrorCode::Protocol, "the server's reply is not RESP");
    }
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      buf.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return fail(ErrorCode::Unavailable, "the server closed the connection");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return fail(ErrorCode::Unavailable, std::generic_category().message(errno));
    int err = 0;
    if (!wait_ready(fd, POLLIN, deadline, err)) {
      return fail(err == ETIMEDOUT ? ErrorCode::Timeout : ErrorCode::Unavailable,
                  err == ETIMEDOUT ? std::string("timed out waiting for a reply") : std::generic_category().message(err));
    }
  }
  return replies;
}

// Server text for our output: printable, one line, bounded.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : ' ';
  return out;
}

std::string normalized_role(std::string_view role) {
  if (role == "slave") return "replica";
  return std::string(role);
}

}  // namespace

CheckResult run_redis_check(const checks::RedisCheck& check, std::chrono::milliseconds timeout) {
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  const std::string target = detail::host_port(check.host, check.port);
  auto conn = detail::connect_tcp(check.host, check.port, deadline);
  if (!conn) return {CheckStatus::Critical, conn.error().message()};

  std::string request;
  const bool auth = !check.password.empty();
  if (auth && !check.username.empty()) append_command(request, {"AUTH", check.username, check.password});
  else if (auth) append_command(request, {"AUTH", check.password});
  append_command(request, {"PING"});
  append_command(request, {"ROLE"});
  if (int err = send_all(conn->get(), request, deadline); err != 0) {
    return {CheckStatus::Critical,
            fmt::format("{}: {}", target, err == ETIMEDOUT ? "timed out sending" : std::generic_category().message(err))};
  }
  auto replies = read_replies(conn->get(), auth ? 3 : 2, deadline);
  if (!replies) return {CheckStatus::Critical, fmt::format("{}: {}", target, replies.error().message())};

  size_t next = 0;
  if (auth) {
    const Reply& r = (*replies)[next++];
    if (r.type == '-') return {CheckStatus::Critical, printable(r.text)};  // WRONGPASS ...
  }
  const Reply& ping = (*replies)[next++];
  if (ping.type == '-') return {CheckStatus::Critical, printable(ping.text)};  // NOAUTH ...
  if (ping.type != '+' || ping.text != "PONG") {
    return {CheckStatus::Critical, fmt::format("unexpected reply to PING: {}", printable(ping.text))};
  }
  const Reply& role = (*replies)[next];
  const long long ms = detail::elapsed_ms(start);
  if (role.type != '*' || role.text.empty()) {
    // ROLE may be denied by an ACL; it only matters when a role is required.
    if (check.role.empty()) return {CheckStatus::Passing, fmt::format("PONG in {} ms", ms)};
    return {CheckStatus::Critical, fmt::format("PONG, but ROLE failed: {}", printable(role.text))};
  }
  const std::string actual = printable(role.text);
  if (!check.role.empty() && normalized_role(actual) != normalized_role(check.role)) {
    return {CheckStatus::Critical, fmt::format("PONG, role {} in {} ms (expected {})", actual, ms, check.role)};
  }
  return {CheckStatus::Passing, fmt::format("PONG, role {} in {} ms", actual, ms)};
}

}  // namespace keel::agent
