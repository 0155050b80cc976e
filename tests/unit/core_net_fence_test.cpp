#include <catch2/catch.hpp>

#include "core/net_fence.h"

using keel::net_fence::allows;

TEST_CASE("net_fence: addresses inside the listed networks pass and others do not", "[net_fence]") {
  const char* spec = "127.0.0.0/8, ::1/128,10.213.0.0/16 10.231.1.4";
  CHECK(allows(spec, "127.0.0.1"));
  CHECK(allows(spec, "127.255.255.254"));
  CHECK(allows(spec, "::1"));
  CHECK(allows(spec, "10.213.7.2"));
  CHECK(allows(spec, "10.231.1.4"));  // a bare address is a /32
  CHECK_FALSE(allows(spec, "10.231.1.5"));
  CHECK_FALSE(allows(spec, "54.12.0.1"));
  CHECK_FALSE(allows(spec, "128.0.0.1"));
  CHECK_FALSE(allows(spec, "::2"));
  CHECK_FALSE(allows(spec, "10.214.0.1"));
}

TEST_CASE("net_fence: prefixes that do not end on a byte boundary", "[net_fence]") {
  CHECK(allows("10.0.0.0/9", "10.127.255.255"));
  CHECK_FALSE(allows("10.0.0.0/9", "10.128.0.0"));
  CHECK(allows("fd00::/7", "fdff::1"));
  CHECK_FALSE(allows("fd00::/7", "fe00::1"));
  CHECK(allows("0.0.0.0/0", "203.0.113.9"));
  CHECK_FALSE(allows("0.0.0.0/0", "2001:db8::1"));  // families never mix
}

TEST_CASE("net_fence: an IPv4 address mapped into IPv6 is the IPv4 address", "[net_fence]") {
  CHECK(allows("54.0.0.0/8", "::ffff:54.1.2.3"));
  CHECK_FALSE(allows("127.0.0.0/8", "::ffff:54.1.2.3"));
  CHECK_FALSE(allows("::ffff:0:0/96", "::ffff:54.1.2.3"));  // no way around the IPv4 list
}

TEST_CASE("net_fence: a value that does not parse allows nothing", "[net_fence]") {
  for (const char* bad : {"127.0.0.0/33", "127.0.0.0/", "localhost", "127.0.0.0/8,nonsense", "::1/129", "1.2.3.4/-1",
                          "127.0.0.0/8/8", "127.0.0.1/0008"}) {
    INFO(bad);
    CHECK_FALSE(allows(bad, "127.0.0.1"));
  }
}

TEST_CASE("net_fence: separators only is no fence at all", "[net_fence]") {
  CHECK(allows("", "54.1.2.3"));
  CHECK(allows(" , ,", "54.1.2.3"));
}
