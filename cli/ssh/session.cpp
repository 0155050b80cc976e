// The parts of cli/ssh/session.h that need no libssh (targets, quoting,
// run() over exec()): linked into keel itself. The connection is in
// cli/ssh/libssh_session.cpp.

#include "cli/ssh/session.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

namespace keel::ssh {

const char* to_string(HostKeyPolicy policy) { return policy == HostKeyPolicy::AcceptNew ? "accept-new" : "strict"; }

std::optional<HostKeyPolicy> host_key_policy_from_string(const std::string& name) {
  if (name == "strict") return HostKeyPolicy::Strict;
  if (name == "accept-new") return HostKeyPolicy::AcceptNew;
  return std::nullopt;
}

std::string Target::effective_user() const {
  if (!user.empty()) return user;
  if (const passwd* pw = ::getpwuid(::geteuid()); pw && pw->pw_name) return pw->pw_name;
  const char* name = std::getenv("USER");
  return name ? name : "root";
}

std::string Target::describe() const {
  std::string out = fmt::format("{}@{}:{}", effective_user(), host, port);
  if (jump) out += fmt::format(" via {}", jump->describe());
  return out;
}

Result<Target> parse_destination(const std::string& text, const Target& base) {
  Target t = base;
  t.jump.reset();
  std::string rest = text;
  if (auto at = rest.find('@'); at != std::string::npos) {
    t.user = rest.substr(0, at);
    rest = rest.substr(at + 1);
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    const std::string port = rest.substr(colon + 1);
    char* end = nullptr;
    long value = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || value < 1 || value > 65535)
      return fail(ErrorCode::InvalidConfig, fmt::format("`{}`: the port must be 1-65535", text));
    t.port = static_cast<int>(value);
    rest = rest.substr(0, colon);
  } else {
    t.port = 22;
  }
  if (rest.empty()) return fail(ErrorCode::InvalidConfig, fmt::format("`{}`: no host (want [user@]host[:port])", text));
  t.host = rest;
  return t;
}

Result<CommandResult> Session::run(const std::string& command, std::string_view input,
                                   std::chrono::milliseconds timeout) {
  CommandResult result;
  auto status = exec(command, [&](Stream, std::string_view data) { result.output.append(data); }, input, timeout);
  if (!status) return fail(status.error());
  result.exit_status = *status;
  return result;
}

std::string Forward::local_url(const std::string& scheme) const {
  return fmt::format("{}://127.0.0.1:{}", scheme, local_port());
}

std::string shell_quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  out += "'";
  return out;
}

}  // namespace keel::ssh
