#include "cli/engine/secret_mask.h"

#include <algorithm>

namespace keel::engine {

void SecretMask::add(const nlohmann::json& value) {
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s.size() < kMinLength || std::find(secrets_.begin(), secrets_.end(), s) != secrets_.end()) return;
    secrets_.insert(std::upper_bound(secrets_.begin(), secrets_.end(), s,
                                     [](const std::string& a, const std::string& b) { return a.size() > b.size(); }),
                    s);
    return;
  }
  if (value.is_structured())
    for (const auto& element : value) add(element);
}

void SecretMask::add_attributes(const nlohmann::json& values, const std::set<std::string>& sensitive,
                                const std::map<std::string, std::set<std::string>>& paths) {
  if (!values.is_object()) return;
  for (const auto& name : sensitive) {
    auto it = values.find(name);
    if (it == values.end()) continue;
    auto parts = paths.find(name);
    if (parts == paths.end() || parts->second.empty()) {
      add(*it);
      continue;
    }
    for (const auto& pointer : parts->second) {
      try {
        const nlohmann::json::json_pointer at(pointer);
        if (it->contains(at)) add(it->at(at));
      } catch (const nlohmann::json::exception&) {
        add(*it);  // a path that is no pointer (a damaged state): the whole value
      }
    }
  }
}

std::string SecretMask::apply(std::string text) const {
  static const std::string kMasked = "(sensitive)";
  for (const auto& secret : secrets_)
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + kMasked.size()))
      text.replace(at, secret.size(), kMasked);
  return text;
}

}  // namespace keel::engine
