#include "cli/engine/moves.h"

#include <fmt/format.h>

namespace keel::engine {

namespace {

bool state_holds(const state::State& state, const std::string& address) {
  if (state.find(address)) return true;
  if (address.find('[') != std::string::npos) return false;
  auto it = state.resources.lower_bound(address + "[");
  return it != state.resources.end() && it->first.compare(0, address.size() + 1, address + "[") == 0;
}

}  // namespace

Result<std::vector<state::Move>> apply_moves(const config::Configuration& config, state::State& state) {
  std::vector<state::Move> made;
  for (const auto& m : config.stack->moved) {
    const std::string where = m.mark.describe();
    std::string to_resource = state::resource_address(m.to);
    auto dot = to_resource.find('.');
    if (dot == std::string::npos || !config.stack->find_resource(to_resource.substr(0, dot), to_resource.substr(dot + 1)))
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("{}: moved to {}, which the stack does not declare", where, m.to));
    if (!state_holds(state, m.from)) continue;  // moved by an earlier apply
    auto moves = state::move_resource(state, m.from, m.to);
    if (!moves) return fail(moves.error().with_context(fmt::format("{}: moved from {} to {}", where, m.from, m.to)));
    made.insert(made.end(), moves->begin(), moves->end());
  }
  return made;
}

}  // namespace keel::engine
