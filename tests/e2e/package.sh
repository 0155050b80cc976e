#!/usr/bin/env bash
# The Debian package: `cpack -G DEB` packages the binaries this build dir
# already holds (nothing is rebuilt), `dpkg -x` installs it into a scratch
# root, and an unprivileged user runs keel from there with nothing of the
# build around: `keel init`, `keel validate` (which starts the packaged
# DigitalOcean plugin from lib/keel/plugins for its schema) and `keel plan`.
# Also checks the package's name, its computed dependencies, the man pages
# and the bash completion it installs.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

[[ -f $KEEL_BUILD_DIR/CPackConfig.cmake ]] || fail "no CPackConfig.cmake in $KEEL_BUILD_DIR (CMakeLists.txt includes CPack)"
[[ -f $KEEL_BUILD_DIR/generated/docs/man1/keel.1 ]] || fail "man pages were not generated (target keel_docs)"

step "cpack -G DEB from the built tree"
PKG="$WORK/pkg"
expect_ok cpack -G DEB -B "$PKG" --config "$KEEL_BUILD_DIR/CPackConfig.cmake"
VERSION=$("$KEEL" --version | awk '{print $2}')
DEB="$PKG/keel_${VERSION}_amd64.deb"
[[ -f $DEB ]] || { ls -la "$PKG" | show; fail "expected $DEB"; }

step "the package's control data"
expect_ok dpkg-deb -I "$DEB"
cp "$WORK/last.out" "$WORK/control"
assert_contains "$WORK/control" "Package: keel"
assert_contains "$WORK/control" "Architecture: amd64"
assert_contains "$WORK/control" "libssh-4" "dependencies are computed from the binaries (shlibdeps)"
expect_ok dpkg-deb -c "$DEB"
cp "$WORK/last.out" "$WORK/contents"
for f in ./usr/bin/keel ./usr/bin/keel-agent ./usr/bin/keel-dr ./usr/lib/keel/plugins/keel-provider-digitalocean \
         ./usr/lib/keel/plugins/keel-provider-aws ./usr/share/keel/templates/aws/keel.yaml \
         ./usr/lib/keel/keel-crypto.so ./usr/lib/keel/keel-net.so ./usr/lib/keel/keel-ssh.so \
         ./usr/share/keel/templates/quickstart/keel.yaml ./usr/share/man/man1/keel.1 ./usr/share/man/man1/keel-plan.1 \
         ./usr/share/bash-completion/completions/keel ./usr/share/zsh/vendor-completions/_keel \
         ./usr/share/fish/vendor_completions.d/keel.fish; do
  assert_contains "$WORK/contents" " $f" "the package installs $f"
done
if grep -E ' \./(opt|home|root|tmp|work)/' "$WORK/contents" >/dev/null; then
  show "$WORK/contents"
  fail "the package installs outside /usr"
fi

step "dpkg -x into a scratch root"
ROOT="$WORK/root"
expect_ok dpkg -x "$DEB" "$ROOT"
PKEEL="$ROOT/usr/bin/keel"

# An unprivileged user: CI runs as root, so make one; otherwise we are one.
RUN_AS=()
if [[ $(id -u) == 0 ]]; then
  USER_NAME=keel-e2e-pkg
  id "$USER_NAME" >/dev/null 2>&1 ||
    useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group "$USER_NAME"
  RUN_AS=(setpriv --reuid="$(id -u "$USER_NAME")" --regid="$(id -g "$USER_NAME")" --init-groups --)
fi
HOME_DIR="$WORK/home"
STACK="$WORK/stack"
mkdir -p "$HOME_DIR" "$STACK"
[[ $(id -u) == 0 ]] && chown "$USER_NAME:$USER_NAME" "$HOME_DIR" "$STACK"

# The packaged keel, as that user, with a bare environment: no build dir on
# PATH, no KEEL_PLUGIN_PATH, no KEEL_AGENT_BIN.
pkeel() { (cd "$STACK" && "${RUN_AS[@]}" env -i HOME="$HOME_DIR" PATH=/usr/bin:/bin LANG=C.UTF-8 "$PKEEL" "$@"); }

step "keel --version and --help from the package"
expect_ok pkeel --version
assert_contains "$WORK/last.out" "keel $VERSION"
[[ ${#RUN_AS[@]} == 0 ]] || { expect_ok "${RUN_AS[@]}" id -u; [[ $(cat "$WORK/last.out") != 0 ]] || fail "not running as a non-root user"; }

step "keel init, validate and plan: the quickstart (the local provider, no cloud)"
expect_ok pkeel init --list
assert_contains "$WORK/last.out" "quickstart"
assert_contains "$WORK/last.out" "digitalocean"
expect_ok pkeel init --list --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "quickstart" in d["templates"], d' "$WORK/last.out" ||
  fail "keel init --list --json is not the templates document"
expect_ok pkeel init
assert_contains "$WORK/last.out" "Wrote ./keel.yaml from the \`quickstart\` template"
cmp "$STACK/keel.yaml" "$ROOT/usr/share/keel/templates/quickstart/keel.yaml" || fail "keel init wrote something else than the template"
expect_rc 1 pkeel init
assert_contains "$WORK/last.out" "keel.yaml exists"
expect_rc 1 pkeel init --json
assert_contains "$WORK/last.out" '{"error":{"kind":"conflict"'
expect_ok pkeel init ssh --dir json-init --json
assert_contains "$WORK/last.out" '{"template":"ssh","written":"json-init/keel.yaml"}'
expect_ok pkeel validate
assert_contains "$WORK/last.out" "The stack is valid"
expect_ok pkeel plan
assert_contains "$WORK/last.out" "+ databases.main"
assert_contains "$WORK/last.out" "+ servers.app"

step "keel init digitalocean: validate starts the packaged plugin from lib/keel/plugins"
rm -rf "$STACK/keel.yaml" "$STACK/.keel"
expect_ok pkeel init digitalocean
expect_ok pkeel validate
assert_contains "$WORK/last.out" "The stack is valid"

step "keel init aws: the AMI is the user's to give; then the packaged AWS plugin validates it"
rm -rf "$STACK/keel.yaml" "$STACK/.keel"
expect_ok pkeel init aws
expect_rc 1 pkeel validate
assert_contains "$WORK/last.out" "variable \`image\` has no value"
expect_ok pkeel validate --var image=ami-12c6146b
assert_contains "$WORK/last.out" "The stack is valid: 8 resources"

step "man pages and the bash completion, as installed"
if command -v man >/dev/null; then
  expect_ok env MANWIDTH=100 man -l "$ROOT/usr/share/man/man1/keel-plan.1"
  assert_contains "$WORK/last.out" "--detailed-exitcode"
fi
expect_ok bash -c 'source "$1"; complete -p keel; COMP_WORDS=(keel pla); COMP_CWORD=1; _keel; printf "%s\n" "${COMPREPLY[@]}"' \
  _ "$ROOT/usr/share/bash-completion/completions/keel"
assert_contains "$WORK/last.out" "complete -o bashdefault -o default -F _keel keel"
assert_contains "$WORK/last.out" "plan"

