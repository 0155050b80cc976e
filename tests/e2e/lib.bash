# Shared helpers for the end-to-end scripts in tests/e2e/*.sh.
#
# Sourced, never run: it is named lib.bash so that the *.sh glob in
# tests/CMakeLists.txt does not register it as a test. Each script does
#
#   source "$(dirname "$0")/lib.bash"
#   e2e_setup            # temp dir in $WORK, cleanup trap, $KEEL
#   new_stack STACK NAME # STACK=$WORK/NAME, remembered for `keel destroy` at exit
#
# and then runs `keel` (a function that runs $KEEL_BUILD_DIR/keel) in the
# stack's directory, exactly as a user would. The trap destroys every stack
# it was told about and then kills whatever this test started that is still
# alive (background keel runs, servers whose command line names $WORK), by
# pid, so that no server outlives the test.

set -euo pipefail

E2E_NAME=$(basename "$0" .sh)

: "${KEEL_BUILD_DIR:?set KEEL_BUILD_DIR to the build directory that holds keel and keel-provider-example}"
: "${KEEL_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
KEEL_BUILD_DIR=$(cd "$KEEL_BUILD_DIR" && pwd)
KEEL="$KEEL_BUILD_DIR/keel"
[[ -x $KEEL ]] || { echo "FAIL [$E2E_NAME]: $KEEL is not built" >&2; exit 1; }
[[ -x $KEEL_BUILD_DIR/keel-provider-example ]] || { echo "FAIL [$E2E_NAME]: keel-provider-example is not built in $KEEL_BUILD_DIR" >&2; exit 1; }

# Logging from keel (KEEL_LOG) is off unless a test sets it; a key from the
# caller's environment would change what the tests see.
unset KEEL_LOG KEEL_STATE_KEY KEEL_PLUGIN_PATH KEEL_BACKEND
# The network fence (core/net_fence.h): keel and its plugins may connect to
# this machine's loopback and nothing else; start_ssh_hosts adds each
# namespace host's own address. An address a simulator made up (moto gives
# instances public IPs) is then refused at once instead of being tried
# through the default route.
export KEEL_ALLOWED_NETWORKS="127.0.0.0/8,::1/128"

keel() { "$KEEL" "$@"; }

fail() {
  echo "FAIL [$E2E_NAME]: $*" >&2
  exit 1
}

# soft_fail MESSAGE: records a failure and carries on, so that one bug does
# not hide the checks after it; the test still fails at exit.
E2E_SOFT_FAILURES=()
soft_fail() {
  echo "FAIL [$E2E_NAME] (continuing): $*" >&2
  E2E_SOFT_FAILURES+=("$*")
}

step() { echo "--- [$E2E_NAME] $*"; }

# Prints a file (or stdin) indented, for context in a failure message.
show() {
  if [[ $# -gt 0 ]]; then sed 's/^/    | /' "$@" >&2 || true; else sed 's/^/    | /' >&2 || true; fi
}

# run_rc VAR CMD...: runs CMD with stdout+stderr in $WORK/last.out, stores the
# exit code in VAR, never trips `set -e`.
run_rc() {
  local __var=$1
  shift
  local __rc=0
  "$@" >"$WORK/last.out" 2>&1 || __rc=$?
  printf -v "$__var" '%s' "$__rc"
}

# expect_rc WANT CMD...: runs CMD (output in $WORK/last.out) and fails unless
# it exits WANT.
expect_rc() {
  local want=$1
  shift
  local rc
  run_rc rc "$@"
  if [[ $rc != "$want" ]]; then
    show "$WORK/last.out"
    fail "\`$*\` exited $rc, expected $want (output above)"
  fi
}

# expect_ok CMD...: expect_rc 0.
expect_ok() { expect_rc 0 "$@"; }

# assert_contains FILE TEXT [WHY]
assert_contains() {
  if ! grep -qF -- "$2" "$1"; then
    show "$1"
    fail "${3:-expected output to contain \"$2\"} (output above)"
  fi
}

# assert_not_contains FILE TEXT [WHY]
assert_not_contains() {
  if grep -qF -- "$2" "$1"; then
    show "$1"
    fail "${3:-expected output not to contain \"$2\"} (output above)"
  fi
}

# --- the workspace and its cleanup ---

E2E_STACKS=()    # stack directories to `keel destroy` at exit
E2E_BG_PIDS=()   # background processes this test started
E2E_PG_DIRS=()   # PostgreSQL clusters start_postgres made (stopped and removed at exit)

# e2e_setup [private]: the workspace is readable by the accounts the local
# provider runs servers as (postgres, nobody), as a project directory usually
# is; `private` keeps it 0700, like a project in root's home, where the
# provider must put PostgreSQL clusters elsewhere.
e2e_setup() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/keel-e2e-$E2E_NAME.XXXXXX")
  if [[ ${1:-} == private ]]; then chmod 700 "$WORK"; else chmod 755 "$WORK"; fi
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM
}

# new_stack VAR NAME: makes $WORK/NAME, registers it for destroy at exit and
# stores its path in VAR (not by printing it: a $(...) subshell would lose
# the registration).
new_stack() {
  local dir="$WORK/$2"
  mkdir -p "$dir"
  E2E_STACKS+=("$dir")
  printf -v "$1" '%s' "$dir"
}

# Remember a background pid (started with `cmd & bg_started`).
bg_started() { E2E_BG_PIDS+=("$!"); }

pid_alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $state && $state != Z* ]]
}

# Processes whose command line contains TEXT (never this shell or ps/grep).
pids_matching() {
  local text=$1 pid args
  while read -r pid args; do
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    [[ $args == *"$text"* ]] || continue
    case $args in ps\ *|grep\ *|*"pids_matching"*) continue ;; esac
    echo "$pid"
  done < <(ps -eo pid=,args= 2>/dev/null)
}

# Where the local provider puts a PostgreSQL cluster that the postgres
# account cannot reach inside the resource directory (see postgres.cpp).
external_pg_dir() {
  local hash
  hash=$(printf '%s' "$1" | sha256sum | cut -c1-16)
  echo "/var/lib/keel-local/$hash"
}

# start_postgres: a throw-away PostgreSQL 15 on 127.0.0.1
# (tests/support/start-postgres.sh) with the role `keel` (password in
# $E2E_PG_PASSWORD) owning the database `keel`. Sets E2E_PG_PORT and
# E2E_PG_URL (with the password). Stopped and removed by e2e_cleanup.
start_postgres() {
  local dir
  dir=$(mktemp -u /tmp/keel-e2e-pg.XXXXXX)
  E2E_PG_DIRS+=("$dir")
  "$KEEL_SOURCE_DIR/tests/support/start-postgres.sh" "$dir" || fail "PostgreSQL did not start"
  E2E_PG_PORT=$(sed -n 's/^PG_PORT=//p' "$dir/postgres.env")
  E2E_PG_PASSWORD=$(sed -n 's/^PG_PASSWORD=//p' "$dir/postgres.env")
  E2E_PG_URL=$(sed -n 's/^PG_URL=//p' "$dir/postgres.env")
}

# psql_keel SQL: runs SQL in the database keel as its owner; prints rows
# unaligned, without headers.
psql_keel() {
  PGPASSWORD=$E2E_PG_PASSWORD psql -X -q -At -h 127.0.0.1 -p "$E2E_PG_PORT" -U keel -d keel -c "$1"
}

e2e_cleanup() {
  local rc=$?
  set +e
  trap - EXIT
  cd /
  local pid dir
  for pid in "${E2E_BG_PIDS[@]}"; do
    pid_alive "$pid" && kill -9 "$pid" 2>/dev/null
  done
  for pid in "${E2E_BG_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  local env_args
  for dir in "${E2E_STACKS[@]}"; do
    [[ -d $dir/.keel ]] || continue
    # Each environment's state (keel -e NAME) is destroyed on its own; the
    # stack's own .keel/ state only if it has one.
    for env_args in "" $(cd "$dir/.keel" && ls -d environments/*/state.json environments/*/state.journal 2>/dev/null |
                           sed 's|^environments/\([^/]*\)/.*|--env=\1|' | sort -u); do
      [[ -n $env_args || ! -d $dir/.keel/environments || -e $dir/.keel/state.json ]] || continue
      if ! (cd "$dir" && timeout 180 "$KEEL" $env_args destroy --auto-approve >"$WORK/cleanup-destroy.log" 2>&1); then
        echo "cleanup: keel $env_args destroy in $dir failed:" >&2
        show "$WORK/cleanup-destroy.log"
        [[ $rc == 0 ]] && rc=1
      fi
    done
  done
  # Whatever still runs from this workspace (a destroy that failed, a server
  # a killed keel started and nothing recorded): stop it by pid.
  local leftovers=() extra=()
  for dir in "${E2E_STACKS[@]}"; do
    for d in "$dir"/.keel/local/databases/* "$dir"/.keel/environments/*/local/databases/*; do
      [[ -d $d ]] && extra+=("$(external_pg_dir "$d")")
    done
  done
  for text in "$WORK" "${extra[@]}"; do
    while read -r pid; do [[ -n $pid ]] && leftovers+=("$pid"); done < <(pids_matching "$text")
  done
  # Daemons that name nothing of ours in argv (redis-server renames itself)
  # but run in a directory of this workspace.
  local cwd
  for pid in $(ps -eo pid= 2>/dev/null); do
    [[ $pid == "$$" ]] && continue
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || continue
    [[ $cwd == "$WORK"/* ]] || continue
    [[ " ${leftovers[*]} " == *" $pid "* ]] || leftovers+=("$pid")
  done
  if [[ ${#leftovers[@]} -gt 0 ]]; then
    echo "cleanup: processes left running after destroy, killing: ${leftovers[*]}" >&2
    ps -o pid=,args= -p "$(IFS=,; echo "${leftovers[*]}")" >&2
    kill -9 "${leftovers[@]}" 2>/dev/null
    [[ $rc == 0 ]] && { echo "FAIL [$E2E_NAME]: processes outlived keel destroy" >&2; rc=1; }
  fi
  for d in "${extra[@]}"; do rm -rf "$d"; done
  for d in "${E2E_PG_DIRS[@]}"; do "$KEEL_SOURCE_DIR/tests/support/stop-postgres.sh" "$d"; done
  if [[ ${#E2E_SOFT_FAILURES[@]} -gt 0 ]]; then
    echo "FAIL [$E2E_NAME]: ${#E2E_SOFT_FAILURES[@]} check(s) failed along the way:" >&2
    local m
    for m in "${E2E_SOFT_FAILURES[@]}"; do echo "  - $m" >&2; done
    [[ $rc == 0 ]] && rc=1
  fi
  if [[ $rc == 0 || -z ${KEEL_E2E_KEEP:-} ]]; then
    rm -rf "$WORK"
  else
    echo "kept $WORK for a look (KEEL_E2E_KEEP is set)" >&2
  fi
  if [[ $rc == 0 ]]; then echo "PASS [$E2E_NAME]"; fi
  exit "$rc"
}

# keel_json ARGS...: `keel ARGS --json`, spelled as the docs spell it. If
# keel takes --json only before the command, that is recorded as a failure
# (once per test) and `keel --json ARGS` runs instead, so that the checks on
# the document still run. Call it with a redirect, not in $(...): a subshell
# would lose the record.
keel_json() {
  local err="$WORK/.keel_json.err" rc=0
  "$KEEL" "$@" --json 2>"$err" || rc=$?
  if [[ $rc != 0 ]] && grep -q "argument was not expected: --json" "$err"; then
    if [[ -z ${E2E_JSON_NOTED:-} ]]; then
      soft_fail "\`keel $* --json\` is refused: \"$(head -n1 "$err")\" (only \`keel --json $*\` works); going on with that"
      E2E_JSON_NOTED=1
    fi
    rc=0
    "$KEEL" --json "$@" || rc=$?
    return $rc
  fi
  cat "$err" >&2
  return $rc
}

# --- small checks ---

# port_open PORT: is something listening on 127.0.0.1:PORT?
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# json_get FILE EXPR: evaluates a Python expression on the parsed JSON `d`.
json_get() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# --- crash tests (crash.sh, do_crash.sh, aws_crash.sh) ---
#
# apply_killed_after MS LOG [ARGS...]: `keel apply --auto-approve ARGS` in
# the background, SIGKILLed after MS milliseconds unless it ended first;
# then waits (at most 10 s) for the plugins it had started to exit: the
# next run must not race them, and the SDK stops at once when keel is gone. Sets KILL_RC (137 killed, 0 finished first, else keel's own
# failure) and KILLED_PLUGINS (their pids).
# secs MS: seconds for `sleep`, from milliseconds.
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

apply_killed_after() {
  local ms=$1 log=$2 pid p
  shift 2
  "$KEEL" apply --auto-approve "$@" >"$log" 2>&1 &
  pid=$!
  bg_started
  sleep "$(secs "$ms")"
  KILLED_PLUGINS=$(pgrep -P "$pid" || true)
  KILL_RC=0
  { pid_alive "$pid" && kill -9 "$pid"; wait "$pid"; } 2>/dev/null || KILL_RC=$?
  for p in $KILLED_PLUGINS; do
    wait_until 10 bash -c "! ps -o stat= -p $p | grep -qv Z" ||
      fail "plugin $p ($(ps -o args= -p "$p")) still runs 10 s after its keel was killed"
  done
}

# --- the DigitalOcean simulator (do_*.sh) ---
#
# cloudsim_tenant: this test's own account in keel-cloudsim, which the CTest
# fixture `cloudsim` started once for the run, behind Prism validating every
# request and response against DigitalOcean's OpenAPI document. The account
# is a fresh token (exported as DIGITALOCEAN_TOKEN, which the provider reads,
# as doctl does); DO_ENDPOINT is where the provider must point (Prism).
# sim METHOD PATH [JSON] calls the simulator itself (its /_sim admin API);
# sim_count KIND prints how many KIND (droplets, databases, load_balancers,
# firewalls, volumes) the account holds.
cloudsim_tenant() {
  : "${KEEL_CLOUDSIM_ENV:?run through ctest: the cloudsim fixture writes KEEL_CLOUDSIM_ENV}"
  [[ -s $KEEL_CLOUDSIM_ENV ]] || fail "no simulator: $KEEL_CLOUDSIM_ENV is missing (did fixture.cloudsim.start pass?)"
  CLOUDSIM_URL=$(sed -n 's/^CLOUDSIM_URL=//p' "$KEEL_CLOUDSIM_ENV")
  DO_ENDPOINT=$(sed -n 's/^DO_ENDPOINT=//p' "$KEEL_CLOUDSIM_ENV")
  local contract
  contract=$(sed -n 's/^DO_CONTRACT=//p' "$KEEL_CLOUDSIM_ENV")
  [[ $contract == prism ]] || echo "--- [$E2E_NAME] contract check $contract"
  DIGITALOCEAN_TOKEN="e2e-$E2E_NAME-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export DO_ENDPOINT DIGITALOCEAN_TOKEN
}

sim() {
  curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $DIGITALOCEAN_TOKEN" \
    -H 'Content-Type: application/json' ${3:+--data "$3"} "$CLOUDSIM_URL$2"
}

sim_count() { sim GET /_sim/stats | jq -r ".resources.$1"; }

# --- SSH test hosts (exec.sh, deploy.sh, ssh_*.sh) ---
#
# start_ssh_hosts N [--netns]: N sshd hosts (tests/support/start-ssh-hosts.sh,
# each with its own /opt/keel) in $HOSTS=$WORK/hosts, with their hosts.env
# sourced: SSH_HOSTS_KEY, SSH_HOSTS_KNOWN_HOSTS, SSH_HOSTS_USER,
# SSH_HOSTS_ADDRS, SSH_HOSTS_PORTS. Needs root. At exit, before the usual
# cleanup, every stack is destroyed without a refresh (a test may leave a
# host down) and the hosts are stopped, with whatever their sessions left
# running (their sshd command lines name $WORK, which the cleanup checks).
# ssh_host_ctl stop|start|rekey I acts on host I (1-based).
HOSTS=""
start_ssh_hosts() {
  [[ $(id -u) == 0 ]] || fail "needs root (the test hosts are sshd in namespaces)"
  HOSTS="$WORK/hosts"
  trap ssh_hosts_cleanup EXIT
  "$KEEL_SOURCE_DIR/tests/support/start-ssh-hosts.sh" "$HOSTS" "$@" >"$WORK/start-hosts.log" 2>&1 ||
    { show "$WORK/start-hosts.log"; fail "start-ssh-hosts.sh $* failed"; }
  # shellcheck disable=SC1091
  source "$HOSTS/hosts.env"
  local addr
  for addr in $SSH_HOSTS_ADDRS; do KEEL_ALLOWED_NETWORKS+=",$addr/32"; done
}

ssh_host_ctl() {
  "$KEEL_SOURCE_DIR/tests/support/ssh-host-ctl.sh" "$HOSTS" "$@" >"$WORK/ssh-host-ctl.log" 2>&1 ||
    { show "$WORK/ssh-host-ctl.log"; fail "ssh-host-ctl.sh $* failed"; }
}

ssh_hosts_cleanup() {
  local rc=$? dir
  set +e
  for dir in "${E2E_STACKS[@]}"; do
    [[ -d $dir/.keel ]] || continue
    (cd "$dir" && timeout 120 "$KEEL" destroy --auto-approve --no-refresh >"$WORK/hosts-destroy.log" 2>&1) ||
      { echo "cleanup: keel destroy --no-refresh in $dir failed:" >&2; show "$WORK/hosts-destroy.log"; }
  done
  [[ -e $HOSTS/hosts.env ]] && "$KEEL_SOURCE_DIR/tests/support/stop-ssh-hosts.sh" "$HOSTS" >"$WORK/stop-hosts.log" 2>&1
  (exit "$rc")
  e2e_cleanup
}
