#pragma once
// The stack's `moved:` entries (Terraform's `moved` blocks): a resource
// renamed in the stack keeps what exists, and the plan says so, instead of
// deleting the old address and creating the new one.

#include <vector>

#include "cli/config/configuration.h"
#include "cli/state/moves.h"

namespace keel::engine {

// Applies the stack's `moved:` entries to `state`, in the order written, and
// returns the instance moves made. An entry whose `from` state no longer
// holds was applied before and is skipped. Refused (InvalidConfig, naming
// the entry's file:line:column): a `to` the stack does not declare, or one
// that state already holds while `from` is still there.
Result<std::vector<state::Move>> apply_moves(const config::Configuration& config, state::State& state);

}  // namespace keel::engine
