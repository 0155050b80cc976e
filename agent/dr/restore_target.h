#pragma once
// What a restore may be pointed at (`keel restore NAME --to TARGET`, the
// agent's POST /v1/jobs/NAME/restore {"to": ...}, keel-dr's "target"):
// checked by the agent before it starts a restore and again by keel-dr, so
// that a target never means more than it says. Header-only: the agent
// (which does not link keel-dr's library) and keel-dr share this one rule.
//
//   postgres  a plain database name: a letter or `_`, then letters, digits,
//             `_`, `-`, `.`, `$`; at most 63 bytes. Never a libpq connection
//             string or URI (`host=elsewhere dbname=x`, `postgresql://...`),
//             which would send the job's password to another server.
//   redis     HOST:PORT on the job's own Redis host (the job's password is
//             sent to the target), or PORT alone for that host.
//   files     an absolute directory path, without control characters.
//
// An empty target means the original (not allowed for files).

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "core/error.h"
#include "core/text.h"

namespace keel::dr {

inline bool is_plain_database_name(std::string_view name) {
  return name.size() <= 63 && text::is_name(name, 63, "_", "_-.$") && !text::is_digit(name.front());
}

inline bool is_loopback_host(std::string_view host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]";
}

// `source_type` is "postgres", "redis" or "files"; `source_host` the job's
// server (redis).
inline Status check_restore_target(std::string_view source_type, std::string_view source_host,
                                   std::string_view target) {
  if (target.empty()) return {};
  auto refuse = [&](std::string_view why) {
    return fail(ErrorCode::InvalidConfig, fmt::format("restore target: {}", why));
  };
  for (char c : target)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return refuse("contains control characters");
  if (target.size() > 4096) return refuse("longer than 4096 bytes");
  if (source_type == "postgres") {
    if (!is_plain_database_name(target))
      return refuse(fmt::format("`{}` is not a plain database name (letters, digits, `_`, `-`, `.`, `$`, at most 63; "
                                "not a connection string: the restore goes to the job's own server)",
                                target));
    return {};
  }
  if (source_type == "redis") {
    auto colon = target.rfind(':');
    std::string_view host = colon == std::string_view::npos ? source_host : target.substr(0, colon);
    std::string_view port = colon == std::string_view::npos ? target : target.substr(colon + 1);
    if (!text::parse_port(port)) return refuse(fmt::format("`{}` is not HOST:PORT of a Redis server", target));
    if (host != source_host && !(is_loopback_host(host) && is_loopback_host(source_host)))
      return refuse(fmt::format("`{}` is not on the job's Redis host {} (the job's password is sent to the target; "
                                "restore into another port of that host)",
                                target, source_host));
    return {};
  }
  if (source_type == "files") {
    if (target.front() != '/')
      return refuse("a files backup is restored into a directory: give an absolute path (--to DIR)");
    return {};
  }
  return refuse(fmt::format("unknown source type `{}`", source_type));
}

}  // namespace keel::dr
