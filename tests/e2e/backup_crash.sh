#!/usr/bin/env bash
# A backup interrupted by kill -9 of its agent is never listed: the worker
# dies with the agent, the partial object stays unlisted, `keel apply`
# brings the agent back, and the next backup of the job removes what the
# killed one left and is the only one listed.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

new_stack STACK backup-crash
cd "$STACK"
BACKUPS="$WORK/backups"
DATA="$WORK/data"
mkdir -p "$DATA"
# Random bytes do not compress: long enough a backup to be killed in.
head -c 300000000 /dev/urandom >"$DATA/big"
cat >keel.yaml <<YAML
keel: 1
project: e2e-backup-crash
servers:
  ops: {}
backups:
  big:
    source: { files: [$DATA] }
    to: file://$BACKUPS
YAML

step "apply"
expect_ok keel apply --auto-approve
HOST="$STACK/.keel/local/servers/ops"
AGENT_PID=$(cat "$HOST/agent.pid")
kill -0 "$AGENT_PID" || fail "the agent (pid $AGENT_PID) is not running"

step "kill -9 the agent in the middle of a backup"
"$KEEL_BUILD_DIR/keel" backup run big >"$WORK/run.out" 2>&1 &
RUN_PID=$!
wait_until 30 sh -c "ls '$BACKUPS'/big/*.partial-* >/dev/null 2>&1" || fail "the backup never started writing"
WORKER_PIDS=$(pgrep -P "$AGENT_PID" -f keel-dr || true)
[[ -n $WORKER_PIDS ]] || fail "no keel-dr child of the agent while the backup runs"
kill -9 "$AGENT_PID"
if wait "$RUN_PID"; then fail "keel backup run succeeded although its agent was killed"; fi
gone() { local p; for p in $WORKER_PIDS; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
wait_until 10 gone || fail "keel-dr (pid $WORKER_PIDS) outlived its agent"
ls "$BACKUPS"/big/*.partial-* >/dev/null 2>&1 || fail "expected the killed backup's partial file to be left"

step "apply restarts the agent; the listing is empty"
expect_ok keel apply --auto-approve
keel_json backup list big >"$WORK/list.json" || { show "$WORK/list.json"; fail "keel backup list big --json failed"; }
[[ $(json_get "$WORK/list.json" 'len(d["backups"])') == 0 ]] || { show "$WORK/list.json"; fail "a killed backup is listed"; }

step "the next backup cleans up and is the only one listed"
rm -f "$DATA/big"
echo small >"$DATA/small"
expect_ok keel backup run big
ls "$BACKUPS"/big/*.partial-* >/dev/null 2>&1 && fail "the partial file of the killed backup is still there"
[[ $(ls "$BACKUPS"/big | wc -l) == 2 ]] || { ls -la "$BACKUPS/big"; fail "expected one .kdr and one manifest"; }

step "keel restore of a files job: into another directory, never in place"
RESTORED="$WORK/restored"
expect_rc 2 keel restore big --to relative/dir --auto-approve
assert_contains "$WORK/last.out" "absolute path"
expect_rc 2 keel restore big --auto-approve
assert_contains "$WORK/last.out" "give --to DIR"
expect_ok keel restore big --to "$RESTORED" --auto-approve
[[ $(cat "$RESTORED$DATA/small" 2>/dev/null || cat "$RESTORED/small" 2>/dev/null) == small ]] ||
  { find "$RESTORED" | head; fail "the restore --to $RESTORED does not hold small"; }
