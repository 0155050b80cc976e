#include "core/sigv4.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include <fmt/format.h>

#include "core/crypto.h"

namespace keel::sigv4 {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Trimmed, with runs of spaces inside collapsed to one (SigV4's rule).
std::string canonical_value(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::vector<Header> canonical_headers(const std::vector<Header>& headers) {
  std::vector<Header> out;
  for (const auto& [name, value] : headers) out.emplace_back(lower(name), canonical_value(value));
  std::stable_sort(out.begin(), out.end(), [](const Header& a, const Header& b) { return a.first < b.first; });
  return out;
}

std::string signed_header_names(const std::vector<Header>& canonical) {
  std::string out;
  for (size_t i = 0; i < canonical.size(); ++i) {
    if (i > 0 && canonical[i].first == canonical[i - 1].first) continue;  // a repeated header is one name
    if (!out.empty()) out += ';';
    out += canonical[i].first;
  }
  return out;
}

}  // namespace

std::string uri_encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string canonical_query(Query query) {
  for (auto& [name, value] : query) {
    name = uri_encode(name, false);
    value = uri_encode(value, false);
  }
  std::sort(query.begin(), query.end());  // by encoded name, then value: SigV4's order
  std::string out;
  for (const auto& [name, value] : query) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::string amz_date(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buffer[20];
  std::strftime(buffer, sizeof buffer, "%Y%m%dT%H%M%SZ", &utc);
  return buffer;
}

std::string canonical_request(const Request& request) {
  const auto headers = canonical_headers(request.headers);
  std::string out = fmt::format("{}\n{}\n{}\n", request.method, request.canonical_uri, request.canonical_query);
  // Repeated headers join their values with commas, in the order given.
  for (size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      out.back() = ',';
      out += headers[i].second + '\n';
      continue;
    }
    out += fmt::format("{}:{}\n", headers[i].first, headers[i].second);
  }
  out += fmt::format("\n{}\n{}", signed_header_names(headers), request.payload_hash);
  return out;
}

std::string string_to_sign(const std::string& canonical, const Scope& scope, const std::string& date) {
  return fmt::format("AWS4-HMAC-SHA256\n{}\n{}/{}/{}/aws4_request\n{}", date, date.substr(0, 8), scope.region,
                     scope.service, crypto::sha256_hex(canonical));
}

std::vector<Header> sign(const Request& request, const Credentials& credentials, const Scope& scope,
                         const std::string& date) {
  std::vector<Header> added{{"x-amz-date", date}};
  if (!credentials.session_token.empty()) added.emplace_back("x-amz-security-token", credentials.session_token);
  Request signed_request = request;
  signed_request.headers.insert(signed_request.headers.end(), added.begin(), added.end());

  const std::string canonical = canonical_request(signed_request);
  const std::string day = date.substr(0, 8);
  std::string key = crypto::hmac_sha256("AWS4" + credentials.secret_access_key, day);
  key = crypto::hmac_sha256(key, scope.region);
  key = crypto::hmac_sha256(key, scope.service);
  key = crypto::hmac_sha256(key, "aws4_request");
  const std::string signature = crypto::hex_encode(crypto::hmac_sha256(key, string_to_sign(canonical, scope, date)));
  added.emplace_back("authorization",
                     fmt::format("AWS4-HMAC-SHA256 Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, Signature={}",
                                 credentials.access_key_id, day, scope.region, scope.service,
                                 signed_header_names(canonical_headers(signed_request.headers)), signature));
  return added;
}

}  // namespace keel::sigv4
