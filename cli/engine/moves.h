#pragma once
// The stack's `moved:` entries (Terraform's `moved` blocks): a resource
// renamed in the stack keeps what exists, and the plan says so, instead of
// deleting the old address and creating the new one.

#include <vector>

#include "cli/config/configuration.h"
#include "cli/state/moves.h"

namespace keel::engine {

// Applies the stack's `moved:` entries to `state` (chains in any order
// they are written), then Terraform's implied moves (a block that gained or
// lost `count` keeps its one instance: `web` <-> `web[0]`), and returns the
// instance moves made. An entry whose `from` state no longer holds was
// applied before and is skipped. Refused (InvalidConfig, naming the entry's
// file:line:column), with state left as it was: a `from` the stack still
// declares, a move that lands where the stack makes nothing (with a hint
// when only `count` differs), or onto what state already holds.
Result<std::vector<state::Move>> apply_moves(const config::Configuration& config, state::State& state);

}  // namespace keel::engine
