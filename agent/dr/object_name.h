#pragma once
// Names of objects inside a destination, shared by every destination: what
// a valid name is, and how a writer's temporary name is marked.

#include <string>
#include <string_view>

#include "core/error.h"

namespace keel::dr {

// Writers store "NAME.partial-RANDOM" until commit; list() hides such names
// and cleanup_leftovers() removes them.
inline constexpr std::string_view kPartialMarker = ".partial-";

inline bool is_partial_name(const std::string& name) { return name.find(kPartialMarker) != std::string::npos; }

// A relative "/"-separated path without "." or ".." parts, empty parts, NUL,
// or the partial marker: a name can never escape the destination's root.
Status check_object_name(const std::string& name);

}  // namespace keel::dr
