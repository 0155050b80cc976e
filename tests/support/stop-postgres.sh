#!/usr/bin/env bash
# stop-postgres.sh DIR: stops what start-postgres.sh DIR started and removes DIR.
set -uo pipefail
DIR=$1
if [[ -f $DIR/data/postmaster.pid ]]; then
  if [[ $(id -u) == 0 ]]; then
    (cd / && runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$DIR/data" -m immediate -w -t 30 -s stop)
  else
    /usr/lib/postgresql/15/bin/pg_ctl -D "$DIR/data" -m immediate -w -t 30 -s stop
  fi
fi
rm -rf "$DIR"
