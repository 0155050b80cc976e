#include "cli/engine/moves.h"

#include <fmt/format.h>

namespace keel::engine {

namespace {

bool has_index(const std::string& address) { return address.find('[') != std::string::npos; }

bool is_instance_of(const std::string& address, const std::string& resource) {
  return address.size() > resource.size() && address.compare(0, resource.size(), resource) == 0 &&
         address[resource.size()] == '[';
}

// Whether state holds `address`, or (for a resource address) any instance of it.
bool state_holds(const state::State& state, const std::string& address) {
  if (state.find(address)) return true;
  if (has_index(address)) return false;
  auto it = state.resources.lower_bound(address + "[");
  return it != state.resources.end() && is_instance_of(it->first, address);
}

size_t instances_in_state(const state::State& state, const std::string& resource) {
  size_t n = 0;
  auto it = state.resources.lower_bound(resource + "[");
  for (; it != state.resources.end() && is_instance_of(it->first, resource); ++it) ++n;
  return n;
}

// Whether the stack still makes `address`: a resource address whose block
// it declares, or an instance its block's `count` makes.
bool declared(const config::Configuration& config, const std::string& address) {
  if (has_index(address)) return config.find(address) != nullptr;
  auto dot = address.find('.');
  return dot != std::string::npos && config.stack->find_resource(address.substr(0, dot), address.substr(dot + 1));
}

// Where `address` ends up after `moves` (entries chain: a -> b, b -> c).
std::string final_address(std::string address, const std::vector<state::Move>& moves) {
  for (const auto& m : moves)
    if (m.from == address) address = m.to;
  return address;
}

// Terraform's implied moves: a block that gained or lost `count` keeps its
// one existing instance (`web` <-> `web[0]`) instead of deleting it and
// creating it again at the new address, which for a database loses its data.
Result<std::vector<state::Move>> implied_count_moves(const config::Configuration& config, state::State& state) {
  std::vector<state::Move> made;
  for (const auto& block : config.stack->resources) {
    const std::string resource = block.address();
    const std::string first = resource + "[0]";
    const bool counted = config.find(first) != nullptr;
    const bool single = config.find(resource) != nullptr;
    std::string from, to;
    if (single && state.find(first) && !state.find(resource)) from = first, to = resource;
    if (counted && state.find(resource) && !state.find(first)) from = resource, to = first;
    if (from.empty()) continue;
    // A single instance only: web[1] too means the block had a real count,
    // and which one survives is the stack's to say (a `moved:` entry).
    if (from == first && instances_in_state(state, resource) > 1) continue;
    auto moves = state::move_instance(state, from, to);
    if (!moves) return fail(moves.error().with_context(fmt::format("implied move of {} to {}", from, to)));
    made.insert(made.end(), moves->begin(), moves->end());
  }
  return made;
}

// The moves one `moved:` entry made, for its file:line:column in errors.
struct EntryMove {
  state::Move move;
  const config::MovedBlock* entry;
};

// The stack's entries, on `state` (all or nothing is left to the caller):
// in passes, so that chains apply whatever order they are written in
// (cycles are refused by validate; every pass but the last moves one).
Result<std::vector<EntryMove>> entry_moves(const config::Configuration& config, state::State& state) {
  const auto& entries = config.stack->moved;
  for (const auto& m : entries)
    if (declared(config, m.from))
      return fail(ErrorCode::InvalidConfig,
                  fmt::format("{}: moved from {}, which the stack still declares: a move takes what exists at an "
                              "address the stack gave up; remove the entry, or the resource it moves from",
                              m.mark.describe(), m.from));
  std::vector<EntryMove> made;
  for (size_t pass = 0; pass <= entries.size(); ++pass) {
    bool moved = false;
    for (const auto& m : entries) {
      if (!state_holds(state, m.from)) continue;  // moved by an earlier pass or apply
      auto moves = state::move_resource(state, m.from, m.to);
      if (!moves)
        return fail(moves.error().with_context(fmt::format("{}: moved from {} to {}", m.mark.describe(), m.from, m.to)));
      for (auto& move : *moves) made.push_back({std::move(move), &m});
      moved = true;
    }
    if (!moved) break;
  }
  return made;
}

// Each instance an entry moved must end (after the implied moves) in a
// resource the stack declares, keyed as that resource is (with or without
// `count`). An index past a lowered count is fine: that instance is
// deleted, as the plan shows.
Status check_destinations(const config::Configuration& config, const std::vector<EntryMove>& made,
                          const std::vector<state::Move>& all) {
  for (const auto& [m, entry] : made) {
    const std::string at = final_address(m.to, all);
    const std::string resource = state::resource_address(at);
    const auto dot = resource.find('.');
    const config::ResourceBlock* block =
        dot == std::string::npos ? nullptr : config.stack->find_resource(resource.substr(0, dot), resource.substr(dot + 1));
    std::string problem;
    if (!block) problem = fmt::format("{} would move to {}, which the stack does not declare", m.from, at);
    else if (has_index(at) && block->count.is_null())
      problem = fmt::format("{} would move to {}, but {} has no `count`: move one instance into it "
                            "(`from: {}, to: {}`)",
                            m.from, at, resource, m.from, resource);
    else if (!has_index(at) && !block->count.is_null())
      problem = fmt::format("{} would move to {}, but {} has a `count`: write `to: {}[0]`", m.from, at, resource,
                            resource);
    if (!problem.empty()) return fail(ErrorCode::InvalidConfig, entry->mark.describe() + ": " + problem);
  }
  return {};
}

}  // namespace

Result<std::vector<state::Move>> apply_moves(const config::Configuration& config, state::State& state) {
  // On a copy when the stack has entries: a refused one leaves state as it
  // was, whatever moved before it.
  state::State copy;
  const bool has_entries = !config.stack->moved.empty();
  if (has_entries) copy = state;
  state::State& work = has_entries ? copy : state;
  auto entries = entry_moves(config, work);
  if (!entries) return fail(entries.error());
  std::vector<state::Move> made;
  for (const auto& e : *entries) made.push_back(e.move);
  // A refused implied move changes nothing (move_instance checks first).
  auto implied = implied_count_moves(config, work);
  if (!implied) return implied;
  made.insert(made.end(), implied->begin(), implied->end());
  if (auto s = check_destinations(config, *entries, made); !s) return fail(s.error());
  if (has_entries) state = std::move(copy);
  return made;
}

}  // namespace keel::engine
