#include "core/http_client.h"

// CurlHttpClient: one exchange through libcurl. Apart from the rest of
// core/http_client so that only the binaries (and keel's module keel-net.so)
// that send requests link libcurl; keel itself reaches this code through the
// module (core/http_lazy.cpp).

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <string>

#include <fmt/format.h>
#include "core/log.h"

#include "core/curl_easy.h"

namespace keel::http {

namespace {

using std::chrono::milliseconds;
using curl::Exchange;
using curl::lower;

bool has_header(const Headers& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(), [&](const auto& h) { return lower(h.first) == lower(name); });
}

std::string describe(const Request& request) { return fmt::format("{} {}", request.method, redact_url(request.url)); }

// Sets the method and the body.
void set_method(CURL* curl, const Request& request) {
  const std::string& m = request.method;
  if (m == "GET" && request.body.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    return;
  }
  if (m == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    return;
  }
  if (m != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, m.c_str());
  if (m == "POST" || m == "PUT" || m == "PATCH" || !request.body.empty()) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
  }
}

}  // namespace

// --- CurlHttpClient --------------------------------------------------------------

CurlHttpClient::CurlHttpClient() { curl::global_init(); }

Result<Response> CurlHttpClient::send(const Request& request) {
  curl::global_init();
  CURL* curl = curl::thread_handle();
  if (!curl) return fail(ErrorCode::Internal, describe(request) + ": curl_easy_init failed");

  Exchange ex;
  ex.limit = request.max_response_bytes;
  char error_buffer[CURL_ERROR_SIZE] = {};

  curl::Slist headers;
  auto add_header = [&headers](const std::string& line) { curl::append(headers, line); };
  for (const auto& [name, value] : request.headers) add_header(fmt::format("{}: {}", name, value));
  if (!request.body.empty() && !has_header(request.headers, "content-type"))
    add_header("Content-Type: application/json");
  if (!has_header(request.headers, "accept")) add_header("Accept: application/json");
  add_header("Expect:");  // no 100-continue round trip for bodies
  if (!request.bearer_token.empty()) {
    std::string line = "Authorization: Bearer ";
    line += request.bearer_token;
    add_header(line);
  }

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "keel/" KEEL_VERSION);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count()));
  if (!request.reuse_connection) curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
  // On a reused connection that dies before any answer, libcurl silently
  // sends the request again. A POST that the server carried out before the
  // connection died would then be carried out twice (two droplets), behind
  // the back of the caller's own "did it happen?" check. A fresh connection
  // for what is not safe to repeat makes that failure the caller's to see.
  if (!request.idempotent()) curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_blob blob{};
  if (!request.ca_pem.empty()) {
    blob = curl_blob{const_cast<char*>(request.ca_pem.data()), request.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &blob);
    curl_easy_setopt(curl, CURLOPT_CAPATH, static_cast<char*>(nullptr));  // only the given CAs
  } else if (!request.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, request.ca_file.c_str());
    curl_easy_setopt(curl, CURLOPT_CAPATH, static_cast<char*>(nullptr));
  }
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl::collect_response(curl, ex);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  set_method(curl, request);

  const auto started = std::chrono::steady_clock::now();
  const CURLcode code = curl_easy_perform(curl);
  const auto elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started);
  // The handle keeps pointers to our buffers and header list: drop them now.
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));

  if (code != CURLE_OK) {
    // Zero until the request is about to go out (a reused connection has no
    // connect time, so that is no sign).
    curl_off_t pretransfer = 0;
    curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    std::string detail = curl::failure_detail(ex, code, error_buffer);
    if (code == CURLE_OPERATION_TIMEDOUT && pretransfer == 0) detail = fmt::format("connect: {}", detail);
    logging::debug(fmt::runtime("http: {}: {} ({} ms)"), describe(request), detail, elapsed.count());
    // A fenced address is refused for good: no retry may help.
    const ErrorCode error =
        curl::fenced(ex, code) ? ErrorCode::InvalidConfig : curl::error_code(code, pretransfer > 0);
    return fail(error, fmt::format("{}: {}", describe(request), detail));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &ex.response.status);
  logging::debug(fmt::runtime("http: {} -> {} ({} ms)"), describe(request), ex.response.status, elapsed.count());
  return std::move(ex.response);
}

}  // namespace keel::http
