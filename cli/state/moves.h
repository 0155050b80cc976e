#pragma once
// Renaming resources in state, for `keel state mv` and the stack's `moved:`
// entries: the resource gets its new address, and every dependency in state
// that named the old one names the new one, so that ordering, deletes and
// targeted destroys follow the moved resource.

#include <string>
#include <utility>
#include <vector>

#include "cli/state/state.h"
#include "core/error.h"

namespace keel::state {

struct Move {
  std::string from, to;  // instance addresses
};

// Moves `from` to `to`. A resource address without an index ("servers.web")
// moves the resource and every instance of it ("servers.web[1]" to
// "servers.app[1]"), and then `to` must have no index either. The kind
// stays the same. NotFound when state holds nothing at `from`; Conflict when
// something is already at a destination (nothing is moved then).
Result<std::vector<Move>> move_resource(State& state, const std::string& from, const std::string& to);

// Moves the one instance `from` to `to`, with or without indexes
// ("servers.web" to "servers.web[0]": Terraform's implied move when a
// block gains `count`). Errors as move_resource's.
Result<std::vector<Move>> move_instance(State& state, const std::string& from, const std::string& to);

// "servers.web[2]" -> "servers.web"; an address without an index unchanged.
std::string resource_address(const std::string& instance_address);

}  // namespace keel::state
