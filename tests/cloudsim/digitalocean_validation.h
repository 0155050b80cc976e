#pragma once
// Checks of request fields that several DigitalOcean resources share. Each
// check returns the problem in words a person can act on (naming the
// field), or nullopt when the value is fine; the handler picks the status.

#include <optional>
#include <string>

#include "tests/cloudsim/router.h"

namespace keel::cloudsim::digitalocean {

using Problem = std::optional<std::string>;

// The patterns of DigitalOcean's document (droplet and firewall names,
// tags) and of its documentation (database and volume names).
bool valid_droplet_name(const std::string& name);
bool valid_firewall_name(const std::string& name);
bool valid_database_name(const std::string& name);
bool valid_volume_name(const std::string& name);
bool valid_tag(const std::string& tag);
// An IPv4 or IPv6 address, with an optional /prefix.
bool valid_address(const std::string& address);
// "22", "8000-9000", or "0" (every port).
bool valid_port_range(const std::string& ports);

// `tags` of a request: absent, null, or an array of valid tag names.
Problem check_tags(const Json& body);
// An optional member of `body` that must have the given JSON type when present.
Problem check_optional_bool(const Json& body, const char* field);
Problem check_optional_string(const Json& body, const char* field);

bool is_integer_array(const Json& value);
bool is_string_array(const Json& value);

// Small readers for members already checked.
std::string string_or(const Json& body, const char* field, const std::string& fallback);
bool bool_or(const Json& body, const char* field, bool fallback);
int64_t int_or(const Json& body, const char* field, int64_t fallback);
// `tags` as a (possibly empty) array; null and absent give [].
Json tags_of(const Json& body);

}  // namespace keel::cloudsim::digitalocean
