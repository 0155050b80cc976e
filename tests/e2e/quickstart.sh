#!/usr/bin/env bash
# The README's first experience: the quickstart stack (a real PostgreSQL and
# Redis through the local provider, and a host whose agent checks both), from
# validate to destroy, checked with the real clients and `keel health`.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
# 0700, as a project in root's home (the tests run as root in CI): the
# postgres account cannot reach it, which the local provider must handle.
e2e_setup private

new_stack STACK quickstart
cp "$KEEL_SOURCE_DIR/templates/quickstart/keel.yaml" "$STACK/keel.yaml"
cd "$STACK"
# The template backs up to ~/keel-backups/quickstart: keep it in the test's dir.
export HOME="$WORK/home"
mkdir -p "$HOME"

step "validate"
expect_ok keel validate
assert_contains "$WORK/last.out" "valid"

step "apply"
expect_ok keel apply --auto-approve
cp "$WORK/last.out" "$WORK/apply.out"
assert_contains "$WORK/apply.out" "Apply complete! Resources: 3 added"

step "outputs and the real clients"
DB_URI=$(keel output --raw db_uri) || fail "keel output --raw db_uri failed"
REDIS_URI=$(keel output --raw redis_uri) || fail "keel output --raw redis_uri failed"
[[ $DB_URI == postgresql://* ]] || fail "db_uri is not a postgresql:// URI: $DB_URI"
[[ $REDIS_URI == redis://* ]] || fail "redis_uri is not a redis:// URI: $REDIS_URI"
DB_PORT=$(keel output --raw db_port) || fail "keel output --raw db_port failed"
REDIS_PORT=${REDIS_URI##*:}
REDIS_PORT=${REDIS_PORT%%/*}
[[ $DB_PORT =~ ^[0-9]+$ && $REDIS_PORT =~ ^[0-9]+$ ]] || fail "ports not numbers: db=$DB_PORT redis=$REDIS_PORT"

answer=$(PGCONNECT_TIMEOUT=10 psql "$DB_URI" -XAtq -c 'select 1' 2>&1) || fail "psql to db_uri failed: $answer"
[[ $answer == 1 ]] || fail "psql 'select 1' answered: $answer"

# redis-cli warns on stderr when the password is in the URI; only stdout counts.
pong=$(redis-cli -u "$REDIS_URI" ping 2>/dev/null) || fail "redis-cli -u redis_uri ping failed"
[[ $pong == PONG ]] || fail "redis-cli ping answered: $pong"

if [[ $(id -u) == 0 ]]; then
  # The cluster is where the postgres account can reach it.
  ext=$(external_pg_dir "$STACK/.keel/local/databases/main")
  ps -eo args= | grep -qF -- "-D $ext/data" || fail "no postmaster runs from $ext/data (expected outside the 0700 project)"
fi

step "backup and drill: the template's job runs and proves it restores"
expect_ok keel backup run main
expect_ok keel drill main
ls "$HOME"/keel-backups/quickstart/main/*.manifest.json >/dev/null || fail "no backup manifest in ~/keel-backups/quickstart/main"

step "health: the agent's postgres, redis, disk and dr checks pass"
wait_until 30 "$KEEL_BUILD_DIR/keel" health >/dev/null 2>&1 || true
expect_ok keel health
cp "$WORK/last.out" "$WORK/health.out"
for check in database sessions disk dr-main; do
  grep -Eq "servers\.app +$check +passing" "$WORK/health.out" || { show "$WORK/health.out"; fail "keel health: $check is not passing"; }
done
assert_not_contains "$WORK/health.out" "$DB_URI" "keel health printed the database URI"

step "a module's lines follow keel's log: keel-net.so's HTTP calls go to KEEL_LOG_FILE"
expect_ok env KEEL_LOG=debug KEEL_LOG_FILE="$WORK/health.log" "$KEEL" health
assert_contains "$WORK/health.log" "debug http: GET https://127.0.0.1:"
assert_not_contains "$WORK/last.out" "http: GET" "keel-net.so logged to stderr, not to KEEL_LOG_FILE"

step "plan after apply: no changes"
expect_ok keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "No changes"

step "keel output masks the sensitive outputs"
expect_ok keel output
cp "$WORK/last.out" "$WORK/output.out"
grep -Eq '^db_uri = \(sensitive\)$' "$WORK/output.out" || { show "$WORK/output.out"; fail "keel output does not show db_uri as (sensitive)"; }
grep -Eq "^db_port = $DB_PORT\$" "$WORK/output.out" || { show "$WORK/output.out"; fail "keel output does not show db_port = $DB_PORT"; }
assert_not_contains "$WORK/output.out" "$DB_URI" "keel output printed the database URI in clear"
assert_not_contains "$WORK/output.out" "$REDIS_URI" "keel output printed the redis URI in clear"

keel_json output >"$WORK/output.json" 2>"$WORK/output.err" || { show "$WORK/output.err"; fail "keel output --json failed"; }
[[ $(json_get "$WORK/output.json" 'd["db_uri"]["sensitive"] is True and d["db_uri"]["value"] is None') == True ]] ||
  { show "$WORK/output.json"; fail "keel output --json: db_uri should have sensitive: true and value: null"; }
[[ $(json_get "$WORK/output.json" 'd["db_port"]["sensitive"] is False and d["db_port"]["value"] == '"$DB_PORT") == True ]] ||
  { show "$WORK/output.json"; fail "keel output --json: db_port should be $DB_PORT and not sensitive"; }
assert_not_contains "$WORK/output.json" "$DB_URI" "keel output --json printed the database URI in clear"

step "state list"
expect_ok keel state list
[[ $(sort "$WORK/last.out") == $'caches.sessions\ndatabases.main\nservers.app' ]] ||
  { show "$WORK/last.out"; fail "keel state list should list exactly caches.sessions, databases.main and servers.app"; }

step "destroy"
expect_ok keel destroy --auto-approve
assert_contains "$WORK/last.out" "Destroy complete! Resources: 3 destroyed"

# The servers go away with their ports (a stopped server may take a moment
# to release its socket, hence the short wait).
wait_until 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$DB_PORT) 2>/dev/null" ||
  fail "port $DB_PORT (postgres) still open after destroy"
wait_until 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT) 2>/dev/null" ||
  fail "port $REDIS_PORT (redis) still open after destroy"
expect_ok keel state list
[[ ! -s $WORK/last.out ]] || { show "$WORK/last.out"; fail "state is not empty after destroy"; }
[[ ! -e .keel/local/databases/main ]] || fail "destroy left .keel/local/databases/main behind"
if [[ $(id -u) == 0 ]]; then
  ext=$(external_pg_dir "$STACK/.keel/local/databases/main")
  [[ ! -e $ext ]] || fail "destroy left the PostgreSQL cluster directory $ext behind"
fi
