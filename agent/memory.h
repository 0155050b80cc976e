#pragma once
// The agent's use of glibc's malloc. See docs/decisions.md, "A smaller
// agent".

namespace keel::agent {

// Call first in main(), before any thread starts. Leaves glibc's own
// settings alone when MALLOC_ARENA_MAX or GLIBC_TUNABLES is set.
void tune_allocator();

}  // namespace keel::agent
