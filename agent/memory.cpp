#include "agent/memory.h"

#include <malloc.h>

#include <cstdlib>

namespace keel::agent {

namespace {

// glibc gives every thread that allocates an arena of its own, up to 8 per
// core: with its check workers, API workers and schedulers the agent had 8
// arenas, each with pages of its own resident and its own free lists. The
// agent allocates little and rarely (a check's output, an API answer), so one
// arena serves it without contention worth measuring, and what one thread
// frees another reuses.
constexpr int kArenas = 1;

}  // namespace

void tune_allocator() {
  if (std::getenv("MALLOC_ARENA_MAX") || std::getenv("GLIBC_TUNABLES")) return;
  ::mallopt(M_ARENA_MAX, kArenas);
}

}  // namespace keel::agent
