#include "cli/state/store.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace keel::state {

std::string change_summary(const std::set<std::string>& before, const State& after) {
  size_t added = 0, removed = 0;
  for (const auto& [address, r] : after.resources)
    if (!before.contains(address)) ++added;
  for (const auto& address : before)
    if (!after.resources.contains(address)) ++removed;
  return fmt::format("+{} -{}, {} resource{}", added, removed, after.resources.size(),
                     after.resources.size() == 1 ? "" : "s");
}

Error retired_error(const std::string& where) {
  return Error(ErrorCode::Conflict,
               fmt::format("the state in {} was migrated to another backend (`keel state migrate` copied it) and is "
                           "not used here any more: run with the backend it went to (the stack's `backend:`, KEEL_BACKEND, or "
                           "--backend local for .keel/), or bring it back with `keel state migrate --from WHERE-IT-IS "
                           "--to` this one (local, backend, or the URL)",
                           where));
}

std::string history_line(const HistoryEntry& e) {
  nlohmann::json j = {{"serial", e.serial},     {"saved_at", e.saved_at}, {"saved_by", e.saved_by},
                      {"command", e.command}, {"summary", e.summary}};
  return j.dump() + "\n";
}

std::vector<HistoryEntry> parse_history(std::string_view text, size_t limit) {
  std::vector<HistoryEntry> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) break;  // a torn last line
    auto j = nlohmann::json::parse(text.substr(start, end - start), nullptr, /*allow_exceptions=*/false);
    start = end + 1;
    if (!j.is_object() || !j.contains("serial") || !j["serial"].is_number_integer()) continue;
    HistoryEntry e;
    e.serial = j["serial"].get<long>();
    auto text_of = [&j](const char* name) {
      auto it = j.find(name);
      return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    e.saved_at = text_of("saved_at");
    e.saved_by = text_of("saved_by");
    e.command = text_of("command");
    e.summary = text_of("summary");
    out.push_back(std::move(e));
  }
  std::reverse(out.begin(), out.end());
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace keel::state
