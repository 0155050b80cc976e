// The tcp check (can a connection be opened?) and the connect helper the
// redis check shares: non-blocking connect, bounded by the check's deadline.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "agent/checks/check.h"

namespace keel::agent {
namespace detail {
namespace {

using Clock = std::chrono::steady_clock;

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

std::string errno_text(int err) { return std::generic_category().message(err); }

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
}

// "::1" and "[::1]" both mean the IPv6 loopback.
std::string unbracketed(const std::string& host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

bool numeric_address(const std::string& host, int port, Address& out) {
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    out.length = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    out.length = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

// One name lookup, shared between the check and its helper thread: whoever
// lets go last frees it, so a check that gave up does not wait.
struct Lookup {
  std::mutex mutex;
  std::condition_variable finished;
  bool done = false;
  int rc = 0, err = 0;
  std::vector<Address> addresses;
};

void resolve_into(Lookup& lookup, const std::string& host, const std::string& service) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  int err = errno;
  std::vector<Address> addresses;
  for (addrinfo* ai = found; rc == 0 && ai; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    Address a;
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.length = ai->ai_addrlen;
    addresses.push_back(a);
  }
  if (found) ::freeaddrinfo(found);
  std::lock_guard lock(lookup.mutex);
  lookup.rc = rc;
  lookup.err = err;
  lookup.addresses = std::move(addresses);
  lookup.done = true;
  lookup.finished.notify_all();
}

Result<std::vector<Address>> resolve(const std::string& host, int port, Clock::time_point deadline) {
  auto lookup = std::make_shared<Lookup>();
  std::string service = std::to_string(port);
  try {
    std::thread([lookup, host, service] { resolve_into(*lookup, host, service); }).detach();
  } catch (const std::system_error&) {
    resolve_into(*lookup, host, service);  // no thread to spare: resolve here, unbounded
  }
  std::unique_lock lock(lookup->mutex);
  if (!lookup->finished.wait_until(lock, deadline, [&] { return lookup->done; })) {
    return fail(ErrorCode::Timeout, fmt::format("{}: timed out resolving the name", host_port(host, port)));
  }
  if (lookup->rc != 0) {
    std::string why = lookup->rc == EAI_SYSTEM ? errno_text(lookup->err) : ::gai_strerror(lookup->rc);
    return fail(ErrorCode::Unavailable, fmt::format("{}: {}", host_port(host, port), why));
  }
  if (lookup->addresses.empty()) {
    return fail(ErrorCode::Unavailable, fmt::format("{}: no address", host_port(host, port)));
  }
  return std::move(lookup->addresses);
}

// 0 when connected, else the errno (ETIMEDOUT at the deadline).
int connect_one(const Address& address, Clock::time_point deadline, UniqueFd& out) {
  UniqueFd fd(::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return errno;
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address.storage), address.length) != 0) {
    if (errno != EINPROGRESS) return errno;
    for (;;) {
      pollfd pfd{fd.get(), POLLOUT, 0};
      int ready = ::poll(&pfd, 1, remaining_ms(deadline));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return errno;
      if (ready == 0) return ETIMEDOUT;
      break;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    if (err != 0) return err;
  }
  out = std::move(fd);
  return 0;
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

std::string host_port(const std::string& host, int port) {
  if (host.find(':') != std::string::npos && host.front() != '[') return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

long long elapsed_ms(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

Result<UniqueFd> connect_tcp(const std::string& given_host, int port, Clock::time_point deadline) {
  const std::string host = unbracketed(given_host);
  if (host.empty()) return fail(ErrorCode::InvalidConfig, "no host given");
  if (port < 1 || port > 65535) {
    return fail(ErrorCode::InvalidConfig, fmt::format("{}: port out of range", host_port(host, port)));
  }
  std::vector<Address> addresses(1);
  if (!numeric_address(host, port, addresses[0])) {
    auto resolved = resolve(host, port, deadline);
    if (!resolved) return fail(resolved.error());
    addresses = std::move(*resolved);
  }
  // In the resolver's order, as long as time is left; the last failure is
  // the one reported.
  int err = ETIMEDOUT;
  for (const Address& address : addresses) {
    if (Clock::now() >= deadline) break;
    UniqueFd fd;
    err = connect_one(address, deadline, fd);
    if (err == 0) return fd;
  }
  if (err == ETIMEDOUT) {
    return fail(ErrorCode::Timeout, fmt::format("{}: timed out connecting", host_port(host, port)));
  }
  return fail(ErrorCode::Unavailable, fmt::format("{}: {}", host_port(host, port), errno_text(err)));
}

}  // namespace detail

CheckResult run_tcp_check(const checks::TcpCheck& check, std::chrono::milliseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  auto connected = detail::connect_tcp(check.host, check.port, start + timeout);
  if (!connected) return {checks::CheckStatus::Critical, connected.error().message()};
  return {checks::CheckStatus::Passing,
          fmt::format("connected to {} in {} ms", detail::host_port(check.host, check.port),
                      detail::elapsed_ms(start))};
}

}  // namespace keel::agent
