#!/usr/bin/env bash
# Installs what keel builds and tests with, from Debian 12 packages only.
# Idempotent; about a minute on a fresh machine, seconds afterwards.
# Runs apt through sudo when not root.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# Build toolchain and libraries.
LIBS=(g++ cmake make pkg-config
      libcli11-dev libcurl4-openssl-dev nlohmann-json3-dev libyaml-cpp-dev libyaml-dev libpugixml-dev
      libssh-dev libspdlog-dev catch2 libcpp-httplib-dev libpq-dev libssl-dev libzstd-dev
      libxml2-dev libhowardhinnant-date-dev libarchive-dev libjemalloc-dev libre2-dev)
# The servers the local provider runs and the tests talk to. Without
# recommends: prometheus would pull node-exporter, monitoring-plugins-standard
# smbclient and snmp. liburiparser1 is what check_curl needs.
TOOLS=(postgresql-15 postgresql-client-15 redis-server redis-tools memcached
       openssh-server openssh-client curl prometheus procps
       monitoring-plugins-basic monitoring-plugins-standard liburiparser1
       restic awscli jq
       iproute2 python3-graphql-core
       dpkg-dev man-db zsh fish
       git rsync python3-yaml)
# git, rsync: gitlab-ci-local runs the GitLab pipeline of templates/ci
# (tests/e2e/ci_pipelines.sh); python3-yaml reads the other pipelines' files.
# python3-graphql-core: the GraphQL server of the graphql check's tests
# (tests/support/graphql_server.py).
# iproute2: tests/support/start-ssh-hosts.sh --netns gives each test host a
# network namespace and a veth pair.
# dpkg-dev: dpkg-shlibdeps, which computes the .deb's dependencies
# (tests/e2e/package.sh); man-db, zsh and fish: the man pages and the zsh
# and fish completions are checked by the tools that read them.

# --fuzz: the libFuzzer builds of scripts/fuzz.sh (Debian 12's clang 19 is
# the first that compiles std::expected); not needed by the tests.
FUZZ=()
if [ "${1:-}" = "--fuzz" ]; then FUZZ=(clang-19 libclang-rt-19-dev); fi

# --bench: what bench/agent_bench, bench/dr_bench and bench/ssh_bench.sh
# compare keel with (not needed by the tests); ansible-core for ssh_bench.
BENCH=()
if [ "${1:-}" = "--bench" ]; then
  BENCH=(prometheus-node-exporter prometheus-blackbox-exporter wrk pgbackrest zstd ansible-core)
fi

missing=()
for p in "${LIBS[@]}" "${TOOLS[@]}" "${FUZZ[@]}" "${BENCH[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
# apt-get update has no lock timeout of its own: retry while another apt runs.
for i in $(seq 1 30); do
  $SUDO apt-get update -qq && break
  [ "$i" = 30 ] && exit 1
  sleep 10
done
$SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${LIBS[@]}"
$SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${TOOLS[@]}" "${FUZZ[@]}" "${BENCH[@]}"
echo "install-deps: done"
