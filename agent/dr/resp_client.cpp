#include "agent/dr/resp_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include "core/net_fence.h"

namespace keel::dr {
namespace {

constexpr int kMaxDepth = 8;
constexpr std::size_t kMaxBulk = 512u << 20;  // Redis' own proto-max-bulk-len default

std::string errno_text(int err) { return std::generic_category().message(err); }

bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (rc < 0 && errno == EINTR) continue;
    return rc > 0;
  }
}

}  // namespace

RespClient::RespClient(int fd, std::string peer, std::chrono::milliseconds timeout)
    : fd_(fd), peer_(std::move(peer)), timeout_(timeout) {}

RespClient::RespClient(RespClient&& other) noexcept
    : fd_(other.fd_), peer_(std::move(other.peer_)), timeout_(other.timeout_), out_(std::move(other.out_)),
      in_(std::move(other.in_)), in_pos_(other.in_pos_) {
  other.fd_ = -1;
}

RespClient& RespClient::operator=(RespClient&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
    peer_ = std::move(other.peer_);
    timeout_ = other.timeout_;
    out_ = std::move(other.out_);
    in_ = std::move(other.in_);
    in_pos_ = other.in_pos_;
  }
  return *this;
}

RespClient::~RespClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<RespClient> RespClient::connect_tcp(const std::string& host, int port, std::chrono::milliseconds timeout) {
  std::string peer = fmt::format("redis {}:{}", host, port);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &addr.sin_addr) != 1)
    return fail(ErrorCode::InvalidConfig, peer + ": the host must be an IPv4 address");
  if (auto allowed = net_fence::allow_address(reinterpret_cast<const sockaddr*>(&addr), sizeof addr, peer); !allowed)
    return fail(allowed.error());
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail(ErrorCode::Internal, peer + ": socket: " + errno_text(errno));
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc != 0 && errno != EINPROGRESS) {
    int err = errno;
    ::close(fd);
    return fail(ErrorCode::Unavailable, peer + ": connect: " + errno_text(err));
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (!wait_for(fd, POLLOUT, timeout) || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    ::close(fd);
    return fail(ErrorCode::Unavailable, peer + ": connect: " + (err ? errno_text(err) : "timed out"));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return RespClient(fd, peer, timeout);
}

Result<RespClient> RespClient::connect_unix(const std::string& path, std::chrono::milliseconds timeout) {
  std::string peer = "redis unix:" + path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return fail(ErrorCode::InvalidConfig, peer + ": path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail(ErrorCode::Internal, peer + ": socket: " + errno_text(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    return fail(ErrorCode::Unavailable, peer + ": connect: " + errno_text(err));
  }
  return RespClient(fd, peer, timeout);
}

void RespClient::queue(const std::vector<std::string>& args) {
  out_ += fmt::format("*{}\r\n", args.size());
  for (const auto& arg : args) {
    out_ += fmt::format("${}\r\n", arg.size());
    out_ += arg;
    out_ += "\r\n";
  }
}

Status RespClient::flush() {
  std::size_t sent = 0;
  while (sent < out_.size()) {
    ssize_t n = ::send(fd_, out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Replies may fill our receive buffer while we send a long pipeline:
      // read them into memory so the server never blocks on us.
      pollfd p[1] = {{fd_, POLLOUT | POLLIN, 0}};
      if (::poll(p, 1, static_cast<int>(timeout_.count())) <= 0)
        return fail(ErrorCode::Timeout, peer_ + ": send timed out");
      if (p[0].revents & POLLIN)
        if (auto ok = fill(); !ok) return ok;
      continue;
    }
    return fail(ErrorCode::Transient, peer_ + ": send: " + errno_text(errno));
  }
  out_.clear();
  return {};
}

Status RespClient::fill() {
  if (in_pos_ > 0 && in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      in_.append(buf, static_cast<std::size_t>(n));
      return {};
    }
    if (n == 0) return fail(ErrorCode::Transient, peer_ + ": connection closed");
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return fail(ErrorCode::Transient, peer_ + ": recv: " + errno_text(errno));
    if (!wait_for(fd_, POLLIN, timeout_)) return fail(ErrorCode::Timeout, peer_ + ": no reply in time");
  }
}

Result<std::string> RespClient::read_line() {
  for (;;) {
    auto crlf = in_.find("\r\n", in_pos_);
    if (crlf != std::string::npos) {
      std::string line = in_.substr(in_pos_, crlf - in_pos_);
      in_pos_ = crlf + 2;
      return line;
    }
    if (auto ok = fill(); !ok) return fail(ok.error());
  }
}

Result<std::string> RespClient::read_bytes(std::size_t n) {
  while (in_.size() - in_pos_ < n + 2)
    if (auto ok = fill(); !ok) return fail(ok.error());
  std::string out = in_.substr(in_pos_, n);
  in_pos_ += n + 2;
  return out;
}

Result<RespReply> RespClient::parse(int depth) {
  if (depth > kMaxDepth) return fail(ErrorCode::Protocol, peer_ + ": reply nested too deeply");
  auto line = read_line();
  if (!line) return fail(line.error());
  if (line->empty()) return fail(ErrorCode::Protocol, peer_ + ": empty reply line");
  RespReply reply;
  reply.type = (*line)[0];
  std::string_view rest = std::string_view(*line).substr(1);
  auto number = [&]() -> Result<long long> {
    long long v = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
    if (ec != std::errc() || end != rest.data() + rest.size())
      return fail(ErrorCode::Protocol, fmt::format("{}: bad number in reply", peer_));
    return v;
  };
  switch (reply.type) {
    case '+':
    case '-':
      reply.text = std::string(rest);
      return reply;
    case ':': {
      auto v = number();
      if (!v) return fail(v.error());
      reply.integer = *v;
      return reply;
    }
    case '$': {
      auto v = number();
      if (!v) return fail(v.error());
      if (*v < 0) {
        reply.nil = true;
        return reply;
      }
      if (static_cast<std::size_t>(*v) > kMaxBulk) return fail(ErrorCode::Protocol, peer_ + ": reply too large");
      auto bytes = read_bytes(static_cast<std::size_t>(*v));
      if (!bytes) return fail(bytes.error());
      reply.text = std::move(*bytes);
      return reply;
    }
    case '*': {
      auto v = number();
      if (!v) return fail(v.error());
      if (*v < 0) {
        reply.nil = true;
        return reply;
      }
      reply.integer = *v;
      for (long long i = 0; i < *v; ++i) {
        auto element = parse(depth + 1);
        if (!element) return fail(element.error());
        reply.elements.push_back(std::move(*element));
      }
      return reply;
    }
    default:
      return fail(ErrorCode::Protocol, fmt::format("{}: unexpected reply type `{}`", peer_, reply.type));
  }
}

Result<RespReply> RespClient::read_reply() { return parse(0); }

Result<RespReply> RespClient::command(const std::vector<std::string>& args) {
  queue(args);
  if (auto ok = flush(); !ok) return fail(ok.error());
  auto reply = read_reply();
  if (!reply) return reply;
  if (reply->is_error())
    return fail(ErrorCode::Protocol, fmt::format("{}: {}: {}", peer_, args.empty() ? "" : args[0], reply->text));
  return reply;
}

}  // namespace keel::dr
