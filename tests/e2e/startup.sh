#!/usr/bin/env bash
# Startup: keel loads libcurl, libssh and libcrypto only when a command
# needs them, through its modules keel-net.so, keel-ssh.so and
# keel-crypto.so (core/module_loader.h).
# `keel --version`, `--help` and `validate` load none of them; `plan` of a
# stack that reaches no host loads keel-crypto.so alone (the state's key).
# A command that needs a missing module says which and where it looked, and
# does not crash; keel never looks in the working directory, even when it
# cannot tell where it is installed.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

heavy='libcurl|libssh|libssl|libcrypto|libgnutls|libkrb5|libldap'

step "keel's own libraries: none of the heavy ones"
ldd "$KEEL" >"$WORK/ldd.out"
if grep -E "$heavy" "$WORK/ldd.out"; then fail "keel links libraries that only some commands need (above)"; fi
for module in keel-net.so keel-ssh.so keel-crypto.so; do
  [[ -f $KEEL_BUILD_DIR/$module ]] || fail "$module is not built beside keel"
done

new_stack STACK files
cd "$STACK"
cat >keel.yaml <<YAML
keel: 1
project: e2e-startup
providers:
  ex: { type: example, root: "$STACK/out" }
files:
  a: { provider: ex, path: a.txt, content: hello }
YAML

step "--version, --help and validate load no module; plan loads keel-crypto.so alone"
for args in "--version" "--help" "validate" "plan --no-refresh"; do
  # plan reads the state, whose secrets are sealed with the state key.
  unneeded="$heavy|keel-net|keel-ssh|keel-crypto"
  [[ $args != plan* ]] || unneeded='libcurl|libssh|libssl|libgnutls|libkrb5|libldap|keel-net|keel-ssh'
  # shellcheck disable=SC2086
  LD_DEBUG=files "$KEEL" $args >"$WORK/ld.out" 2>&1 || { show "$WORK/ld.out"; fail "keel $args failed"; }
  if grep -E "file=[^ ]*($unneeded)" "$WORK/ld.out" | head -3 | grep .; then
    fail "keel $args loaded what it does not need (above)"
  fi
done

step "a missing module is an error that names it"
mkdir -p "$WORK/bin"
cp "$KEEL" "$KEEL_BUILD_DIR/keel-provider-example" "$KEEL_BUILD_DIR/keel-crypto.so" "$WORK/bin/"
new_stack HOSTS hosts
cd "$HOSTS"
cat >keel.yaml <<'YAML'
keel: 1
project: e2e-startup-ssh
servers:
  s1: { provider: ssh, host: 127.0.0.1, port: 1, agent: false, host_key_check: accept-new, known_hosts: ./known_hosts }
YAML
expect_rc 1 "$WORK/bin/keel" apply --auto-approve
assert_contains "$WORK/last.out" "keel-ssh.so is missing"
assert_contains "$WORK/last.out" "$WORK/bin/keel-ssh.so"

step "without keel-crypto.so, a command that needs it stops with a message, before it changes anything"
rm "$WORK/bin/keel-crypto.so"
cd "$STACK"
expect_rc 1 "$WORK/bin/keel" apply --auto-approve
assert_contains "$WORK/last.out" "keel-crypto.so is missing"
[[ ! -e $STACK/out/a.txt ]] || fail "the apply wrote a file although it could not record it"
cd "$HOSTS"

step "with the module, the same apply gets as far as the connection"
expect_rc 1 keel apply --auto-approve
assert_not_contains "$WORK/last.out" "is missing"
assert_contains "$WORK/last.out" "127.0.0.1:1"

step "without /proc, keel cannot tell where it is installed and loads no module, not the working directory's"
if unshare -m --propagation private true 2>/dev/null; then
  cd "$STACK"
  rm -rf .keel
  printf 'not a library\n' >keel-crypto.so   # a repository's own keel-crypto.so
  KEEL_PLUGIN_PATH="$KEEL_BUILD_DIR" unshare -m --propagation private \
    bash -c 'mount -t tmpfs none /proc && exec "$1" plan --no-refresh' _ "$KEEL" \
    >"$WORK/noproc.out" 2>&1 && { show "$WORK/noproc.out"; fail "plan without /proc succeeded"; }
  assert_contains "$WORK/noproc.out" "is /proc mounted?"
  assert_not_contains "$WORK/noproc.out" "./keel-crypto.so"
  rm keel-crypto.so
else
  echo "(unshare -m is not allowed here: skipped)"
fi
