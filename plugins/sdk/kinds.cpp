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

Error after_made(const std::string& what, const std::string& id, const Error& e) {
  const bool refusal = e.code() == ErrorCode::InvalidConfig || e.code() == ErrorCode::PermissionDenied ||
                       e.code() == ErrorCode::NotFound || e.code() == ErrorCode::Conflict;
  return Error(refusal ? ErrorCode::Unavailable : e.code(),
               what + " " + id + " was made, but " + e.message() + "; the next apply finishes it");
}

}  // namespace keel::kit
