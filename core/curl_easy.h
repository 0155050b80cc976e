#pragma once
// The libcurl plumbing shared by keel's HTTP clients (core/http_client for
// JSON APIs, the S3 client of agent/dr): one easy handle per thread (its
// connection cache is what reuses connections), header lists, callbacks
// that collect a response with a size limit and upload a body in memory,
// and the mapping of curl's errors onto ErrorCode.

#include <curl/curl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/http_client.h"

namespace keel::http::curl {

void global_init();  // curl_global_init, once per process
// The calling thread's easy handle, reset for a new request; null only when
// curl_easy_init fails.
CURL* thread_handle();

struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;
void append(Slist& list, const std::string& line);

struct Exchange {
  std::string_view upload;  // the request body, for upload_body()
  std::size_t sent = 0;
  Response response;        // header names lower-cased
  std::size_t limit = 0;    // the most body bytes accepted
  bool too_big = false;     // the limit was hit (curl then reports CURLE_WRITE_ERROR)
  std::string fenced;       // why a connection was refused (core/net_fence.h), or empty
};
// Points curl's write and header callbacks at `ex`, and its socket callback
// too: a connection to an address outside KEEL_ALLOWED_NETWORKS is refused
// before it is opened (curl then reports CURLE_COULDNT_CONNECT, ex.fenced
// says why).
void collect_response(CURL* curl, Exchange& ex);
// Sends ex.upload through the read callback, rewinding when curl resends.
void upload_body(CURL* curl, Exchange& ex);

// `connected`: whether a connection was made before the failure (a timeout
// then means the exchange started).
ErrorCode error_code(CURLcode code, bool connected);
// Whether the exchange failed because the fence refused every address
// tried (one refused address followed by an allowed one that worked, or
// failed otherwise, is not that).
bool fenced(const Exchange& ex, CURLcode code);
// What went wrong, for an error message: the fence's refusal, the size
// limit, curl's error buffer, or curl's text for `code`.
std::string failure_detail(const Exchange& ex, CURLcode code, const char* error_buffer);

std::string lower(std::string_view text);
std::string_view trim(std::string_view text);

}  // namespace keel::http::curl
