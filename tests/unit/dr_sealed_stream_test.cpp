// The sealed stream format: round trips, and every kind of damage refused.

#include <catch2/catch.hpp>

#include "agent/dr/sealed_stream.h"
#include "core/crypto.h"
#include "tests/support/dr_v1_fixture.h"

namespace {

using namespace keel;
using namespace keel::dr;

class MemoryWriter final : public ObjectWriter {
 public:
  std::string data;
  Status write(std::string_view bytes) override {
    data.append(bytes);
    return {};
  }
  Status commit() override { return {}; }
  void abort() override {}
};

class MemoryReader final : public ObjectReader {
 public:
  explicit MemoryReader(std::string data, std::size_t max_read = 1 << 20) : data_(std::move(data)), max_read_(max_read) {}
  Result<std::size_t> read(char* buffer, std::size_t max) override {
    std::size_t n = std::min({max, max_read_, data_.size() - pos_});
    std::copy_n(data_.data() + pos_, n, buffer);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  std::size_t max_read_;
  std::size_t pos_ = 0;
};

// Random-looking data compresses badly, so it spans several chunks.
std::string incompressible(std::size_t n) { return crypto::random_bytes(n); }

const StreamBinding kBinding{"main", "20261127T030000Z-1a2b3c", "2026-11-27T03:00:00.000Z", "postgres"};

std::string seal(const crypto::Key& key, const std::string& raw, std::size_t piece = 65536,
                 const StreamBinding& binding = kBinding) {
  MemoryWriter out;
  SealingWriter writer(out, key, binding);
  for (std::size_t at = 0; at < raw.size(); at += piece)
    REQUIRE(writer.write(std::string_view(raw).substr(at, piece)));
  auto totals = writer.finish();
  REQUIRE(totals);
  CHECK(totals->raw_bytes == raw.size());
  CHECK(totals->stored_bytes == out.data.size());
  CHECK(totals->sha256 == crypto::sha256_hex(out.data));
  return out.data;
}

Result<std::string> unseal_all(const crypto::Key& key, const std::string& stored, std::size_t max_read = 1 << 20,
                               StreamTotals* totals_out = nullptr) {
  MemoryReader in(stored, max_read);
  std::string raw;
  UnsealOptions options;
  options.sink = [&](std::string_view bytes) -> Status {
    raw.append(bytes);
    return {};
  };
  auto totals = unseal(in, key, options);
  if (!totals) return fail(totals.error());
  if (totals_out) *totals_out = *totals;
  return raw;
}

// The fixed part of a format-2 header, then the binding's length and bytes.
std::size_t header_size(const StreamBinding& b = kBinding) {
  return 36 + 2 + 4 + b.job.size() + b.id.size() + b.started.size() + b.source.size();
}

}  // namespace

TEST_CASE("a sealed stream round-trips empty, small, compressible and multi-chunk data", "[dr][stream]") {
  auto key = crypto::random_key();
  for (const std::string& raw : {std::string(), std::string("hello"), std::string(5'000'000, 'x'),
                                 incompressible(3 * kChunkSize + 12345)}) {
    std::string stored = seal(key, raw);
    auto back = unseal_all(key, stored, 4097);  // odd read sizes
    REQUIRE(back);
    CHECK(back->size() == raw.size());
    CHECK(*back == raw);
  }
}

TEST_CASE("compressible data is stored compressed", "[dr][stream]") {
  auto key = crypto::random_key();
  std::string stored = seal(key, std::string(10'000'000, 'a'));
  CHECK(stored.size() < 100'000);
}

TEST_CASE("two backups of the same data differ (a fresh data key per backup)", "[dr][stream]") {
  auto key = crypto::random_key();
  CHECK(seal(key, "same") != seal(key, "same"));
}

TEST_CASE("a flipped byte anywhere is refused as corrupt", "[dr][stream]") {
  auto key = crypto::random_key();
  std::string stored = seal(key, incompressible(2 * kChunkSize + 100));
  for (std::size_t at : {std::size_t{3}, std::size_t{20}, std::size_t{40}, std::size_t{100}, kChunkSize + 50,
                         stored.size() - 1}) {
    std::string damaged = stored;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x01);
    auto back = unseal_all(key, damaged);
    REQUIRE_FALSE(back);
    CHECK(back.error().code() == ErrorCode::Corrupt);
  }
}

TEST_CASE("a truncated stream is refused, also at a chunk boundary", "[dr][stream]") {
  auto key = crypto::random_key();
  std::string stored = seal(key, incompressible(2 * kChunkSize + 100));
  std::size_t first_chunk_end = header_size() + 5 + kChunkSize + 16;
  for (std::size_t keep : {std::size_t{0}, std::size_t{10}, std::size_t{36}, std::size_t{40}, header_size(),
                           first_chunk_end, stored.size() - 1}) {
    auto back = unseal_all(key, stored.substr(0, keep));
    REQUIRE_FALSE(back);
    CHECK(back.error().code() == ErrorCode::Corrupt);
    INFO(back.error().message());
  }
}

TEST_CASE("bytes after the final chunk are refused", "[dr][stream]") {
  auto key = crypto::random_key();
  auto back = unseal_all(key, seal(key, "data") + "x");
  REQUIRE_FALSE(back);
  CHECK_THAT(back.error().message(), Catch::Contains("after the final chunk"));
}

TEST_CASE("another key is refused before decryption, naming both key ids", "[dr][stream]") {
  auto key = crypto::random_key();
  auto other = crypto::random_key();
  auto back = unseal_all(other, seal(key, "secret rows"));
  REQUIRE_FALSE(back);
  CHECK(back.error().code() == ErrorCode::Corrupt);
  CHECK_THAT(back.error().message(), Catch::Contains(key_id(key)) && Catch::Contains(key_id(other)));
}

TEST_CASE("chunks swapped between positions fail their tags", "[dr][stream]") {
  auto key = crypto::random_key();
  std::string stored = seal(key, incompressible(3 * kChunkSize));
  std::size_t frame = 5 + kChunkSize + 16, h = header_size();
  std::string swapped = stored.substr(0, h) + stored.substr(h + frame, frame) + stored.substr(h, frame) +
                        stored.substr(h + 2 * frame);
  REQUIRE(swapped.size() == stored.size());
  auto back = unseal_all(key, swapped);
  REQUIRE_FALSE(back);
  CHECK(back.error().code() == ErrorCode::Corrupt);
}

TEST_CASE("unseal without a sink checks tags and reports the stored hash", "[dr][stream]") {
  auto key = crypto::random_key();
  std::string stored = seal(key, incompressible(100'000));
  MemoryReader in(stored);
  std::string copy;
  UnsealOptions options;
  options.copy = [&](std::string_view bytes) -> Status {
    copy.append(bytes);
    return {};
  };
  auto totals = unseal(in, key, options);
  REQUIRE(totals);
  CHECK(totals->sha256 == crypto::sha256_hex(stored));
  CHECK(copy == stored);
}

TEST_CASE("a stream says what it was sealed for, and that cannot be changed", "[dr][stream]") {
  auto key = crypto::random_key();
  std::string stored = seal(key, "rows");
  StreamTotals totals;
  REQUIRE(unseal_all(key, stored, 1 << 20, &totals));
  CHECK(totals.format == 2);
  REQUIRE(totals.binding);
  CHECK(*totals.binding == kBinding);

  // Another job's name in the header (same length, so the stream still
  // parses): every chunk's tag fails.
  std::string edited = stored;
  std::size_t at = edited.find("main");
  REQUIRE(at != std::string::npos);
  edited.replace(at, 4, "mail");
  auto back = unseal_all(key, edited);
  REQUIRE_FALSE(back);
  CHECK_THAT(back.error().message(), Catch::Contains("authentication tag"));

  // A binding length that runs past the header, or a malformed binding.
  std::string bad_length = stored;
  bad_length[37] = static_cast<char>(0xff);
  CHECK_FALSE(unseal_all(key, bad_length));
  std::string bad_field = stored;
  bad_field[38] = static_cast<char>(200);  // the job's length past the binding
  auto malformed = unseal_all(key, bad_field);
  REQUIRE_FALSE(malformed);
  CHECK(malformed.error().code() == ErrorCode::Corrupt);
}

TEST_CASE("a format 1 stream (written before bindings) still reads, and says it has none", "[dr][stream]") {
  auto key = crypto::key_from_text(testing::dr_v1::kKey);
  REQUIRE(key);
  StreamTotals totals;
  auto raw = unseal_all(*key, testing::dr_v1::data(), 1 << 20, &totals);
  REQUIRE(raw);
  CHECK(totals.format == 1);
  CHECK_FALSE(totals.binding);
  CHECK(raw->size() == 10240);  // a tar archive
  CHECK(raw->find("written by keel-dr format 1") != std::string::npos);
}
