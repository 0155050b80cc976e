#include "core/net_fence.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "core/text.h"

namespace keel::net_fence {
namespace {

// An address as 16 bytes: IPv4 ones in their first 4.
struct Address {
  int family = AF_UNSPEC;
  std::array<unsigned char, 16> bytes{};
};

struct Network {
  Address base;
  int prefix = 0;  // bits
};

struct Fence {
  bool active = false;
  std::vector<Network> networks;
  std::string error;  // why the value did not parse: then nothing is allowed
};

// An IPv4 address mapped into IPv6 (::ffff:a.b.c.d) is that IPv4 address:
// it is where the connection goes.
Address from_in6(const in6_addr& v6) {
  Address a;
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    std::memcpy(a.bytes.data(), v6.s6_addr + 12, 4);
    a.family = AF_INET;
  } else {
    std::memcpy(a.bytes.data(), v6.s6_addr, 16);
    a.family = AF_INET6;
  }
  return a;
}

std::optional<Address> parse_address(const std::string& text) {
  Address a;
  if (::inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) return from_in6(v6);
  return std::nullopt;
}

std::optional<Network> parse_network(std::string_view entry) {
  const size_t slash = entry.find('/');
  auto base = parse_address(std::string(entry.substr(0, slash)));
  if (!base) return std::nullopt;
  const int bits = base->family == AF_INET ? 32 : 128;
  int prefix = bits;
  if (slash != std::string_view::npos) {
    std::string_view digits = entry.substr(slash + 1);
    if (!text::is_digits(digits, 1, 3)) return std::nullopt;
    prefix = std::stoi(std::string(digits));
    if (prefix > bits) return std::nullopt;
  }
  return Network{*base, prefix};
}

Fence parse(std::string_view spec) {
  Fence fence;
  size_t i = 0;
  while (i < spec.size()) {
    if (spec[i] == ',' || spec[i] == ' ' || spec[i] == '\t' || spec[i] == '\n') {
      ++i;
      continue;
    }
    size_t end = spec.find_first_of(", \t\n", i);
    if (end == std::string_view::npos) end = spec.size();
    std::string_view entry = spec.substr(i, end - i);
    i = end;
    fence.active = true;
    auto network = parse_network(entry);
    if (!network) {
      fence.error = fmt::format("{}: '{}' is not an address or ADDRESS/PREFIX, so every connection is refused",
                                kVariable, entry.substr(0, 64));
      continue;
    }
    fence.networks.push_back(*network);
  }
  return fence;
}

const Fence& process_fence() {
  static const Fence fence = [] {
    const char* value = std::getenv(kVariable);
    return value ? parse(value) : Fence{};
  }();
  return fence;
}

bool inside(const Network& n, const Address& a) {
  if (n.base.family != a.family) return false;
  const int whole = n.prefix / 8, rest = n.prefix % 8;
  if (std::memcmp(n.base.bytes.data(), a.bytes.data(), static_cast<size_t>(whole)) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xFF << (8 - rest));
  return (n.base.bytes[static_cast<size_t>(whole)] & mask) == (a.bytes[static_cast<size_t>(whole)] & mask);
}

bool allowed(const Fence& fence, const Address& a) {
  if (!fence.active) return true;
  if (!fence.error.empty()) return false;
  for (const auto& n : fence.networks)
    if (inside(n, a)) return true;
  return false;
}

std::optional<Address> from_sockaddr(const sockaddr* sa, socklen_t length) {
  Address a;
  if (sa->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(a.bytes.data(), &in->sin_addr, 4);
    a.family = AF_INET;
    return a;
  }
  if (sa->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    return from_in6(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
  }
  return std::nullopt;
}

std::string text_of(const Address& a) {
  char buffer[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(a.family, a.bytes.data(), buffer, sizeof buffer);
  return buffer;
}

// InvalidConfig: the stack or the variable must change; no retry may help
// (a PermissionDenied from SSH reads as "the key is not installed yet").
Status refuse(const Fence& fence, std::string_view what, const std::string& address) {
  if (!fence.error.empty()) return fail(ErrorCode::InvalidConfig, fmt::format("{}: {}", what, fence.error));
  return fail(ErrorCode::InvalidConfig,
              fmt::format("{}: {} is outside the networks {} allows", what, address, kVariable));
}

}  // namespace

bool active() { return process_fence().active; }

Status allow_address(const sockaddr* address, socklen_t length, std::string_view what) {
  const Fence& fence = process_fence();
  if (!fence.active) return {};
  auto a = from_sockaddr(address, length);
  if (!a) return fail(ErrorCode::InvalidConfig, fmt::format("{}: not an IP address ({} allows only IP networks)", what, kVariable));
  if (allowed(fence, *a)) return {};
  return refuse(fence, what, text_of(*a));
}

Status allow_host(const std::string& host, std::string_view what) {
  const Fence& fence = process_fence();
  if (!fence.active) return {};
  if (auto literal = parse_address(host)) {
    if (allowed(fence, *literal)) return {};
    return refuse(fence, what, text_of(*literal));
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  // A name that does not resolve here is refused: whoever connects (libssh,
  // a jump host) would resolve it again, out of the fence's sight.
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("{}: {} does not resolve here, so {} cannot check it", what, host.substr(0, 253), kVariable));
  Status verdict;
  for (const addrinfo* ai = found; ai && verdict; ai = ai->ai_next) verdict = allow_address(ai->ai_addr, ai->ai_addrlen, what);
  ::freeaddrinfo(found);
  return verdict;
}

bool allows(std::string_view spec, const std::string& host) {
  auto a = parse_address(host);
  return a && allowed(parse(spec), *a);
}

}  // namespace keel::net_fence
