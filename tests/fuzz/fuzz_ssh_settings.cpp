// Fuzz target: the SSH settings of a cloud server (cli/providers/ssh/
// cloud_access.h), which come from a stack (a pull request) and from what a
// cloud plugin reports (its addresses): user, private_key, ssh_port,
// connect, jump, known_hosts, host_key_check, ipv4, private_ipv4. The input
// is one value per line, in that order (a missing line: unset; ssh_port as
// a number when it reads as one). Any input must end in a Target or an
// InvalidConfig error naming the setting: no crash, no hang, no other code.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cli/providers/ssh/cloud_access.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using keel::ErrorCode;
  static const char* const kFields[] = {"user",    "private_key",    "ssh_port", "connect",     "jump",
                                        "known_hosts", "host_key_check", "ipv4",  "private_ipv4"};
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nlohmann::json attrs = nlohmann::json::object();
  for (const char* field : kFields) {
    if (text.empty()) break;
    const size_t end = text.find('\n');
    std::string value(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (std::string_view(field) == "ssh_port" && !value.empty()) {
      char* rest = nullptr;
      const long long n = std::strtoll(value.c_str(), &rest, 10);
      if (rest && *rest == '\0') {
        attrs[field] = n;
        continue;
      }
    }
    attrs[field] = value;
  }
  const keel::providers::ssh_host::CloudPaths paths{"/nonexistent/stack", "/nonexistent/stack/.keel/known_hosts"};
  auto access = keel::providers::ssh_host::cloud_access(attrs, paths);
  if (!access) {
    if (access.error().code() != ErrorCode::InvalidConfig || access.error().message().find('`') != 0) std::abort();
    return 0;
  }
  auto target = keel::providers::ssh_host::cloud_target(*access, attrs);
  if (!target) {
    if (target.error().code() != ErrorCode::InvalidConfig) std::abort();
    return 0;
  }
  if (target->host.empty() || target->port < 1 || target->port > 65535) std::abort();
  if (target->jump && (target->jump->host.empty() || target->jump->jump)) std::abort();
  (void)target->describe();
  return 0;
}
