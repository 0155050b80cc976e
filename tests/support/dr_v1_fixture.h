#pragma once
// A real backup of format 1, as keel-dr wrote it before manifests were
// authenticated (a files backup of job `legacy`: a tar archive holding
// tmp/keel-dr-v1-fixture/data/hello.txt, "written by keel-dr format 1\n",
// and .../data/sub/b.txt, "beta\n"), with the test-only key that sealed it.
// The tests check that such backups still restore (docs/backups.md).

#include <string>

#include "core/crypto.h"

namespace keel::testing::dr_v1 {

inline const char* const kKey = "UOjr19zM9dLZWy8xzDVg9j57BK8jlGw2+GFPwqBo+s4=";
inline const char* const kId = "20261206T195322Z-91ea7a";
inline const char* const kManifest = R"({
  "finished": "2026-12-06T19:53:22.429Z",
  "format": "keel-dr/1 zstd aes-256-gcm",
  "id": "20261206T195322Z-91ea7a",
  "job": "legacy",
  "keel_version": "0.1.0",
  "key_id": "2ddc20be30019614",
  "raw_bytes": 10240,
  "sha256": "41abad778c6bdfee5ae036065467e0989e6616780aa22faa2270afec67e20dab",
  "source": "files",
  "started": "2026-12-06T19:53:22.315Z",
  "stored_bytes": 256
}
)";

inline std::string data() {
  static const char* const hex =
      "4b45454c445230312ddc20be30019614114c31cf0b13a1738062a945aaf2ac5200100000000000c701d362a35e004940"
      "1da34fd62dd778fd33cabd13cdccc6f2f000356f24550390025297c62bc12fc9e9bbd2f55ebf3a9e1a512d67af8bfe5f"
      "3a78883786cf1d74188a47066394e8e61bb669358c81d0b54008f74345f51d9ec1bfc996c67da92f1ed239d1c2e82558"
      "d581e29b964c36ea0d60cd4c8fecd22d6d853c0e5afae09a27b60e8ecae3731051e7fbea3ef2f09d45261635a5e5afcb"
      "6c4f4b4554e011a1528dfe3473d1992e4d5f7a8423c33589ca94e6e3c4d62cc59bd2336237dc423d96db86319767e86f"
      "25116d666c9fea0ae8262f53eb6381c5";
  return *crypto::hex_decode(hex);
}

}  // namespace keel::testing::dr_v1
