#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include "core/crypto.h"

using namespace keel;
namespace crypto = keel::crypto;

namespace {

crypto::Key key_of(unsigned char fill) {
  crypto::Key key{};
  key.fill(fill);
  return key;
}

}  // namespace

TEST_CASE("sha256 matches the FIPS 180-2 vectors", "[unit][crypto]") {
  CHECK(crypto::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(crypto::sha256_hex("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(crypto::sha256_raw("abc").size() == 32);
  CHECK(crypto::hex_encode(crypto::sha256_raw("abc")) == crypto::sha256_hex("abc"));
}

TEST_CASE("base64 follows RFC 4648 and round-trips every padding case", "[unit][crypto]") {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    CHECK(crypto::base64_encode(plain) == encoded);
    auto decoded = crypto::base64_decode(encoded);
    REQUIRE(decoded);
    CHECK(*decoded == plain);
  }
  for (size_t n = 0; n <= 5; ++n) {
    std::string data = crypto::random_bytes(n);
    if (n > 0) data[0] = '\0';  // binary content, NUL included
    std::string encoded = crypto::base64_encode(data);
    CHECK(encoded.find('\n') == std::string::npos);
    auto decoded = crypto::base64_decode(encoded);
    REQUIRE(decoded);
    CHECK(*decoded == data);
  }
}

TEST_CASE("base64_decode accepts unpadded input and refuses garbage", "[unit][crypto]") {
  CHECK(crypto::base64_decode("Zg").value() == "f");
  CHECK(crypto::base64_decode("Zm8").value() == "fo");
  CHECK_FALSE(crypto::base64_decode("Z"));
  CHECK_FALSE(crypto::base64_decode("Zm9v!A=="));
  CHECK_FALSE(crypto::base64_decode("Z==="));
  CHECK_FALSE(crypto::base64_decode("Zg=a"));
  CHECK_FALSE(crypto::base64_decode(" Zm9v"));
  CHECK(crypto::base64_decode("Zm9v\n").error().code() == ErrorCode::InvalidConfig);
}

TEST_CASE("hex round-trips and refuses non-hex", "[unit][crypto]") {
  std::string data("\x00\x01\xab\xff", 4);
  CHECK(crypto::hex_encode(data) == "0001abff");
  CHECK(crypto::hex_decode("0001ABff").value() == data);
  CHECK_FALSE(crypto::hex_decode("abc"));
  CHECK_FALSE(crypto::hex_decode("zz"));
}

TEST_CASE("seal and open round-trip with AES-256-GCM", "[unit][crypto]") {
  crypto::Key key = crypto::random_key();
  for (std::string plain : {std::string(), std::string("s3cret"), std::string(5000, 'x')}) {
    std::string sealed = crypto::seal(key, plain, "databases.main");
    CHECK(sealed.size() == 12 + plain.size() + 16);
    auto opened = crypto::open(key, sealed, "databases.main");
    REQUIRE(opened);
    CHECK(*opened == plain);
  }
  // A fresh nonce every time: the same plaintext never seals the same way.
  CHECK(crypto::seal(key, "same") != crypto::seal(key, "same"));
}

TEST_CASE("open fails with Corrupt on tampering, wrong key, wrong aad, truncation",
          "[unit][crypto]") {
  crypto::Key key = key_of(7);
  std::string sealed = crypto::seal(key, "the database password", "aad");
  auto expect_corrupt = [&](const crypto::Key& k, const std::string& data, std::string_view aad) {
    auto opened = crypto::open(k, data, aad);
    REQUIRE_FALSE(opened);
    CHECK(opened.error().code() == ErrorCode::Corrupt);
  };
  SECTION("a flipped bit in the nonce, the ciphertext or the tag") {
    for (size_t pos : {size_t(0), size_t(12), sealed.size() - 1}) {
      std::string bad = sealed;
      bad[pos] = static_cast<char>(bad[pos] ^ 0x01);
      expect_corrupt(key, bad, "aad");
    }
  }
  SECTION("wrong key") { expect_corrupt(key_of(8), sealed, "aad"); }
  SECTION("wrong associated data") { expect_corrupt(key, sealed, "other"); }
  SECTION("truncation") {
    expect_corrupt(key, sealed.substr(0, sealed.size() - 1), "aad");
    expect_corrupt(key, sealed.substr(0, 27), "aad");
    expect_corrupt(key, "", "aad");
  }
}

TEST_CASE("key_from_text: raw keys in hex or base64, otherwise PBKDF2", "[unit][crypto]") {
  crypto::Key key = crypto::random_key();
  std::string raw(reinterpret_cast<const char*>(key.data()), key.size());

  SECTION("64 hex digits are the key itself") {
    CHECK(crypto::key_from_text(crypto::hex_encode(raw)).value() == key);
  }
  SECTION("base64 of 32 bytes is the key itself, as key_to_text writes it") {
    std::string text = crypto::key_to_text(key);
    CHECK(text.size() == 44);
    CHECK(crypto::key_from_text(text).value() == key);
    CHECK(crypto::key_from_text(text + "\n").value() == key);  // as read from a key file
  }
  SECTION("a passphrase is stretched with the documented salt and iterations") {
    auto derived = crypto::key_from_text("correct horse battery staple");
    REQUIRE(derived);
    std::string bytes(reinterpret_cast<const char*>(derived->data()), derived->size());
    // python3: hashlib.pbkdf2_hmac('sha256', pw, b'keel-state-key-v1', 200000, 32)
    CHECK(crypto::hex_encode(bytes) ==
          "341ff3253d60ad5cd914f56db22d7f8b5c41ecab82a57b08bcbb508d8243bb5d");
    CHECK(crypto::key_from_text("correct horse battery stapler").value() != *derived);
  }
  SECTION("an empty key is refused") {
    CHECK(crypto::key_from_text("  \n").error().code() == ErrorCode::InvalidConfig);
  }
}

TEST_CASE("uuid_v4 and random_alnum have the promised shape", "[unit][crypto]") {
  const std::regex uuid("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string id = crypto::uuid_v4();
    CHECK(std::regex_match(id, uuid));
    seen.insert(id);
  }
  CHECK(seen.size() == 100);

  std::string token = crypto::random_alnum(300);
  CHECK(token.size() == 300);
  CHECK(std::all_of(token.begin(), token.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); }));
  CHECK(crypto::random_bytes(0).empty());
}

TEST_CASE("constant_time_equal compares content and length", "[unit][crypto]") {
  CHECK(crypto::constant_time_equal("token", "token"));
  CHECK(crypto::constant_time_equal("", ""));
  CHECK_FALSE(crypto::constant_time_equal("token", "tokeN"));
  CHECK_FALSE(crypto::constant_time_equal("token", "token2"));
  CHECK_FALSE(crypto::constant_time_equal("", "x"));
}
