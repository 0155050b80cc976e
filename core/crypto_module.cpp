// The entry of keel-crypto.so (core/crypto_module.h): core/crypto_openssl.cpp
// and core/tls.cpp, built into the module with libcrypto.

#include "core/crypto_module.h"

namespace {

using namespace keel;

const crypto::CryptoModule kTable{
    modules::header_for(sizeof(crypto::CryptoModule)),
    &crypto::sha256_raw,
    &crypto::sha256_file_hex,
    &crypto::hmac_sha256,
    &crypto::random_bytes,
    &crypto::random_key,
    &crypto::base64_encode,
    &crypto::base64_decode,
    &crypto::seal,
    &crypto::open,
    &crypto::key_from_text,
    &crypto::constant_time_equal,
    &tls::generate_local_certificates,
    &tls::verify_server_certificate,
    &tls::check_key_matches,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const void* keel_crypto_module() { return &kTable; }
