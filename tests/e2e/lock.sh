#!/usr/bin/env bash
# State locking: a second keel is refused with exit 3 and a message naming
# the holder while an apply runs; the lock goes with the holder, even when it
# is killed with SIGKILL.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

OUT="$WORK/out"
mkdir -p "$OUT"
new_stack STACK lock
cd "$STACK"
write_stack() {
  cat >keel.yaml <<YAML
keel: 1
project: e2e-lock
providers:
  ex: { type: example, root: "$OUT" }
files:
  slow:
    provider: ex
    path: slow.txt
    content: "$1"
    delay: 5s
YAML
}
write_stack "one"

# Waits until keel PID holds the lock and has written itself into it.
wait_for_holder() {
  wait_until 20 bash -c "grep -q '\"pid\": *$1\\b' .keel/state.lock 2>/dev/null" ||
    fail "keel (pid $1) did not take the lock within 20 s: $(cat .keel/state.lock 2>/dev/null)"
}

step "a plan while an apply holds the lock exits 3 and names the holder"
"$KEEL" apply --auto-approve >"$WORK/apply1.out" 2>&1 &
APPLY=$!
bg_started
wait_for_holder "$APPLY"
expect_rc 3 keel plan
cp "$WORK/last.out" "$WORK/locked.out"
assert_contains "$WORK/locked.out" "pid $APPLY" "the lock message does not name the holder's pid $APPLY"
assert_contains "$WORK/locked.out" "keel apply" "the lock message does not say the holder is \`keel apply\`"
expect_rc 3 keel state list
expect_rc 3 keel apply --auto-approve
pid_alive "$APPLY" || fail "the apply ended before the checks were done (5 s delay too short?)"

step "after the apply finishes, plan works"
rc=0
wait "$APPLY" || rc=$?
[[ $rc == 0 ]] || { show "$WORK/apply1.out"; fail "the background apply exited $rc"; }
[[ $(cat "$OUT/slow.txt") == one ]] || fail "the background apply did not write slow.txt"
expect_ok keel plan --detailed-exitcode --no-refresh
assert_contains "$WORK/last.out" "No changes"

step "kill -9 of the lock holder releases the lock at once"
write_stack "two"
"$KEEL" apply --auto-approve >"$WORK/apply2.out" 2>&1 &
APPLY=$!
bg_started
wait_for_holder "$APPLY"
expect_rc 3 keel plan --no-refresh
pid_alive "$APPLY" || fail "the apply ended before it could be killed"
{ kill -9 "$APPLY"; wait "$APPLY"; } 2>/dev/null || true
start=$SECONDS
rc=0
keel plan --no-refresh >"$WORK/after-kill.out" 2>&1 || rc=$?
[[ $rc == 0 ]] || { show "$WORK/after-kill.out"; fail "keel plan right after the holder was killed exited $rc, expected 0"; }
assert_not_contains "$WORK/after-kill.out" "locked"
((SECONDS - start <= 5)) || fail "keel plan after the kill took $((SECONDS - start)) s: it waited for the lock"

step "and the next apply finishes the job"
expect_ok keel apply --auto-approve
[[ $(cat "$OUT/slow.txt") == two ]] || fail "slow.txt was not rewritten"
