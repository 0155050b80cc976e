#include "core/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
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

std::string sha256_raw(std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), bytes(out), &len, EVP_sha256(), nullptr) != 1) {
    die("EVP_Digest");
  }
  out.resize(len);
  return out;
}

std::string sha256_hex(std::string_view data) { return hex_encode(sha256_raw(data)); }

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(bytes(out), static_cast<int>(n)) != 1) die("RAND_bytes");
  return out;
}

std::string random_alnum(size_t n) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  // Rejection sampling: bytes >= 248 (4 * 62) are skipped so that every
  // character is equally likely.
  constexpr unsigned kLimit = 4 * kAlphabet.size();
  std::string out;
  out.reserve(n);
  while (out.size() < n) {
    for (unsigned char b : random_bytes(n - out.size() + 8)) {
      if (b < kLimit && out.size() < n) out.push_back(kAlphabet[b % kAlphabet.size()]);
    }
  }
  return out;
}

std::string uuid_v4() {
  std::string raw = random_bytes(16);
  raw[6] = static_cast<char>((raw[6] & 0x0f) | 0x40);  // version 4
  raw[8] = static_cast<char>((raw[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string hex = hex_encode(raw);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::string hex_encode(std::string_view data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (unsigned char c : data) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0f]);
  }
  return out;
}

Result<std::string> hex_decode(std::string_view hex) {
  if (hex.size() % 2 != 0) return fail(ErrorCode::InvalidConfig, "invalid hex: odd length");
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return fail(ErrorCode::InvalidConfig, "invalid hex: not a hex digit");
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
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

std::string key_to_text(const Key& key) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
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
