#!/usr/bin/env bash
# State in PostgreSQL (docs/backends.md), against a real PostgreSQL 15 this
# test starts: two checkouts share one state and one lock; kill -9 during
# applies and a connection the server ends mid-apply lose nothing; the
# history reads back; migrate local -> postgres -> local keeps the plan
# empty; bad URLs, passwords and a stranded local state are refused with a
# clear error that never shows the password.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

start_postgres
export KEEL_PG_URL=$E2E_PG_URL
# Both checkouts open the sealed values with one key, as a team shares it.
export KEEL_STATE_KEY=e2e-backend-passphrase

OUT="$WORK/out"
mkdir -p "$OUT"
N=8
write_stack() {  # write_stack CONTENT DELAY
  {
    cat <<YAML
keel: 1
project: e2e-pg
backend:
  postgres: "\${env.KEEL_PG_URL}"
providers:
  ex: { type: example, root: "$OUT" }
files:
YAML
    for i in $(seq 1 "$N"); do
      echo "  f$i: { provider: ex, path: f$i.txt, content: \"$1 $i\", delay: $2 }"
    done
  } >keel.yaml
}

new_stack A checkout-a
new_stack B checkout-b

step "apply from one checkout; the other plans nothing: one shared state"
cd "$A"
write_stack one 0s
expect_ok keel apply --auto-approve
[[ $(psql_keel "SELECT count(*) FROM keel.states WHERE state_key = 'e2e-pg'") == 1 ]] ||
  fail "keel.states does not hold one saved state for e2e-pg"
[[ $(psql_keel "SELECT count(*) FROM keel.journal") == 0 ]] || fail "the journal was not emptied by the save"
[[ ! -e .keel/state.json ]] || fail "a PostgreSQL-backed apply wrote .keel/state.json"
cd "$B"
write_stack one 0s
expect_ok keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "No changes"

step "the password never reaches the output, the state or argv"
keel_json state list >"$WORK/list.json"
for f in "$WORK"/*.out "$WORK/list.json"; do
  assert_not_contains "$f" "$E2E_PG_PASSWORD" "$f shows the database password"
done
! psql_keel "SELECT body FROM keel.states" | grep -q "$E2E_PG_PASSWORD" || fail "the stored state holds the password"

step "a second keel is refused with exit 3 while an apply holds the lock, naming it"
cd "$A"
write_stack two 2s
# Through KEEL_BACKEND (the same database), to see that it stays with keel.
KEEL_BACKEND=$E2E_PG_URL "$KEEL" apply --auto-approve --parallelism 1 >"$WORK/slow-apply.out" 2>&1 &
APPLY=$!
bg_started
export -f psql_keel
export E2E_PG_PASSWORD E2E_PG_PORT
wait_until 20 bash -c "psql_keel \"SELECT holder FROM keel.locks WHERE state_key = 'e2e-pg'\" | grep -q '\"pid\":$APPLY'" ||
  fail "the apply (pid $APPLY) did not record itself as the lock holder within 20 s"
cd "$B"
write_stack two 2s
expect_rc 3 keel plan
assert_contains "$WORK/last.out" "pid $APPLY" "the lock message does not name the holder's pid"
assert_contains "$WORK/last.out" "PostgreSQL 127.0.0.1:$E2E_PG_PORT/keel"

step "KEEL_BACKEND and the variable the backend URL reads (they hold the password) never reach a plugin"
plugin=$(pgrep -P "$APPLY" -f keel-provider-example | head -1 || true)
[[ -n $plugin ]] || fail "no keel-provider-example runs under the apply (pid $APPLY)"
! tr '\0' '\n' <"/proc/$plugin/environ" | grep -q '^KEEL_BACKEND=' || fail "the plugin's environment holds KEEL_BACKEND"
! tr '\0' '\n' <"/proc/$plugin/environ" | grep -q '^KEEL_PG_URL=' || fail "the plugin's environment holds KEEL_PG_URL, which the stack's backend URL reads"

step "kill -9 of the holder: the lock goes at once, and nothing recorded is lost"
pid_alive "$APPLY" || fail "the apply ended before it could be killed"
sleep 1
{ kill -9 "$APPLY"; wait "$APPLY"; } 2>/dev/null || true
start=$SECONDS
expect_ok keel plan
((SECONDS - start <= 10)) || fail "keel plan after the kill took $((SECONDS - start)) s: the lock outlived its holder"

step "kill -9 again and again during applies from both checkouts, then a final apply converges"
killed=0
for round in 1 2 3 4; do
  if ((round % 2)); then cd "$A"; else cd "$B"; fi
  write_stack "round$round" 300ms
  apply_killed_after $((400 + round * 250)) "$WORK/killed-$round.out" --parallelism 2
  [[ $KILL_RC == 137 ]] && killed=$((killed + 1))
done
((killed >= 2)) || fail "only $killed of 4 applies were killed mid-way: the delays are too short to test anything"
cd "$A"
write_stack final 0s
expect_ok keel apply --auto-approve
expect_ok keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "No changes"
for i in $(seq 1 "$N"); do
  [[ $(cat "$OUT/f$i.txt") == "final $i" ]] || fail "f$i.txt holds '$(cat "$OUT/f$i.txt")', not 'final $i'"
done
[[ $(keel state list | wc -l) == "$N" ]] || fail "the state does not list exactly $N resources: $(keel state list)"
[[ $(psql_keel "SELECT count(*) FROM keel.journal") == 0 ]] || fail "the journal was not emptied by the final save"

step "the history reads back: serials, commands, who"
expect_ok keel state history
assert_contains "$WORK/last.out" "keel apply"
keel_json state history >"$WORK/history.json"
serials=$(jq -r '.history | length' "$WORK/history.json")
((serials >= 2)) || fail "the history holds $serials states, expected at least 2 (the first apply, the last)"
newest=$(jq -r '.history[0].serial' "$WORK/history.json")
expect_ok keel state show --serial 1 files.f1
assert_contains "$WORK/last.out" "one 1"

step "the server ends keel's connection mid-apply: keel stops, the lock is released, the next apply converges"
write_stack dropped 4s
# --parallelism 8: records queue behind the batch that fails, and the save
# after the failure must not wait for them.
"$KEEL" apply --auto-approve --parallelism 8 >"$WORK/dropped.out" 2>&1 &
APPLY=$!
bg_started
sleep 3
pid_alive "$APPLY" || { show "$WORK/dropped.out"; fail "the apply ended before its connection could be dropped"; }
PGPASSWORD=$E2E_PG_PASSWORD psql -X -q -At -h 127.0.0.1 -p "$E2E_PG_PORT" -U postgres -d postgres \
  -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'keel' AND pid <> pg_backend_pid()" >/dev/null
rc=0
timeout 60 tail --pid="$APPLY" -f /dev/null || fail "keel did not stop within 60 s after its connection was ended"
wait "$APPLY" || rc=$?
[[ $rc != 0 ]] || { show "$WORK/dropped.out"; fail "the apply exited 0 although its state connection was ended"; }
assert_contains "$WORK/dropped.out" "record the change"
assert_not_contains "$WORK/dropped.out" "$E2E_PG_PASSWORD"
expect_ok keel apply --auto-approve
for i in $(seq 1 "$N"); do
  [[ $(cat "$OUT/f$i.txt") == "dropped $i" ]] || fail "f$i.txt holds '$(cat "$OUT/f$i.txt")' after the final apply"
done
expect_ok keel plan --detailed-exitcode

step "the state key: never made for a shared state, a wrong one refused even with nothing sealed"
D=$WORK/checkout-d
mkdir -p "$D"
cp keel.yaml "$D/"
(cd "$D" && KEEL_STATE_KEY= "$KEEL" plan >"$WORK/nokey.out" 2>&1) && fail "a plan without any state key worked"
assert_contains "$WORK/nokey.out" "KEEL_STATE_KEY"
[[ ! -e $D/.keel/state.key ]] || fail "keel made a state key for a state kept in PostgreSQL"
(cd "$D" && KEEL_STATE_KEY=another-passphrase "$KEEL" plan >"$WORK/wrongkey.out" 2>&1) &&
  fail "a plan with another state key worked"
assert_contains "$WORK/wrongkey.out" "another state key"

step "bad input: wrong password, unreachable server, a password on the command line, a bad URL"
KEEL_PG_URL="postgresql://keel:wrong-$RANDOM@127.0.0.1:$E2E_PG_PORT/keel" expect_rc 1 keel plan
assert_contains "$WORK/last.out" "password authentication failed"
KEEL_PG_URL="postgresql://keel@127.0.0.1:1/keel" expect_rc 1 keel plan
assert_contains "$WORK/last.out" "PostgreSQL 127.0.0.1:1/keel"
expect_rc 1 keel --backend "postgresql://keel:$E2E_PG_PASSWORD@127.0.0.1:$E2E_PG_PORT/keel" plan
assert_contains "$WORK/last.out" "PGPASSWORD"
assert_not_contains "$WORK/last.out" "$E2E_PG_PASSWORD"
KEEL_BACKEND="mysql://keel:$E2E_PG_PASSWORD@x/y" expect_rc 1 keel plan
assert_contains "$WORK/last.out" "KEEL_BACKEND"
assert_not_contains "$WORK/last.out" "$E2E_PG_PASSWORD"
KEEL_PG_URL="" expect_rc 1 keel plan
assert_contains "$WORK/last.out" "backend.postgres"
# A password with an unencoded @ or / would put part of it in the host or port.
KEEL_PG_URL="postgresql://keel:Sec@$E2E_PG_PASSWORD@127.0.0.1:$E2E_PG_PORT/keel" expect_rc 1 keel plan
assert_contains "$WORK/last.out" "percent-encode"
assert_not_contains "$WORK/last.out" "$E2E_PG_PASSWORD"
# The fence holds for the state backend too.
KEEL_ALLOWED_NETWORKS=127.0.0.2/32 expect_rc 1 keel plan
assert_contains "$WORK/last.out" "KEEL_ALLOWED_NETWORKS"
# ... also for the host libpq would take from its environment.
KEEL_ALLOWED_NETWORKS=127.0.0.1/32 PGHOSTADDR=127.0.0.3 expect_rc 1 keel plan
assert_contains "$WORK/last.out" "127.0.0.3"
KEEL_ALLOWED_NETWORKS=127.0.0.1/32 PGSERVICE=elsewhere expect_rc 1 keel plan
assert_contains "$WORK/last.out" "service"
expect_ok keel plan --detailed-exitcode

step "migrate postgres -> local -> postgres, the plan empty at every step"
expect_ok keel state migrate --from backend --to local
KEEL_BACKEND=local expect_ok keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "No changes"
# The backend's copy is retired: a run that still chooses it refuses.
expect_rc 1 keel plan
assert_contains "$WORK/last.out" "migrated"
KEEL_BACKEND=local expect_ok keel apply --auto-approve
expect_ok keel state migrate --from local --to backend
[[ -e .keel/state.json.migrated && ! -e .keel/state.json ]] || fail "the local state was not retired after the migration"
expect_ok keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "No changes"
KEEL_BACKEND=local expect_rc 1 keel plan
assert_contains "$WORK/last.out" "migrated"
# Back and forth at one serial: the place migrated back to is the state
# again (its mark cleared although nothing was copied).
expect_ok keel state migrate --from backend --to local
expect_ok keel state migrate --from local --to backend
expect_ok keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "No changes"
# One place named twice (with and without its password) is refused, not
# copied onto itself and then retired.
expect_rc 1 keel state migrate --from backend --to "postgresql://keel@127.0.0.1:$E2E_PG_PORT/keel"
assert_contains "$WORK/last.out" "same place"

step "a stack that gains backend: while its state is local is refused, not planned as all new"
new_stack C checkout-c
cd "$C"
cat >keel.yaml <<YAML
keel: 1
project: e2e-pg-c
providers:
  ex: { type: example, root: "$OUT/c" }
files:
  one: { provider: ex, path: one.txt, content: one }
YAML
expect_ok keel apply --auto-approve
printf 'backend:\n  postgres: "${env.KEEL_PG_URL}"\n' >>keel.yaml
expect_rc 1 keel plan
assert_contains "$WORK/last.out" "keel state migrate --from local --to backend"
expect_ok keel state migrate --from local --to backend
expect_ok keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "No changes"
expect_ok keel destroy --auto-approve
cd "$A"

step "destroy through the backend"
expect_ok keel destroy --auto-approve
[[ -z $(ls "$OUT" | grep -v '^c$') ]] || fail "destroy left files: $(ls "$OUT")"
