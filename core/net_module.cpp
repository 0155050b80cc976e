// The entry of keel-net.so (core/net_module.h): the libcurl client, built
// from core/curl_http.cpp and core/curl_easy.cpp into the module.

#include "core/net_module.h"

namespace {

keel::Result<keel::http::Response> send(const keel::http::Request& request) {
  static keel::http::CurlHttpClient client;  // curl_global_init, once
  return client.send(request);
}

const keel::http::NetModule kTable{keel::modules::header_for(sizeof(keel::http::NetModule)), &send};

}  // namespace

extern "C" __attribute__((visibility("default"))) const void* keel_net_module() { return &kTable; }
