#!/usr/bin/env bash
# start-ssh-hosts.sh DIR N [--netns | --netns-at ADDR[,ADDR...]]
#
# Starts N throw-away SSH "hosts" for the tests and benchmarks of keel's SSH
# fleet features (keel exec, agent install, deploy). Each host is an OpenSSH
# sshd (Debian 12: openssh-server 9.2), as root, public-key auth only, SFTP
# (internal-sftp) and TCP forwarding enabled, running in a mount namespace of
# its own with a private /opt/keel (DIR/hI/opt-keel bind-mounted over it), so
# that what keel installs on one host (/opt/keel/agent, /opt/keel/apps/NAME)
# is not seen by the others.
#
#   default  every host listens on 127.0.0.1, on a free port of its own. The
#            hosts share the network: an agent on 127.0.0.1:7300 on one host
#            is the same port on every host.
#   --netns  every host also gets a network namespace of its own with its own
#            address, 10.213.X.2/30 (this side: 10.213.X.1, a veth pair), and
#            sshd on port 22 there; each host has its own 127.0.0.1.
#   --netns-at ADDR,...  as --netns, but host I has the I-th address given
#            (one per host), as a /32 routed through its veth pair: the
#            addresses a cloud simulator hands out (moto's 10.X.Y.4, .5, ...
#            of a subnet), so that keel reaches "cloud" servers at their
#            private addresses. Refused when an address is already in use or
#            routed here (other than by the default route).
#
# All hosts accept one client key and are listed in one known_hosts file
# ("[127.0.0.1]:PORT ssh-ed25519 ...", or "10.213.X.2 ssh-ed25519 ..." for
# port 22), so clients verify host keys strictly.
#
# Files in DIR:
#   hosts.env      SSH_HOSTS_COUNT, SSH_HOSTS_KEY (client private key),
#                  SSH_HOSTS_KNOWN_HOSTS, SSH_HOSTS_USER (root),
#                  SSH_HOSTS_ADDRS="a1 a2 ..." and SSH_HOSTS_PORTS="p1 p2 ...",
#                  host I (1-based) being the I-th word of each
#   id_ed25519     the client key (and .pub); authorized_keys; known_hosts
#   hI/            host I: host.env, sshd_config, sshd.pid, sshd.log, mntns,
#                  ssh_host_ed25519_key(.pub), opt-keel/ (its /opt/keel)
# hosts.env is also printed on stdout.
#
# Per host: tests/support/ssh-host-ctl.sh DIR stop|start|rekey I (a host
# going down, coming back, or coming back with a new host key).
# Stop them all with tests/support/stop-ssh-hosts.sh DIR.
#
# Hosts start in parallel: 50 take a few seconds.
# Self-contained on purpose (no shared helper file), like start-sshd.sh.
set -euo pipefail

die()  { echo "start-ssh-hosts: error: $*" >&2; exit 1; }
info() { echo "start-ssh-hosts: $*" >&2; }
now_ms() { date +%s%3N; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

[ $# -ge 2 ] || die "usage: $0 DIR N [--netns]"
N=$2
case "$N" in ''|*[!0-9]*) die "bad host count: $N" ;; esac
{ [ "$N" -ge 1 ] && [ "$N" -le 1000 ]; } || die "host count must be 1..1000"
NETNS=0
AT=()
[ "${3:-}" = "--netns" ] && NETNS=1
if [ "${3:-}" = "--netns-at" ]; then
  NETNS=1
  IFS=, read -r -a AT <<<"${4:-}"
  [ "${#AT[@]}" -eq "$N" ] || die "--netns-at wants $N addresses, comma-separated (got '${4:-}')"
  for a in "${AT[@]}"; do
    case "$a" in *[!0-9.]*|'') die "--netns-at: '$a' is not an IPv4 address" ;; esac
    ip -4 -o addr show 2>/dev/null | awk '{ split($4, p, "/"); print p[1] }' | grep -qxF "$a" &&
      die "--netns-at: $a is already an address of this machine"
    [ -z "$(ip -4 route show "$a/32" 2>/dev/null)" ] || die "--netns-at: $a is already routed here"
  done
fi
[ $# -le 2 ] || [ "$NETNS" = 1 ] || die "unknown option: $3"
[ "$(id -u)" = 0 ] || die "must run as root (namespaces; sshd switches to the login user)"
[ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd not found: apt-get install openssh-server"
command -v ssh-keygen >/dev/null || die "ssh-keygen not found: apt-get install openssh-client"
command -v unshare >/dev/null || die "unshare not found: apt-get install util-linux"
if [ "$NETNS" = 1 ]; then
  command -v ip >/dev/null || die "ip not found: apt-get install iproute2"
  command -v nsenter >/dev/null || die "nsenter not found: apt-get install util-linux"
fi
mkdir -p -- "$1" || die "cannot create $1"
DIR=$(cd -- "$1" && pwd -P)
case "$DIR" in *[[:space:]]*) die "DIR must not contain whitespace (it goes into sshd_config)";; esac
[ ! -e "$DIR/hosts.env" ] || die "$DIR already holds hosts; run stop-ssh-hosts.sh $DIR and use a fresh DIR"
CTL="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)/ssh-host-ctl.sh"
[ -x "$CTL" ] || die "$CTL not found or not executable"

t0=$(now_ms)

# N distinct ports that nothing listens on now (20000-59999), from one
# snapshot of the listening sockets; a small race remains until sshd binds.
pick_ports() {
  local used p count=0 tries=0
  used=" $(ss -Htanl 2>/dev/null | awk '{ n = split($4, a, ":"); printf "%s ", a[n] }') "
  while [ "$count" -lt "$N" ]; do
    tries=$((tries + 1))
    [ "$tries" -lt $((N * 50 + 200)) ] || die "no $N free ports found"
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    case "$used" in *" $p "*) continue ;; esac
    port_in_use "$p" && continue
    used="$used$p "
    echo "$p"
    count=$((count + 1))
  done
}

# N free /30 blocks of 10.213.0.0/16 (none of whose addresses is on an
# interface here), as block numbers; and a short id for interface names
# (at most 15 characters: "ks" + 4 hex + host number + "o"/"i").
pick_blocks() {
  local taken b count=0
  taken=" $(ip -4 -o addr show 2>/dev/null | awk '{ split($4, a, "/"); print a[1] }' |
            awk -F. '$1 == 10 && $2 == 213 { printf "%d ", int(($3 * 256 + $4) / 4) }') "
  for b in $(seq 0 16383); do
    case "$taken" in *" $b "*) continue ;; esac
    echo "$b"
    count=$((count + 1))
    [ "$count" -lt "$N" ] || return 0
  done
  die "not enough free /30 blocks in 10.213.0.0/16"
}

ssh-keygen -q -t ed25519 -N '' -C "keel-test-client" -f "$DIR/id_ed25519"
cp -- "$DIR/id_ed25519.pub" "$DIR/authorized_keys"
: > "$DIR/known_hosts"

if [ "$NETNS" = 1 ]; then
  mapfile -t BLOCKS < <(pick_blocks)
  RUN_ID=$(printf '%04x' $((RANDOM % 65536)))
else
  mapfile -t PORTS < <(pick_ports)
fi
[ "$NETNS" = 1 ] || [ "${#PORTS[@]}" -eq "$N" ] || die "could not pick $N ports"

ADDRS=() PORTS_OUT=()
for i in $(seq 1 "$N"); do
  h="$DIR/h$i"
  mkdir -m 700 -- "$h"
  ssh-keygen -q -t ed25519 -N '' -C "keel-test-host$i" -f "$h/ssh_host_ed25519_key"
  if [ "$NETNS" = 1 ]; then
    b=${BLOCKS[$((i - 1))]}
    base=$((b * 4))
    addr="10.213.$((base / 256)).$((base % 256 + 2))"
    gw="10.213.$((base / 256)).$((base % 256 + 1))"
    prefix=30
    if [ "${#AT[@]}" -gt 0 ]; then addr=${AT[$((i - 1))]}; prefix=32; fi
    port=22
    printf 'HOST_ADDR=%s\nHOST_PORT=%s\nHOST_NETNS=%s\nHOST_GATEWAY=%s\nHOST_PREFIX=%s\n' "$addr" "$port" "ks${RUN_ID}h$i" "$gw" "$prefix" > "$h/host.env"
    # Port 22: OpenSSH and libssh look the bare address up.
    echo "$addr $(cut -d' ' -f1,2 "$h/ssh_host_ed25519_key.pub")" >> "$DIR/known_hosts"
  else
    addr=127.0.0.1
    port=${PORTS[$((i - 1))]}
    printf 'HOST_ADDR=%s\nHOST_PORT=%s\nHOST_NETNS=\n' "$addr" "$port" > "$h/host.env"
    echo "[$addr]:$port $(cut -d' ' -f1,2 "$h/ssh_host_ed25519_key.pub")" >> "$DIR/known_hosts"
  fi
  ADDRS+=("$addr")
  PORTS_OUT+=("$port")
done

# Every host at once; each start waits for its own sshd to listen.
pids=()
for i in $(seq 1 "$N"); do
  "$CTL" "$DIR" start "$i" </dev/null >"$DIR/h$i/start.out" 2>&1 &
  pids+=($!)
done
failed=()
for i in $(seq 1 "$N"); do
  wait "${pids[$((i - 1))]}" || failed+=("$i")
done

# A port picked above may be taken by another test before sshd binds it
# (ctest runs tests in parallel): such a host moves to a fresh port, its
# host.env and known_hosts line with it, up to three times.
retry_on_new_port() {
  local i=$1 h="$DIR/h$1" old new attempt
  for attempt in 1 2 3; do
    grep -q "Address already in use" "$h/sshd.log" 2>/dev/null || return 1
    old=${PORTS_OUT[$((i - 1))]}
    new=$(N=1 pick_ports)
    info "host $i: port $old was taken meanwhile; trying $new (attempt $attempt)"
    sed -i "s/^HOST_PORT=.*/HOST_PORT=$new/" "$h/host.env"
    sed -i "s/^\[127.0.0.1\]:$old /[127.0.0.1]:$new /" "$DIR/known_hosts"
    PORTS_OUT[i - 1]=$new
    : > "$h/sshd.log"
    "$CTL" "$DIR" start "$i" </dev/null >"$h/start.out" 2>&1 && return 0
  done
  return 1
}
if [ "$NETNS" = 0 ] && [ ${#failed[@]} -gt 0 ]; then
  still=()
  for i in "${failed[@]}"; do retry_on_new_port "$i" || still+=("$i"); done
  failed=("${still[@]}")
fi

{
  echo "SSH_HOSTS_COUNT=$N"
  echo "SSH_HOSTS_KEY=$DIR/id_ed25519"
  echo "SSH_HOSTS_KNOWN_HOSTS=$DIR/known_hosts"
  echo "SSH_HOSTS_USER=root"
  echo "SSH_HOSTS_ADDRS=\"${ADDRS[*]}\""
  echo "SSH_HOSTS_PORTS=\"${PORTS_OUT[*]}\""
  echo "SSH_HOSTS_NETNS=$NETNS"
} > "$DIR/hosts.env"

if [ ${#failed[@]} -gt 0 ]; then
  for i in "${failed[@]}"; do sed "s/^/  h$i: /" "$DIR/h$i/start.out" >&2; done
  # Leave nothing running behind a failure.
  "$(dirname -- "$CTL")/stop-ssh-hosts.sh" "$DIR" >/dev/null 2>&1 || true
  die "${#failed[@]} of $N hosts failed to start (hosts ${failed[*]})"
fi
cat "$DIR/hosts.env"
info "$N hosts ready ($([ "$NETNS" = 1 ] && echo "network namespaces" || echo "127.0.0.1")) in $(( $(now_ms) - t0 )) ms"
