#pragma once
// Local `servers`: for now a host directory, WORK_DIR/local/servers/NAME/,
// holding facts.json about this machine (hostname, os, arch, cpus,
// memory_mb). A later issue runs a keel-agent from that directory.

#include "cli/providers/local/common.h"

namespace keel::providers::local::server_host {

Result<provider::CreateResponse> create(const Context& context, const provider::CreateRequest& request);
Result<provider::ReadResponse> read(const Context& context, const provider::ReadRequest& request);
Result<provider::UpdateResponse> update(const Context& context, const provider::UpdateRequest& request);
Status remove(const Context& context, const provider::DeleteRequest& request);
Result<provider::FindResponse> find(const Context& context, const provider::FindRequest& request);

}  // namespace keel::providers::local::server_host
