#pragma once
// The versioned on-disk form of State (docs/state.md): JSON, with every
// sensitive attribute and output sealed with AES-256-GCM under the state key
// and bound to its address (so a sealed value cannot be moved to another
// resource unnoticed).

#include <nlohmann/json.hpp>

#include "cli/state/state.h"
#include "core/crypto.h"
#include "core/error.h"

namespace keel::state {

nlohmann::json encode_resource(const ResourceState& r, const crypto::Key& key);
Result<ResourceState> decode_resource(const nlohmann::json& j, const crypto::Key& key);

nlohmann::json encode_state(const State& s, const crypto::Key& key);
Result<State> decode_state(const nlohmann::json& j, const crypto::Key& key);

}  // namespace keel::state
