#pragma once
// keel's names and tags on DigitalOcean.
//
// Tags (droplets, databases, caches, volumes): the project tag
// `keel:<project>` and the address tag `keel:<project>:<kind>:<name>[:<index>]`
// (`servers.web[2]` -> `keel:acme:servers:web:2`). DigitalOcean tags allow
// only [a-zA-Z0-9_-:], so every other character of the project or the
// address becomes `_` and two upper-case hex digits (`my app` -> `my_20app`);
// a `_` that would read as such an escape is itself escaped (`_5F`), which
// keeps the encoding reversible. Tags starting with `keel:` are keel's.
//
// Names: the user's `name`, else `<project>-<name>` or
// `<project>-<name>-<index>`, fitted to the kind's rules (characters, case,
// length; a name cut short ends in a hash of the whole so that it stays
// unique). Load balancers and firewalls have no tags in DigitalOcean's API:
// keel finds them by this name.

#include <optional>
#include <string>
#include <string_view>

#include "core/provider.h"

namespace keel::digitalocean {

inline constexpr std::size_t kMaxTagLength = 255;

std::string encode_tag_part(std::string_view text);
std::string decode_tag_part(std::string_view text);

std::string project_tag(const std::string& project);
// For the address "servers.web[2]" of project "acme": "keel:acme:servers:web:2".
std::string address_tag(const provider::ResourceTags& tags);
bool is_keel_tag(std::string_view tag);
// A tag the user may put on a droplet: DigitalOcean's characters, not keel's prefix.
std::optional<std::string> tag_problem(const std::string& tag);

// The name rules of each kind.
enum class NameRules {
  Droplet,       // [a-zA-Z0-9.-], starts and ends alphanumeric, <= 255
  Database,      // [a-z0-9-], starts with a letter, <= 63
  LoadBalancer,  // like droplets
  Firewall,      // [a-zA-Z0-9.-], starts alphanumeric, 2..255
  Volume,        // [a-z0-9-], starts with a letter, <= 64
};

// `<project>-<name>[-<index>]` (caches: `<project>-cache-<name>...`), fitted
// to `rules`.
std::string default_name(const provider::ResourceTags& tags, NameRules rules);
// Why `name` breaks `rules`, or nullopt when it is fine.
std::optional<std::string> name_problem(const std::string& name, NameRules rules);

}  // namespace keel::digitalocean
