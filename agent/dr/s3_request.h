#pragma once
// The S3 wire protocol, one module: building requests (URLs, S3's URI
// encoding, canonical query strings), signing them (core/sigv4.h) and
// sending them through libcurl, retrying what is worth retrying, and reading S3's XML
// answers (with libxml2). s3_destination.cpp builds the Destination on top.
//
// Signing facts this code relies on (see tests/unit/dr_s3_signing_test.cpp
// for the AWS documentation vectors):
// - the path is signed as it is in the URL, so keys are encoded here, once,
//   by S3's rules (every byte but A-Za-z0-9-._~ and '/');
// - the query string is sent in canonical form (sorted by name, encoded,
//   "name=" for an empty value), so what is signed is what is sent;
// - every request carries x-amz-content-sha256 (the hex sha256 of the body),
//   signed and used as the payload hash;
// - every header set here is signed, Host included (sent as signed), and
//   none is signed that is not sent.
//
// Credentials go only into the signature (core/sigv4.h): never into a URL,
// a message or a log line. Messages name the operation and s3://bucket/key.
//
// Thread-safe: a Client is immutable after construction; each thread sends
// through its own libcurl handle (kept for connection reuse).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/http_client.h"

namespace keel::dr::s3 {

struct ClientConfig {
  std::string endpoint;  // scheme://host[:port]; empty: https://s3.REGION.amazonaws.com
  std::string region = "us-east-1";
  bool path_style = false;  // endpoint/bucket/key instead of bucket.endpoint/key
  std::string access_key_id;
  std::string secret_access_key;  // never in messages or logs
  std::string ca_file;            // empty: the system's CAs

  int attempts = 4;  // per request, the first included
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{8'000};
  std::chrono::milliseconds timeout{900'000};  // one exchange, a part upload included
  std::chrono::milliseconds connect_timeout{10'000};

  // For tests: a CURLOPT_CONNECT_TO entry ("host:port:127.0.0.1:port") that
  // sends a virtual-hosted request to a local server, and a fixed x-amz-date
  // ("20130524T000000Z") to reproduce published signatures.
  std::string connect_to;
  std::string amz_date;
};

using Query = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string operation = "GetObject";  // S3's name for it, for messages
  std::string method = "GET";
  std::string key;           // unencoded; empty: the bucket itself
  Query query;               // unencoded names and values, any order
  http::Headers headers;     // extra headers (Range, ...); all of them are signed
  std::string content_type;  // set only with a body; empty: none sent
  std::string_view body;     // must outlive the call
  std::size_t max_response_bytes = 16u << 20;
  // CompleteMultipartUpload may answer 200 and put an <Error> in the body
  // (it fails after the status went out): check the body of a 200 too.
  bool error_in_ok_body = false;
};

// S3's URI encoding: every byte except A-Za-z0-9 - . _ ~ becomes %XX (upper
// case hex); '/' too unless keep_slash (object keys in paths).
std::string uri_encode(std::string_view text, bool keep_slash);
// The query string in SigV4's canonical form, which is also what is sent.
std::string canonical_query(Query query);

// The code and message of an S3 <Error> body; both empty when the body is
// not one.
struct S3Error {
  std::string code;
  std::string message;
};
S3Error parse_error(std::string_view xml);

class Client {
 public:
  // InvalidConfig for an endpoint, region or bucket it cannot use.
  static Result<Client> make(ClientConfig config, std::string bucket);

  const std::string& bucket() const { return bucket_; }
  // The URL a request goes to (path style or virtual-hosted).
  std::string url(const Request& request) const;
  // "s3://bucket/key", what messages name.
  std::string describe(std::string_view key) const;

  // One exchange, no retries: any HTTP status is a Response; an error means
  // no response (codes as in core/http_client.h).
  Result<http::Response> send_once(const Request& request) const;
  // With retries (connection failures, 5xx, 429, SlowDown, RequestTimeout,
  // and a 200 whose body is an <Error>, as CompleteMultipartUpload may
  // send) and backoff. Anything but 2xx in the end is an Error naming the
  // operation, s3://bucket/key, the status and S3's Code and Message.
  // `accept` lists further statuses the caller handles itself (404 for
  // DeleteObject, 416 for a range on an empty object).
  Result<http::Response> send(const Request& request, std::vector<long> accept = {}) const;

 private:
  Client() = default;
  // The path of the URL, encoded: what SigV4 signs.
  std::string path_of(const Request& request) const;
  void wait_to_retry(const std::string& what, const std::string& why, int attempt,
                     std::chrono::milliseconds delay) const;

  ClientConfig config_;
  std::string bucket_;
  std::string scheme_;  // "https"
  std::string host_;    // "s3.us-east-1.amazonaws.com" or "127.0.0.1:9000"
};

// --- S3's XML answers ---------------------------------------------------------

struct ListedObject {
  std::string key;
  std::uint64_t size = 0;
};
struct ListObjectsPage {
  std::vector<ListedObject> objects;
  bool truncated = false;
  std::string next_continuation_token;
};
Result<ListObjectsPage> parse_list_objects(std::string_view xml);

struct MultipartUpload {
  std::string key;
  std::string upload_id;
};
struct ListUploadsPage {
  std::vector<MultipartUpload> uploads;
  bool truncated = false;
  std::string next_key_marker;
  std::string next_upload_id_marker;
};
Result<ListUploadsPage> parse_list_uploads(std::string_view xml);

// The UploadId of an InitiateMultipartUploadResult.
Result<std::string> parse_upload_id(std::string_view xml);
// The body of CompleteMultipartUpload: parts 1..n with their ETags.
std::string complete_multipart_body(const std::vector<std::string>& etags);

}  // namespace keel::dr::s3
