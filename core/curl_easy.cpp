#include "core/curl_easy.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <fmt/format.h>
#include <sys/socket.h>

#include "core/net_fence.h"

namespace keel::http::curl {
namespace {

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t n = size * count;
  if (ex->response.body.size() + n > ex->limit) {
    ex->too_big = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  ex->response.body.append(data, n);
  return n;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.rfind("HTTP/", 0) == 0) {
    ex->response.headers.clear();  // a new response (after a 100 Continue, say)
    return n;
  }
  const auto colon = line.find(':');
  if (colon != std::string_view::npos && colon > 0)
    ex->response.headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  return n;
}

size_t on_read(char* buffer, size_t size, size_t count, void* user) {
  auto* ex = static_cast<Exchange*>(user);
  const size_t n = std::min(size * count, ex->upload.size() - ex->sent);
  std::memcpy(buffer, ex->upload.data() + ex->sent, n);
  ex->sent += n;
  return n;
}

// libcurl rewinds the body when it has to send it again (a reused connection
// that turned out closed, a 100-continue answered otherwise).
int on_seek(void* user, curl_off_t offset, int origin) {
  auto* ex = static_cast<Exchange*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<std::size_t>(offset) > ex->upload.size())
    return CURL_SEEKFUNC_CANTSEEK;
  ex->sent = static_cast<std::size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// Opens the socket curl asks for, unless the fence refuses its address.
curl_socket_t on_open_socket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* ex = static_cast<Exchange*>(user);
  if (purpose == CURLSOCKTYPE_IPCXN) {
    auto allowed = net_fence::allow_address(&address->addr, address->addrlen, "connect");
    if (!allowed) {
      ex->fenced = allowed.error().message();
      return CURL_SOCKET_BAD;
    }
  }
  return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

}  // namespace

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CURL* thread_handle() {
  struct Handle {
    CURL* curl = nullptr;
    ~Handle() {
      if (curl) curl_easy_cleanup(curl);
    }
  };
  thread_local Handle handle;
  if (!handle.curl) {
    handle.curl = curl_easy_init();
  } else {
    curl_easy_reset(handle.curl);
  }
  return handle.curl;
}

void append(Slist& list, const std::string& line) {
  if (curl_slist* grown = curl_slist_append(list.get(), line.c_str())) {
    (void)list.release();
    list.reset(grown);
  }
}

void collect_response(CURL* curl, Exchange& ex) {
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ex);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &ex);
  if (net_fence::active()) {
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &ex);
    // No proxy from the environment (HTTPS_PROXY, ALL_PROXY): the socket
    // callback would see only the proxy's address, never the target's.
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
  }
}

void upload_body(CURL* curl, Exchange& ex) {
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(ex.upload.size()));
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(curl, CURLOPT_READDATA, &ex);
  curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, on_seek);
  curl_easy_setopt(curl, CURLOPT_SEEKDATA, &ex);
}

bool fenced(const Exchange& ex, CURLcode code) { return code == CURLE_COULDNT_CONNECT && !ex.fenced.empty(); }

std::string failure_detail(const Exchange& ex, CURLcode code, const char* error_buffer) {
  if (fenced(ex, code)) return ex.fenced;
  if (ex.too_big) return fmt::format("response larger than {} bytes", ex.limit);
  if (error_buffer && error_buffer[0]) return error_buffer;
  return curl_easy_strerror(code);
}

ErrorCode error_code(CURLcode code, bool connected) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return ErrorCode::Unavailable;
    case CURLE_OPERATION_TIMEDOUT:
      return connected ? ErrorCode::Timeout : ErrorCode::Unavailable;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_WRITE_ERROR:  // only ours: the response was too big
      return ErrorCode::Protocol;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return ErrorCode::InvalidConfig;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_NOT_BUILT_IN:
      return ErrorCode::Internal;
    default:
      return ErrorCode::Transient;
  }
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

}  // namespace keel::http::curl
