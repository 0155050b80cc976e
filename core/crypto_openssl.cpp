// The functions of core/crypto.h that call OpenSSL's libcrypto. keel
// itself does not link them: it reaches them through keel-crypto.so
// (core/crypto_lazy.cpp), so that commands that need no cryptography do
// not load libcrypto; keel-agent, keel-dr, the plugins and the tests link
// them directly.
#include "core/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>

namespace keel::crypto {
namespace {

constexpr size_t kNonceSize = 12;  // the GCM standard nonce: no extra GHASH pass
constexpr size_t kTagSize = 16;
constexpr int kPbkdf2Iterations = 200000;
// Fixed on purpose: every machine that reads a state file must derive the
// same key from the same passphrase. Documented in docs/ with KEEL_STATE_KEY.
constexpr std::string_view kPbkdf2Salt = "keel-state-key-v1";

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

// Without randomness no nonce, key or token is safe; carrying on would be
// worse than stopping, and RAND_bytes only fails when the OS entropy source
// is broken.
[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "keel: fatal: %s failed\n", what);
  std::abort();
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;
CipherCtx new_cipher_ctx() {
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  if (!ctx) die("EVP_CIPHER_CTX_new");
  return ctx;
}

std::unexpected<Error> corrupt() {
  return fail(ErrorCode::Corrupt, "decryption failed: wrong key or damaged data");
}

bool is_base64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '+' || c == '/';
}

std::string_view trim(std::string_view s) {
  const char* ws = " \t\r\n";
  size_t begin = s.find_first_not_of(ws);
  if (begin == std::string_view::npos) return {};
  size_t end = s.find_last_not_of(ws);
  return s.substr(begin, end - begin + 1);
}

}  // namespace

Status ready() { return {}; }

std::string sha256_raw(std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), bytes(out), &len, EVP_sha256(), nullptr) != 1) {
    die("EVP_Digest");
  }
  out.resize(len);
  return out;
}

Result<std::string> sha256_file_hex(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::NotFound, "cannot read " + path);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    return fail(ErrorCode::Internal, "sha256: cannot start a digest");
  std::string buffer(1 << 16, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto n = in.gcount();
    if (n > 0 && EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(n)) != 1)
      return fail(ErrorCode::Internal, "sha256: digest update failed");
  }
  if (in.bad()) return fail(ErrorCode::Internal, "reading " + path + " failed");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &length) != 1) return fail(ErrorCode::Internal, "sha256: digest failed");
  return hex_encode(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), bytes(data), data.size(), out, &length))
    die("HMAC-SHA256");
  return std::string(reinterpret_cast<const char*>(out), length);
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(bytes(out), static_cast<int>(n)) != 1) die("RAND_bytes");
  return out;
}

std::string base64_encode(std::string_view data) {
  // EVP_EncodeBlock writes 4 characters per 3 bytes plus a NUL, no newlines.
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(bytes(out), bytes(data), static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(len));
  return out;
}

Result<std::string> base64_decode(std::string_view b64) {
  // EVP_DecodeBlock skips surrounding whitespace and counts padding as zero
  // bytes; validate strictly here and remove the padding bytes afterwards.
  std::string in(b64);
  if (in.size() % 4 == 1) return fail(ErrorCode::InvalidConfig, "invalid base64: bad length");
  in.append((4 - in.size() % 4) % 4, '=');  // accept unpadded input
  size_t pad = 0;
  while (pad < 2 && pad < in.size() && in[in.size() - 1 - pad] == '=') ++pad;
  for (size_t i = 0; i < in.size() - pad; ++i) {
    if (!is_base64_char(in[i])) return fail(ErrorCode::InvalidConfig, "invalid base64: bad character");
  }
  std::string out(3 * (in.size() / 4), '\0');
  int len = EVP_DecodeBlock(bytes(out), bytes(in), static_cast<int>(in.size()));
  if (len < 0) return fail(ErrorCode::InvalidConfig, "invalid base64");
  out.resize(static_cast<size_t>(len) - pad);
  return out;
}

std::string seal(const Key& key, std::string_view plaintext, std::string_view aad) {
  std::string out = random_bytes(kNonceSize);
  out.resize(kNonceSize + plaintext.size() + kTagSize);
  unsigned char* nonce = bytes(out);
  unsigned char* body = nonce + kNonceSize;
  CipherCtx ctx = new_cipher_ctx();
  int len = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce) != 1 ||
      (!aad.empty() &&
       EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) != 1) ||
      (!plaintext.empty() && EVP_EncryptUpdate(ctx.get(), body, &len, bytes(plaintext),
                                               static_cast<int>(plaintext.size())) != 1) ||
      EVP_EncryptFinal_ex(ctx.get(), body + plaintext.size(), &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                          body + plaintext.size()) != 1) {
    die("AES-256-GCM encryption");  // only fails on a broken OpenSSL
  }
  return out;
}

Result<std::string> open(const Key& key, std::string_view sealed, std::string_view aad) {
  if (sealed.size() < kNonceSize + kTagSize) return corrupt();
  std::string_view nonce = sealed.substr(0, kNonceSize);
  std::string_view body = sealed.substr(kNonceSize, sealed.size() - kNonceSize - kTagSize);
  std::string tag(sealed.substr(sealed.size() - kTagSize));
  std::string out(body.size(), '\0');
  CipherCtx ctx = new_cipher_ctx();
  int len = 0;
  bool ok =
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), bytes(nonce)) == 1 &&
      (aad.empty() ||
       EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) == 1) &&
      (body.empty() ||
       EVP_DecryptUpdate(ctx.get(), bytes(out), &len, bytes(body), static_cast<int>(body.size())) == 1) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), bytes(out) + body.size(), &len) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());  // never hand back unauthenticated plaintext
    return corrupt();
  }
  return out;
}

Result<Key> key_from_text(std::string_view text) {
  // Key files usually end with a newline; it is not part of the key.
  text = trim(text);
  if (text.empty()) return fail(ErrorCode::InvalidConfig, "the state key is empty");
  Key key{};
  std::optional<std::string> raw;
  if (text.size() == 2 * kKeySize) {
    if (auto decoded = hex_decode(text)) raw = std::move(*decoded);
  }
  if (!raw && text.size() == 44) {
    if (auto decoded = base64_decode(text); decoded && decoded->size() == kKeySize) raw = std::move(*decoded);
  }
  if (raw) {
    std::copy(raw->begin(), raw->end(), key.begin());
    OPENSSL_cleanse(raw->data(), raw->size());
    return key;
  }
  // A passphrase: stretched so that guessing it offline is expensive.
  if (PKCS5_PBKDF2_HMAC(text.data(), static_cast<int>(text.size()), bytes(kPbkdf2Salt),
                        static_cast<int>(kPbkdf2Salt.size()), kPbkdf2Iterations, EVP_sha256(),
                        static_cast<int>(key.size()), key.data()) != 1) {
    return fail(ErrorCode::Internal, "PBKDF2 key derivation failed");
  }
  return key;
}

Key random_key() {
  Key key{};
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) die("RAND_bytes");
  return key;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // The length is not secret (tokens have a fixed, public length); only the
  // content comparison must not leak where the first difference is.
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace keel::crypto
