#pragma once
// A state belongs to one stack: the `project:` it was applied for, the
// stack file it came from and the environment (-e) it was applied with. A stack of another project planned against it
// would plan deleting everything the state holds, and two stack files in
// one directory would share one state by accident; both are refused, with
// both names and what to do.

#include <functional>
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
                     const std::string& environment, const std::string& work_dir);

// A state written before keel recorded its stack (no project in it) is
// bound to the first stack that uses it; unless that stack declares none of
// the resources the state holds, which is another stack's state, not this
// one's: Conflict, saying how to bind it when it is. `declares` tells
// whether the stack declares a resource address ("files.a", no index).
Status check_unbound(const State& state, const std::string& stack_file,
                     const std::function<bool(const std::string&)>& declares);

// Records the stack in `state` (written by the next save).
void bind(State& state, const std::string& project, const std::string& stack_file, const std::string& environment);

}  // namespace keel::state
