#pragma once
// Text a provider, a plugin or an agent sends back may quote the values it
// was given ("`address` must look like host:port, got `...`"). Before keel
// prints such text (an apply's errors and progress lines), every sensitive
// value of the resource is replaced by "(sensitive)".
//
// Only string values of at least kMinLength bytes are masked: a shorter one
// ("1", "on") would blank out ordinary words of every message, and is no
// secret worth the name. Values are matched as they are; a message that
// re-encodes one (escaped, truncated) is not caught.

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace keel::engine {

class SecretMask {
 public:
  static constexpr size_t kMinLength = 4;

  // The sensitive parts of `values` (attribute name -> value): attributes
  // in `sensitive`, only at `paths` where a map or list is partly sensitive.
  void add_attributes(const nlohmann::json& values, const std::set<std::string>& sensitive,
                      const std::map<std::string, std::set<std::string>>& paths = {});
  // Every string inside `value`.
  void add(const nlohmann::json& value);

  std::string apply(std::string text) const;
  bool empty() const { return secrets_.empty(); }

 private:
  std::vector<std::string> secrets_;  // longest first, so a secret inside another is not half-masked
};

}  // namespace keel::engine
