#!/usr/bin/env bash
# contract-smoke.sh CLOUDSIM_BIN [PRISM_BIN]
#
# Checks keel-cloudsim against DigitalOcean's own OpenAPI document: starts
# the simulator and, in front of it, Prism as a validating proxy
# (`prism proxy --errors`), then calls every endpoint the simulator
# implements through Prism with curl: creates, paginated lists, gets before
# and after provisioning, actions, updates, deletes, and the error cases
# (401, 404, 409, 400/422 from the simulator's own validation, 429 from the
# rate limit, injected 500 and 503). Injected connection resets are checked
# against the simulator directly (Prism would turn them into its own error).
#
# Fails (exit 1), printing the request and the response, on any response
# that Prism flags (500 application/problem+json, or an sl-violations
# header), on an unexpected status, or when Prism's log holds a violation.
# Everything it started is stopped on exit.
#
#   PRISM_BIN    default $KEEL_NPM_PREFIX/node_modules/.bin/prism
#                (KEEL_NPM_PREFIX defaults to ~/.cache/keel-npm)
#   KEEL_DO_SPEC default ../shared/specs/digitalocean-openapi.yaml beside the repo
#   SMOKE_PORTS  the port range to take two free ports from (default 4100-4199)
#   SMOKE_LOGS   a directory to copy the simulator's and Prism's logs into
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$HERE/../.." && pwd)

die() { echo "contract-smoke: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: $0 CLOUDSIM_BIN [PRISM_BIN]"
SIM_BIN=$1
PRISM=${2:-${PRISM_BIN:-${KEEL_NPM_PREFIX:-$HOME/.cache/keel-npm}/node_modules/.bin/prism}}
SPEC=${KEEL_DO_SPEC:-$ROOT/../shared/specs/digitalocean-openapi.yaml}
[ -x "$SIM_BIN" ] || die "not executable: $SIM_BIN"
[ -x "$PRISM" ] || die "Prism not found at $PRISM (tests/support/install-npm-tools.sh installs it)"
if [ ! -f "$SPEC" ]; then
  # Without the vendor's document there is nothing to check against; CI
  # (KEEL_REQUIRE_CONTRACT=1) must have it.
  [ "${KEEL_REQUIRE_CONTRACT:-0}" = 1 ] && die "no OpenAPI document at $SPEC"
  echo "contract-smoke: skipped: no OpenAPI document at $SPEC"
  exit 0
fi
for tool in curl jq; do command -v "$tool" >/dev/null || die "$tool is needed"; done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "${SMOKE_LOGS:-}" ]; then mkdir -p -- "$SMOKE_LOGS" && cp -- "$WORK"/*.log "$SMOKE_LOGS"/; fi
  rm -rf -- "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- start ---

now_ms() { date +%s%3N; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {  # the first free port of SMOKE_PORTS not in $1
  local range=${SMOKE_PORTS:-4100-4199} p
  for p in $(seq "${range%-*}" "${range#*-}"); do
    [ "$p" = "${1:-}" ] && continue
    if command -v ss >/dev/null; then  # also skips ports in TIME_WAIT
      [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] || continue
    fi
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  die "no free port in $range"
}
wait_for_line() {  # FILE PATTERN PID SECONDS
  local deadline=$(( $(now_ms) + $4 * 1000 ))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || { cat "$1" >&2; die "$(basename "$1") : the process exited"; }
    [ "$(now_ms)" -lt "$deadline" ] || { cat "$1" >&2; die "no \"$2\" in $1 within $4 s"; }
    sleep 0.1
  done
}

# Both ports first: the simulator's links must point at Prism (--public-url).
SIM_PORT=$(free_port)
PROVISION=20
PRISM_PORT=$(free_port "$SIM_PORT")
API=http://127.0.0.1:$PRISM_PORT
"$SIM_BIN" --listen "127.0.0.1:$SIM_PORT" --provision-seconds "$PROVISION" --rate-limit 250/min --public-url "$API" \
  > "$WORK/sim.out" 2> "$WORK/sim.log" < /dev/null &
PIDS+=($!)
wait_for_line "$WORK/sim.out" "keel-cloudsim listening on http://127.0.0.1:$SIM_PORT" "$!" 20
SIM=http://127.0.0.1:$SIM_PORT

"$PRISM" proxy -h 127.0.0.1 -p "$PRISM_PORT" --errors "$SPEC" "$SIM" > "$WORK/prism.log" 2>&1 < /dev/null &
PIDS+=($!)
wait_for_line "$WORK/prism.log" "Prism is listening" "$!" 120
echo "contract-smoke: simulator $SIM, Prism $API"

# --------------------------------------------------------------- helpers ---

TOKEN="smoke-$$-$RANDOM"
CALLS=0
BODY=""

show_failure() {  # what went wrong, with the whole exchange
  echo "contract-smoke: FAIL: $*" >&2
  echo "--- response headers" >&2; cat "$WORK/headers" >&2
  echo "--- response body" >&2; cat "$WORK/body" >&2; echo >&2
  echo "--- Prism's last lines" >&2; tail -n 20 "$WORK/prism.log" >&2
  exit 1
}

# api METHOD PATH WANT_STATUS [JSON]: one call through Prism. Sets BODY.
# WANT_STATUS may be a |-list ("200|404"). An error the simulator made must
# carry its request_id, so that Prism's own rejections of a bad request (which
# would mean the smoke test itself is wrong) are not mistaken for it.
api() {
  local method=$1 path=$2 want=$3 data=${4:-} status
  local args=(-sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' -X "$method"
              -H "Authorization: Bearer ${AUTH_TOKEN:-$TOKEN}")
  [ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data "$data")
  status=$(curl "${args[@]}" "$API$path") || show_failure "$method $path: curl failed"
  CALLS=$((CALLS + 1))
  BODY=$(cat "$WORK/body")
  if grep -qi '^sl-violations:' "$WORK/headers"; then show_failure "$method $path: Prism reports violations"; fi
  if [ "$status" = 500 ] && grep -qi '^content-type: application/problem+json' "$WORK/headers"; then
    show_failure "$method $path: Prism rejected the exchange"
  fi
  [[ "|$want|" == *"|$status|"* ]] || show_failure "$method $path: status $status, expected $want"
  if [ "$status" -ge 400 ]; then
    jq -e '.id and .message and .request_id' "$WORK/body" >/dev/null ||
      show_failure "$method $path: not an error from the simulator"
  fi
}

field() { jq -r "$1" <<<"$BODY"; }
expect() {  # expect JQ_EXPRESSION DESCRIPTION: on the last response
  jq -e "$1" <<<"$BODY" >/dev/null || show_failure "$2 ($1)"
}

# sim METHOD PATH [JSON]: the simulator's admin API (not through Prism).
sim() {
  curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer ${AUTH_TOKEN:-$TOKEN}" \
    -H 'Content-Type: application/json' ${3:+--data "$3"} "$SIM$2"
}
# Skips provisioning time on this tenant's clock instead of sleeping.
advance() { sim POST /_sim/clock/advance "{\"seconds\": $1}" >/dev/null; }
# The steps below are written for a 2 s provisioning time (every status and
# action takes that or half of it); the simulator runs with PROVISION
# seconds, so that a slow machine never sees provisioning end between two
# calls that expect it unfinished. `advance_scaled N` moves on N seconds of
# that 2 s world.
advance_scaled() { advance $(($1 * PROVISION / 2)); }
step() { echo "contract-smoke: $*"; }

# ------------------------------------------------------ catalog, account ---

step "account, regions, sizes"
api GET /v2/account 200
expect '.account.status == "active"' "account is active"
api GET "/v2/regions?per_page=4" 200
expect '(.regions | length) == 4 and .meta.total == 10 and (.links.pages.next | test("page=2"))' "regions page 1"
api GET "/v2/regions?page=3&per_page=4" 200
expect '(.regions | length) == 2 and .links.pages.prev != null and .links.pages.next == null' "regions page 3"
api GET /v2/sizes 200
expect '.meta.total == 7' "seven sizes"

# ------------------------------------------------------------- droplets ---

step "droplets: create, provision, list with pagination and filters"
api POST /v2/droplets 202 \
  '{"name":"web-1","region":"fra1","size":"s-1vcpu-1gb","image":"debian-12-x64","tags":["web","env:smoke"],"backups":true,"ipv6":true}'
expect '.droplet.status == "new" and .links.actions[0].rel == "create"' "a new droplet with its create action"
D1=$(field .droplet.id)
CREATE_ACTION=$(field '.links.actions[0].id')
api POST /v2/droplets 202 '{"names":["web-2","web-3"],"region":"fra1","size":"s-1vcpu-2gb","image":161000103,"tags":["web"]}'
expect '(.droplets | length) == 2' "two droplets"
D2=$(field '.droplets[0].id')
D3=$(field '.droplets[1].id')
api POST /v2/droplets 202 '{"name":"worker-1","region":"fra1","size":"s-1vcpu-1gb","image":"ubuntu-24-04-x64"}'
D4=$(field .droplet.id)
api GET "/v2/droplets/$D1" 200
expect '.droplet.status == "new" and (.droplet.networks.v4 | length) == 0' "new, without addresses"
api GET "/v2/actions/$CREATE_ACTION" 200
expect '.action.status == "in-progress"' "create in progress"
advance_scaled 3
api GET "/v2/droplets/$D1" 200
expect '.droplet.status == "active" and (.droplet.networks.v4 | length) == 2 and (.droplet.networks.v6 | length) == 1' \
  "active, with addresses"
api GET "/v2/actions/$CREATE_ACTION" 200
expect '.action.status == "completed" and .action.completed_at != null' "create completed"
api GET "/v2/droplets?tag_name=web&per_page=2" 200
expect '(.droplets | length) == 2 and .meta.total == 3 and (.links.pages.next | test("tag_name=web"))' "page 1 of the tag"
NEXT=$(field .links.pages.next)
[[ $NEXT == "$API/v2/droplets?"* ]] || show_failure "links.pages.next must point at Prism: $NEXT"
api GET "${NEXT#"$API"}" 200
expect '(.droplets | length) == 1 and .links.pages.first != null and .links.pages.prev != null' "page 2 of the tag"
api GET "/v2/droplets?name=worker-1" 200
expect '.meta.total == 1' "by name"
api GET /v2/droplets 200
expect '.meta.total == 4' "all droplets"

step "droplet actions"
act() {  # act DROPLET JSON: posts an action, lets it complete, checks it completed
  api POST "/v2/droplets/$1/actions" 201 "$2"
  local id
  id=$(field .action.id)
  advance_scaled 2
  api GET "/v2/droplets/$1/actions/$id" 200
  expect '.action.status == "completed"' "action $2 completed"
}
api POST "/v2/droplets/$D1/actions" 422 '{"type":"resize","size":"s-2vcpu-4gb","disk":true}'
act "$D1" '{"type":"shutdown"}'
act "$D1" '{"type":"power_off"}'
api POST "/v2/droplets/$D1/actions" 422 '{"type":"resize","size":"s-9vcpu-99gb"}'
act "$D1" '{"type":"resize","size":"s-2vcpu-4gb","disk":true}'
api GET "/v2/droplets/$D1" 200
expect '.droplet.size_slug == "s-2vcpu-4gb" and .droplet.size.slug == "s-2vcpu-4gb" and .droplet.disk == 80' "resized"
act "$D1" '{"type":"power_on"}'
api POST "/v2/droplets/$D1/actions" 201 '{"type":"reboot"}'
api POST "/v2/droplets/$D1/actions" 422 '{"type":"power_cycle"}'  # one pending event at a time
advance_scaled 2
act "$D1" '{"type":"rename","name":"web-1-renamed"}'
act "$D1" '{"type":"disable_backups"}'
act "$D1" '{"type":"enable_backups"}'
act "$D1" '{"type":"rebuild","image":"ubuntu-22-04-x64"}'
act "$D1" '{"type":"snapshot","name":"snap-1"}'
act "$D1" '{"type":"password_reset"}'
api GET "/v2/droplets/$D1" 200
expect '.droplet.name == "web-1-renamed" and .droplet.status == "active" and .droplet.image.slug == "ubuntu-22-04-x64"' \
  "actions took effect"
api GET "/v2/droplets/$D1/actions?per_page=3" 200
expect '(.actions | length) == 3 and .meta.total > 3' "the droplet's actions, paginated"
api GET "/v2/actions?per_page=5" 200
expect '(.actions | length) == 5 and (.actions[0].id > .actions[1].id)' "all actions, newest first"

# ------------------------------------------------------------- volumes ---

step "volumes and volume actions"
api POST /v2/volumes 201 '{"name":"data-1","size_gigabytes":10,"region":"fra1","filesystem_type":"ext4","tags":["web"]}'
V1=$(field .volume.id)
api POST /v2/volumes 409 '{"name":"data-1","size_gigabytes":10,"region":"fra1"}'
api POST /v2/volumes 400 '{"name":"data-2","size_gigabytes":10,"region":"nyc2"}'
api POST /v2/volumes 201 '{"name":"data-2","size_gigabytes":5,"region":"sfo3"}'
V2=$(field .volume.id)
api GET "/v2/volumes?region=fra1" 200
expect '.meta.total == 1' "volumes by region"
api GET "/v2/volumes?name=data-2&region=sfo3" 200
expect '.meta.total == 1' "volumes by name"
api GET "/v2/volumes/$V1" 200
api POST "/v2/volumes/$V1/actions" 202 "{\"type\":\"attach\",\"droplet_id\":$D2}"
VA=$(field .action.id)
expect '.action.status == "in-progress" and .action.type == "attach_volume"' "attach in progress"
advance_scaled 2
api GET "/v2/volumes/$V1/actions/$VA" 200
expect '.action.status == "completed"' "attach completed"
api GET "/v2/volumes/$V1" 200
expect ".volume.droplet_ids == [$D2]" "attached"
api GET "/v2/droplets/$D2" 200
expect ".droplet.volume_ids == [\"$V1\"]" "the droplet knows its volume"
api POST "/v2/volumes/$V2/actions" 422 "{\"type\":\"attach\",\"droplet_id\":$D2}"  # another region
api DELETE "/v2/volumes/$V1" 409
api POST "/v2/volumes/$V1/actions" 422 '{"type":"resize","size_gigabytes":5}'
api POST "/v2/volumes/$V1/actions" 202 '{"type":"resize","size_gigabytes":20}'
advance_scaled 2
api GET "/v2/volumes/$V1/actions" 200
expect '.meta.total == 2' "the volume's actions"
api POST "/v2/volumes/$V1/actions" 202 "{\"type\":\"detach\",\"droplet_id\":$D2}"
advance_scaled 2
api GET "/v2/volumes/$V1" 200
expect '.volume.droplet_ids == [] and .volume.size_gigabytes == 20' "detached and grown"
api POST "/v2/volumes/$V1/actions" 422 "{\"type\":\"detach\",\"droplet_id\":$D2}"
api DELETE "/v2/volumes/$V2" 204

# ------------------------------------------------------------ databases ---

step "databases"
api POST /v2/databases 201 '{"name":"main-db","engine":"pg","version":"16","region":"fra1","size":"db-s-1vcpu-1gb","num_nodes":1,"tags":["env:smoke"]}'
DB=$(field .database.id)
expect '.database.status == "creating" and (.database.connection.uri | startswith("postgresql://"))' "creating pg"
DB_REST='"region":"fra1","size":"db-s-1vcpu-2gb","num_nodes":1'
api POST /v2/databases 201 "{\"name\":\"mysql-db\",\"engine\":\"mysql\",\"version\":\"8\",$DB_REST}"
expect '.database.connection.uri | startswith("mysql://")' "mysql"
api POST /v2/databases 201 "{\"name\":\"redis-db\",\"engine\":\"redis\",$DB_REST}"
expect '.database.connection.uri | startswith("rediss://")' "redis"
api POST /v2/databases 201 "{\"name\":\"valkey-db\",\"engine\":\"valkey\",$DB_REST}"
api POST /v2/databases 201 "{\"name\":\"mongo-db\",\"engine\":\"mongodb\",\"version\":\"7\",$DB_REST}"
expect '.database.connection.uri | startswith("mongodb+srv://")' "mongodb"
api POST /v2/databases 422 '{"name":"main-db","engine":"pg","region":"fra1","size":"db-s-1vcpu-1gb","num_nodes":1}'
api POST /v2/databases 422 '{"name":"kafka-db","engine":"kafka","region":"fra1","size":"db-s-1vcpu-1gb","num_nodes":1}'
api POST /v2/databases 422 '{"name":"old-db","engine":"pg","version":"9","region":"fra1","size":"db-s-1vcpu-1gb","num_nodes":1}'
api POST /v2/databases 422 '{"name":"big-db","engine":"pg","region":"fra1","size":"db-s-64vcpu-1tb","num_nodes":1}'
api GET "/v2/databases/$DB" 200
expect '.database.status == "creating"' "still creating"
api PUT "/v2/databases/$DB/resize" 422 '{"size":"db-s-2vcpu-4gb","num_nodes":2}'  # not online yet
advance_scaled 3
api GET "/v2/databases/$DB" 200
expect '.database.status == "online"' "online"
api GET /v2/databases 200
expect '(.databases | length) == 5' "five clusters"
api GET "/v2/databases?tag_name=env:smoke" 200
expect '(.databases | length) == 1' "by tag"
api PUT "/v2/databases/$DB/resize" 202 '{"size":"db-s-2vcpu-4gb","num_nodes":2}'
api GET "/v2/databases/$DB" 200
expect '.database.status == "resizing"' "resizing"
advance_scaled 2
api GET "/v2/databases/$DB" 200
expect '.database.status == "online" and .database.size == "db-s-2vcpu-4gb" and .database.num_nodes == 2' "resized"
api PUT "/v2/databases/$DB/firewall" 204 \
  "{\"rules\":[{\"type\":\"ip_addr\",\"value\":\"192.0.2.0/24\"},{\"type\":\"droplet\",\"value\":\"$D2\"},{\"type\":\"tag\",\"value\":\"web\"}]}"
api PUT "/v2/databases/$DB/firewall" 422 '{"rules":[{"type":"droplet","value":"1"}]}'
api GET "/v2/databases/$DB/firewall" 200
expect '(.rules | length) == 3 and .rules[0].cluster_uuid != null' "three rules"

# ------------------------------------------------------- load balancers ---

step "load balancers"
LB_RULES='"forwarding_rules":[{"entry_protocol":"http","entry_port":80,"target_protocol":"http","target_port":8080}]'
api POST /v2/load_balancers 202 "{\"name\":\"edge\",\"region\":\"fra1\",$LB_RULES,\"droplet_ids\":[$D2,$D3],\"health_check\":{\"protocol\":\"http\",\"port\":8080,\"path\":\"/healthz\"}}"
LB=$(field .load_balancer.id)
expect '.load_balancer.status == "new" and .load_balancer.ip == ""' "new, without an ip"
api POST /v2/load_balancers 202 "{\"name\":\"edge-tag\",\"region\":\"fra1\",$LB_RULES,\"tag\":\"web\"}"
LB2=$(field .load_balancer.id)
expect '(.load_balancer.droplet_ids | length) == 3' "the tag's droplets"
api POST /v2/load_balancers 422 "{\"name\":\"bad\",\"region\":\"fra1\",$LB_RULES,\"droplet_ids\":[1]}"
api POST /v2/load_balancers 422 "{\"name\":\"far\",\"region\":\"nyc1\",$LB_RULES,\"droplet_ids\":[$D2]}"
api POST /v2/load_balancers 422 '{"name":"tls","region":"fra1","forwarding_rules":[{"entry_protocol":"https","entry_port":443,"target_protocol":"http","target_port":80}],"droplet_ids":[]}'
advance_scaled 3
api GET "/v2/load_balancers/$LB" 200
expect '.load_balancer.status == "active" and .load_balancer.ip != ""' "active, with an ip"
api GET "/v2/load_balancers?per_page=1" 200
expect '.meta.total == 2 and .links.pages.next != null' "paginated"
api PUT "/v2/load_balancers/$LB" 200 "{\"name\":\"edge\",\"region\":\"fra1\",\"forwarding_rules\":[{\"entry_protocol\":\"tcp\",\"entry_port\":443,\"target_protocol\":\"tcp\",\"target_port\":8443}],\"droplet_ids\":[$D2]}"
expect ".load_balancer.droplet_ids == [$D2] and .load_balancer.forwarding_rules[0].entry_port == 443" "replaced"
api POST "/v2/load_balancers/$LB/droplets" 204 "{\"droplet_ids\":[$D3]}"
api POST "/v2/load_balancers/$LB/droplets" 422 '{"droplet_ids":[1]}'
api DELETE "/v2/load_balancers/$LB/droplets" 204 "{\"droplet_ids\":[$D2]}"
api GET "/v2/load_balancers/$LB" 200
expect ".load_balancer.droplet_ids == [$D3]" "members changed"
api POST "/v2/load_balancers/$LB2/droplets" 422 "{\"droplet_ids\":[$D4]}"  # a tag's members come from the tag
api DELETE "/v2/load_balancers/$LB2" 204

# ------------------------------------------------------------ firewalls ---

step "firewalls"
FW_BODY="{\"name\":\"web-fw\",\"inbound_rules\":[{\"protocol\":\"tcp\",\"ports\":\"22\",\"sources\":{\"addresses\":[\"0.0.0.0/0\",\"::/0\"]}},{\"protocol\":\"icmp\",\"ports\":\"0\",\"sources\":{\"load_balancer_uids\":[\"$LB\"]}}],\"outbound_rules\":[{\"protocol\":\"tcp\",\"ports\":\"1-65535\",\"destinations\":{\"addresses\":[\"0.0.0.0/0\"]}}],\"droplet_ids\":[$D2],\"tags\":[\"web\"]}"
api POST /v2/firewalls 202 "$FW_BODY"
FW=$(field .firewall.id)
expect '.firewall.status == "waiting" and (.firewall.pending_changes | length) == 3' "waiting on three droplets"
api POST /v2/firewalls 400 '{"name":"bad-fw","inbound_rules":[{"protocol":"tcp","ports":"99999","sources":{"addresses":["0.0.0.0/0"]}}]}'
api POST /v2/firewalls 400 '{"name":"bad-fw","inbound_rules":[{"protocol":"tcp","ports":"22","sources":{"addresses":["not-an-address"]}}]}'
api POST /v2/firewalls 400 '{"name":"bad-fw","inbound_rules":[{"protocol":"tcp","ports":"22","sources":{"droplet_ids":[1]}}]}'
advance_scaled 3
api GET "/v2/firewalls/$FW" 200
expect '.firewall.status == "succeeded" and .firewall.pending_changes == []' "succeeded"
api PUT "/v2/firewalls/$FW" 200 '{"name":"web-fw-2","inbound_rules":[{"protocol":"udp","ports":"53","sources":{"tags":["web"]}}]}'
expect '.firewall.status == "waiting" and .firewall.name == "web-fw-2" and .firewall.droplet_ids == []' "replaced"
api POST "/v2/firewalls/$FW/droplets" 204 "{\"droplet_ids\":[$D4]}"
api POST "/v2/firewalls/$FW/droplets" 400 '{"droplet_ids":[1]}'
api POST "/v2/firewalls/$FW/tags" 204 '{"tags":["env:smoke"]}'
advance_scaled 2
api GET "/v2/firewalls/$FW" 200
expect ".firewall.status == \"succeeded\" and .firewall.droplet_ids == [$D4] and .firewall.tags == [\"env:smoke\"]" "members added"
api DELETE "/v2/firewalls/$FW/droplets" 204 "{\"droplet_ids\":[$D4]}"
api DELETE "/v2/firewalls/$FW/tags" 204 '{"tags":["env:smoke"]}'
api GET "/v2/firewalls?per_page=1" 200
expect '.meta.total == 1' "listed"

# ----------------------------------------------------------------- tags ---

step "tags"
api POST /v2/tags 201 '{"name":"smoke-tag"}'
api GET /v2/tags/web 200
expect '.tag.resources.droplets.count == 3 and .tag.resources.volumes.count == 1' "counted"
api GET /v2/tags 200
expect '.meta.total >= 3' "listed"
api POST /v2/tags/smoke-tag/resources 204 \
  "{\"resources\":[{\"resource_id\":\"$D4\",\"resource_type\":\"droplet\"},{\"resource_id\":\"$V1\",\"resource_type\":\"volume\"}]}"
api GET /v2/tags/smoke-tag 200
expect '.tag.resources.count == 2' "tagged through the tag"
api DELETE /v2/tags/smoke-tag/resources 204 "{\"resources\":[{\"resource_id\":\"$D4\",\"resource_type\":\"droplet\"}]}"
api GET "/v2/droplets?tag_name=smoke-tag" 200
expect '.meta.total == 0' "untagged"
api POST /v2/tags/no-such-tag/resources 404 "{\"resources\":[{\"resource_id\":\"$D4\",\"resource_type\":\"droplet\"}]}"
api POST /v2/tags/smoke-tag/resources 422 '{"resources":[{"resource_id":"1","resource_type":"droplet"}]}'
api DELETE /v2/tags/smoke-tag 204
api GET /v2/tags/smoke-tag 404

# ------------------------------------------------------ deletes, errors ---

step "deletes"
api DELETE "/v2/firewalls/$FW" 204
api DELETE "/v2/load_balancers/$LB" 204
api DELETE "/v2/databases/$DB" 204
api DELETE "/v2/volumes/$V1" 204
api DELETE "/v2/droplets/$D4" 204
api DELETE "/v2/droplets?tag_name=web" 204
api GET /v2/droplets 200
expect '.meta.total == 0' "every droplet gone"

step "not found, unauthorized"
api GET /v2/droplets/999999999 404
api DELETE /v2/droplets/999999999 404
api GET /v2/actions/1 404
UUID=00000000-0000-4000-8000-000000000000
for path in databases load_balancers firewalls volumes; do api GET "/v2/$path/$UUID" 404; done
api GET "/v2/databases/$UUID/firewall" 404
api POST /v2/droplets 422 '{"name":"x1","region":"fra1","size":"s-64vcpu-1tb","image":"debian-12-x64"}'
api POST /v2/droplets 422 '{"name":"x1","region":"fra1","size":"s-1vcpu-1gb","image":"windows-xp"}'
api POST /v2/droplets 422 '{"name":"x1","region":"nyc2","size":"s-1vcpu-1gb","image":"debian-12-x64"}'
AUTH_TOKEN=invalid api GET /v2/account 401

step "rate limit: 429 with retry-after once the window is full"
AUTH_TOKEN="$TOKEN-limited" sim PUT /_sim/config '{"rate_limit_per_minute": 3}' >/dev/null
for _ in 1 2 3; do AUTH_TOKEN="$TOKEN-limited" api GET /v2/account 200; done
grep -qi '^ratelimit-remaining: 0' "$WORK/headers" || show_failure "the third call should leave nothing"
AUTH_TOKEN="$TOKEN-limited" api GET /v2/account 429
expect '.id == "too_many_requests"' "a rate-limit error"
grep -qi '^retry-after: [1-9]' "$WORK/headers" || show_failure "a 429 needs retry-after"
AUTH_TOKEN="$TOKEN-limited" sim GET /_sim/stats | jq -e '.requests == 4 and .rate_limited == 1' >/dev/null ||
  die "stats do not count the 429"
AUTH_TOKEN="$TOKEN-limited" advance 61
AUTH_TOKEN="$TOKEN-limited" api GET /v2/account 200

step "injected faults: 500 and 503 through Prism, reset and lost response directly"
AUTH_TOKEN="$TOKEN-faults" sim PUT /_sim/config '{"fault_rate": 1, "faults": {"500": 1}}' >/dev/null
AUTH_TOKEN="$TOKEN-faults" api GET /v2/droplets 500
AUTH_TOKEN="$TOKEN-faults" sim PUT /_sim/config '{"faults": {"503": 1}}' >/dev/null
AUTH_TOKEN="$TOKEN-faults" api GET /v2/droplets 503
AUTH_TOKEN="$TOKEN-faults" sim PUT /_sim/config '{"faults": {"429": 1}}' >/dev/null
AUTH_TOKEN="$TOKEN-faults" api GET /v2/droplets 429
AUTH_TOKEN="$TOKEN-faults" sim PUT /_sim/config '{"faults": {"reset": 1}}' >/dev/null
if curl -sS -o /dev/null -H "Authorization: Bearer $TOKEN-faults" "$SIM/v2/droplets" 2>/dev/null; then
  die "a reset fault must be a transport error"
fi
AUTH_TOKEN="$TOKEN-faults" sim PUT /_sim/config '{"faults": {"lost_response": 1}, "fault_methods": ["POST"]}' >/dev/null
if curl -sS -o /dev/null -H "Authorization: Bearer $TOKEN-faults" -H 'Content-Type: application/json' \
  --data '{"name":"lost","size_gigabytes":1,"region":"fra1"}' "$SIM/v2/volumes" 2>/dev/null; then
  die "a lost response must be a transport error"
fi
AUTH_TOKEN="$TOKEN-faults" sim GET /_sim/stats | jq -e '.resources.volumes == 1' >/dev/null ||
  die "a lost response must still create the volume"

step "admin API: changes behind the client's back still fit the document"
export AUTH_TOKEN="$TOKEN-admin"
api POST /v2/droplets 202 '{"name":"db-1","region":"lon1","size":"s-1vcpu-1gb","image":"debian-11-x64"}'
D=$(field .droplet.id)
advance_scaled 3
sim PATCH "/_sim/resources/droplets/$D" '{"size_slug":"s-2vcpu-2gb","name":"db-1-renamed"}' >/dev/null
api GET "/v2/droplets/$D" 200
expect '.droplet.size.slug == "s-2vcpu-2gb" and .droplet.vcpus == 2 and .droplet.name == "db-1-renamed"' "patched"
sim DELETE "/_sim/resources/droplets/$D" >/dev/null
api GET "/v2/droplets/$D" 404
sim POST /_sim/stats/reset >/dev/null  # no body, as `curl -X POST` sends it
sim GET /_sim/stats | jq -e '.requests == 0' >/dev/null || die "stats/reset left counts"
api POST /v2/volumes 201 '{"name":"scratch","size_gigabytes":1,"region":"lon1"}'
sim POST /_sim/reset >/dev/null
sim GET /_sim/stats | jq -e '.requests == 0 and .resources.volumes == 0' >/dev/null || die "reset left resources"
unset AUTH_TOKEN

# --------------------------------------------------------------- verdict ---

if grep -E "VIOLATIONS|Violation: " "$WORK/prism.log" > "$WORK/violations"; then
  echo "contract-smoke: Prism logged violations:" >&2
  head -n 40 "$WORK/violations" >&2
  exit 1
fi
echo "contract-smoke: $CALLS calls through Prism, no contract violations"
