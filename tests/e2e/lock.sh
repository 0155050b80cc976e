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

step "--lock-timeout waits for the holder, saying who it is, then goes on"
expect_ok keel --lock-timeout 60s plan --no-refresh
assert_contains "$WORK/last.out" "Waiting for the state lock"
assert_contains "$WORK/last.out" "pid $APPLY"
pid_alive "$APPLY" && fail "plan --lock-timeout returned while the apply still held the lock"

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

# Issue 14, item 4: a repository can commit `.keel/state.lock` as a link, and
# taking the lock truncated whatever it pointed to.
step "a state.lock that is a symbolic link is refused, and its target left alone"
echo "precious content" >"$WORK/precious"
rm -f .keel/state.lock
ln -s "$WORK/precious" .keel/state.lock
expect_rc 1 keel plan --no-refresh
assert_contains "$WORK/last.out" "state.lock is a symbolic link"
[[ $(cat "$WORK/precious") == "precious content" ]] || fail "keel wrote through the state.lock link: $(cat "$WORK/precious")"
rm .keel/state.lock

step "a .keel that is a link, or that others can write, is refused with what to do"
mv .keel "$WORK/moved-keel"
ln -s "$WORK/moved-keel" .keel
expect_rc 1 keel plan --no-refresh
assert_contains "$WORK/last.out" ".keel is a symbolic link"
assert_contains "$WORK/last.out" "mount --bind"
rm .keel
mv "$WORK/moved-keel" .keel
chmod 0777 .keel
expect_rc 1 keel plan --no-refresh
assert_contains "$WORK/last.out" "chmod go-w"
chmod 0755 .keel
expect_ok keel plan --no-refresh --detailed-exitcode
