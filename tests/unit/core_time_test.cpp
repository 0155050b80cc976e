// Durations and RFC 3339 times as people and manifests write them.

#include <catch2/catch.hpp>

#include "core/time.h"

using keel::timeutil::parse_rfc3339;
using keel::timeutil::rfc3339;

TEST_CASE("rfc3339 round-trips through parse_rfc3339", "[time]") {
  auto parsed = parse_rfc3339("2026-11-27T18:13:55.123Z");
  REQUIRE(parsed);
  CHECK(rfc3339(*parsed) == "2026-11-27T18:13:55.123Z");
  auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  auto back = parse_rfc3339(rfc3339(now));
  REQUIRE(back);
  CHECK(*back == now);
}

TEST_CASE("parse_rfc3339 applies offsets and refuses what is not a time", "[time]") {
  auto utc = parse_rfc3339("2026-11-27T18:13:55Z");
  auto berlin = parse_rfc3339("2026-11-27T19:13:55+01:00");
  auto ny = parse_rfc3339("2026-11-27T13:13:55-05:00");
  REQUIRE(utc);
  REQUIRE(berlin);
  REQUIRE(ny);
  CHECK(*utc == *berlin);
  CHECK(*utc == *ny);
  for (const char* bad : {"", "yesterday", "2026-11-27", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                          "2026-11-27T18:13:55", "2026-11-27T18:13:55+0100x", "2026-11-27T25:00:00Z"}) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad));
  }
}
