#!/usr/bin/env bash
# Startup: keel loads libcurl and libssh only when a command needs them,
# through its modules keel-net.so and keel-ssh.so (core/module_loader.h).
# `keel --version`, `--help`, `validate` and `plan` of a stack that reaches
# no host load neither; a command that needs a missing module says which
# and where it looked, and does not crash.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

heavy='libcurl|libssh|libssl|libgnutls|libkrb5|libldap'

step "keel's own libraries: none of the heavy ones"
ldd "$KEEL" >"$WORK/ldd.out"
if grep -E "$heavy" "$WORK/ldd.out"; then fail "keel links libraries that only some commands need (above)"; fi
for module in keel-net.so keel-ssh.so; do
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

step "--version, --help, validate and plan load no module"
for args in "--version" "--help" "validate" "plan --no-refresh"; do
  # shellcheck disable=SC2086
  LD_DEBUG=files "$KEEL" $args >"$WORK/ld.out" 2>&1 || { show "$WORK/ld.out"; fail "keel $args failed"; }
  if grep -E "file=[^ ]*($heavy|keel-net|keel-ssh)" "$WORK/ld.out" | head -3 | grep .; then
    fail "keel $args loaded what it does not need (above)"
  fi
done

step "a missing module is an error that names it"
mkdir -p "$WORK/bin"
cp "$KEEL" "$KEEL_BUILD_DIR/keel-provider-example" "$WORK/bin/"
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

step "with the module, the same apply gets as far as the connection"
expect_rc 1 keel apply --auto-approve
assert_not_contains "$WORK/last.out" "is missing"
assert_contains "$WORK/last.out" "127.0.0.1:1"
