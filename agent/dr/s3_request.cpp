#include "agent/dr/s3_request.h"

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>
#include "core/log.h"

#include "core/crypto.h"
#include "core/curl_easy.h"
#include "core/sigv4.h"

namespace keel::dr::s3 {

namespace {

using std::chrono::milliseconds;
using http::curl::append;
using http::curl::Exchange;
using http::curl::lower;
using http::curl::Slist;

// PUT and POST send their body (possibly empty) through the read callback:
// unlike CURLOPT_POSTFIELDS this adds no Content-Type of libcurl's own.
void set_method(CURL* curl, const Request& request, Exchange& ex) {
  const std::string& m = request.method;
  if (m == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (m == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (m == "PUT" || m == "POST") {
    http::curl::upload_body(curl, ex);
    if (m == "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "POST");
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m.c_str());
  }
}

// --- retry decisions ---------------------------------------------------------------

bool retryable_transport(ErrorCode code) {
  return code == ErrorCode::Unavailable || code == ErrorCode::Transient || code == ErrorCode::Timeout;
}

bool retryable_status(long status, const std::string& code) {
  if (status == 429 || (status >= 500 && status != 501 && status != 505)) return true;
  return code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" || code == "ServiceUnavailable";
}

ErrorCode code_for_status(long status, const std::string& s3_code) {
  if (status == 404) return ErrorCode::NotFound;
  if (status == 401 || status == 403) return ErrorCode::PermissionDenied;
  if (status == 409 || status == 412) return ErrorCode::Conflict;
  if (status == 501) return ErrorCode::Unavailable;
  if (retryable_status(status, s3_code)) return ErrorCode::Transient;
  if (status == 400 || status == 301 || status == 307) return ErrorCode::InvalidConfig;  // wrong region, bad name
  return ErrorCode::Protocol;
}

milliseconds backoff(const ClientConfig& config, int retry) {
  // Exponential, capped, with "equal jitter": half fixed, half random.
  const double base = std::min<double>(
      static_cast<double>(config.max_backoff.count()),
      static_cast<double>(config.initial_backoff.count()) * static_cast<double>(1LL << std::min(retry - 1, 30)));
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::uniform_real_distribution<double> half(0.0, base / 2);
  return milliseconds(static_cast<long long>(base / 2 + half(random)));
}

// S3's message, shortened and on one line: it goes into an error message.
std::string one_line(std::string text, std::size_t max = 300) {
  if (text.size() > max) text = text.substr(0, max) + "...";
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

// A final non-2xx answer (or a 200 with an <Error> body) as an Error:
// "UploadPart s3://b/k: HTTP 403 AccessDenied: Access Denied" + tries.
Error answer_error(const std::string& what, long status, const S3Error& error, const std::string& tries) {
  std::string message = fmt::format("{}: HTTP {}", what, status);
  if (!error.code.empty()) message += fmt::format(" {}", error.code);
  if (!error.message.empty()) message += fmt::format(": {}", one_line(error.message));
  message += tries;
  // A 200 with an <Error> body failed after the status went out.
  const bool ok = status >= 200 && status < 300;
  const ErrorCode code = !ok                               ? code_for_status(status, error.code)
                         : retryable_status(0, error.code) ? ErrorCode::Transient
                                                           : ErrorCode::Protocol;
  return Error(code, std::move(message));
}

// --- XML ---------------------------------------------------------------------------

struct DocDeleter {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};

struct Xml {
  std::unique_ptr<xmlDoc, DocDeleter> doc;
  xmlNode* root = nullptr;
};

bool is_element(const xmlNode* node, const char* name) {
  return node->type == XML_ELEMENT_NODE && std::strcmp(reinterpret_cast<const char*>(node->name), name) == 0;
}

// Parses `xml` and checks its root element. No network, no entity
// expansion, no messages of libxml2's own on stderr.
Result<Xml> parse_xml(std::string_view xml, const char* root_name) {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
  if (xml.size() > static_cast<std::size_t>(INT32_MAX)) return fail(ErrorCode::Protocol, "XML answer too large");
  Xml out;
  out.doc.reset(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "s3.xml", nullptr,
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!out.doc) return fail(ErrorCode::Protocol, fmt::format("expected <{}>, got no XML", root_name));
  out.root = xmlDocGetRootElement(out.doc.get());
  if (!out.root || !is_element(out.root, root_name)) {
    const char* got = out.root ? reinterpret_cast<const char*>(out.root->name) : "nothing";
    return fail(ErrorCode::Protocol, fmt::format("expected <{}>, got <{}>", root_name, got));
  }
  return out;
}

std::string text_of(const xmlNode* node) {
  xmlChar* content = xmlNodeGetContent(node);
  std::string out = content ? reinterpret_cast<const char*>(content) : "";
  xmlFree(content);
  return out;
}

const xmlNode* child(const xmlNode* parent, const char* name) {
  for (const xmlNode* n = parent->children; n; n = n->next)
    if (is_element(n, name)) return n;
  return nullptr;
}

std::string child_text(const xmlNode* parent, const char* name) {
  const xmlNode* n = child(parent, name);
  return n ? text_of(n) : "";
}

template <typename Fn>
void for_each_child(const xmlNode* parent, const char* name, Fn fn) {
  for (const xmlNode* n = parent->children; n; n = n->next)
    if (is_element(n, name)) fn(n);
}

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

// --- encoding ------------------------------------------------------------------------

std::string uri_encode(std::string_view text, bool keep_slash) { return sigv4::uri_encode(text, keep_slash); }

std::string canonical_query(Query query) { return sigv4::canonical_query(std::move(query)); }

S3Error parse_error(std::string_view xml) {
  auto doc = parse_xml(xml, "Error");
  if (!doc) return {};
  return S3Error{child_text(doc->root, "Code"), child_text(doc->root, "Message")};
}

// --- Client ----------------------------------------------------------------------------

Result<Client> Client::make(ClientConfig config, std::string bucket) {
  if (bucket.empty() || bucket.find_first_of("/?#@: ") != std::string::npos)
    return fail(ErrorCode::InvalidConfig, fmt::format("s3: bad bucket name '{}'", bucket));
  if (config.region.empty() || config.region.find_first_of(":/ ") != std::string::npos)
    return fail(ErrorCode::InvalidConfig, fmt::format("s3: bad region '{}'", config.region));
  Client client;
  std::string endpoint =
      config.endpoint.empty() ? fmt::format("https://s3.{}.amazonaws.com", config.region) : config.endpoint;
  const auto scheme_end = endpoint.find("://");
  if (scheme_end == std::string::npos)
    return fail(ErrorCode::InvalidConfig, fmt::format("s3: endpoint '{}' is not a URL", http::redact_url(endpoint)));
  client.scheme_ = lower(endpoint.substr(0, scheme_end));
  std::string host = endpoint.substr(scheme_end + 3);
  while (!host.empty() && host.back() == '/') host.pop_back();
  if ((client.scheme_ != "http" && client.scheme_ != "https") || host.empty() ||
      host.find_first_of("/?#@") != std::string::npos)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("s3: endpoint '{}' must be http(s)://host[:port]", http::redact_url(endpoint)));
  client.host_ = std::move(host);
  client.config_ = std::move(config);
  client.config_.attempts = std::max(1, client.config_.attempts);
  client.bucket_ = std::move(bucket);
  return client;
}

std::string Client::path_of(const Request& request) const {
  std::string out = config_.path_style ? fmt::format("/{}", bucket_) : std::string();
  if (!request.key.empty()) {
    out += '/';
    out += uri_encode(request.key, true);
  } else if (!config_.path_style) {
    out += '/';
  }
  return out;
}

std::string Client::url(const Request& request) const {
  std::string out = config_.path_style ? fmt::format("{}://{}{}", scheme_, host_, path_of(request))
                                       : fmt::format("{}://{}.{}{}", scheme_, bucket_, host_, path_of(request));
  if (!request.query.empty()) {
    out += '?';
    out += canonical_query(request.query);
  }
  return out;
}

std::string Client::describe(std::string_view key) const {
  return key.empty() ? fmt::format("s3://{}", bucket_) : fmt::format("s3://{}/{}", bucket_, key);
}

Result<http::Response> Client::send_once(const Request& request) const {
  http::curl::global_init();
  const std::string what = fmt::format("{} {}", request.operation, describe(request.key));
  CURL* curl = http::curl::thread_handle();
  if (!curl) return fail(ErrorCode::Internal, what + ": curl_easy_init failed");

  Exchange ex;
  ex.upload = request.body;
  ex.limit = request.max_response_bytes;
  char error_buffer[CURL_ERROR_SIZE] = {};

  // Every header sent is signed (core/sigv4.h), Host included: it is sent
  // as signed rather than left to libcurl.
  sigv4::Request to_sign;
  to_sign.method = request.method;
  to_sign.canonical_uri = path_of(request);
  to_sign.canonical_query = canonical_query(request.query);
  to_sign.payload_hash = crypto::sha256_hex(request.body);
  to_sign.headers.emplace_back("Host", config_.path_style ? host_ : fmt::format("{}.{}", bucket_, host_));
  to_sign.headers.emplace_back("x-amz-content-sha256", to_sign.payload_hash);
  if (!request.content_type.empty()) to_sign.headers.emplace_back("Content-Type", request.content_type);
  for (const auto& [name, value] : request.headers) to_sign.headers.emplace_back(name, value);
  const std::string date =
      config_.amz_date.empty() ? sigv4::amz_date(std::chrono::system_clock::now()) : config_.amz_date;
  auto signature = sigv4::sign(to_sign, {config_.access_key_id, config_.secret_access_key, ""},
                               {config_.region, "s3"}, date);
  Slist headers;
  for (const auto& [name, value] : to_sign.headers) append(headers, fmt::format("{}: {}", name, value));
  for (const auto& [name, value] : signature) append(headers, fmt::format("{}: {}", name, value));
  Slist connect_to;
  if (!config_.connect_to.empty()) append(connect_to, config_.connect_to);

  const std::string target = url(request);
  curl_easy_setopt(curl, CURLOPT_URL, target.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "keel/" KEEL_VERSION);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.connect_timeout.count()));
  // A stalled transfer fails long before the overall timeout.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 120L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!config_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, config_.ca_file.c_str());
  if (connect_to) curl_easy_setopt(curl, CURLOPT_CONNECT_TO, connect_to.get());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  http::curl::collect_response(curl, ex);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  set_method(curl, request, ex);

  const CURLcode code = curl_easy_perform(curl);
  // The handle keeps pointers to our lists, buffers and secrets: drop them now.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
  curl_easy_setopt(curl, CURLOPT_CONNECT_TO, static_cast<curl_slist*>(nullptr));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));

  if (code != CURLE_OK) {
    curl_off_t pretransfer = 0;
    curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    const std::string detail = http::curl::failure_detail(ex, code, error_buffer);
    const ErrorCode error =
        http::curl::fenced(ex, code) ? ErrorCode::InvalidConfig : http::curl::error_code(code, pretransfer > 0);
    return fail(error, fmt::format("{}: {}", what, detail));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ex.response.status);
  return std::move(ex.response);
}

Result<http::Response> Client::send(const Request& request, std::vector<long> accept) const {
  const std::string what = fmt::format("{} {}", request.operation, describe(request.key));
  for (int attempt = 1;; ++attempt) {
    const bool last = attempt >= config_.attempts;
    const std::string tries = attempt > 1 ? fmt::format(" (after {} attempts)", attempt) : "";
    auto response = send_once(request);
    if (!response) {
      const ErrorCode code = response.error().code();
      if (last || !retryable_transport(code)) return fail(code, response.error().message() + tries);
      wait_to_retry(what, response.error().message(), attempt, backoff(config_, attempt));
      continue;
    }
    if (std::find(accept.begin(), accept.end(), response->status) != accept.end()) return response;
    const bool ok = response->status >= 200 && response->status < 300;
    const S3Error error = ok && !request.error_in_ok_body ? S3Error{} : parse_error(response->body);
    if (ok && error.code.empty()) return response;
    if (last || !retryable_status(response->status, error.code))
      return fail(answer_error(what, response->status, error, tries));
    milliseconds delay = backoff(config_, attempt);
    if (const milliseconds asked = http::requested_delay(*response); asked.count() >= 0)
      delay = std::min(asked, config_.max_backoff);
    wait_to_retry(what, fmt::format("HTTP {} {}", response->status, error.code), attempt, delay);
  }
}

void Client::wait_to_retry(const std::string& what, const std::string& why, int attempt,
                           std::chrono::milliseconds delay) const {
  logging::debug(fmt::runtime("s3: {}: {}; attempt {} of {} in {} ms"), what, why, attempt + 1, config_.attempts,
                delay.count());
  std::this_thread::sleep_for(delay);
}

// --- XML answers -----------------------------------------------------------------------

Result<ListObjectsPage> parse_list_objects(std::string_view xml) {
  auto doc = parse_xml(xml, "ListBucketResult");
  if (!doc) return fail(doc.error().with_context("ListObjectsV2"));
  ListObjectsPage page;
  Status status;
  for_each_child(doc->root, "Contents", [&](const xmlNode* node) {
    ListedObject object;
    object.key = child_text(node, "Key");
    const std::string size = child_text(node, "Size");
    auto [end, error] = std::from_chars(size.data(), size.data() + size.size(), object.size);
    if (error != std::errc() || end != size.data() + size.size() || object.key.empty())
      status = fail(ErrorCode::Protocol, fmt::format("ListObjectsV2: bad <Contents> for key '{}'", object.key));
    page.objects.push_back(std::move(object));
  });
  if (!status) return fail(status.error());
  page.truncated = child_text(doc->root, "IsTruncated") == "true";
  page.next_continuation_token = child_text(doc->root, "NextContinuationToken");
  return page;
}

Result<ListUploadsPage> parse_list_uploads(std::string_view xml) {
  auto doc = parse_xml(xml, "ListMultipartUploadsResult");
  if (!doc) return fail(doc.error().with_context("ListMultipartUploads"));
  ListUploadsPage page;
  for_each_child(doc->root, "Upload", [&](const xmlNode* node) {
    page.uploads.push_back(MultipartUpload{child_text(node, "Key"), child_text(node, "UploadId")});
  });
  page.truncated = child_text(doc->root, "IsTruncated") == "true";
  page.next_key_marker = child_text(doc->root, "NextKeyMarker");
  page.next_upload_id_marker = child_text(doc->root, "NextUploadIdMarker");
  return page;
}

Result<std::string> parse_upload_id(std::string_view xml) {
  auto doc = parse_xml(xml, "InitiateMultipartUploadResult");
  if (!doc) return fail(doc.error().with_context("CreateMultipartUpload"));
  std::string id = child_text(doc->root, "UploadId");
  if (id.empty()) return fail(ErrorCode::Protocol, "CreateMultipartUpload: no <UploadId> in the answer");
  return id;
}

std::string complete_multipart_body(const std::vector<std::string>& etags) {
  std::string out = R"(<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">)";
  for (std::size_t i = 0; i < etags.size(); ++i)
    out += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1, xml_escape(etags[i]));
  out += "</CompleteMultipartUpload>";
  return out;
}

}  // namespace keel::dr::s3
