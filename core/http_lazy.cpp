// CurlHttpClient for keel itself: the exchange runs in keel-net.so, loaded
// on the first request (core/module_loader.h), so that commands that send
// none never load libcurl and its ~20 libraries. Other binaries link
// core/curl_http.cpp instead.

#include "core/net_module.h"

namespace keel::http {

namespace {

Result<const NetModule*> module() {
  auto table = modules::load(kNetModuleFile, kNetModuleEntry, sizeof(NetModule));
  if (!table) return fail(table.error());
  return static_cast<const NetModule*>(*table);
}

}  // namespace

CurlHttpClient::CurlHttpClient() = default;

Result<Response> CurlHttpClient::send(const Request& request) {
  auto net = module();
  if (!net) return fail(net.error().with_context(request.method + " " + redact_url(request.url)));
  return (*net)->send(request);
}

}  // namespace keel::http
