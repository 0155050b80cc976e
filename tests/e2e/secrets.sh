#!/usr/bin/env bash
# Secrets never leak: a planted secret (a sensitive variable from the
# environment, and the same read straight with ${env.X}, which is sensitive
# by default) and a generated PostgreSQL password must appear in no file
# under .keel, no plan file, no log (even at KEEL_LOG=debug) and no process's
# argv, while every command of a full lifecycle runs. The only ways to see
# them are the file a resource writes on purpose and `keel output NAME`.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

SECRET="S3cr3t-$RANDOM-planted"
export PLANTED_TOKEN=$SECRET
export KEEL_LOG=debug
MANAGED="$WORK/managed"
mkdir -p "$MANAGED"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
new_stack STACK secrets
cd "$STACK"
cat >keel.yaml <<YAML
keel: 1
project: e2e-secrets
variables:
  token: { sensitive: true, env: PLANTED_TOKEN }
providers:
  ex: { type: example, root: "$MANAGED" }
files:
  # The secret rides along with the resource; the file itself holds none.
  vault:
    provider: ex
    path: vault.txt
    content: "no secret in here"
    sensitive_content: \${var.token}
  # This file's purpose is to hold the secret: the one allowed copy on disk.
  written:
    provider: ex
    path: written.txt
    content: \${var.token}
  # The same, read from the environment directly: sensitive without saying so.
  from_env:
    provider: ex
    path: from-env.txt
    content: \${env.PLANTED_TOKEN}
  # Not sensitive, but made from a secret-holding resource: only its hash.
  derived:
    provider: ex
    path: derived.txt
    content: "hash \${files.written.sha256}"
databases:
  db:
    engine: postgres
outputs:
  token: \${var.token}
  vault_secret: \${files.vault.sensitive_content}
  db_password: \${databases.db.password}
  db_port: \${databases.db.port}
  env_token: \${env.PLANTED_TOKEN}
  home: \${nonsensitive(env.HOME)}
YAML

# Snapshots of every process's argv, taken every 20 ms while $SNAP_FLAG exists.
SNAP_FLAG="$WORK/snapshot.on"
start_argv_snapshots() {
  touch "$SNAP_FLAG"
  python3 - "$SNAP_FLAG" "$1" <<'PY' &
import os, sys, time
flag, out = sys.argv[1], sys.argv[2]
me = str(os.getpid())
with open(out, "w") as f:
    while os.path.exists(flag):
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or pid == me:
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as c:
                    argv = c.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if argv:
                f.write(f"{pid} {argv}\n")
        f.flush()
        time.sleep(0.02)
PY
  SNAPPER=$!
  bg_started
}
stop_argv_snapshots() {
  rm -f "$SNAP_FLAG"
  wait "$SNAPPER" || true
}
start_argv_snapshots "$WORK/argv-snapshot.txt"

# logged NAME CMD...: runs CMD with stdout and stderr in $LOGS/NAME.{out,err}.
logged() {
  local name=$1
  shift
  local rc=0
  "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err" || rc=$?
  if [[ $rc != 0 ]]; then
    show "$LOGS/$name.out"
    show "$LOGS/$name.err"
    fail "\`$*\` exited $rc (output above)"
  fi
}

step "the whole lifecycle at KEEL_LOG=debug"
logged validate keel validate
logged plan-out keel plan --out plan.json
[[ -s plan.json ]] || fail "keel plan --out plan.json wrote no plan.json"
if ! keel apply plan.json >"$LOGS/apply-plan.out" 2>"$LOGS/apply-plan.err"; then
  soft_fail "\`keel apply plan.json\` of the first plan of a new stack failed: $(grep -m1 '^Error' "$LOGS/apply-plan.err"); applying with --auto-approve instead"
  logged apply-plan-fallback keel apply --auto-approve
  cp "$LOGS/apply-plan-fallback.out" "$LOGS/apply-plan.out"
fi
assert_contains "$LOGS/apply-plan.out" "Apply complete!"
logged plan-again keel plan --detailed-exitcode
assert_contains "$LOGS/plan-again.out" "No changes"
logged output-all keel output
grep -Eq '^token = \(sensitive\)$' "$LOGS/output-all.out" || { show "$LOGS/output-all.out"; fail "keel output does not mask the token"; }
grep -Eq '^db_password = \(sensitive\)$' "$LOGS/output-all.out" || { show "$LOGS/output-all.out"; fail "keel output does not mask db_password"; }
grep -Eq '^env_token = \(sensitive\)$' "$LOGS/output-all.out" || { show "$LOGS/output-all.out"; fail "keel output does not mask \${env.PLANTED_TOKEN}"; }
grep -Fqx "home = $HOME" "$LOGS/output-all.out" || { show "$LOGS/output-all.out"; fail "keel output masks \${nonsensitive(env.HOME)}"; }
awk '/files\.from_env/ { f = 1; next } f && /^ *content = / { print; exit }' "$LOGS/plan-out.out" | grep -qF '(sensitive)' ||
  { show "$LOGS/plan-out.out"; fail "the plan does not show the content read from \${env.PLANTED_TOKEN} as (sensitive)"; }
logged output-json keel_json output
for address in files.vault files.written files.derived databases.db; do
  logged "state-show-$address" keel_json state show "$address"
done
[[ $(json_get "$LOGS/state-show-files.vault.out" 'd["attributes"]["sensitive_content"]') == "(sensitive)" ]] ||
  { show "$LOGS/state-show-files.vault.out"; fail "state show does not mask sensitive_content"; }
logged state-show-text keel state show files.written
logged state-list keel state list
logged refresh keel refresh
logged refresh-json keel_json refresh

step "the allowed ways: keel output NAME (not searched)"
quiet() { (unset KEEL_LOG; "$@"); }
stop_argv_snapshots
[[ -s $WORK/argv-snapshot.txt ]] || fail "the argv snapshot is empty"
[[ $(quiet keel output token) == "$SECRET" ]] || fail "keel output token does not print the planted secret"
[[ $(quiet keel output vault_secret) == "$SECRET" ]] || fail "keel output vault_secret does not print the planted secret"
[[ $(quiet keel output env_token) == "$SECRET" ]] || fail "keel output env_token does not print the planted secret"
PW=$(quiet keel output --raw db_password)
[[ ${#PW} -ge 12 ]] || fail "db_password output looks wrong: '${#PW}' characters"
DB_PORT=$(quiet keel output --raw db_port)
# The searches below look for the right strings: the provider's own 0600
# record does hold the password.
grep -rqF -- "$PW" .keel/local/databases/db/secrets.json || fail "the db password is not in the local provider's secrets.json: the search below would prove nothing"
answer=$(PGPASSWORD=$PW PGCONNECT_TIMEOUT=10 psql -h 127.0.0.1 -p "$DB_PORT" -U keel -d db -XAtq -c 'select 2' 2>&1) ||
  fail "the db_password output does not log in: $answer"
[[ $(cat "$MANAGED/written.txt") == "$SECRET" ]] || fail "written.txt does not hold the secret it is configured with"
[[ $(cat "$MANAGED/from-env.txt") == "$SECRET" ]] || fail "from-env.txt does not hold the secret it is configured with"

# search_all WHEN: the planted secret and the generated password must be in
# none of the places they may not be. Run before destroy (resources exist)
# and after it (state emptied, backup kept).
search_all() {
  local when=$1 hits h
  # The planted secret: everywhere under .keel (state, backup, journal, key,
  # the local provider's dirs), plan.json, the logs, the argv snapshots, the
  # managed directory except written.txt and from-env.txt, whose purpose is
  # to hold it.
  hits=$( { grep -rlaF -- "$SECRET" .keel plan.json "$LOGS" "$MANAGED" "$WORK"/argv-snapshot* 2>/dev/null || true; } |
    grep -vxF -e "$MANAGED/written.txt" -e "$MANAGED/from-env.txt" || true)
  if [[ -n $hits ]]; then
    for h in $hits; do
      echo "  $h:" >&2
      grep -naF -- "$SECRET" "$h" | cut -c1-300 | show
    done
    fail "$when: the planted secret appears in: $(echo $hits)"
  fi
  # The generated password: .keel except local/ (the provider's own 0600
  # records and the cluster), plan.json, the logs, the argv snapshots.
  hits=$( { grep -rlaF --exclude-dir=local -- "$PW" .keel plan.json "$LOGS" "$WORK"/argv-snapshot* 2>/dev/null || true; } )
  if [[ -n $hits ]]; then
    for h in $hits; do
      echo "  $h:" >&2
      grep -naF -- "$PW" "$h" | cut -c1-300 | show
    done
    fail "$when: the generated postgres password appears in: $(echo $hits)"
  fi
  [[ -e .keel/state.json ]] || fail "$when: no .keel/state.json to search"
}

step "search for the secrets before destroy"
search_all "before destroy"

step "destroy (logged, argv watched)"
start_argv_snapshots "$WORK/argv-snapshot-destroy.txt"
logged destroy keel destroy --auto-approve
stop_argv_snapshots
unset KEEL_LOG

step "search for the secrets after destroy"
[[ -e .keel/state.json.backup ]] || fail "no .keel/state.json.backup after destroy"
search_all "after destroy"
[[ -s $LOGS/plan-out.err || -s $LOGS/apply-plan.err ]] || fail "KEEL_LOG=debug produced no log at all: the search proves little"

step "a provider's refusal that quotes a sensitive value shows it masked"
new_stack REFUSED secrets-refused
cd "$REFUSED"
cat >keel.yaml <<YAML
keel: 1
project: e2e-secrets-refused
providers:
  ex: { type: example, root: "$MANAGED" }
files:
  bad: { provider: ex, path: bad.txt, content: x, mode: "\${env.PLANTED_TOKEN}" }
YAML
run_rc rc keel apply --auto-approve
[[ $rc != 0 ]] || { show "$WORK/last.out"; fail "an apply with a refused mode succeeded"; }
assert_contains "$WORK/last.out" "(sensitive)"
assert_not_contains "$WORK/last.out" "$SECRET"
