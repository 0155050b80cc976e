#!/usr/bin/env bash
# bench/ssh_bench.sh [BUILD_DIR] [--hosts N] [--deploy-hosts N] [--runs N]
#                    [--artifact-mb N] [--dir DIR] [--keep]
#
# Side by side against the same SSH hosts (tests/support/start-ssh-hosts.sh,
# one sshd per host on 127.0.0.1, each with its own /opt/keel):
#   (a) keel exec SELECTOR --forks N -- true             on 10 and N hosts
#   (b) ansible GROUP -f N -m command -a true             (Debian ansible-core)
#   (c) plain ssh in a sequential shell loop, BatchMode
#   (d) a deploy of a random-data tarball (10 MB) to 20 hosts:
#       keel deploy APP   against   ansible -m copy
# and prints a table, the ratio ansible/keel at N hosts and whether keel is at
# least 5 times faster (the SSH issue's target). A row whose tool fails says
# so and the others still run; the program exits non-zero only when the hosts
# cannot be started. Run as root (the hosts are namespaces and sshds).
#
# BUILD_DIR holds keel (default: $KEEL_BUILD_DIR, else build/ in the
# repository). See bench/README.md, section ssh_bench.
set -uo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$HERE/.." && pwd -P)
SUPPORT="$REPO/tests/support"

BUILD_DIR=${KEEL_BUILD_DIR:-$REPO/build}
HOSTS=50
SMALL=10
DEPLOY_HOSTS=20
RUNS=3
ARTIFACT_MB=10
BASE_DIR=${TMPDIR:-/tmp}
KEEP=0

die() { echo "ssh_bench: error: $*" >&2; exit 1; }
say() { echo "ssh_bench: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) HOSTS=$2; shift 2 ;;
    --deploy-hosts) DEPLOY_HOSTS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --artifact-mb) ARTIFACT_MB=$2; shift 2 ;;
    --dir) BASE_DIR=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option: $1" ;;
    *) BUILD_DIR=$1; shift ;;
  esac
done
for v in HOSTS DEPLOY_HOSTS RUNS ARTIFACT_MB; do
  case "${!v}" in ''|*[!0-9]*|0) die "--$(echo "$v" | tr 'A-Z_' 'a-z-') takes a positive number" ;; esac
done
[ "$SMALL" -le "$HOSTS" ] || SMALL=$HOSTS
[ "$DEPLOY_HOSTS" -le "$HOSTS" ] || DEPLOY_HOSTS=$HOSTS
[ "$(id -u)" = 0 ] || die "must run as root (the test hosts are namespaces running sshd)"
KEEL="$(cd -- "$BUILD_DIR" 2>/dev/null && pwd -P)/keel"
[ -x "$KEEL" ] || die "$BUILD_DIR/keel not built (cmake --build $BUILD_DIR --target keel)"
HAVE_ANSIBLE=1
command -v ansible >/dev/null 2>&1 || HAVE_ANSIBLE=0

WORK=$(mktemp -d "$BASE_DIR/keel-ssh-bench.XXXXXX") || die "cannot create a directory in $BASE_DIR"
cleanup() {
  "$SUPPORT/stop-ssh-hosts.sh" "$WORK/hosts" >/dev/null 2>&1
  if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf -- "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() { date +%s%N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---------------------------------------------------------------------------
# Hosts

say "starting $HOSTS hosts"
"$SUPPORT/start-ssh-hosts.sh" "$WORK/hosts" "$HOSTS" >/dev/null || die "start-ssh-hosts.sh failed"
# shellcheck disable=SC1091
. "$WORK/hosts/hosts.env"
read -r -a PORTS <<< "$SSH_HOSTS_PORTS"
read -r -a ADDRS <<< "$SSH_HOSTS_ADDRS"
KEY=$SSH_HOSTS_KEY
KNOWN=$SSH_HOSTS_KNOWN_HOSTS

# ---------------------------------------------------------------------------
# The artifact: random data (it does not compress), made afresh for every
# run so that neither tool can skip an upload of content it already has.

make_artifact() {  # make_artifact RUN -> $WORK/artifacts/blob-RUN.tar.gz
  local d="$WORK/artifacts/src-$1"
  mkdir -p "$d"
  head -c "$((ARTIFACT_MB * 1024 * 1024))" /dev/urandom > "$d/data.bin"
  echo "run $1" > "$d/VERSION"
  tar -czf "$WORK/artifacts/blob-$1.tar.gz" -C "$d" .
  rm -rf -- "$d"
}
mkdir -p "$WORK/artifacts"

# ---------------------------------------------------------------------------
# keel's stack: one `ssh` server block per host (each has its own port, so
# `count` cannot describe them), no agent. Adjust here when the stack syntax
# changes.

STACK="$WORK/stack"
mkdir -p "$STACK"
write_stack() {  # write_stack ARTIFACT
  {
    echo "keel: 1"
    echo "project: bench"
    echo "servers:"
    for i in $(seq 1 "$HOSTS"); do
      echo "  h$i:"
      echo "    provider: ssh"
      echo "    host: ${ADDRS[$((i - 1))]}"
      echo "    port: ${PORTS[$((i - 1))]}"
      echo "    user: root"
      echo "    key: $KEY"
      echo "    known_hosts: $KNOWN"
      echo "    agent: false"
    done
    echo "apps:"
    echo "  blob:"
    echo "    servers: [$(for i in $(seq 1 "$DEPLOY_HOSTS"); do printf '%sservers.h%d' "$([ "$i" = 1 ] || echo ', ')" "$i"; done)]"
    echo "    artifact: $1"
    echo "    start: \"true\""
    echo "    rollout: { batch: $DEPLOY_HOSTS }"
  } > "$STACK/keel.yaml"
}
keel_selectors() {  # keel_selectors N: the first N hosts
  if [ "$1" = "$HOSTS" ]; then echo servers; return; fi
  for i in $(seq 1 "$1"); do printf 'servers.h%d ' "$i"; done
}

# ---------------------------------------------------------------------------
# Ansible's inventory: groups g10, gN and the deploy group, same hosts in the
# same order as keel's; strict host keys against the same known_hosts file.

INV="$WORK/inventory.ini"
{
  echo "[all_hosts]"
  for i in $(seq 1 "$HOSTS"); do
    echo "h$i ansible_host=${ADDRS[$((i - 1))]} ansible_port=${PORTS[$((i - 1))]}"
  done
  for n in "$SMALL" "$DEPLOY_HOSTS" "$HOSTS"; do
    echo "[g$n]"
    for i in $(seq 1 "$n"); do echo "h$i"; done
  done
  echo "[all:vars]"
  echo "ansible_user=root"
  echo "ansible_ssh_private_key_file=$KEY"
  echo "ansible_ssh_common_args='-o UserKnownHostsFile=$KNOWN -o StrictHostKeyChecking=yes'"
  # Explicit: skips the interpreter discovery round trip (Ansible at its best).
  echo "ansible_python_interpreter=/usr/bin/python3"
} > "$INV"
export ANSIBLE_HOST_KEY_CHECKING=True
export ANSIBLE_HOME="$WORK/ansible-home"
export ANSIBLE_LOCAL_TEMP="$WORK/ansible-home/tmp"
export ANSIBLE_NOCOLOR=1
export ANSIBLE_RETRY_FILES_ENABLED=False
export ANSIBLE_DEPRECATION_WARNINGS=False

# ---------------------------------------------------------------------------
# Timing. Every figure is the median wall time of RUNS runs; each run starts
# cold: keel connects anew, and Ansible gets a fresh ControlPersist directory
# (its default ssh_args keep master connections for 60 s, which would let a
# second run skip the handshakes that keel's runs pay).

# time_cmd LABEL RUN CMD...: runs CMD (output in $WORK/out/LABEL-RUN.log),
# prints the wall seconds, or "fail" with the log's tail on stderr.
mkdir -p "$WORK/out"
time_cmd() {
  local label=$1 run=$2 log t0 t1 rc
  shift 2
  log="$WORK/out/$label-$run.log"
  t0=$(now_ns)
  "$@" > "$log" 2>&1
  rc=$?
  t1=$(now_ns)
  if [ $rc -ne 0 ]; then
    say "$label failed (exit $rc): $*"
    tail -n 15 "$log" | sed 's/^/    | /' >&2
    echo fail
    return 1
  fi
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'
}

median() {  # median V...: "fail" if any run failed
  local v
  for v in "$@"; do [ "$v" = fail ] && { echo fail; return; }; done
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# One run of each command, by name.
run_keel_exec() {
  local sel
  read -r -a sel <<< "$(keel_selectors "$1")"
  (cd "$STACK" && "$KEEL" exec "${sel[@]}" --forks "$1" -- true)
}
run_ansible() {  # run_ansible N [extra env...]
  local n=$1 cp="$WORK/ansible-cp/$RANDOM$RANDOM"
  shift
  mkdir -p "$cp"
  (cd "$WORK" && env ANSIBLE_SSH_CONTROL_PATH_DIR="$cp" "$@" ansible "g$n" -i "$INV" -f "$n" -m command -a true) || return 1
}
run_ansible_pipelined() { run_ansible "$1" ANSIBLE_PIPELINING=True; }
run_ssh_loop() {
  local i
  for i in $(seq 1 "$1"); do
    ssh -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KNOWN" -o ControlMaster=no \
      -i "$KEY" -p "${PORTS[$((i - 1))]}" "root@${ADDRS[$((i - 1))]}" true || return 1
  done
}
run_keel_deploy() { (cd "$STACK" && write_stack "$1" && "$KEEL" deploy blob); }
run_ansible_copy() {
  local cp="$WORK/ansible-cp/$RANDOM$RANDOM"
  mkdir -p "$cp"
  (cd "$WORK" && ANSIBLE_SSH_CONTROL_PATH_DIR="$cp" ansible "g$DEPLOY_HOSTS" -i "$INV" -f "$DEPLOY_HOSTS" \
    -m copy -a "src=$1 dest=/opt/keel/ansible-blob-$2.tar.gz mode=0644")
}

# measure LABEL FN ARGS...: RUNS timed runs; prints the median.
measure() {
  local label=$1 r out=()
  shift
  for r in $(seq 1 "$RUNS"); do
    out+=("$(time_cmd "$label" "$r" "$@")")
    [ "${out[-1]}" = fail ] && break
  done
  median "${out[@]}"
}

ratio() {  # ratio A B -> A/B, or "-"
  case "$1$2" in *fail*|*-*|*n/a*) echo "-"; return ;; esac
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'
}

# ---------------------------------------------------------------------------
# Setup: keel apply (records every host; timed once, for information).

make_artifact 0
write_stack "$WORK/artifacts/blob-0.tar.gz"
say "keel apply of $HOSTS ssh servers"
APPLY_S=$(time_cmd keel-apply 1 bash -c "cd '$STACK' && '$KEEL' apply --auto-approve")
KEEL_OK=1
[ "$APPLY_S" = fail ] && KEEL_OK=0

# Ansible has nothing to set up, but its first start compiles Python modules
# to its cache: one untimed run so that the first timed one is not penalised.
if [ "$HAVE_ANSIBLE" = 1 ]; then
  say "warming up ansible"
  run_ansible "$SMALL" > "$WORK/out/ansible-warmup.log" 2>&1 || say "ansible warm-up failed (see the rows)"
fi

LOAD_START=$(loadavg)
declare -A FIG
for n in "$SMALL" "$HOSTS"; do
  say "measuring on $n hosts"
  if [ "$KEEL_OK" = 1 ]; then FIG[keel,$n]=$(measure "keel-exec-$n" run_keel_exec "$n"); else FIG[keel,$n]=fail; fi
  if [ "$HAVE_ANSIBLE" = 1 ]; then
    FIG[ansible,$n]=$(measure "ansible-$n" run_ansible "$n")
    FIG[ansiblep,$n]=$(measure "ansible-pipelined-$n" run_ansible_pipelined "$n")
  else
    FIG[ansible,$n]=n/a
    FIG[ansiblep,$n]=n/a
  fi
  FIG[ssh,$n]=$(measure "ssh-loop-$n" run_ssh_loop "$n")
done

say "measuring the deploy to $DEPLOY_HOSTS hosts"
KD=() AC=()
for r in $(seq 1 "$RUNS"); do
  make_artifact "$r"
  art="$WORK/artifacts/blob-$r.tar.gz"
  if [ "$KEEL_OK" = 1 ]; then KD+=("$(time_cmd keel-deploy "$r" run_keel_deploy "$art")"); else KD+=(fail); fi
  if [ "$HAVE_ANSIBLE" = 1 ]; then AC+=("$(time_cmd ansible-copy "$r" run_ansible_copy "$art" "$r")"); else AC+=(n/a); fi
  rm -f -- "$art"
done
DEPLOY_KEEL=$(median "${KD[@]}")
DEPLOY_ANSIBLE=n/a
[ "$HAVE_ANSIBLE" = 1 ] && DEPLOY_ANSIBLE=$(median "${AC[@]}")
LOAD_END=$(loadavg)

# Deploy sanity: every deploy host has the last release's VERSION.
DEPLOYED=0
for i in $(seq 1 "$DEPLOY_HOSTS"); do
  grep -qs "run $RUNS" "$WORK/hosts/h$i/opt-keel/apps/blob/current/VERSION" && DEPLOYED=$((DEPLOYED + 1))
done

# ---------------------------------------------------------------------------
# Report

ANSIBLE_VERSION=n/a
[ "$HAVE_ANSIBLE" = 1 ] && ANSIBLE_VERSION=$(ansible --version 2>/dev/null | head -n1)
echo
echo "ssh_bench: $HOSTS hosts (sshd on 127.0.0.1), median of $RUNS runs, wall seconds"
echo "  keel: $KEEL"
echo "  ansible: $ANSIBLE_VERSION$([ "$HAVE_ANSIBLE" = 1 ] || echo ' (not installed: apt-get install ansible-core; its rows skipped)')"
echo "  load average: $LOAD_START at start, $LOAD_END at end"
[ "$APPLY_S" != fail ] && echo "  keel apply of $HOSTS ssh servers (untimed setup): ${APPLY_S} s"
echo
printf '  %-7s %12s %16s %20s %12s\n' hosts "keel exec" "ansible command" "ansible pipelining" "ssh loop"
for n in "$SMALL" "$HOSTS"; do
  printf '  %-7s %12s %16s %20s %12s\n' "$n" "${FIG[keel,$n]}" "${FIG[ansible,$n]}" "${FIG[ansiblep,$n]}" "${FIG[ssh,$n]}"
done
echo
R=$(ratio "${FIG[ansible,$HOSTS]}" "${FIG[keel,$HOSTS]}")
RP=$(ratio "${FIG[ansiblep,$HOSTS]}" "${FIG[keel,$HOSTS]}")
RS=$(ratio "${FIG[ssh,$HOSTS]}" "${FIG[keel,$HOSTS]}")
VERDICT="-"
if [ "$R" != "-" ]; then
  VERDICT=$(awk -v r="$R" 'BEGIN { print (r >= 5) ? "met" : "MISS" }')
fi
echo "  ansible / keel at $HOSTS hosts: $R (target >= 5: $VERDICT); with pipelining: $RP; ssh loop / keel: $RS"
echo
echo "deploy of a ${ARTIFACT_MB} MB artifact (random data, tar.gz) to $DEPLOY_HOSTS hosts, median of $RUNS runs"
printf '  %-42s %8s\n' "keel deploy blob (upload, unpack, switch)" "$DEPLOY_KEEL"
printf '  %-42s %8s\n' "ansible -m copy (upload only)" "$DEPLOY_ANSIBLE"
echo "  ansible / keel: $(ratio "$DEPLOY_ANSIBLE" "$DEPLOY_KEEL"); hosts on the last release after keel's runs: $DEPLOYED of $DEPLOY_HOSTS"
echo
echo "logs of every run: $WORK/out$([ "$KEEP" = 1 ] || echo ' (deleted at exit; --keep keeps them)')"
