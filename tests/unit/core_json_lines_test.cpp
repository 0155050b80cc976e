// core/json_lines: the bounded reader under the plugin protocol (issue 14,
// item 11: a 200k-deep message crashed keel, an endless line grew memory
// without bound).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/json_lines.h"

using namespace keel;
using jsonl::LineSplitter;

namespace {

std::vector<LineSplitter::Line> drain(LineSplitter& lines) {
  std::vector<LineSplitter::Line> out;
  while (auto line = lines.next()) out.push_back(std::move(*line));
  return out;
}

}  // namespace

TEST_CASE("LineSplitter splits lines across feeds and drops a trailing CR", "[unit][jsonl]") {
  LineSplitter lines(100);
  lines.feed("one\r\ntw");
  auto first = drain(lines);
  REQUIRE(first.size() == 1);
  CHECK(first[0].text == "one");
  CHECK_FALSE(first[0].overlong);
  lines.feed("o\n\nthree");
  auto second = drain(lines);
  REQUIRE(second.size() == 2);
  CHECK(second[0].text == "two");
  CHECK(second[1].text.empty());
  CHECK(drain(lines).empty());
  lines.finish();
  auto last = drain(lines);
  REQUIRE(last.size() == 1);
  CHECK(last[0].text == "three");
}

TEST_CASE("LineSplitter reports an overlong line once and keeps no more than its limit", "[unit][jsonl]") {
  LineSplitter lines(1000);
  // An endless line, fed in chunks: reported once, by its start, then skipped.
  lines.feed(std::string(600, 'a'));
  lines.feed(std::string(600, 'b'));
  auto reported = drain(lines);
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].overlong);
  CHECK(reported[0].text.size() <= 200);
  CHECK(reported[0].text.substr(0, 3) == "aaa");
  for (int i = 0; i < 1000; ++i) lines.feed(std::string(4096, 'c'));  // 4 MB more of the same line
  CHECK(drain(lines).empty());
  lines.feed("still the long one\n{\"ok\":1}\n");
  auto after = drain(lines);
  REQUIRE(after.size() == 1);  // the long line ended; the next one is whole
  CHECK(after[0].text == "{\"ok\":1}");
  CHECK_FALSE(after[0].overlong);
}

TEST_CASE("LineSplitter accepts a line of exactly its limit", "[unit][jsonl]") {
  LineSplitter lines(10);
  lines.feed(std::string(10, 'x') + "\n" + std::string(11, 'y') + "\n");
  auto got = drain(lines);
  REQUIRE(got.size() == 2);
  CHECK_FALSE(got[0].overlong);
  CHECK(got[0].text == std::string(10, 'x'));
  CHECK(got[1].overlong);
}

TEST_CASE("json_depth counts nesting outside strings and stops past the limit", "[unit][jsonl]") {
  CHECK(jsonl::json_depth("1", 10) == 0);
  CHECK(jsonl::json_depth(R"({"a":[1,{"b":[]}]})", 10) == 4);
  CHECK(jsonl::json_depth(R"({"a":"[[[[[[\"[[[["})", 10) == 1);
  CHECK(jsonl::json_depth(R"(["\\",[[]]])", 10) == 3);
  CHECK(jsonl::json_depth(std::string(200000, '['), 100) == 101);
}

TEST_CASE("parse_message refuses deep nesting and non-JSON with a Protocol error", "[unit][jsonl]") {
  auto ok = jsonl::parse_message(R"({"jsonrpc":"2.0","id":1,"result":{"a":[[1]]}})");
  REQUIRE(ok);
  CHECK((*ok)["id"] == 1);

  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  auto refused = jsonl::parse_message(deep);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == ErrorCode::Protocol);
  CHECK_THAT(refused.error().message(), Catch::Contains("nested deeper than 100 levels"));
  CHECK(refused.error().message().size() < 300);  // an excerpt, not the whole line

  CHECK(jsonl::parse_message(std::string(100, '[') + std::string(100, ']')));
  auto garbage = jsonl::parse_message("hello there");
  REQUIRE_FALSE(garbage);
  CHECK_THAT(garbage.error().message(), Catch::Contains("not JSON") && Catch::Contains("hello there"));
}
