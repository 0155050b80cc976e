#!/usr/bin/env bash
# The README's first command: install what is missing, build keel, and apply
# the quickstart stack (a real PostgreSQL and Redis on this machine, and a
# host whose agent checks both) in ./quickstart, then ask the agent for
# health and show how to connect.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DKEEL_BUILD_TESTS=OFF -DKEEL_BUILD_BENCH=OFF -DKEEL_FUZZ=OFF >/dev/null
# Every plugin the README and `keel init` use (DigitalOcean, AWS), so that
# the next steps work from this build and `cpack` packages all of it.
cmake --build build -j"$(nproc)" --target keel keel-agent keel-dr keel-provider-example keel-provider-digitalocean \
  keel-provider-aws
mkdir -p quickstart
[ -f quickstart/keel.yaml ] || cp templates/quickstart/keel.yaml quickstart/keel.yaml
cd quickstart
../build/keel apply --auto-approve
# The agent's first runs are spread over half a second; give them a moment.
../build/keel backup run main
../build/keel drill main
sleep 1
../build/keel health || true
cat <<MSG

Connect:
  psql "\$(../build/keel output --raw db_uri)" -c 'select version()'
  redis-cli -u "\$(../build/keel output --raw redis_uri)" ping
  ../build/keel health --watch            (the agent's checks; Ctrl-C to stop)
  ../build/keel backup list main          (backups in ~/keel-backups/quickstart)
  ../build/keel backup key export         (keep it safe: without it no backup can be read)
Then, in quickstart/:  ../build/keel plan   (no changes)   ../build/keel destroy
MSG
