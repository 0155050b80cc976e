#pragma once
// Reading a stream of JSON lines from a peer that is not trusted to behave:
// a provider plugin's stdout (read by keel) and keel's requests (read by
// plugins/sdk). Lines have a maximum length and messages a maximum nesting
// depth, so that neither an endless line nor `[[[[...]]]]` 200,000 deep can
// exhaust memory or the stack (nlohmann's parser is iterative, but copying,
// comparing and printing a value recurse once per level).
//
// docs/plugin-protocol.md states both limits; a message past them is a
// protocol error, never a crash.

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace keel::jsonl {

inline constexpr size_t kMaxLineBytes = size_t{16} << 20;  // 16 MiB
inline constexpr size_t kMaxDepth = 100;

// Splits a byte stream into lines ending in '\n' (a '\r' before it is
// dropped). Memory stays below max_bytes plus what one feed() brings: a
// line longer than max_bytes is not kept; it comes out once, as an overlong
// Line holding its first bytes, and the rest of it up to its '\n' is
// skipped.
class LineSplitter {
 public:
  struct Line {
    std::string text;      // the line, or its first bytes when overlong
    bool overlong = false;
  };

  explicit LineSplitter(size_t max_bytes = kMaxLineBytes) : max_bytes_(max_bytes) {}

  void feed(std::string_view data);
  // The end of the stream: a last line without '\n' counts as a line.
  void finish();
  // The next complete line, if there is one. Take them all after each
  // feed(): complete lines wait in memory until taken.
  std::optional<Line> next();

 private:
  size_t max_bytes_;
  std::string buffer_;      // the line being read, at most max_bytes_
  std::deque<Line> ready_;  // complete lines, until next() takes them
  bool skipping_ = false;   // inside an overlong line already reported
};

// How deep arrays and objects nest in `text`, counted on the raw text
// (strings and their escapes skipped) without parsing it; the count stops
// at limit + 1, so the cost is one pass whatever the input.
size_t json_depth(std::string_view text, size_t limit);

// One message: JSON nested at most max_depth deep. Otherwise a Protocol
// error saying which ("not JSON", "nested deeper than 100 levels").
Result<nlohmann::json> parse_message(std::string_view line, size_t max_depth = kMaxDepth);

// The first 200 characters of a line, for error messages.
std::string excerpt(std::string_view line);

}  // namespace keel::jsonl
