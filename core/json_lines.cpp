#include "core/json_lines.h"

#include <algorithm>

#include "core/text.h"

namespace keel::jsonl {

namespace {

constexpr size_t kExcerpt = 200;

std::string without_cr(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

void LineSplitter::feed(std::string_view data) {
  while (!data.empty()) {
    const size_t nl = data.find('\n');
    const std::string_view part = data.substr(0, nl);
    if (!skipping_) {
      if (part.size() > max_bytes_ - buffer_.size()) {
        // Too long: report it once, by its start, and drop the rest of it.
        std::string head = buffer_.substr(0, kExcerpt);
        head.append(part.substr(0, kExcerpt - head.size()));
        ready_.push_back(Line{std::move(head), true});
        buffer_.clear();
        skipping_ = true;
      } else {
        buffer_.append(part);
      }
    }
    if (nl == std::string_view::npos) return;
    if (skipping_) {
      skipping_ = false;  // the overlong line ends here; it was reported already
    } else {
      ready_.push_back(Line{without_cr(std::move(buffer_)), false});
      buffer_.clear();
    }
    data.remove_prefix(nl + 1);
  }
}

void LineSplitter::finish() {
  if (!skipping_ && !buffer_.empty()) ready_.push_back(Line{without_cr(std::move(buffer_)), false});
  buffer_.clear();
  skipping_ = false;
}

std::optional<LineSplitter::Line> LineSplitter::next() {
  if (ready_.empty()) return std::nullopt;
  Line line = std::move(ready_.front());
  ready_.pop_front();
  return line;
}

size_t json_depth(std::string_view text, size_t limit) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // the escaped character, whatever it is
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

Result<nlohmann::json> parse_message(std::string_view line, size_t max_depth) {
  if (json_depth(line, max_depth) > max_depth) {
    return fail(ErrorCode::Protocol,
                "a message nested deeper than " + std::to_string(max_depth) + " levels: " + excerpt(line));
  }
  nlohmann::json message = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) return fail(ErrorCode::Protocol, "a line that is not JSON: " + excerpt(line));
  return message;
}

std::string excerpt(std::string_view line) {
  if (line.size() <= kExcerpt) return text::printable(line);
  return text::printable(line.substr(0, kExcerpt)) + "...";
}

}  // namespace keel::jsonl
