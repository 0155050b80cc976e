#include <catch2/catch.hpp>

#include <limits>
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

TEST_CASE("text::is_identifier and is_digits", "[text]") {
  CHECK(text::is_identifier("web_1-a", 64));
  CHECK(text::is_identifier("_x", 64));
  CHECK_FALSE(text::is_identifier("1web", 64));
  CHECK_FALSE(text::is_identifier("a.b", 64));
  CHECK_FALSE(text::is_identifier(std::string(65, 'a'), 64));
  CHECK(text::is_digits("0123", 1, 4));
  CHECK_FALSE(text::is_digits("", 1, 4));
  CHECK_FALSE(text::is_digits("12345", 1, 4));
  CHECK_FALSE(text::is_digits("1a", 1, 4));
}

TEST_CASE("text character classes: ranges and single characters", "[text]") {
  CHECK(text::in_class('b', "a-z"));
  CHECK(text::in_class('-', "a-z-"));
  CHECK(text::in_class('-', "-a-z"));
  CHECK_FALSE(text::in_class('-', "a-z"));
  CHECK(text::in_class('_', "A-Za-z0-9_-"));
  CHECK_FALSE(text::in_class('/', "A-Za-z0-9_-"));
  CHECK(text::matches_classes("db_1", "A-Za-z_", "A-Za-z0-9_-"));
  CHECK_FALSE(text::matches_classes("1db", "A-Za-z_", "A-Za-z0-9_-"));
  CHECK_FALSE(text::matches_classes("../x", "", "A-Za-z0-9_-"));
  CHECK(text::matches_classes("", "a", "b"));
  CHECK(text::matches_classes("x", "", ""));  // no class: anything
  CHECK(text::valid_class("A-Za-z0-9_-"));
  CHECK(text::valid_class("-a"));
  CHECK_FALSE(text::valid_class("z-a"));
  CHECK_FALSE(text::valid_class("a-z-0"));
}

TEST_CASE("text::parse_int64 and parse_finite_double refuse what does not fit", "[text]") {
  CHECK(text::parse_int64("9223372036854775807") == 9223372036854775807LL);
  CHECK(text::parse_int64("-9223372036854775808") == std::numeric_limits<long long>::min());
  CHECK(text::parse_int64("+42") == 42);
  CHECK_FALSE(text::parse_int64("9223372036854775808"));
  CHECK_FALSE(text::parse_int64("-9223372036854775809"));
  CHECK_FALSE(text::parse_int64(std::string(100'000, '9')));
  CHECK_FALSE(text::parse_int64("-"));
  CHECK(text::parse_finite_double("1.5e300") == 1.5e300);
  CHECK(text::parse_finite_double("0.0") == 0.0);
  CHECK_FALSE(text::parse_finite_double("1.0e999"));
  CHECK_FALSE(text::parse_finite_double("1.0e-400"));
  CHECK_FALSE(text::parse_finite_double("1e3"));  // not is_decimal
}

TEST_CASE("text::invalid_utf8_offset finds the first bad byte", "[text]") {
  CHECK(text::invalid_utf8_offset("caf\xC3\xA9") == std::string_view::npos);
  CHECK(text::invalid_utf8_offset("caf\xE9!") == 3);
  CHECK(text::invalid_utf8_offset("\xFF") == 0);
}

TEST_CASE("text::printable_lines keeps the line feeds and escapes the rest", "[text]") {
  CHECK(text::printable_lines("one\ntwo\x1b[0m\n\nthree\r") == "one\ntwo\\e[0m\n\nthree\\r");
  CHECK(text::printable_lines("") == "");
  CHECK(text::printable_lines("\n") == "\n");
}

TEST_CASE("text::printable escapes what a terminal would act on", "[text]") {
  CHECK(text::printable("plain Gr\xC3\xBC\xC3\x9F" "e") == "plain Gr\xC3\xBC\xC3\x9F" "e");
  CHECK(text::printable("\x1b[31mred\x1b[0m") == "\\e[31mred\\e[0m");
  CHECK(text::printable("a\rb\nc\td") == "a\\rb\\nc\\td");
  CHECK(text::printable(std::string("nul\0x", 5)) == "nul\\x00x");
  CHECK(text::printable("\x7f") == "\\x7f");
  CHECK(text::printable("\xC2\x9B" "2J") == "\\u009b2J");        // C1 CSI
  CHECK(text::printable("abc\xE2\x80\xAE" "def") == "abc\\u202edef");  // right-to-left override
  CHECK(text::printable("\xFF\xC3") == "\\xff\\xc3");          // not UTF-8
  const std::string nasty = "\x1b]0;title\x07\xE2\x81\xA6\xFFok";
  CHECK(text::printable(text::printable(nasty)) == text::printable(nasty));
  CHECK(text::is_valid_utf8(text::printable(nasty)));
}
