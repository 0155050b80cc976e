// The libcrypto half of core/crypto.h and core/tls.h for keel itself: the
// work runs in keel-crypto.so, loaded on the first call
// (core/module_loader.h), so that `keel --version`, `--help`, `validate`
// and the other commands that need no cryptography never load libcrypto
// (about 3 ms of relocations at every start). Other binaries link
// core/crypto_openssl.cpp and core/tls.cpp instead.

#include <cstdio>
#include <cstdlib>

#include "core/crypto_module.h"

namespace keel::crypto {

namespace {

// Loaded once (the loader's lookup takes a lock; hashes are called per
// resource). A failure is kept too: a module that is missing now stays so.
Result<const CryptoModule*> try_module() {
  static const Result<const CryptoModule*> loaded = []() -> Result<const CryptoModule*> {
    auto table = modules::load(kCryptoModuleFile, kCryptoModuleEntry, sizeof(CryptoModule));
    if (!table) return fail(table.error());
    return static_cast<const CryptoModule*>(*table);
  }();
  return loaded;
}

// For the functions that cannot report an error: without its module this
// keel is a broken installation, and going on without hashes or
// randomness would be worse than stopping (core/crypto_openssl.cpp stops
// the same way when OpenSSL itself fails). Callers that can report one ask
// ready() first.
const CryptoModule& module() {
  auto table = try_module();
  if (!table) {
    std::fflush(stdout);
    std::fprintf(stderr, "keel: fatal: %s\n", table.error().message().c_str());
    std::_Exit(1);
  }
  return **table;
}

}  // namespace

Status ready() {
  auto m = try_module();
  if (!m) return fail(m.error());
  return {};
}

std::string sha256_raw(std::string_view data) { return module().sha256_raw(data); }

Result<std::string> sha256_file_hex(const std::string& path) {
  auto m = try_module();
  if (!m) return fail(m.error());
  return (*m)->sha256_file_hex(path);
}

std::string hmac_sha256(std::string_view key, std::string_view data) { return module().hmac_sha256(key, data); }
std::string random_bytes(size_t n) { return module().random_bytes(n); }
Key random_key() { return module().random_key(); }
std::string base64_encode(std::string_view data) { return module().base64_encode(data); }

Result<std::string> base64_decode(std::string_view b64) {
  auto m = try_module();
  if (!m) return fail(m.error());
  return (*m)->base64_decode(b64);
}

std::string seal(const Key& key, std::string_view plaintext, std::string_view aad) {
  return module().seal(key, plaintext, aad);
}

Result<std::string> open(const Key& key, std::string_view sealed, std::string_view aad) {
  auto m = try_module();
  if (!m) return fail(m.error());
  return (*m)->open(key, sealed, aad);
}

Result<Key> key_from_text(std::string_view text) {
  auto m = try_module();
  if (!m) return fail(m.error());
  return (*m)->key_from_text(text);
}

bool constant_time_equal(std::string_view a, std::string_view b) { return module().constant_time_equal(a, b); }

}  // namespace keel::crypto

namespace keel::tls {

Result<LocalCertificates> generate_local_certificates(const ServerCertificateRequest& request) {
  auto m = crypto::try_module();
  if (!m) return fail(m.error());
  return (*m)->generate_local_certificates(request);
}

Status verify_server_certificate(const std::string& cert_pem, const std::string& ca_pem, const std::string& host) {
  auto m = crypto::try_module();
  if (!m) return fail(m.error());
  return (*m)->verify_server_certificate(cert_pem, ca_pem, host);
}

Status check_key_matches(const std::string& cert_pem, const std::string& key_pem) {
  auto m = crypto::try_module();
  if (!m) return fail(m.error());
  return (*m)->check_key_matches(cert_pem, key_pem);
}

}  // namespace keel::tls
