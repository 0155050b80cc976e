#!/usr/bin/env bash
# Backups to S3 (s3rver) and over SFTP (sshd), both on 127.0.0.1, through
# the whole path: the stack's `to:` with its `s3:`/`sftp:` settings, keel
# apply, the agent, keel-dr. A PostgreSQL table is dropped and restored from
# each; awscli lists what keel stored in the bucket; the S3 keys come from
# keel's environment (AWS_*) and never reach state in clear.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

SUPPORT="$KEEL_SOURCE_DIR/tests/support"
S3DIR="$WORK/s3"
SSHDIR="$WORK/sshd"
mkdir -p "$S3DIR" "$SSHDIR"

step "start s3rver and sshd"
"$SUPPORT/start-s3.sh" "$S3DIR" >/dev/null || fail "start-s3.sh failed"
"$SUPPORT/start-sshd.sh" "$SSHDIR" >/dev/null || fail "start-sshd.sh failed"
# e2e_cleanup kills these before it checks that nothing of ours outlived the test.
E2E_BG_PIDS+=("$(cat "$S3DIR/s3.pid")" "$(cat "$SSHDIR/sshd.pid")")
# shellcheck disable=SC1091
source "$S3DIR/s3.env"
# shellcheck disable=SC1091
source "$SSHDIR/sshd.env"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

new_stack STACK backup-remote
cd "$STACK"
cat >keel.yaml <<YAML
keel: 1
project: e2e-backup-remote
databases:
  main: {}
servers:
  ops: {}
backups:
  to-s3:
    source: databases.main
    to: s3://$S3_BUCKET/e2e
    s3: { endpoint: "$S3_ENDPOINT", region: $S3_REGION, path_style: true }
  to-sftp:
    source: databases.main
    to: sftp://$SSH_TEST_USER@127.0.0.1:$SSH_TEST_PORT$WORK/sftp-store
    sftp: { key: $SSH_TEST_KEY, known_hosts: $SSH_TEST_KNOWN_HOSTS }
outputs:
  db_uri: \${databases.main.uri}
YAML

step "apply"
expect_ok keel apply --auto-approve
grep -qF "$AWS_SECRET_ACCESS_KEY\"" "$STACK/.keel/state.json" && fail "the S3 secret is in state in clear"
DB_URI=$(keel output --raw db_uri) || fail "keel output --raw db_uri failed"
sql() { PGCONNECT_TIMEOUT=10 psql "$DB_URI" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
sql "CREATE TABLE items (id int primary key); INSERT INTO items SELECT generate_series(1, 1000);" >/dev/null

for job in to-s3 to-sftp; do
  step "$job: backup, drop, restore, count"
  expect_ok keel backup run "$job"
  sql "DROP TABLE items;" >/dev/null
  expect_ok keel restore "$job" --auto-approve
  [[ $(sql "SELECT count(*) FROM items") == 1000 ]] || fail "$job: the restore does not hold 1000 rows"
  keel_json backup list "$job" >"$WORK/$job.json" || fail "keel backup list $job failed"
  [[ $(json_get "$WORK/$job.json" 'len(d["backups"])') == 1 ]] || { show "$WORK/$job.json"; fail "$job: expected one backup"; }
done

step "awscli lists what keel stored in the bucket"
AWS=/usr/bin/aws
[[ -x $AWS ]] || AWS=$(command -v aws)
"$AWS" --endpoint-url "$S3_ENDPOINT" --region "$S3_REGION" s3 ls --recursive "s3://$S3_BUCKET/e2e/" >"$WORK/ls.out" ||
  { show "$WORK/ls.out"; fail "aws s3 ls failed"; }
grep -q 'e2e/to-s3/.*\.kdr$' "$WORK/ls.out" || { show "$WORK/ls.out"; fail "aws s3 ls does not show the backup's data"; }
grep -q 'e2e/to-s3/.*\.manifest\.json$' "$WORK/ls.out" || { show "$WORK/ls.out"; fail "aws s3 ls does not show the manifest"; }
ls "$WORK"/sftp-store/to-sftp/*.kdr >/dev/null || fail "no data file in the SFTP directory"
