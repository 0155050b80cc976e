#!/usr/bin/env bash
# Backups: a stack's `backups:` reach the agent of the server that runs them
# (the jobs in its config, the stack's key as backup.key 0600); `keel backup
# run` backs a PostgreSQL database and a Redis cache up to a file://
# directory, `keel restore` brings dropped data back, `keel backup list`
# shows the backups, `keel drill` passes for a good verify query and fails
# (exit 1) for a bad one, `keel backup key export` prints the key, and an
# unknown job is a usage error (exit 2) naming the known ones.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

[[ -x $KEEL_BUILD_DIR/keel-agent ]] || fail "keel-agent is not built in $KEEL_BUILD_DIR"
[[ -x $KEEL_BUILD_DIR/keel-dr ]] || fail "keel-dr is not built in $KEEL_BUILD_DIR"
for tool in psql redis-cli python3; do
  command -v "$tool" >/dev/null || fail "$tool is needed"
done

new_stack STACK backup
cd "$STACK"
BACKUPS="$WORK/backups"
write_stack() {
  cat >keel.yaml <<YAML
keel: 1
project: e2e-backup
databases:
  main: {}
caches:
  sessions: { engine: redis }
servers:
  ops: {}
backups:
  main:
    source: databases.main
    to: file://$BACKUPS/main
    retention: { keep_last: $1 }
    rpo: 24h
    drill: { verify: "SELECT count(*) FROM items" }
  sessions:
    source: caches.sessions
    to: file://$BACKUPS/sessions
  broken:
    source: databases.main
    runs_on: servers.ops
    to: file://$BACKUPS/broken
    drill: { verify: "SELECT count(*) FROM no_such_table" }
outputs:
  db_uri: \${databases.main.uri}
  redis_uri: \${caches.sessions.uri}
YAML
}
write_stack 5

# sql QUERY: runs it in the database, prints the bare answer.
sql() { PGCONNECT_TIMEOUT=10 psql "$DB_URI" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
# redis ARGS...: redis-cli on the cache (the password warning on stderr dropped).
redis() { redis-cli -u "$REDIS_URI" "$@" 2>/dev/null; }
# run_json FILE ARGS...: `keel ARGS --json` into FILE; its exit code in $rc.
run_json() {
  local file=$1
  shift
  rc=0
  keel_json "$@" >"$file" 2>"$file.err" || rc=$?
}

step "validate and apply: the jobs and the key reach the agent of servers.ops"
expect_ok keel validate
expect_ok keel apply --auto-approve
expect_ok keel plan --detailed-exitcode  # a second plan is empty
HOST="$STACK/.keel/local/servers/ops"
[[ -f $HOST/backup.key ]] || fail "no backup.key in $HOST"
[[ $(stat -c %a "$HOST/backup.key") == 600 ]] || fail "backup.key is not 0600"
KEY=$(cat "$HOST/backup.key")
[[ ${#KEY} == 44 ]] || fail "backup.key does not hold 44 base64 characters"
grep -q '"backup_key_file"' "$HOST/agent.yaml" || fail "agent.yaml names no backup_key_file"
grep -q '"sessions"' "$HOST/agent.yaml" || fail "agent.yaml does not hold the sessions job"
grep -qF "$KEY" "$STACK/.keel/state.json" && fail "the backup key is in state.json in clear"
grep -q '"sealed_secrets"' "$STACK/.keel/state.json" || fail "state.json has no sealed_secrets"
keel_json state show servers.ops >"$WORK/show.json"
[[ $(json_get "$WORK/show.json" 'd["attributes"]["backups"]') == "(sensitive)" ]] || fail "backups are not masked in state show"
[[ $(json_get "$WORK/show.json" 'd["attributes"]["backup_key"]') == "(sensitive)" ]] || fail "backup_key is not masked in state show"
AGENT_PID=$(head -n1 "$HOST/agent.pid")

DB_URI=$(keel output db_uri --raw)
REDIS_URI=$(keel output redis_uri --raw)

step "backup key export: 44 base64 characters, a warning on stderr"
keel backup key export >"$WORK/key.out" 2>"$WORK/key.err" || fail "keel backup key export failed: $(cat "$WORK/key.err")"
[[ $(cat "$WORK/key.out") == "$KEY" ]] || fail "the exported key is not the agent's backup.key"
[[ $(tr -d '\n' <"$WORK/key.out" | wc -c) == 44 ]] || fail "the exported key is not 44 characters"
grep -Eq '^[A-Za-z0-9+/]{43}=$' "$WORK/key.out" || fail "the exported key is not base64"
grep -qi "without it" "$WORK/key.err" || { show "$WORK/key.err"; fail "no warning on stderr"; }

step "PostgreSQL: rows, backup, drop, restore"
sql "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1000) g;" >/dev/null
run_json "$WORK/run.json" backup run main
[[ $rc == 0 ]] || { show "$WORK/run.json"; show "$WORK/run.json.err"; fail "keel backup run main --json exited $rc"; }
[[ $(json_get "$WORK/run.json" 'd["status"]') == succeeded ]] || fail "the backup run did not succeed"
[[ $(json_get "$WORK/run.json" 'd["kind"]') == backup ]] || fail "the run is not a backup"
SNAPSHOT=$(json_get "$WORK/run.json" 'd["snapshot"]')
[[ -n $SNAPSHOT && $SNAPSHOT != None ]] || fail "the backup run names no snapshot"
[[ $(json_get "$WORK/run.json" 'd["bytes_stored"] > 0') == True ]] || fail "the backup stored no bytes"
grep -rqa "item 500" "$BACKUPS/main" && fail "the backup holds the rows in clear"
sql "DROP TABLE items;" >/dev/null
expect_ok keel restore main --auto-approve
assert_contains "$WORK/last.out" "Restore main succeeded"
[[ $(sql "SELECT count(*) FROM items") == 1000 ]] || fail "the restore did not bring back 1000 rows"

step "backup list"
run_json "$WORK/list.json" backup list main
[[ $rc == 0 ]] || { show "$WORK/list.json"; show "$WORK/list.json.err"; fail "keel backup list main --json exited $rc"; }
[[ $(json_get "$WORK/list.json" 'len(d["backups"])') -ge 1 ]] || fail "no backups listed"
[[ $(json_get "$WORK/list.json" 'd["backups"][0]["id"]') == "$SNAPSHOT" ]] || fail "the newest backup is not $SNAPSHOT"
expect_ok keel backup list main
for text in ID TIME AGE SIZE SHA256 "$SNAPSHOT"; do assert_contains "$WORK/last.out" "$text"; done

step "restore --snapshot and --to another database"
expect_ok keel restore main --snapshot "$SNAPSHOT" --to restored_copy --auto-approve
copy_uri="${DB_URI%/*}/restored_copy"
[[ $(PGCONNECT_TIMEOUT=10 psql "$copy_uri" -XAtq -c "SELECT count(*) FROM items") == 1000 ]] ||
  fail "the restore --to restored_copy does not hold 1000 rows"
expect_rc 1 keel restore main --snapshot no-such-snapshot --auto-approve

step "restore --to is a database name, never a connection string (that would send the password there)"
# Refused before anyone is asked to approve it, and so with --auto-approve
# too (the agent refuses it again: tests/unit/agent_jobs_test.cpp).
expect_rc 2 keel restore main --to "host=127.0.0.2 dbname=restored_copy"
assert_contains "$WORK/last.out" "not a plain database name"
expect_rc 2 keel restore main --to "host=127.0.0.2 dbname=restored_copy" --auto-approve
assert_contains "$WORK/last.out" "not a plain database name"

step "Redis: keys, backup, FLUSHALL, restore"
for i in 1 2 3; do [[ $(redis SET "key$i" "value $i") == OK ]] || fail "redis SET key$i failed"; done
run_json "$WORK/redis-run.json" backup run sessions
[[ $rc == 0 ]] || { show "$WORK/redis-run.json"; show "$WORK/redis-run.json.err"; fail "keel backup run sessions exited $rc"; }
[[ $(redis FLUSHALL) == OK ]] || fail "redis FLUSHALL failed"
[[ -z $(redis GET key2) ]] || fail "FLUSHALL left key2"
expect_ok keel restore sessions --auto-approve
[[ $(redis GET key2) == "value 2" ]] || fail "the restore did not bring back key2 (GET answered '$(redis GET key2)')"

step "drill: passes for a good verify query, exit 1 for a bad one"
expect_ok keel drill main
assert_contains "$WORK/last.out" "Drill main succeeded"
assert_contains "$WORK/last.out" "RTO"
run_json "$WORK/drill.json" drill main
[[ $rc == 0 && $(json_get "$WORK/drill.json" 'd["result"]["verified"]') == True ]] || fail "drill --json did not verify"
expect_ok keel backup run broken
expect_rc 1 keel drill broken
assert_contains "$WORK/last.out" "Drill broken failed"

step "a backup copied under a newer name (by whoever holds the destination) is not taken as the newest"
REPLAY=20991231T235959Z-abcdef
cp "$BACKUPS/main/main/$SNAPSHOT.kdr" "$BACKUPS/main/main/$REPLAY.kdr"
cp "$BACKUPS/main/main/$SNAPSHOT.manifest.json" "$BACKUPS/main/main/$REPLAY.manifest.json"
run_json "$WORK/list3.json" backup list main
[[ $(json_get "$WORK/list3.json" 'd["backups"][0]["id"]') != "$REPLAY" ]] || fail "the replayed copy is listed as the newest"
[[ $(json_get "$WORK/list3.json" '[b["id"] for b in d["backups"]].count("'$REPLAY'")') == 0 ]] || fail "the replayed copy is listed"
run_json "$WORK/restore3.json" restore main --auto-approve
[[ $rc == 0 ]] || { show "$WORK/restore3.json"; show "$WORK/restore3.json.err"; fail "restore with a replayed copy present failed"; }
assert_contains "$WORK/restore3.json" "$SNAPSHOT"
rm "$BACKUPS/main/main/$REPLAY.kdr" "$BACKUPS/main/main/$REPLAY.manifest.json"

step "usage errors: unknown job (exit 2, the jobs named), bad flags"
expect_rc 2 keel backup run nope
assert_contains "$WORK/last.out" "main"
assert_contains "$WORK/last.out" "sessions"
expect_rc 2 keel backup run
expect_rc 2 keel restore main --no-such-flag

step "prune, and a changed job reaches the running agent without a restart"
expect_ok keel backup run main
write_stack 1
expect_rc 2 keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "servers.ops"
assert_contains "$WORK/last.out" "backups"
expect_ok keel apply --auto-approve
expect_ok keel plan --detailed-exitcode
[[ $(head -n1 "$HOST/agent.pid") == "$AGENT_PID" ]] || fail "the agent was restarted to change a job"
[[ $(cat "$HOST/backup.key") == "$KEY" ]] || fail "the backup key changed on apply"
expect_ok keel backup prune main
assert_contains "$WORK/last.out" "Prune main succeeded"
run_json "$WORK/list2.json" backup list main
[[ $(json_get "$WORK/list2.json" 'len(d["backups"])') == 1 ]] || fail "prune with keep_last 1 left $(json_get "$WORK/list2.json" 'len(d["backups"])') backups"
