#pragma once
// A state belongs to one stack: the `project:` it was applied for and the
// stack file it came from. A stack of another project planned against it
// would plan deleting everything the state holds, and two stack files in
// one directory would share one state by accident; both are refused, with
// both names and what to do.

#include <string>

#include "cli/state/state.h"
#include "core/error.h"

namespace keel::state {

// Whether the stack `project` read from `stack_file` (a path; its name in
// its directory is what counts) may use `state`, kept in `work_dir`. A state
// that records no binding yet (never applied, or older) fits any stack. A
// recorded stack file that no longer exists beside the new one is taken as
// renamed. Conflict, naming both, otherwise.
Status check_binding(const State& state, const std::string& project, const std::string& stack_file,
                     const std::string& work_dir);

// Records the stack in `state` (written by the next save).
void bind(State& state, const std::string& project, const std::string& stack_file);

}  // namespace keel::state
