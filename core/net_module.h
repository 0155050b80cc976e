#pragma once
// keel-net.so, the module that carries libcurl for keel (core/module_loader.h):
// its table, shared by the module (core/net_module.cpp) and keel's side
// (core/http_lazy.cpp, which defines CurlHttpClient by calling through it).

#include "core/error.h"
#include "core/http_client.h"
#include "core/module_loader.h"

namespace keel::http {

struct NetModule {
  modules::ModuleHeader header;
  Result<Response> (*send)(const Request& request);  // CurlHttpClient::send
};

inline constexpr const char* kNetModuleFile = "keel-net.so";
inline constexpr const char* kNetModuleEntry = "keel_net_module";

}  // namespace keel::http
