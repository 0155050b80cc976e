#pragma once
// keel-crypto.so, the module that carries OpenSSL's libcrypto for keel
// (core/module_loader.h): its table, shared by the module
// (core/crypto_module.cpp) and keel's side (core/crypto_lazy.cpp, which
// defines the functions of core/crypto.h and core/tls.h that need libcrypto
// by calling through it).
//
// The table lists every function that core/crypto_openssl.cpp and
// core/tls.cpp define: keel links crypto_lazy.cpp instead of those two, and
// a function added there but not here makes keel's link fail with a
// "multiple definition" (the linker then pulls the real file in beside the
// lazy one), not a silent libcrypto at startup.

#include "core/crypto.h"
#include "core/module_loader.h"
#include "core/tls.h"

namespace keel::crypto {

struct CryptoModule {
  modules::ModuleHeader header;
  std::string (*sha256_raw)(std::string_view data);
  Result<std::string> (*sha256_file_hex)(const std::string& path);
  std::string (*hmac_sha256)(std::string_view key, std::string_view data);
  std::string (*random_bytes)(size_t n);
  Key (*random_key)();
  std::string (*base64_encode)(std::string_view data);
  Result<std::string> (*base64_decode)(std::string_view b64);
  std::string (*seal)(const Key& key, std::string_view plaintext, std::string_view aad);
  Result<std::string> (*open)(const Key& key, std::string_view sealed, std::string_view aad);
  Result<Key> (*key_from_text)(std::string_view text);
  bool (*constant_time_equal)(std::string_view a, std::string_view b);
  Result<tls::LocalCertificates> (*generate_local_certificates)(const tls::ServerCertificateRequest& request);
  Status (*verify_server_certificate)(const std::string& cert_pem, const std::string& ca_pem, const std::string& host);
  Status (*check_key_matches)(const std::string& cert_pem, const std::string& key_pem);
};

inline constexpr const char* kCryptoModuleFile = "keel-crypto.so";
inline constexpr const char* kCryptoModuleEntry = "keel_crypto_module";

}  // namespace keel::crypto
