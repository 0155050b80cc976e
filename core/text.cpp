#include "core/text.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace keel::text {

bool is_name(std::string_view s, size_t max_length, std::string_view first_extra, std::string_view rest_extra) {
  if (s.empty() || s.size() > max_length) return false;
  if (!is_alnum(s[0]) && first_extra.find(s[0]) == std::string_view::npos) return false;
  for (size_t i = 1; i < s.size(); ++i)
    if (!is_alnum(s[i]) && rest_extra.find(s[i]) == std::string_view::npos) return false;
  return true;
}

bool is_identifier(std::string_view s, size_t max_length) {
  return !s.empty() && (is_alpha(s[0]) || s[0] == '_') && is_name(s, max_length, "_", "_-");
}

bool is_digits(std::string_view s, size_t min, size_t max) {
  if (s.size() < min || s.size() > max) return false;
  for (char c : s)
    if (!is_digit(c)) return false;
  return true;
}

bool in_class(char c, std::string_view cls) {
  for (size_t i = 0; i < cls.size(); ++i) {
    if (i + 2 < cls.size() && cls[i + 1] == '-') {
      if (c >= cls[i] && c <= cls[i + 2]) return true;
      i += 2;
    } else if (c == cls[i]) {
      return true;
    }
  }
  return false;
}

bool matches_classes(std::string_view s, std::string_view first, std::string_view rest) {
  for (size_t i = 0; i < s.size(); ++i) {
    const std::string_view cls = i == 0 && !first.empty() ? first : rest;
    if (!cls.empty() && !in_class(s[i], cls)) return false;
  }
  return true;
}

bool valid_class(std::string_view cls) {
  for (size_t i = 0; i < cls.size(); ++i) {
    if (i + 2 < cls.size() && cls[i + 1] == '-') {
      if (cls[i] > cls[i + 2]) return false;
      i += 2;
    } else if (cls[i] == '-' && i != 0 && i + 1 != cls.size()) {
      return false;  // "a-z-0": which range is meant?
    }
  }
  return true;
}

namespace {

size_t skip_sign(std::string_view s) { return !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0; }

size_t skip_digits(std::string_view s, size_t i) {
  while (i < s.size() && is_digit(s[i])) ++i;
  return i;
}

}  // namespace

bool is_integer(std::string_view s) {
  size_t start = skip_sign(s);
  return start < s.size() && skip_digits(s, start) == s.size();
}

bool is_decimal(std::string_view s) {
  size_t i = skip_sign(s);
  size_t int_end = skip_digits(s, i);
  if (int_end >= s.size() || s[int_end] != '.') return false;
  size_t frac_end = skip_digits(s, int_end + 1);
  if (int_end == i && frac_end == int_end + 1) return false;  // "." alone
  if (frac_end == s.size()) return true;
  if (s[frac_end] != 'e' && s[frac_end] != 'E') return false;
  size_t exp = frac_end + 1;
  if (exp < s.size() && (s[exp] == '-' || s[exp] == '+')) ++exp;
  return exp < s.size() && skip_digits(s, exp) == s.size();
}

std::optional<long long> parse_int64(std::string_view s) {
  if (!is_integer(s)) return std::nullopt;
  const bool negative = s[0] == '-';
  // Accumulated as a negative number: its range holds the minimum too.
  constexpr long long kMin = std::numeric_limits<long long>::min();
  long long value = 0;
  for (size_t i = skip_sign(s); i < s.size(); ++i) {
    const int digit = s[i] - '0';
    if (value < (kMin + digit) / 10) return std::nullopt;
    value = value * 10 - digit;
  }
  if (negative) return value;
  if (value == kMin) return std::nullopt;
  return -value;
}

std::optional<double> parse_finite_double(std::string_view s) {
  if (!is_decimal(s)) return std::nullopt;
  const std::string copy(s);  // strtod needs the terminating NUL
  errno = 0;
  char* end = nullptr;
  const double d = std::strtod(copy.c_str(), &end);
  if (errno == ERANGE || !std::isfinite(d) || end != copy.c_str() + copy.size()) return std::nullopt;
  return d;
}

std::optional<int> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5 || skip_digits(s, 0) != s.size()) return std::nullopt;
  int port = 0;
  for (char c : s) port = port * 10 + (c - '0');
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

namespace {

// The length of the well-formed UTF-8 sequence at p[i] (1 for ASCII), 0
// when there is none; `cp` gets its code point.
size_t utf8_sequence(const unsigned char* p, size_t n, size_t i, unsigned& cp) {
  const unsigned char c = p[i];
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  size_t len;
  if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
  else return 0;
  if (i + len > n) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((p[i + k] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i + k] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

bool is_format_control(unsigned cp) {
  return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

const char kHex[] = "0123456789abcdef";

void append_hex_byte(std::string& out, unsigned char b) {
  out += "\\x";
  out += kHex[b >> 4];
  out += kHex[b & 0xF];
}

}  // namespace

size_t invalid_utf8_offset(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  unsigned cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_sequence(p, s.size(), i, cp);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

bool is_valid_utf8(std::string_view s) { return invalid_utf8_offset(s) == std::string_view::npos; }

std::string printable(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::string out;
  out.reserve(s.size());
  unsigned cp = 0;
  for (size_t i = 0; i < s.size();) {
    const size_t len = utf8_sequence(p, s.size(), i, cp);
    if (len == 0) {
      append_hex_byte(out, p[i++]);
      continue;
    }
    if (cp < 0x20 || cp == 0x7F) {
      switch (cp) {
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case 0x1B: out += "\\e"; break;
        default: append_hex_byte(out, static_cast<unsigned char>(cp));
      }
    } else if (is_format_control(cp)) {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 0xF];
    } else {
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string printable_lines(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t start = 0;;) {
    const size_t end = s.find('\n', start);
    out += printable(s.substr(start, end == std::string_view::npos ? s.npos : end - start));
    if (end == std::string_view::npos) return out;
    out += '\n';
    start = end + 1;
  }
}

}  // namespace keel::text
