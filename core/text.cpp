#include "core/text.h"

namespace keel::text {

bool is_name(std::string_view s, size_t max_length, std::string_view first_extra, std::string_view rest_extra) {
  if (s.empty() || s.size() > max_length) return false;
  if (!is_alnum(s[0]) && first_extra.find(s[0]) == std::string_view::npos) return false;
  for (size_t i = 1; i < s.size(); ++i)
    if (!is_alnum(s[i]) && rest_extra.find(s[i]) == std::string_view::npos) return false;
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

std::optional<int> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5 || skip_digits(s, 0) != s.size()) return std::nullopt;
  int port = 0;
  for (char c : s) port = port * 10 + (c - '0');
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

}  // namespace keel::text
