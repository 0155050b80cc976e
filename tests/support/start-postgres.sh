#!/usr/bin/env bash
# start-postgres.sh DIR [durable]
#
# A throw-away PostgreSQL 15 (Debian 12: postgresql-15) on 127.0.0.1 and a
# free port, password logins over TCP (scram-sha-256), no Unix socket, run as
# the postgres account when started as root. The role `keel` owns the
# database `keel`. Its data is in DIR/data; DIR must not exist yet, and its
# parent must be reachable by the postgres account (/tmp is).
#
# Without `durable`, fsync is off (tests: fast, and a crash of the machine
# loses nothing the test needs); with it, PostgreSQL's defaults (benchmarks).
#
# Writes DIR/postgres.env: PG_PORT, PG_PASSWORD, PG_URL (with the password),
# PG_DATA. Stop it with: tests/support/stop-postgres.sh DIR
set -euo pipefail
DIR=$1
DURABLE=${2:-}
BINDIR=/usr/lib/postgresql/15/bin
[[ -x $BINDIR/initdb ]] || { echo "$BINDIR/initdb is missing (Debian package postgresql-15)" >&2; exit 1; }
mkdir -m 700 "$DIR"
as_pg() { if [[ $(id -u) == 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres: "$DIR"
PASSWORD=pw$RANDOM$RANDOM$RANDOM
(umask 077; printf '%s\n' "$PASSWORD" >"$DIR/pw")
[[ $(id -u) == 0 ]] && chown postgres: "$DIR/pw"
as_pg "$BINDIR/initdb" -D "$DIR/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --pwfile="$DIR/pw" -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions >"$DIR/initdb.log" 2>&1 ||
  { cat "$DIR/initdb.log" >&2; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
  printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = ''\n" "$PORT"
  [[ $DURABLE == durable ]] || printf "fsync = off\n"
} >>"$DIR/data/postgresql.conf"
as_pg "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 -s start ||
  { tail -n 20 "$DIR/log" >&2; exit 1; }
PGPASSWORD=$PASSWORD psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres \
  -c "CREATE ROLE keel LOGIN PASSWORD '$PASSWORD'" -c "CREATE DATABASE keel OWNER keel" >/dev/null
{
  echo "PG_PORT=$PORT"
  echo "PG_PASSWORD=$PASSWORD"
  echo "PG_URL=postgresql://keel:$PASSWORD@127.0.0.1:$PORT/keel"
  echo "PG_DATA=$DIR/data"
} >"$DIR/postgres.env"
