#pragma once
// JSON expectations of checks: an http check's `expect_json:` and a graphql
// check's `expect:`, maps from a path in the answer to the value expected
// there:
//
//   expect_json: { "$.status": ok, "$.items[0].name": web, "$.count": 3 }
//
// Paths are a subset of JSONPath: `$` (the whole document), then `.name`
// and `[N]` steps, translated to a JSON Pointer (RFC 6901): `$.items[0].name`
// is `/items/0/name`. Wildcards, filters, slices, `..` and quoted names are
// refused when the check is read. Values are compared as JSON: `ok` and
// "ok" are the string, 3 and 3.0 the number, `true` the boolean.
//
// Everything here reads what a peer sent, so it is bounded: the body is at
// most what the check read (64 KiB), and its nesting is checked before it
// is parsed so that nothing recurses once per level of it.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace keel::checks {

// Path -> expected value, sorted by path (the canonical order of to_json).
using JsonExpectations = std::map<std::string, nlohmann::json>;

inline constexpr size_t kMaxJsonPathLength = 1024;
inline constexpr size_t kMaxJsonNesting = 64;  // a body nested deeper is refused, not parsed

// The JSON Pointer a path stands for; an error (InvalidConfig) saying what
// is wrong with it otherwise.
Result<nlohmann::json::json_pointer> json_path_pointer(std::string_view path);

// A body as JSON, for expectations. `cut`: the check stopped reading it at
// its size limit. Errors read like "the body is not JSON (at byte 12)".
Result<nlohmann::json> parse_json_body(std::string_view body, bool cut, size_t limit_bytes);

// The expectations `document` does not meet, one phrase each:
// `$.status is "down", expected "ok"`, `$.items[3] is missing`. Empty when
// all hold.
std::vector<std::string> unmet_expectations(const nlohmann::json& document, const JsonExpectations& expectations);

// A value from a peer, for a check's output: a scalar as its JSON text
// (printable, cut after `limit` bytes), a container as "an object with 3
// members" or "an array of 2": their contents are not printed.
std::string describe_json(const nlohmann::json& value, size_t limit = 60);

}  // namespace keel::checks
