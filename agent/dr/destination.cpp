#include "agent/dr/destination.h"

#include <fmt/format.h>

#include "agent/dr/object_name.h"

namespace keel::dr {

Status check_object_name(const std::string& name) {
  auto invalid = [&](const char* why) {
    return fail(ErrorCode::InvalidConfig, fmt::format("object name `{}`: {}", name, why));
  };
  if (name.empty()) return invalid("empty");
  if (name.front() == '/') return invalid("must be relative");
  if (name.find('\0') != std::string::npos) return invalid("contains NUL");
  if (is_partial_name(name)) return invalid("contains the marker of unfinished writes");
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string_view part(name.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") return invalid("has an empty, `.` or `..` part");
    start = end + 1;
  }
  return {};
}

namespace {

struct ParsedUrl {
  std::string scheme, user, host, path;
  int port = 0;
};

// scheme://[user@]host[:port]/path, or file:///path. No percent-decoding:
// bucket names, users and paths with such characters are not supported.
Result<ParsedUrl> parse_url(const std::string& url) {
  ParsedUrl out;
  auto sep = url.find("://");
  if (sep == std::string::npos)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("destination `{}`: expected file:///dir, s3://bucket/prefix or sftp://user@host/dir", url));
  out.scheme = url.substr(0, sep);
  std::string rest = url.substr(sep + 3);
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  out.path = slash == std::string::npos ? "" : rest.substr(slash);
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    out.user = authority.substr(0, at);
    authority = authority.substr(at + 1);
  }
  if (auto colon = authority.rfind(':'); colon != std::string::npos && authority.find(']') == std::string::npos) {
    try {
      out.port = std::stoi(authority.substr(colon + 1));
    } catch (...) {
      return fail(ErrorCode::InvalidConfig, fmt::format("destination `{}`: bad port", url));
    }
    authority = authority.substr(0, colon);
  }
  out.host = authority;
  return out;
}

std::string trim_slashes(std::string s) {
  while (!s.empty() && s.front() == '/') s.erase(0, 1);
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

Result<std::unique_ptr<Destination>> open_destination(const DestinationSpec& spec) {
  auto url = parse_url(spec.url);
  if (!url) return fail(url.error());
  if (url->scheme == "file") {
    if (!url->host.empty() && url->host != "localhost")
      return fail(ErrorCode::InvalidConfig, fmt::format("destination `{}`: a file:// URL names a local directory: "
                                                        "file:///dir (three slashes)", spec.url));
    std::string dir = url->path;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return open_file_destination(dir);
  }
  if (url->scheme == "s3") {
    if (url->host.empty()) return fail(ErrorCode::InvalidConfig, fmt::format("destination `{}`: no bucket", spec.url));
    return open_s3_destination(url->host, trim_slashes(url->path), spec.s3);
  }
  if (url->scheme == "sftp") {
    if (url->host.empty() || url->path.empty())
      return fail(ErrorCode::InvalidConfig, fmt::format("destination `{}`: expected sftp://user@host[:port]/dir", spec.url));
    SftpSettings settings = spec.sftp;
    if (url->port != 0) settings.port = url->port;
    return open_sftp_destination(url->user, url->host, url->path, settings);
  }
  return fail(ErrorCode::InvalidConfig,
              fmt::format("destination `{}`: unknown scheme `{}` (file, s3 or sftp)", spec.url, url->scheme));
}

}  // namespace keel::dr
