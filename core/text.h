#pragma once
// Small matchers for text that comes from outside (stacks, agent configs,
// API requests, plugin answers), written by hand instead of with std::regex:
// libstdc++'s regex matcher recurses once per character and overflows the
// stack on inputs of a few tens of thousands of characters, and nothing
// that reads input may crash on its length. Each function is linear in its
// input and allocates at most its result.

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

// An identifier as stack addresses use them: a letter or `_`, then letters,
// digits, `_` and `-`; at most max_length characters.
bool is_identifier(std::string_view s, size_t max_length);

// `s` is only digits, min..max of them ([0-9]{min,max}).
bool is_digits(std::string_view s, size_t min, size_t max);

// Character classes written as in a bracket expression, without the
// brackets: "A-Za-z0-9_-" (a `-` first or last stands for itself). Used for
// the `characters` constraints of provider schemas, so a provider can
// declare which names it takes without a regular expression.
bool in_class(char c, std::string_view cls);
// Every character of `s` is in `rest`, and its first one in `first`
// (empty `first`: in `rest` too). An empty class takes any character; the
// empty string matches.
bool matches_classes(std::string_view s, std::string_view first, std::string_view rest);
// Whether `cls` is a well-formed class: no range running backwards, no
// dangling `-` between ranges ("a-" at the end is fine).
bool valid_class(std::string_view cls);

// [-+]?[0-9]+
bool is_integer(std::string_view s);
// YAML 1.2 core schema floats without .inf/.nan: [-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?
bool is_decimal(std::string_view s);
// is_integer text as a 64-bit integer; nullopt when out of range.
std::optional<long long> parse_int64(std::string_view s);
// is_decimal text as a finite double; nullopt when it overflows to infinity
// or underflows (a non-zero value rounding to 0 or a denormal).
std::optional<double> parse_finite_double(std::string_view s);
// A TCP/UDP port, 1..65535, in plain digits.
std::optional<int> parse_port(std::string_view s);

// Well-formed UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF).
bool is_valid_utf8(std::string_view s);
// The byte offset of the first byte that is not well-formed UTF-8; npos
// when all is.
size_t invalid_utf8_offset(std::string_view s);

// `s` made safe to print on a terminal and to put in a JSON string: C0
// controls (ESC, CR, NUL, ...), DEL, C1 controls, the bidirectional
// overrides and isolates (U+202A-U+202E, U+2066-U+2069, "Trojan Source")
// and bytes that are not UTF-8 become visible escapes: \e, \r, \n, \t,
// \x7f, \u009b, \u202e, \xff. Everything else, UTF-8 letters included,
// passes unchanged, so printable(printable(s)) == printable(s). For every
// message or view that shows text from a stack, a config or a peer.
std::string printable(std::string_view s);
// printable() of each line, the line feeds kept: for a multi-line message
// from a peer (a plugin's error) that keel prints as lines.
std::string printable_lines(std::string_view s);

}  // namespace keel::text
