#include "plugins/sdk/kinds.h"

#include <fmt/format.h>

namespace keel::kit {

Result<Kind*> Kinds::get(const std::string& name) const {
  auto it = kinds_.find(name);
  if (it != kinds_.end()) return it->second.get();
  std::string known;
  for (const auto& [kind, _] : kinds_) known += fmt::format("{}{}", known.empty() ? "" : ", ", kind);
  return fail(ErrorCode::InvalidConfig, fmt::format("the {} provider has no kind \"{}\" ({})", provider_, name, known));
}

void report(const provider::ProgressFn& progress, const std::string& message) {
  if (progress) progress(message);
}

}  // namespace keel::kit
