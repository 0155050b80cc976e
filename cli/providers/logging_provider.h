#pragma once
// LoggingProvider: a decorator that logs every call keel makes to a
// provider at debug level (KEEL_LOG=debug): the operation, the provider,
// the kind, the address and id where the call carries them, how long it
// took and how it ended. Never an attribute's value nor the provider's
// settings (they hold tokens and passwords): only names that are already in
// plans and state.
//
//   debug provider call provider=do op=create kind=servers address=servers.web[0] id=4211 duration_ms=812 outcome=ok
//
// Thread-safe as the provider it wraps is: it keeps no state of its own.

#include <memory>

#include "core/provider.h"

namespace keel::providers {

std::unique_ptr<provider::Provider> make_logging_provider(std::unique_ptr<provider::Provider> inner);

}  // namespace keel::providers
