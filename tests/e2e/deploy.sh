#!/usr/bin/env bash
# keel deploy: four real sshd hosts (tests/support/start-ssh-hosts.sh), each
# with its own /opt/keel, as `ssh` provider servers whose agents `keel apply`
# installs. The app's health check is an exec check that reads the host's
# own /opt/keel/apps/web/current. Deploys in batches of 2: a good release
# everywhere; a release whose health fails (first batch put back, rollout
# stopped, the check's output printed, every host on the old release); a good
# one with --json; --rollback; a directory artifact; keep_releases pruning;
# two deploys at once (exit 3 for one); a host going down mid-deploy.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

command -v jq >/dev/null || fail "jq is needed to read keel deploy --json"
[[ -x $KEEL_BUILD_DIR/keel-agent ]] || fail "keel-agent is not built in $KEEL_BUILD_DIR"

STACK=""

# A TCP port on 127.0.0.1 that is free now (the hosts share the network, so
# each agent needs a port of its own).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

step "four sshd hosts"
start_ssh_hosts 4
read -r -a PORTS <<<"$SSH_HOSTS_PORTS"
[[ ${#PORTS[@]} == 4 ]] || fail "hosts.env has no four ports: $SSH_HOSTS_PORTS"

new_stack STACK deploy
cd "$STACK"

# Releases: VERSION says which; `healthy` makes the check pass.
make_release() {  # NAME healthy|sick
  mkdir -p "dist/$1"
  echo "$1" >"dist/$1/VERSION"
  [[ $2 == healthy ]] && echo ok >"dist/$1/healthy"
  return 0
}
for v in v1 v2 v4 v5 v6; do make_release "$v" healthy; done
make_release v2bad sick
make_release v3 healthy  # deployed as a directory
for v in v1 v2 v2bad v4 v5 v6; do tar -czf "dist/$v.tar.gz" -C "dist/$v" .; done

# The check runs on each host, as its agent: it sees that host's /opt/keel.
cat >check.sh <<'EOF'
#!/bin/sh
d=/opt/keel/apps/web/current
if [ -f "$d/healthy" ]; then echo "healthy: $(cat "$d/VERSION")"; exit 0; fi
echo "not healthy: $(cat "$d/VERSION" 2>/dev/null || echo no release)"
exit 2
EOF
chmod 755 check.sh

{
  echo "keel: 1"
  echo "project: deploytest"
  echo "variables:"
  echo "  artifact: { default: dist/v1.tar.gz }"
  echo "  before: { default: \"test -f VERSION\" }"
  echo "servers:"
  for i in 1 2 3 4; do
    echo "  h$i: { provider: ssh, host: 127.0.0.1, port: ${PORTS[$((i - 1))]}, user: $SSH_HOSTS_USER, key: $SSH_HOSTS_KEY, known_hosts: $SSH_HOSTS_KNOWN_HOSTS, agent: { port: $(free_port) } }"
  done
  echo "checks:"
  echo "  web-ok: { on: [servers.h1, servers.h2, servers.h3, servers.h4], exec: [/bin/sh, $STACK/check.sh], interval: 1h }"
  echo "apps:"
  echo "  web:"
  echo "    servers: [servers.h1, servers.h2, servers.h3, servers.h4]"
  echo "    artifact: \${var.artifact}"
  echo "    before: \${var.before}"
  echo "    start: cp VERSION ../../started-version"
  echo "    after: echo \"\$KEEL_RELEASE\" >../../after-release"
  echo "    health: web-ok"
  echo "    health_timeout: 5s"
  echo "    rollout: { batch: 2 }"
  echo "    keep_releases: 2"
} >keel.yaml

# Host I's files, as the host sees them under /opt/keel.
app_dir() { echo "$HOSTS/h$1/opt-keel/apps/web"; }
version_on() { cat "$(app_dir "$1")/current/VERSION" 2>/dev/null || echo none; }
release_on() { local l; l=$(readlink "$(app_dir "$1")/current" 2>/dev/null) || { echo none; return; }; echo "${l#releases/}"; }
releases_on() { ls -1 "$(app_dir "$1")/releases" 2>/dev/null | grep -E '^[0-9]{8}T[0-9]{6}Z-[0-9a-f]+$' || true; }
expect_versions() {  # V1 V2 V3 V4 WHY
  local i got=""
  for i in 1 2 3 4; do got+="$(version_on "$i") "; done
  [[ $got == "$1 $2 $3 $4 " ]] || { show "$WORK/last.out"; fail "$5: hosts are on $got, expected $1 $2 $3 $4"; }
}

step "validate checks the app"
expect_ok keel validate
sed 's/health: web-ok/health: web-okk/' keel.yaml >bad.yaml
expect_rc 1 keel -f bad.yaml validate
assert_contains "$WORK/last.out" "app \`web\`: \`health\` names \`web-okk\`, which \`checks:\` does not declare; did you mean \`web-ok\`?"
rm bad.yaml

step "apply records the hosts and installs their agents"
expect_ok keel apply --auto-approve
run_rc rc keel plan --detailed-exitcode
[[ $rc == 0 ]] || { show "$WORK/last.out"; soft_fail "a second plan after apply is not empty (exit $rc)"; }

step "deploy v1 to four hosts in batches of two"
expect_ok keel deploy web
assert_contains "$WORK/last.out" "batch 1/2: servers.h1, servers.h2"
assert_contains "$WORK/last.out" "batch 2/2: servers.h3, servers.h4"
assert_contains "$WORK/last.out" "Deployed web release "
expect_versions v1 v1 v1 v1 "after deploying v1"
V1=$(release_on 1)
[[ $V1 =~ ^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$ ]] || fail "current points at releases/$V1, not at a release id"
for i in 1 2 3 4; do
  [[ $(release_on "$i") == "$V1" ]] || fail "host $i is on $(release_on "$i"), expected $V1"
  [[ $(cat "$(app_dir "$i")/started-version") == v1 ]] || fail "start did not run in v1's directory on host $i"
  [[ $(cat "$(app_dir "$i")/after-release") == "$V1" ]] || fail "after did not run with KEEL_RELEASE on host $i"
done
run_rc rc keel health
[[ $rc == 0 ]] || { show "$WORK/last.out"; fail "keel health after deploying v1 exited $rc, expected 0 (the check passing)"; }
assert_contains "$WORK/last.out" "healthy: v1"

step "deploy v2 whose health check fails: the first batch goes back to v1, the rollout stops"
expect_rc 1 keel deploy web --var artifact=dist/v2bad.tar.gz
assert_contains "$WORK/last.out" "not healthy: v2bad" "the failing check's last output is printed"
assert_contains "$WORK/last.out" "batch 1 of 2 failed"
assert_not_contains "$WORK/last.out" "batch 2/2:"
expect_versions v1 v1 v1 v1 "after the failed v2"
for i in 1 2 3 4; do
  [[ $(releases_on "$i") == "$V1" ]] || { releases_on "$i" | show; fail "host $i keeps more than v1's release after the failed deploy"; }
  [[ $(cat "$(app_dir "$i")/started-version") == v1 ]] || fail "host $i: start did not run again in v1 after the switch back"
done
run_rc rc keel health
[[ $rc == 0 ]] || { show "$WORK/last.out"; fail "keel health after the failed deploy exited $rc, expected 0"; }

step "deploy v2 with --json"
rc=0
keel deploy web --var artifact=dist/v2.tar.gz --json >"$WORK/v2.json" 2>"$WORK/v2.err" || rc=$?
[[ $rc == 0 ]] || { show "$WORK/v2.json"; show "$WORK/v2.err"; fail "keel deploy --json of v2 exited $rc"; }
jq -e . "$WORK/v2.json" >/dev/null || { show "$WORK/v2.json"; fail "keel deploy --json is not one JSON document"; }
jq_is() {
  local got
  got=$(jq -c "$1" "$WORK/$3")
  [[ $got == "$2" ]] || { show "$WORK/$3"; fail "jq '$1' is $got, expected $2"; }
}
V2=$(jq -r .release "$WORK/v2.json")
jq_is .outcome '"deployed"' v2.json
jq_is .batches '[["servers.h1","servers.h2"],["servers.h3","servers.h4"]]' v2.json
jq_is '[.hosts[].outcome]' '["switched","switched","switched","switched"]' v2.json
jq_is '[.hosts[].release] | unique' "[\"$V2\"]" v2.json
jq_is '[.hosts[].from] | unique' "[\"$V1\"]" v2.json
jq_is '[.hosts[].checks[0].passed]' '[true,true,true,true]' v2.json
expect_versions v2 v2 v2 v2 "after deploying v2"

step "--rollback: every host back on v1"
expect_ok keel deploy web --rollback
expect_versions v1 v1 v1 v1 "after --rollback"
for i in 1 2 3 4; do [[ $(release_on "$i") == "$V1" ]] || fail "host $i is on $(release_on "$i") after --rollback"; done

step "a directory as the artifact; keep_releases 2 prunes (never current or previous)"
expect_ok keel deploy web --var artifact=dist/v3
expect_versions v3 v3 v3 v3 "after deploying the v3 directory"
V3=$(release_on 1)
for i in 1 2 3 4; do
  # v1 was current before: kept; v2 pruned.
  got=$(releases_on "$i" | tr '\n' ' ')
  [[ $got == "$V1 $V3 " ]] || fail "host $i keeps releases '$got', expected '$V1 $V3 '"
done
expect_ok keel deploy web --var artifact=dist/v4.tar.gz
expect_versions v4 v4 v4 v4 "after deploying v4"
V4=$(release_on 1)
for i in 1 2 3 4; do
  got=$(releases_on "$i" | tr '\n' ' ')
  [[ $got == "$V3 $V4 " ]] || fail "host $i keeps releases '$got', expected '$V3 $V4 '"
done
[[ $(jq '.history | length' .keel/deploys/web.json) == 6 ]] || { show .keel/deploys/web.json; fail "the history does not hold six rollouts"; }
[[ $(jq -r '.hosts["servers.h3"].release' .keel/deploys/web.json) == "$V4" ]] || { show .keel/deploys/web.json; fail "the history does not record h3 on $V4"; }

step "two deploys at once: the second fails at once with exit 3, naming the first"
keel deploy web --var artifact=dist/v5.tar.gz --var before="sleep 4; test -f VERSION" >"$WORK/slow.out" 2>&1 &
SLOW=$!
bg_started
wait_until 60 grep -q "batch 1/2" "$WORK/slow.out" || { show "$WORK/slow.out"; fail "the first deploy did not start its first batch"; }
expect_rc 3 keel deploy web --var artifact=dist/v6.tar.gz
assert_contains "$WORK/last.out" "keel deploy web"
rc=0
wait "$SLOW" || rc=$?
[[ $rc == 0 ]] || { show "$WORK/slow.out"; fail "the first of two deploys exited $rc"; }
expect_versions v5 v5 v5 v5 "after the slow deploy"
V5=$(release_on 1)

step "a host goes down mid-deploy: its batch is put back, the rollout stops, earlier batches stay"
keel deploy web --var artifact=dist/v6.tar.gz --var before="sleep 4; test -f VERSION" >"$WORK/down.out" 2>&1 &
DOWN=$!
bg_started
wait_until 60 grep -q "batch 1/2" "$WORK/down.out" || { show "$WORK/down.out"; fail "the deploy did not start its first batch"; }
ssh_host_ctl stop 3
rc=0
wait "$DOWN" || rc=$?
[[ $rc == 1 ]] || { show "$WORK/down.out"; fail "a deploy with a host down exited $rc, expected 1"; }
assert_contains "$WORK/down.out" "batch 2 of 2 failed on servers.h3"
assert_contains "$WORK/down.out" "2 hosts of earlier batches stay on release"
[[ $(version_on 1) == v6 && $(version_on 2) == v6 ]] || { show "$WORK/down.out"; fail "the first batch is not on v6"; }
[[ $(version_on 4) == v5 ]] || { show "$WORK/down.out"; fail "host 4 is on $(version_on 4), expected v5"; }
[[ $(release_on 3) == "$V5" ]] || { show "$WORK/down.out"; fail "host 3 (down) is on $(release_on 3), expected $V5"; }
ssh_host_ctl start 3

step "unknown app"
expect_rc 1 keel deploy wbe
assert_contains "$WORK/last.out" "no app \`wbe\`"
