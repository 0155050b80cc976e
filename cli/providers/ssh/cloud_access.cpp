#include "cli/providers/ssh/cloud_access.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "core/files.h"
#include "core/text.h"

namespace keel::providers::ssh_host {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string string_of(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A path of the stack: relative to the stack's directory; ~/ expanded.
std::string stack_path(const std::string& path, const CloudPaths& paths) {
  if (path.empty()) return path;
  if (path.front() == '~') return files::expand_home(path);
  if (path.front() == '/') return path;
  return (fs::path(paths.stack_dir) / path).lexically_normal().string();
}

// A host or user name in a `jump`: no spaces, quotes or shell characters
// (the value also reaches error messages and the `ssh` map).
bool plain_name(const std::string& s) { return text::matches_classes(s, "A-Za-z0-9_", "A-Za-z0-9._-"); }

Result<ssh::Target> parse_jump(const std::string& jump, const ssh::Target& base) {
  auto j = ssh::parse_destination(jump, base);
  if (!j) return fail(ErrorCode::InvalidConfig, fmt::format("`jump`: {}", j.error().message()));
  if (!plain_name(j->host) || (!j->user.empty() && !plain_name(j->user)))
    return fail(ErrorCode::InvalidConfig,
                fmt::format("`jump` `{}`: want [user@]host[:port] with a plain host name or address", jump));
  return j;
}

// A plugin reports addresses, and keel connects to them: only a literal
// IPv4 or IPv6 address is one. A name (`localhost`), a short form inet_aton
// would take (`127.1`), a `user@` or `:port` would change where keel goes.
bool literal_address(const std::string& s) {
  unsigned char buf[sizeof(struct in6_addr)];
  if (s.find('\0') != std::string::npos) return false;
  return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

Result<CloudAccess> cloud_access(const json& attrs, const CloudPaths& paths) {
  CloudAccess a;
  if (const std::string user = string_of(attrs, "user"); !user.empty()) a.user = user;
  if (auto it = attrs.find("ssh_port"); it != attrs.end() && !it->is_null()) {
    if (!it->is_number_integer() || *it < 1 || *it > 65535)
      // dump() throws on a string that is not UTF-8 unless told to replace.
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("`ssh_port` {}: want 1-65535", it->dump(-1, ' ', false, json::error_handler_t::replace)));
    a.port = it->get<int>();
  }
  if (const std::string key = string_of(attrs, "private_key"); !key.empty()) {
    a.key_file = stack_path(key, paths);
    std::error_code ec;
    if (::access(a.key_file.c_str(), R_OK) != 0 || fs::is_directory(a.key_file, ec))
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("`private_key` {}: no readable key file at {}", key, a.key_file));
  }
  const std::string known = string_of(attrs, "known_hosts");
  a.known_hosts = known.empty() ? paths.known_hosts : stack_path(known, paths);
  if (const std::string policy = string_of(attrs, "host_key_check"); !policy.empty()) {
    auto p = ssh::host_key_policy_from_string(policy);
    if (!p) return fail(ErrorCode::InvalidConfig, fmt::format("`host_key_check` `{}`: use accept-new or strict", policy));
    a.host_key_policy = *p;
  }
  if (const std::string connect = string_of(attrs, "connect"); !connect.empty()) {
    if (connect != "public" && connect != "private")
      return fail(ErrorCode::InvalidConfig, fmt::format("`connect` `{}`: use public or private", connect));
    a.private_address = connect == "private";
  }
  a.jump = string_of(attrs, "jump");
  if (!a.jump.empty())
    if (auto j = parse_jump(a.jump, ssh::Target{}); !j) return fail(j.error());
  return a;
}

Result<ssh::Target> cloud_target(const CloudAccess& access, const json& attrs) {
  const char* field = access.private_address ? "private_ipv4" : "ipv4";
  ssh::Target t;
  t.host = string_of(attrs, field);
  if (t.host.empty())
    return fail(ErrorCode::InvalidConfig,
                access.private_address
                    ? std::string("`connect: private`: the server has no private address (private_ipv4); put it in "
                                  "a network or VPC that gives it one, or connect over its public address")
                    : std::string("`connect: public`: the server has no public address (ipv4); use `connect: "
                                  "private` (with `jump` or a VPN), or give it a public address"));
  if (!literal_address(t.host))
    return fail(ErrorCode::InvalidConfig,
                fmt::format("`connect: {}`: the provider reported `{}` as the server's {}, which is not an IPv4 or "
                            "IPv6 address; keel connects to addresses only",
                            access.private_address ? "private" : "public", text::printable(t.host), field));
  t.port = access.port;
  t.user = access.user;
  t.key_file = access.key_file;
  t.known_hosts = access.known_hosts;
  t.host_key_policy = access.host_key_policy;
  if (!access.jump.empty()) {
    auto j = parse_jump(access.jump, t);
    if (!j) return fail(j.error());
    t.jump = std::make_shared<const ssh::Target>(std::move(*j));
  }
  return t;
}

}  // namespace keel::providers::ssh_host
