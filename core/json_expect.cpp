#include "core/json_expect.h"

#include <fmt/format.h>

#include "core/json_lines.h"
#include "core/text.h"

namespace keel::checks {
namespace {

using Json = nlohmann::json;

constexpr const char* kSubset = "keel reads `$` followed by `.name` and `[N]` steps, like `$.items[0].name`";

Result<Json::json_pointer> bad_path(std::string_view path, const std::string& why) {
  std::string shown(path.substr(0, 80));
  if (path.size() > 80) shown += "...";
  return fail(ErrorCode::InvalidConfig, fmt::format("`{}` is not a supported JSONPath: {} ({})",
                                                    text::printable(shown), why, kSubset));
}

}  // namespace

Result<Json::json_pointer> json_path_pointer(std::string_view path) {
  if (path.size() > kMaxJsonPathLength)
    return bad_path(path, fmt::format("it is longer than {} characters", kMaxJsonPathLength));
  if (path.empty() || path.front() != '$') return bad_path(path, "it must start with `$`");
  Json::json_pointer pointer;
  size_t i = 1;
  while (i < path.size()) {
    if (path[i] == '.') {
      const size_t end = std::min(path.find_first_of(".[]", i + 1), path.size());
      const std::string_view name = path.substr(i + 1, end - i - 1);
      if (name.empty()) return bad_path(path, fmt::format("an empty name at character {} (`..` is not supported)", i + 1));
      if (name == "*") return bad_path(path, "wildcards are not supported");
      pointer /= std::string(name);
      i = end;
    } else if (path[i] == '[') {
      const size_t close = path.find(']', i);
      const std::string_view index = close == std::string_view::npos ? path.substr(i + 1) : path.substr(i + 1, close - i - 1);
      if (close == std::string_view::npos || !text::is_digits(index, 1, 9))
        return bad_path(path, fmt::format("`[{}` at character {} is not an index [N]", text::printable(index.substr(0, 20)),
                                          i + 1));
      pointer /= static_cast<size_t>(std::stoul(std::string(index)));
      i = close + 1;
    } else {
      return bad_path(path, fmt::format("`{}` at character {} starts no step", text::printable(path.substr(i, 1)), i + 1));
    }
  }
  return pointer;
}

Result<Json> parse_json_body(std::string_view body, bool cut, size_t limit_bytes) {
  if (cut)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("the body is larger than {} KiB, the most read as JSON", limit_bytes / 1024));
  if (jsonl::json_depth(body, kMaxJsonNesting) > kMaxJsonNesting)
    return fail(ErrorCode::InvalidConfig, fmt::format("the body nests deeper than {} levels", kMaxJsonNesting));
  try {
    return Json::parse(body);
  } catch (const Json::parse_error& e) {
    return fail(ErrorCode::InvalidConfig, body.empty() ? std::string("the body is empty, not JSON")
                                                       : fmt::format("the body is not JSON (at byte {})", e.byte));
  } catch (const Json::exception&) {  // a number past a double's range
    return fail(ErrorCode::InvalidConfig, "the body is not JSON that keel reads (a number out of range)");
  }
}

std::vector<std::string> unmet_expectations(const Json& document, const JsonExpectations& expectations) {
  std::vector<std::string> unmet;
  for (const auto& [path, expected] : expectations) {
    auto pointer = json_path_pointer(path);
    if (!pointer) {  // the parser refuses these; a spec built by hand may hold one
      unmet.push_back(pointer.error().message());
      continue;
    }
    const Json* actual = nullptr;
    try {
      if (document.contains(*pointer)) actual = &document.at(*pointer);
    } catch (const Json::exception&) {  // an index too large for the platform: not there
    }
    if (!actual) unmet.push_back(fmt::format("{} is missing", text::printable(path)));
    else if (*actual != expected)
      unmet.push_back(fmt::format("{} is {}, expected {}", text::printable(path), describe_json(*actual),
                                  describe_json(expected)));
  }
  return unmet;
}

std::string describe_json(const Json& value, size_t limit) {
  if (value.is_object())
    return value.empty() ? "an empty object"
                         : fmt::format("an object with {} member{}", value.size(), value.size() == 1 ? "" : "s");
  if (value.is_array())
    return value.empty() ? "an empty array" : fmt::format("an array of {}", value.size());
  std::string text = text::printable(value.dump(-1, ' ', false, Json::error_handler_t::replace));
  if (text.size() > limit) {
    size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
    text = text.substr(0, cut) + "...";
  }
  return text;
}

}  // namespace keel::checks
