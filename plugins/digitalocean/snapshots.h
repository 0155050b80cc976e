#pragma once
// The kit's coalesced list calls (plugins/sdk/snapshots.h) under the names
// the DigitalOcean modules use.

#include "plugins/sdk/snapshots.h"

namespace keel::digitalocean {

using kit::Clock;
using kit::id_text;
using kit::Snapshot;
using kit::SnapshotSource;

}  // namespace keel::digitalocean
