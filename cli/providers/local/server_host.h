#pragma once
// Local `servers`: this machine as a host. Each one is a host directory,
// WORK_DIR/local/servers/NAME/, holding facts.json about this machine
// (hostname, os, arch, cpus, memory_mb) and running its own keel-agent
// (agent_process.h lists the agent's files there) on a free 127.0.0.1 port,
// with TLS from a CA made for it and a random bearer token.
//
//   create   generates token, CA and certificate, writes the agent config
//            from the `checks` and `backups` attributes (and backup.key,
//            0600, from `backup_key` when the host runs jobs), starts the
//            agent detached and waits for it to answer
//   read     reports whether the agent runs (`agent`), so a dead agent is
//            drift that the next apply repairs
//   update   pushes changed `checks` and `backups` to the running agent
//            (PUT /v1/config, no restart) and rewrites its config; starts or stops the
//            agent as `agent` says
//   remove   stops the agent (SIGTERM, SIGKILL after 5 s), then deletes the
//            directory
//   find     adopts a complete directory after a crash (starting its agent
//            if it should run), or one given by id (`keel state import`)

#include "cli/providers/local/common.h"

namespace keel::providers::local::server_host {

Result<provider::CreateResponse> create(const Context& context, const provider::CreateRequest& request);
Result<provider::ReadResponse> read(const Context& context, const provider::ReadRequest& request);
Result<provider::UpdateResponse> update(const Context& context, const provider::UpdateRequest& request);
Status remove(const Context& context, const provider::DeleteRequest& request);
Result<provider::FindResponse> find(const Context& context, const provider::FindRequest& request);

}  // namespace keel::providers::local::server_host
