#include <catch2/catch.hpp>

#include "cli/providers/plugin/messages.h"

using keel::providers::plugin::Incoming;
using keel::providers::plugin::read_incoming;

namespace {

Incoming read(const std::string& line) {
  auto in = read_incoming({line, false});
  REQUIRE(in);
  return *in;
}

}  // namespace

TEST_CASE("a progress notification carries its message and is not waiting", "[unit][plugin]") {
  auto in = read(R"({"jsonrpc":"2.0","method":"progress","params":{"id":3,"message":"waiting for action 42"}})");
  CHECK(in.kind == Incoming::Kind::Progress);
  CHECK(in.id == 3);
  CHECK(in.progress == "waiting for action 42");
  CHECK_FALSE(in.waiting);
}

TEST_CASE("a progress notification with waiting true says the operation only waits", "[unit][plugin]") {
  auto bare = read(R"({"jsonrpc":"2.0","method":"progress","params":{"id":7,"waiting":true}})");
  CHECK(bare.kind == Incoming::Kind::Progress);
  CHECK(bare.id == 7);
  CHECK(bare.waiting);
  CHECK(bare.progress.empty());  // no message: nothing to show
  auto with_message =
      read(R"({"jsonrpc":"2.0","method":"progress","params":{"id":7,"waiting":true,"message":"booting"}})");
  CHECK(with_message.waiting);
  CHECK(with_message.progress == "booting");
}

TEST_CASE("only waiting true counts as waiting", "[unit][plugin]") {
  for (const char* value : {"false", "1", "\"true\"", "null"}) {
    auto in = read(std::string(R"({"jsonrpc":"2.0","method":"progress","params":{"id":1,"message":"m","waiting":)") +
                   value + "}}");
    INFO(value);
    CHECK_FALSE(in.waiting);
    CHECK(in.progress == "m");
  }
}
