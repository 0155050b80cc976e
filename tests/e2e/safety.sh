#!/usr/bin/env bash
# Safety (issue 13), on the local provider with a real PostgreSQL whose data
# must survive every edit: a row is inserted first and checked after each
# step. Covers the deletes a user reported (a lowered count, a removed cache
# that depended on another), `state mv` and `moved:` keeping the graph, the
# state bound to its stack, lifecycle.prevent_destroy and the data-loss
# lines, the questions of restore and state rm, and Ctrl-C during apply.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

new_stack STACK safety
cd "$STACK"

write_stack() {  # write_stack WEB_COUNT [EXTRA_YAML]
  cat >keel.yaml <<YAML
keel: 1
project: e2e-safety
databases:
  main: { engine: postgres, user: app }
caches:
  a: { engine: redis }
  b: { engine: memcached, depends_on: [caches.a] }
servers:
  web: { count: $1 }
checks:
  database: { on: servers.web, postgres: "\${databases.main.uri}", query: SELECT 1 }
outputs:
  db_uri: { value: "\${databases.main.uri}", sensitive: true }
${2:-}
YAML
}

rows() { psql "$(keel output --raw db_uri)" -Atc 'select count(*) from keepme' 2>&1; }
expect_rows() {  # expect_rows WHEN
  local n
  n=$(rows)
  [[ $n == 1 ]] || fail "after $1 the database lost its row (count: $n)"
}

step "an invalid stack under --json is one JSON document, for every command"
mkdir -p "$WORK/broken"
printf 'keel: 1\nproject: broken\ndatabases:\n  main: { engin: postgres }\n' >"$WORK/broken/keel.yaml"
for cmd in validate plan apply destroy refresh; do
  rc=0
  (cd "$WORK/broken" && "$KEEL" "$cmd" --json >"$WORK/broken.json" 2>/dev/null) || rc=$?
  [[ $rc == 1 ]] || fail "keel $cmd --json on an invalid stack exited $rc, expected 1"
  python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read()); assert d["valid"] is False and d["diagnostics"][0]["line"] == 4' \
    "$WORK/broken.json" || { show "$WORK/broken.json"; fail "keel $cmd --json: not exactly one document with the diagnostics"; }
done
[[ ! -e $WORK/broken/.keel ]] || fail "an invalid stack left a .keel directory behind"

step "apply: a database, two caches, two servers with a check on the database"
write_stack 2
expect_ok keel apply --auto-approve
psql "$(keel output --raw db_uri)" -qc 'create table keepme (v text); insert into keepme values ($$precious$$)' >/dev/null
expect_rows "the first apply"

step "lowering the count deletes servers.web[1] only"
write_stack 1
expect_rc 2 keel plan --detailed-exitcode
cp "$WORK/last.out" "$WORK/count.plan"
assert_contains "$WORK/count.plan" "- servers.web[1] (delete)"
assert_not_contains "$WORK/count.plan" "databases.main" "the plan touches the database a deleted server depended on"
assert_contains "$WORK/count.plan" "Plan: 0 to add, 0 to change, 1 to destroy."
expect_ok keel apply --auto-approve
expect_rows "lowering the count"
expect_ok keel plan --detailed-exitcode

step "removing caches.b (which depends on caches.a) deletes caches.b only"
sed -i '/^  b: /d' keel.yaml
expect_rc 2 keel plan --detailed-exitcode
cp "$WORK/last.out" "$WORK/cache.plan"
assert_contains "$WORK/cache.plan" "- caches.b (delete)"
assert_not_contains "$WORK/cache.plan" "caches.a" "removing caches.b plans a change to caches.a"
assert_contains "$WORK/cache.plan" "caches.b holds data: deleting it loses the data in it"
expect_ok keel apply --auto-approve
expect_rows "removing caches.b"

step "keel state mv keeps the dependencies: a targeted destroy follows the moved server"
expect_ok keel state mv servers.web servers.app
sed -i 's/^  web: /  app: /; s/on: servers.web/on: servers.app/' keel.yaml
expect_ok keel plan --detailed-exitcode
keel state show 'servers.app[0]' --json >"$WORK/app.json"
[[ $(jq -r '.dependencies | join(",")' "$WORK/app.json") == "databases.main" ]] ||
  { show "$WORK/app.json"; fail "servers.app[0] lost its dependency on databases.main"; }
keel_json plan --destroy --target databases.main --no-refresh >"$WORK/target.json"
[[ $(jq -r '[.changes[] | select(.action=="delete") | .address] | sort | join(",")' "$WORK/target.json") == "databases.main,servers.app[0]" ]] ||
  { show "$WORK/target.json"; fail "destroy --target databases.main does not take the moved server that depends on it"; }

step "moved: renames in the plan, and nothing is deleted"
sed -i 's/^  main: /  primary: /; s/databases\.main/databases.primary/g' keel.yaml
printf 'moved:\n  - { from: databases.main, to: databases.primary }\n' >>keel.yaml
expect_rc 2 keel plan --detailed-exitcode
cp "$WORK/last.out" "$WORK/moved.plan"
assert_contains "$WORK/moved.plan" "databases.main has moved to databases.primary"
assert_not_contains "$WORK/moved.plan" "(delete)" "a moved: entry plans a delete"
assert_not_contains "$WORK/moved.plan" "(create)" "a moved: entry plans a create"
expect_ok keel apply --auto-approve
expect_ok keel plan --detailed-exitcode
expect_rows "moving the database with moved:"

step "a changed check is its own line, the database URI stays masked"
sed -i 's/query: SELECT 1/query: SELECT 2/' keel.yaml
expect_rc 2 keel plan --detailed-exitcode
cp "$WORK/last.out" "$WORK/check.plan"
assert_contains "$WORK/check.plan" 'checks.database.query : "SELECT 1" -> "SELECT 2"'
assert_not_contains "$WORK/check.plan" "postgresql://" "the plan shows the database URI"
keel_json plan >"$WORK/check.json"
[[ $(jq -r '.changes[] | select(.address=="servers.app[0]") | .attributes[] | select(.name=="checks") | .changes[0].path' "$WORK/check.json") == "checks.database.query" ]] ||
  { show "$WORK/check.json"; fail "plan --json does not diff the checks map by key"; }
grep -q 'postgresql://' "$WORK/check.json" && fail "plan --json shows the database URI"
expect_ok keel apply --auto-approve

step "the state belongs to its stack: another project, another stack file"
sed 's/^project: e2e-safety/project: someone-else/' keel.yaml >other.yaml
expect_rc 1 keel -f other.yaml plan
assert_contains "$WORK/last.out" "project \`e2e-safety\`"
assert_contains "$WORK/last.out" "project \`someone-else\`"
assert_not_contains "$WORK/last.out" "(delete)"
sed -i 's/^project: someone-else/project: e2e-safety/' other.yaml
expect_rc 1 keel -f other.yaml plan
assert_contains "$WORK/last.out" "keel.yaml"
assert_contains "$WORK/last.out" "other.yaml"
rm other.yaml

step "prevent_destroy: a replace or destroy of the protected database is refused"
sed -i 's/^  primary: { engine: postgres, user: app }/  primary: { engine: postgres, user: app, lifecycle: { prevent_destroy: true } }/' keel.yaml
expect_ok keel plan --detailed-exitcode
sed -i 's/user: app,/user: app2,/' keel.yaml
expect_rc 1 keel plan
assert_contains "$WORK/last.out" "databases.primary has lifecycle.prevent_destroy set"
assert_contains "$WORK/last.out" "keel.yaml:"
sed -i 's/user: app2,/user: app,/' keel.yaml
expect_rc 1 keel destroy --auto-approve
assert_contains "$WORK/last.out" "prevent_destroy"
expect_rows "a refused destroy"
sed -i 's/, lifecycle: { prevent_destroy: true }//' keel.yaml
keel plan --destroy >"$WORK/destroy.plan"
assert_contains "$WORK/destroy.plan" "databases.primary holds data: deleting it loses the data in it"
assert_contains "$WORK/destroy.plan" "Data will be lost in:"

step "keel restore asks before it overwrites, and needs --auto-approve without a terminal"
cat >>keel.yaml <<YAML
backups:
  main:
    source: databases.primary
    schedule: "0 3 * * *"
    to: "file://$WORK/backups"
    retention: { keep_last: 3 }
YAML
expect_ok keel apply --auto-approve
expect_ok keel backup run main
expect_rc 1 keel restore main </dev/null
assert_contains "$WORK/last.out" "--auto-approve"
assert_contains "$WORK/last.out" "would overwrite the PostgreSQL database"
expect_rows "a restore nobody approved"
expect_ok keel restore main --auto-approve
expect_rows "an approved restore"

step "keel state rm of what still exists asks, and needs --auto-approve without a terminal"
expect_rc 1 keel state rm caches.a </dev/null
assert_contains "$WORK/last.out" "still exist"
keel state list >"$WORK/list.out"
assert_contains "$WORK/list.out" "caches.a"

step "Ctrl-C during apply: what is in flight finishes, nothing new starts, state is saved"
mkdir -p slow
cat >>keel.yaml <<'YAML'
providers:
  files: { type: example }
files:
  slow: { provider: files, count: 12, path: "slow/f${count.index}", delay: 1s }
YAML
# keel itself, not the `keel` function, so that the signal reaches it. SIGTERM:
# a non-interactive shell starts background jobs with SIGINT ignored, and
# keel keeps an ignored SIGINT ignored (as a background job should); the
# two take the same path once they arrive.
"$KEEL" apply --auto-approve --parallelism 2 >"$WORK/interrupted.out" 2>&1 &
APPLY=$!
bg_started
wait_until 30 grep -q "Creating" "$WORK/interrupted.out" || { show "$WORK/interrupted.out"; fail "the slow apply did not start"; }
sleep 1.5
kill -TERM "$APPLY"
rc=0
wait "$APPLY" || rc=$?
[[ $rc == 130 ]] || { show "$WORK/interrupted.out"; fail "an interrupted apply exited $rc, not 130"; }
assert_contains "$WORK/interrupted.out" "Interrupt received"
assert_contains "$WORK/interrupted.out" "Interrupted:"
assert_contains "$WORK/interrupted.out" "state saved"
in_state=$(keel state list | grep -c '^files.slow' || true)
on_disk=$(ls slow | wc -l)
[[ $in_state == "$on_disk" && $in_state -gt 0 && $in_state -lt 12 ]] ||
  fail "after Ctrl-C: $in_state files in state, $on_disk on disk (expected the same, between 1 and 11)"
expect_ok keel apply --auto-approve
[[ $(ls slow | wc -l) == 12 ]] || fail "the apply after an interrupted one did not finish the files"
expect_ok keel plan --detailed-exitcode
expect_rows "the end"
