#pragma once
// Local `databases` with engine postgres: a real PostgreSQL cluster per
// resource (initdb + pg_ctl from /usr/lib/postgresql/VERSION/bin), listening
// on 127.0.0.1 only, password authentication (scram-sha-256), no Unix socket.
//
// Roles: the superuser is `postgres`, keel's own, with a generated password
// kept only in the resource's secrets.json; the stack's `user` is an
// ordinary role (LOGIN, CREATEDB) that owns the stack's database. The
// application's credentials therefore cannot read the server's files or
// environment, or run programs as its account. Clusters made by older keels
// (no `superuser` fact) have the stack's user as superuser and keep working.
//
// As root the cluster is created and run by the `postgres` system account,
// because PostgreSQL refuses to run as root. When that account cannot reach
// the resource directory (a project under /root, mode 700), the cluster lives
// in /var/lib/keel-local/<first 16 hex of sha256(id)>/ instead; the
// `data_dir` attribute says where.

#include <memory>

#include "cli/providers/local/common.h"

namespace keel::providers::local {

std::unique_ptr<Server> make_postgres_server();

}  // namespace keel::providers::local
