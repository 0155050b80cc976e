#pragma once
// The network fence: when KEEL_ALLOWED_NETWORKS is set, keel, its plugins
// and keel-dr open connections only to addresses inside the networks it
// lists, and refuse any other before a packet leaves.
//
// Why: addresses come from outside, from a cloud's answer (an instance's
// public IP), a stack, an agent's config. A test against a simulator must
// never reach a real address a simulator made up, and an operator may want
// keel confined to the networks it manages. The tests set it to 127.0.0.0/8
// and their own network namespaces (tests/e2e/lib.bash).
//
// The value lists CIDR blocks (IPv4 or IPv6) separated by commas or spaces:
// "127.0.0.0/8, ::1/128, 10.213.0.0/16"; a bare address is a /32 (/128).
// Unset or empty: every address is allowed. A value that does not parse
// allows nothing (the fence fails closed) and every refusal says why.

#include <sys/socket.h>

#include <string>
#include <string_view>

#include "core/error.h"

namespace keel::net_fence {

inline constexpr const char* kVariable = "KEEL_ALLOWED_NETWORKS";

// Whether KEEL_ALLOWED_NETWORKS is set (read once per process).
bool active();

// Ok when the fence is off or `address` (AF_INET or AF_INET6; an IPv4
// address mapped into IPv6 counts as the IPv4 one) is inside an allowed
// network; otherwise InvalidConfig naming `what`, the address and the
// variable.
Status allow_address(const sockaddr* address, socklen_t length, std::string_view what);

// As allow_address for every address `host` resolves to (a literal address
// is not looked up): all of them must be inside, since the connection may
// take any. A name that does not resolve is refused. Limit: the connection
// resolves the name again (libssh; a jump host for the host behind it), so
// a DNS server answering differently the second time is not defended
// against: fence names you trust, or use addresses.
Status allow_host(const std::string& host, std::string_view what);

// For tests: parses `spec` as the variable would be and answers for `host`
// (a literal address) without touching the process's fence.
bool allows(std::string_view spec, const std::string& host);

}  // namespace keel::net_fence
