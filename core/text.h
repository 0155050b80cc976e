#pragma once
// Small matchers for text that comes from outside (stacks, agent configs,
// API requests, plugin answers), written by hand instead of with std::regex:
// libstdc++'s regex matcher recurses once per character and overflows the
// stack on inputs of a few tens of thousands of characters, and nothing
// that reads input may crash on its length.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace keel::text {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
inline bool is_alpha(char c) { return is_lower(c) || (c >= 'A' && c <= 'Z'); }
inline bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
inline bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// `s` is 1..max_length characters, its first one is alphanumeric or one of
// `first_extra`, and the others alphanumeric or one of `rest_extra`:
// is_name(s, 64, "_", "_.-") is [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}.
bool is_name(std::string_view s, size_t max_length, std::string_view first_extra, std::string_view rest_extra);

// [-+]?[0-9]+
bool is_integer(std::string_view s);
// YAML 1.2 core schema floats without .inf/.nan: [-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?
bool is_decimal(std::string_view s);
// A TCP/UDP port, 1..65535, in plain digits.
std::optional<int> parse_port(std::string_view s);

// Well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace keel::text
