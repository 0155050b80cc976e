#!/usr/bin/env bash
# Drift: servers stopped or deleted behind keel's back are seen by refresh
# and plan, and apply brings them back; --replace recreates a healthy one.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

new_stack STACK drift
cd "$STACK"
cat >keel.yaml <<'YAML'
keel: 1
project: e2e-drift
caches:
  sessions:
    engine: redis
  pages:
    engine: memcached
outputs:
  redis_uri: ${caches.sessions.uri}
  memcached_port: ${caches.pages.port}
YAML

step "apply a redis and a memcached cache"
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "Apply complete! Resources: 2 added"
REDIS_URI=$(keel output --raw redis_uri)
MC_PORT=$(keel output --raw memcached_port)
REDIS_DIR="$STACK/.keel/local/caches/sessions"
MC_DIR="$STACK/.keel/local/caches/pages"
[[ -d $REDIS_DIR && -d $MC_DIR ]] || fail "resource directories missing under .keel/local/caches"
[[ $(redis-cli -u "$REDIS_URI" ping 2>/dev/null) == PONG ]] || fail "redis does not answer after apply"
port_open "$MC_PORT" || fail "memcached does not listen on $MC_PORT after apply"

step "kill redis behind keel's back"
[[ -s $REDIS_DIR/redis.pid ]] || fail "no redis.pid in $REDIS_DIR"
REDIS_PID=$(head -n1 "$REDIS_DIR/redis.pid")
pid_alive "$REDIS_PID" || fail "redis pid $REDIS_PID from redis.pid is not alive"
kill -9 "$REDIS_PID"
wait_until 10 bash -c "! ps -o stat= -p $REDIS_PID | grep -qv Z" || fail "redis $REDIS_PID did not die"

step "refresh reports the drift"
expect_ok keel refresh
cp "$WORK/last.out" "$WORK/refresh.out"
assert_contains "$WORK/refresh.out" "caches.sessions" "refresh does not name caches.sessions as drifted"
assert_contains "$WORK/refresh.out" "running" "refresh does not say that \`running\` changed"
assert_not_contains "$WORK/refresh.out" "caches.pages:" "refresh reports drift of the untouched memcached"

step "plan shows that running must go back to true"
expect_rc 2 keel plan --detailed-exitcode
cp "$WORK/last.out" "$WORK/plan1.out"
assert_contains "$WORK/plan1.out" "caches.sessions"
assert_contains "$WORK/plan1.out" "running"
assert_contains "$WORK/plan1.out" "update in place"

step "apply brings redis back"
expect_ok keel apply --auto-approve
REDIS_URI=$(keel output --raw redis_uri)
[[ $(redis-cli -u "$REDIS_URI" ping 2>/dev/null) == PONG ]] || fail "redis does not answer after the converging apply"
expect_ok keel plan --detailed-exitcode

step "stop memcached and delete its directory"
MC_PID=$(head -n1 "$MC_DIR/run/memcached.pid" 2>/dev/null) || fail "no memcached pid file in $MC_DIR/run"
pid_alive "$MC_PID" || fail "memcached pid $MC_PID is not alive"
kill "$MC_PID"
wait_until 10 bash -c "! ps -o stat= -p $MC_PID | grep -qv Z" || fail "memcached $MC_PID did not stop"
rm -rf "$MC_DIR"

expect_rc 2 keel plan --detailed-exitcode
cp "$WORK/last.out" "$WORK/plan2.out"
grep -Eq '^\s*\+ caches\.pages \(create\)' "$WORK/plan2.out" ||
  { show "$WORK/plan2.out"; fail "plan does not say caches.pages will be created again"; }
assert_contains "$WORK/plan2.out" "deleted outside keel"
assert_not_contains "$WORK/plan2.out" "caches.sessions (" "plan touches the healthy redis"

step "apply creates it again"
expect_ok keel apply --auto-approve
MC_PORT=$(keel output --raw memcached_port)
port_open "$MC_PORT" || fail "memcached does not listen on $MC_PORT after apply"
expect_ok keel plan --detailed-exitcode

step "--replace recreates a healthy redis, through a saved plan"
expect_rc 1 keel plan --replace caches.nope
assert_contains "$WORK/last.out" "--replace caches.nope"
expect_rc 1 keel destroy --replace caches.sessions --auto-approve
OLD_PID=$(head -n1 "$REDIS_DIR/redis.pid")
pid_alive "$OLD_PID" || fail "destroy --replace touched redis"
expect_ok keel plan --replace caches.sessions --out replace.plan
assert_contains "$WORK/last.out" "caches.sessions (replace, as requested)"
assert_contains "$WORK/last.out" "Plan: 1 to add, 0 to change, 1 to destroy."
keel_json show replace.plan >replace.json || { show replace.json; fail "keel show replace.plan --json failed"; }
[[ $(json_get replace.json '[c["replace_requested"] for c in d["changes"] if c["action"] != "no-op"]') == "[True]" ]] ||
  { show replace.json; fail "the saved plan does not mark caches.sessions as replace_requested"; }
expect_ok keel apply replace.plan </dev/null
assert_contains "$WORK/last.out" "Apply complete! Resources: 1 added, 0 changed, 1 destroyed."
wait_until 10 bash -c "! ps -o stat= -p $OLD_PID | grep -qv Z" || fail "the replaced redis $OLD_PID still runs"
[[ $(head -n1 "$REDIS_DIR/redis.pid") != "$OLD_PID" ]] || fail "redis.pid still names the replaced redis"
REDIS_URI=$(keel output --raw redis_uri)
[[ $(redis-cli -u "$REDIS_URI" ping 2>/dev/null) == PONG ]] || fail "the new redis does not answer"
expect_ok keel plan --detailed-exitcode

step "destroy"
expect_ok keel destroy --auto-approve
wait_until 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$MC_PORT) 2>/dev/null" || fail "memcached port $MC_PORT still open after destroy"
