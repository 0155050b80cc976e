#include "tests/cloudsim/digitalocean_validation.h"

#include <arpa/inet.h>

#include <regex>

namespace keel::cloudsim::digitalocean {

namespace {

bool matches(const std::string& text, const std::regex& pattern, size_t max_length) {
  return !text.empty() && text.size() <= max_length && std::regex_match(text, pattern);
}

bool valid_prefix(const std::string& text, int max) {
  if (text.empty() || text.size() > 3 || text.find_first_not_of("0123456789") != std::string::npos) return false;
  return std::stoi(text) <= max;
}

std::optional<int> port_number(const std::string& text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  int port = std::stoi(text);
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

}  // namespace

bool valid_droplet_name(const std::string& name) {
  static const std::regex kPattern(R"(^[a-zA-Z0-9]?[a-z0-9A-Z.\-]*[a-z0-9A-Z]$)");
  return matches(name, kPattern, 255);
}

bool valid_firewall_name(const std::string& name) {
  static const std::regex kPattern(R"(^[a-zA-Z0-9][a-zA-Z0-9.\-]+$)");
  return matches(name, kPattern, 255);
}

bool valid_database_name(const std::string& name) {
  // DigitalOcean: 3 to 63 lower-case letters, digits and hyphens, starting
  // with a letter and not ending with a hyphen.
  static const std::regex kPattern(R"(^[a-z][a-z0-9\-]{1,61}[a-z0-9]$)");
  return matches(name, kPattern, 63);
}

bool valid_volume_name(const std::string& name) {
  // DigitalOcean: lower-case letters, digits and hyphens, starting with a
  // letter, at most 64 characters.
  static const std::regex kPattern(R"(^[a-z][a-z0-9\-]*$)");
  return matches(name, kPattern, 64);
}

bool valid_tag(const std::string& tag) {
  static const std::regex kPattern(R"(^[a-zA-Z0-9_\-:]+$)");
  return matches(tag, kPattern, 255);
}

bool valid_address(const std::string& address) {
  std::string host = address;
  std::string prefix;
  if (auto slash = address.find('/'); slash != std::string::npos) {
    host = address.substr(0, slash);
    prefix = address.substr(slash + 1);
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return prefix.empty() || valid_prefix(prefix, 32);
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) return prefix.empty() || valid_prefix(prefix, 128);
  return false;
}

bool valid_port_range(const std::string& ports) {
  if (ports == "0") return true;
  auto dash = ports.find('-');
  if (dash == std::string::npos) return port_number(ports).has_value();
  auto from = port_number(ports.substr(0, dash));
  auto to = port_number(ports.substr(dash + 1));
  return from && to && *from <= *to;
}

Problem check_tags(const Json& body) {
  if (!body.contains("tags") || body["tags"].is_null()) return std::nullopt;
  if (!is_string_array(body["tags"])) return "tags must be an array of strings.";
  for (const auto& tag : body["tags"]) {
    if (!valid_tag(tag.get<std::string>()))
      return "Tag name `" + tag.get<std::string>() +
             "` is invalid: use letters, numbers, colons, dashes and underscores (at most 255).";
  }
  return std::nullopt;
}

Problem check_optional_bool(const Json& body, const char* field) {
  if (body.contains(field) && !body[field].is_boolean()) return std::string(field) + " must be true or false.";
  return std::nullopt;
}

Problem check_optional_string(const Json& body, const char* field) {
  if (body.contains(field) && !body[field].is_string()) return std::string(field) + " must be a string.";
  return std::nullopt;
}

bool is_integer_array(const Json& value) {
  if (!value.is_array()) return false;
  for (const auto& v : value)
    if (!v.is_number_integer()) return false;
  return true;
}

bool is_string_array(const Json& value) {
  if (!value.is_array()) return false;
  for (const auto& v : value)
    if (!v.is_string()) return false;
  return true;
}

std::string string_or(const Json& body, const char* field, const std::string& fallback) {
  return body.contains(field) && body[field].is_string() ? body[field].get<std::string>() : fallback;
}

bool bool_or(const Json& body, const char* field, bool fallback) {
  return body.contains(field) && body[field].is_boolean() ? body[field].get<bool>() : fallback;
}

int64_t int_or(const Json& body, const char* field, int64_t fallback) {
  return body.contains(field) && body[field].is_number_integer() ? body[field].get<int64_t>() : fallback;
}

Json tags_of(const Json& body) {
  return body.contains("tags") && body["tags"].is_array() ? body["tags"] : Json::array();
}

}  // namespace keel::cloudsim::digitalocean
