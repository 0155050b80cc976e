#include "cli/state/moves.h"

#include <fmt/format.h>

namespace keel::state {

std::string resource_address(const std::string& instance_address) {
  return instance_address.substr(0, instance_address.find('['));
}

namespace {

std::string kind_of(const std::string& address) { return address.substr(0, address.find('.')); }

bool has_index(const std::string& address) { return address.find('[') != std::string::npos; }

// The instance moves `from` -> `to` stands for, given what state holds.
Result<std::vector<Move>> planned_moves(const State& state, const std::string& from, const std::string& to) {
  if (kind_of(from) != kind_of(to) || to.find('.') == std::string::npos)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("cannot move {} to {}: the kind must stay {}", from, to, kind_of(from)));
  std::vector<Move> moves;
  if (has_index(from)) {
    if (state.find(from)) moves.push_back({from, to});
  } else {
    if (has_index(to))
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("cannot move every instance of {} to the one instance {}", from, to));
    for (const auto& [address, _] : state.resources)
      if (address == from) moves.push_back({from, to});
      else if (address.size() > from.size() && address.compare(0, from.size(), from) == 0 && address[from.size()] == '[')
        moves.push_back({address, to + address.substr(from.size())});
  }
  if (moves.empty()) return fail(ErrorCode::NotFound, "no " + from + " in state");
  for (const auto& m : moves)
    if (state.find(m.to)) return fail(ErrorCode::Conflict, fmt::format("cannot move {} to {}: {} is already in state", m.from, m.to, m.to));
  return moves;
}

}  // namespace

Result<std::vector<Move>> move_resource(State& state, const std::string& from, const std::string& to) {
  auto moves = planned_moves(state, from, to);
  if (!moves) return moves;
  for (const auto& m : *moves) {
    auto node = state.resources.extract(m.from);
    node.key() = m.to;
    node.mapped().address = m.to;
    state.resources.insert(std::move(node));
  }
  for (auto& [_, r] : state.resources)
    for (auto& d : r.dependencies)
      for (const auto& m : *moves)
        if (d == m.from) d = m.to;
  return moves;
}

}  // namespace keel::state
