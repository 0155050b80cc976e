#pragma once
// Where apply records each resource the moment it changes. Implementations
// make every record durable before returning (FileStateStore's journal; a
// PostgreSQL store later).

#include <string>

#include "cli/state/state.h"
#include "core/error.h"

namespace keel::state {

class StateJournal {
 public:
  virtual ~StateJournal() = default;
  // Before a create: the resource may exist after this, without an id in state.
  virtual Status record_intent(const ResourceState& r) = 0;
  virtual Status record_put(const ResourceState& r) = 0;
  virtual Status record_remove(const std::string& address) = 0;
};

}  // namespace keel::state
