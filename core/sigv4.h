#pragma once
// AWS Signature Version 4, the one signer of the project: keel-dr's S3
// requests (agent/dr/s3_request) and keel-provider-aws's API calls both
// sign here. See AWS's "Create a signed AWS API request"; the unit tests
// check it against AWS's published examples (tests/unit/dr_s3_signing_test.cpp,
// tests/unit/sigv4_test.cpp).
//
//   sigv4::Request r{.method = "POST", .canonical_uri = "/", .canonical_query = "",
//                    .headers = {{"host", "ec2.us-east-1.amazonaws.com"},
//                                {"content-type", "application/x-www-form-urlencoded"}},
//                    .payload_hash = crypto::sha256_hex(body)};
//   auto headers = sigv4::sign(r, credentials, {"us-east-1", "ec2"}, sigv4::amz_date(now));
//   // -> x-amz-date, x-amz-security-token (with a session token), authorization
//
// The secret goes into the HMAC chain and nowhere else: no message, no log
// line, no header carries it.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;  // never in messages or logs
  std::string session_token;      // empty: none (long-term keys)
};

struct Scope {
  std::string region;   // "us-east-1"
  std::string service;  // "ec2", "s3", "elasticloadbalancing", "autoscaling"
};

using Header = std::pair<std::string, std::string>;
using Query = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET";
  std::string canonical_uri = "/";  // the path as sent, already URI-encoded
  std::string canonical_query;      // canonical_query() of the query sent
  // Every header to sign, `host` included; names in any case (the signature
  // uses them lower-cased, values trimmed, runs of spaces collapsed).
  std::vector<Header> headers;
  std::string payload_hash;  // hex sha256 of the body
};

// AWS's URI encoding: every byte except A-Za-z0-9 - . _ ~ becomes %XX (upper
// case hex); '/' too unless keep_slash (object keys in paths).
std::string uri_encode(std::string_view text, bool keep_slash);
// The query string in SigV4's canonical form (names and values encoded,
// sorted), which is also what is sent.
std::string canonical_query(Query query);
// "20130524T000000Z" for `when`, in UTC.
std::string amz_date(std::chrono::system_clock::time_point when);

// The headers that sign `request` at `amz_date`: x-amz-date, then
// x-amz-security-token when the credentials carry a session token, then
// authorization. The first two are signed too.
std::vector<Header> sign(const Request& request, const Credentials& credentials, const Scope& scope,
                         const std::string& amz_date);

// The parts of the computation, for tests.
std::string canonical_request(const Request& request);
std::string string_to_sign(const std::string& canonical_request, const Scope& scope, const std::string& amz_date);

}  // namespace keel::sigv4
