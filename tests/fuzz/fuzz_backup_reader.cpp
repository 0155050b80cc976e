// Fuzz target: what keel-dr reads from a backup destination, which whoever
// holds the destination can write: the manifest parser (and the MAC check
// after it) and the sealed stream's reader (header, binding, chunk frames,
// tags, zstd). Every input goes to both.
//
// The key is fixed: the one that sealed the seeds in corpus/backup_reader
// (tests/support/dr_v1_fixture.h's test key), so that mutations of a real
// stream get past the key id and exercise the chunk reader and zstd, not
// only the header checks. Memory per input is bounded by a chunk (16 MiB
// at most, from the header) and zstd's window.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "agent/dr/manifest.h"
#include "agent/dr/sealed_stream.h"
#include "tests/support/dr_v1_fixture.h"

namespace {

class BytesReader final : public keel::dr::ObjectReader {
 public:
  BytesReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  keel::Result<std::size_t> read(char* buffer, std::size_t max) override {
    std::size_t n = std::min(max, size_ - pos_);
    std::memcpy(buffer, data_ + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const keel::crypto::Key key = *keel::crypto::key_from_text(keel::testing::dr_v1::kKey);
  std::string text(reinterpret_cast<const char*>(data), size);

  if (auto manifest = keel::dr::parse_manifest(text)) {
    (void)keel::dr::to_json(*manifest).dump();
    (void)keel::dr::authenticate_manifest(*manifest, key, manifest->job, manifest->id);
  }

  BytesReader in(data, size);
  keel::dr::UnsealOptions options;
  std::uint64_t raw = 0;
  options.sink = [&](std::string_view bytes) -> keel::Status {
    raw += bytes.size();
    return {};
  };
  (void)keel::dr::unseal(in, key, options);
  return 0;
}
