# Helpers of the AWS end-to-end scripts (tests/e2e/aws_*.sh), sourced after
# lib.bash: moto (AWS as a local server) behind the contract proxy
# (tests/support/aws/proxy.py), which checks every request against AWS's own
# service models and adds what moto lacks (delayed states, NotFound after a
# create, throttling, faults, ClientToken idempotency).
#
#   aws_setup            # moto + proxy of this test; AWS_* exported so that
#                        # keel-provider-aws (and `aws`) reach the proxy
#   awsm ec2 describe-instances ...   # the official CLI, straight to moto
#   proxy_config '{"pending_seconds": 2}'
#   assert_proxy_clean   # no contract violation, no moto HTTP 500
#
# moto hands out real public addresses (54.x.x.x): nothing here connects to
# an instance's address.

AWS_PROXY_DIR="$KEEL_SOURCE_DIR/tests/support/aws"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# aws_setup [auth]: with `auth`, moto checks signatures (and IAM policies)
# after its first 3 calls, which make the test's IAM user and its key:
# AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are then that key.
aws_setup() {
  python3 -c 'import moto, botocore' 2>/dev/null || fail "moto and botocore are not installed"
  local auth_env=()
  [[ ${1:-} == auth ]] && auth_env=(INITIAL_NO_AUTH_ACTION_COUNT=3)
  MOTO_PORT=$(free_port)
  PROXY_PORT=$(free_port)
  mkdir -p "$WORK/aws"
  # Started from / so that no process names $WORK in its command line or
  # cwd (lib.bash's cleanup would take them for leftovers of a stack).
  (cd / && exec env "${auth_env[@]}" MOTO_ENABLE_AMI_VALIDATION=true MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION=true \
    python3 -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/aws/moto.log" 2>&1) &
  AWS_MOTO_PID=$!
  (cd "$AWS_PROXY_DIR" && exec python3 -B proxy.py "$PROXY_PORT" "http://127.0.0.1:$MOTO_PORT" /dev/stderr \
    2>"$WORK/aws/proxy.log") &
  AWS_PROXY_PID=$!
  trap 'aws_teardown; e2e_cleanup' EXIT
  wait_until 60 port_open "$MOTO_PORT" || { show "$WORK/aws/moto.log"; fail "moto did not start"; }
  wait_until 60 port_open "$PROXY_PORT" || { show "$WORK/aws/proxy.log"; fail "the contract proxy did not start"; }
  export AWS_ACCESS_KEY_ID=AKIAKEELTEST AWS_SECRET_ACCESS_KEY=keel-test-secret AWS_REGION=us-east-1
  export AWS_ENDPOINT_URL="http://127.0.0.1:$PROXY_PORT"
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  if [[ ${1:-} == auth ]]; then
    awsm iam create-user --user-name keel-e2e >/dev/null
    awsm iam put-user-policy --user-name keel-e2e --policy-name everything \
      --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}' >/dev/null
    read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY < <(awsm iam create-access-key --user-name keel-e2e \
      --query 'AccessKey.[AccessKeyId,SecretAccessKey]')
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  fi
}

# Destroys this test's stacks while moto still runs, then stops moto and
# the proxy by pid; lib.bash's cleanup follows.
aws_teardown() {
  local rc=$? dir
  for dir in "${E2E_STACKS[@]}"; do
    [[ -d $dir/.keel ]] || continue
    proxy_config '{"pending_seconds": 0, "not_found_after_create": 0, "rate_limit": 0, "random": 0}' >/dev/null 2>&1
    if ! (cd "$dir" && timeout 300 "$KEEL" destroy --auto-approve >"$WORK/cleanup-destroy.log" 2>&1); then
      echo "cleanup: keel destroy in $dir failed:" >&2
      show "$WORK/cleanup-destroy.log"
      [[ $rc == 0 ]] && rc=1
    fi
  done
  E2E_STACKS=()
  kill "$AWS_PROXY_PID" "$AWS_MOTO_PID" 2>/dev/null
  wait "$AWS_PROXY_PID" "$AWS_MOTO_PID" 2>/dev/null
  return "$rc"
}

# The official CLI straight to moto (not through the proxy: its faults and
# delays are for keel).
awsm() { aws --endpoint-url "http://127.0.0.1:$MOTO_PORT" --region us-east-1 --output text "$@"; }

proxy_config() { curl -sS --fail -X POST "http://127.0.0.1:$PROXY_PORT/__proxy/config" -d "$1"; }
proxy_fault() { curl -sS --fail -X POST "http://127.0.0.1:$PROXY_PORT/__proxy/faults" -d "$1" >/dev/null; }
proxy_stats() { curl -sS --fail "http://127.0.0.1:$PROXY_PORT/__proxy/stats"; }

# assert_proxy_clean [N]: N requests (default 0) broke the model on purpose.
assert_proxy_clean() {
  local stats
  stats=$(proxy_stats)
  [[ $(jq -r .violations <<<"$stats") == "${1:-0}" ]] || { grep -v '"violations": \[\]' "$WORK/aws/proxy.log" | tail -5 >&2; fail "requests broke AWS's model"; }
  [[ $(jq -r '.moto_500 | length' <<<"$stats") == 0 ]] || fail "moto answered HTTP 500: $(jq -c .moto_500 <<<"$stats")"
}

expect_refused() {  # apply fails (1: nothing done, 4: some of it done)
  run_rc rc keel apply --auto-approve
  [[ $rc == 1 || $rc == 4 ]] || { show "$WORK/last.out"; fail "apply exited $rc, expected 1 or 4"; }
}

converge_under_faults() {  # converge_under_faults ARGS...: the first apply with ARGS, then plain applies, 20% faults
  local attempt args=("$@") converged=""
  proxy_config '{"random": 0.2}' >/dev/null
  for attempt in 1 2 3 4 5 6; do
    run_rc rc keel apply --auto-approve "${args[@]}"
    if [[ $rc == 0 ]]; then converged=yes; break; fi
    args=()
  done
  proxy_config '{"random": 0}' >/dev/null
  [[ -n $converged ]] || { show "$WORK/last.out"; fail "apply did not converge in 6 runs under 20% faults"; }
  expect_rc 0 keel plan --detailed-exitcode
}

# Live (not terminated) instances carrying keel:project $1.
live_instances() {
  awsm ec2 describe-instances --filters "Name=tag:keel:project,Values=$1" \
    "Name=instance-state-name,Values=pending,running,stopping,stopped" --query 'Reservations[].Instances[].InstanceId' |
    wc -w
}
