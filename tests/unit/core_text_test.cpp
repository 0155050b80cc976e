#include <catch2/catch.hpp>

#include <string>

#include "core/text.h"

using namespace keel;

TEST_CASE("text::is_name is the character-class pattern it stands for", "[text]") {
  CHECK(text::is_name("web_1", 64, "_", "_.-"));
  CHECK(text::is_name("_x.y-z", 64, "_", "_.-"));
  CHECK_FALSE(text::is_name("", 64, "_", "_.-"));
  CHECK_FALSE(text::is_name("-x", 64, "_", "_.-"));
  CHECK_FALSE(text::is_name("a/b", 64, "_", "_.-"));
  CHECK_FALSE(text::is_name(std::string(65, 'a'), 64, "_", "_.-"));
  CHECK(text::is_name(std::string(64, 'a'), 64, "_", "_.-"));
  // Long inputs are the reason it exists: std::regex overflowed the stack.
  CHECK_FALSE(text::is_name(std::string(1'000'000, 'a') + "/", 2'000'000, "", ""));
}

TEST_CASE("text::is_integer and is_decimal follow YAML's core schema", "[text]") {
  for (const char* s : {"0", "-1", "+42", "0012"}) CHECK(text::is_integer(s));
  for (const char* s : {"", "-", "1.0", "1e3", " 1", "0x10"}) CHECK_FALSE(text::is_integer(s));
  for (const char* s : {"1.0", "-.5", "+3.", "1.5e10", "2.0E-3", "1.0e999"}) CHECK(text::is_decimal(s));
  for (const char* s : {"", ".", "1", "1e3", "1.0e", "1.0e+", "a.1", "1.0.0", ".e1"}) CHECK_FALSE(text::is_decimal(s));
}

TEST_CASE("text::parse_port takes 1..65535 in digits only", "[text]") {
  CHECK(text::parse_port("1") == 1);
  CHECK(text::parse_port("65535") == 65535);
  CHECK_FALSE(text::parse_port("0"));
  CHECK_FALSE(text::parse_port("65536"));
  CHECK_FALSE(text::parse_port("70000"));
  CHECK_FALSE(text::parse_port("-1"));
  CHECK_FALSE(text::parse_port("8o"));
  CHECK_FALSE(text::parse_port("000080"));
}

TEST_CASE("text::is_valid_utf8 refuses what is not UTF-8", "[text]") {
  CHECK(text::is_valid_utf8("plain"));
  CHECK(text::is_valid_utf8("Gr\xC3\xBC\xC3\x9F" "e \xE2\x82\xAC \xF0\x9F\x98\x80"));
  CHECK_FALSE(text::is_valid_utf8("\xFF"));
  CHECK_FALSE(text::is_valid_utf8("\xC3"));                // truncated
  CHECK_FALSE(text::is_valid_utf8("\xC0\xAF"));            // overlong '/'
  CHECK_FALSE(text::is_valid_utf8("\xED\xA0\x80"));        // a surrogate
  CHECK_FALSE(text::is_valid_utf8("\xF4\x90\x80\x80"));    // past U+10FFFF
  CHECK_FALSE(text::is_valid_utf8("\xE2\x82"));            // truncated
}
