#include "cli/state/moves.h"

#include <algorithm>

#include <fmt/format.h>

namespace keel::state {

std::string resource_address(const std::string& instance_address) {
  return instance_address.substr(0, instance_address.find('['));
}

namespace {

std::string kind_of(const std::string& address) { return address.substr(0, address.find('.')); }

bool has_index(const std::string& address) { return address.find('[') != std::string::npos; }

// The instance moves `from` -> `to` stands for, given what state holds.
// `exact`: `from` is one instance, even without an index.
Result<std::vector<Move>> planned_moves(const State& state, const std::string& from, const std::string& to,
                                        bool exact) {
  if (kind_of(from) != kind_of(to) || to.find('.') == std::string::npos)
    return fail(ErrorCode::InvalidConfig,
                fmt::format("cannot move {} to {}: the kind must stay {}", from, to, kind_of(from)));
  std::vector<Move> moves;
  if (exact || has_index(from)) {
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
  // A whole resource moves onto no instance of another: `web` beside
  // `web[0]` would be two resources at one address, which no stack makes.
  const std::string to_resource = resource_address(to);
  for (const auto& [address, _] : state.resources) {
    const bool moving = std::any_of(moves.begin(), moves.end(), [&](const Move& m) { return m.from == address; });
    const bool of_to = address == to_resource || (address.size() > to_resource.size() &&
                                                  address.compare(0, to_resource.size(), to_resource) == 0 &&
                                                  address[to_resource.size()] == '[');
    if (of_to && !moving && !exact && (!has_index(to) || !has_index(address)))
      return fail(ErrorCode::Conflict, fmt::format("cannot move {} to {}: state holds {}", from, to, address));
  }
  return moves;
}

Result<std::vector<Move>> move(State& state, const std::string& from, const std::string& to, bool exact) {
  auto moves = planned_moves(state, from, to, exact);
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

}  // namespace

Result<std::vector<Move>> move_resource(State& state, const std::string& from, const std::string& to) {
  return move(state, from, to, false);
}

Result<std::vector<Move>> move_instance(State& state, const std::string& from, const std::string& to) {
  return move(state, from, to, true);
}

}  // namespace keel::state
