#pragma once
// Where apply records each resource the moment it changes (FileStateStore's
// journal; a PostgreSQL store later). Every record is written before the
// call returns, so a killed keel loses none; an intent is also on stable
// storage before it returns, because the provider is asked to create only
// after it: whatever else a power loss takes, the next run finds the
// resource by its tags.

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
