#!/usr/bin/env bash
# `keel state` commands on real resources of the example plugin: mv keeps a
# renamed resource, show masks secrets, a damaged state file is refused and
# left alone, rm + import brings a resource back.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

OUT="$WORK/out"
mkdir -p "$OUT"
new_stack STACK state
cd "$STACK"
SECRET="state-cmds-secret-$RANDOM"
# write_stack NAME_OF_THE_FIRST: a file with a secret, and files.b.
write_stack() {
  cat >keel.yaml <<YAML
keel: 1
project: e2e-state
providers:
  ex: { type: example, root: "$OUT" }
files:
  $1:
    provider: ex
    path: a.txt
    content: "first"
    sensitive_content: "$SECRET"
  b:
    provider: ex
    path: b.txt
    content: "second"
YAML
}
identity() { stat -c '%i %Y.%y' "$1"; }

write_stack a
step "apply two files"
expect_ok keel apply --auto-approve
assert_contains "$WORK/last.out" "2 added"
expect_ok keel state list
[[ $(sort "$WORK/last.out") == $'files.a\nfiles.b' ]] || { show "$WORK/last.out"; fail "state list should be files.a and files.b"; }
a_before=$(identity "$OUT/a.txt")

step "rename files.a to files.c in the stack and in state: nothing is recreated"
write_stack c
expect_rc 2 keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "files.c (create)"
expect_ok keel state mv files.a files.c
expect_ok keel state list
[[ $(sort "$WORK/last.out") == $'files.b\nfiles.c' ]] || { show "$WORK/last.out"; fail "after state mv, state list should be files.b and files.c"; }
expect_ok keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "No changes"
expect_ok keel apply --auto-approve
[[ $(identity "$OUT/a.txt") == "$a_before" ]] || fail "a.txt was rewritten or recreated after state mv (inode/mtime changed)"

step "state show masks sensitive attributes"
keel_json state show files.c >"$WORK/show.json" 2>"$WORK/show.err" || { show "$WORK/show.err"; fail "keel state show files.c --json failed"; }
[[ $(json_get "$WORK/show.json" 'd["attributes"]["sensitive_content"]') == "(sensitive)" ]] ||
  { show "$WORK/show.json"; fail "state show --json does not mask sensitive_content as (sensitive)"; }
[[ $(json_get "$WORK/show.json" 'd["address"]') == files.c ]] || fail "state show --json: wrong address"
[[ $(json_get "$WORK/show.json" 'd["attributes"]["content"]') == first ]] || fail "state show --json: content should be shown in clear"
assert_not_contains "$WORK/show.json" "$SECRET" "state show --json printed the secret"
keel state show files.c >"$WORK/show.txt" 2>&1 || fail "keel state show files.c failed"
assert_contains "$WORK/show.txt" "(sensitive)"
assert_not_contains "$WORK/show.txt" "$SECRET" "state show printed the secret"
grep -qF -- "$SECRET" .keel/state.json && fail "the secret is in .keel/state.json in clear"

step "a truncated state.json is refused and left byte-identical"
cp .keel/state.json "$WORK/state.good"
[[ -e .keel/state.json.backup ]] || fail "no state.json.backup after several applies"
truncate -s 120 .keel/state.json
sum_before=$(sha256sum <.keel/state.json)
for cmd in "plan" "apply --auto-approve" "state list"; do
  rc=0
  # shellcheck disable=SC2086
  keel $cmd >"$WORK/corrupt.out" 2>&1 || rc=$?
  [[ $rc == 1 ]] || { show "$WORK/corrupt.out"; fail "keel $cmd on a truncated state.json exited $rc, expected 1"; }
  assert_contains "$WORK/corrupt.out" "state.json.backup" "keel $cmd on a truncated state does not name state.json.backup"
  [[ $(sha256sum <.keel/state.json) == "$sum_before" ]] || fail "keel $cmd changed the truncated state.json"
done
cp "$WORK/state.good" .keel/state.json
expect_ok keel plan --detailed-exitcode

step "state rm, then state import brings files.b back"
b_before=$(identity "$OUT/b.txt")
expect_ok keel state rm files.b --auto-approve
expect_ok keel state list
[[ $(cat "$WORK/last.out") == files.c ]] || { show "$WORK/last.out"; fail "after state rm files.b, state list should be files.c only"; }
[[ -f $OUT/b.txt ]] || fail "state rm deleted the file itself"
expect_rc 2 keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "files.b (create)"
expect_ok keel state import files.b "$OUT/b.txt"
expect_ok keel state list
[[ $(sort "$WORK/last.out") == $'files.b\nfiles.c' ]] || { show "$WORK/last.out"; fail "after import, state list should be files.b and files.c"; }
run_rc rc keel plan --detailed-exitcode
if [[ $rc != 0 ]] || ! grep -qF "No changes" "$WORK/last.out"; then
  show "$WORK/last.out"
  soft_fail "after \`keel state import files.b $OUT/b.txt\`, \`keel plan --detailed-exitcode\` exited $rc with changes (above), expected no changes"
fi
[[ $(identity "$OUT/b.txt") == "$b_before" ]] || fail "b.txt was touched by rm + import"

step "state pull, then push: the next serial; an older pull or a foreign file is refused, the state untouched"
keel state pull >"$WORK/pulled.json" || fail "state pull failed"
grep -qF "$SECRET" "$WORK/pulled.json" && fail "state pull printed the secret in clear"
jq -e '.resources | length == 2' "$WORK/pulled.json" >/dev/null || fail "the pulled state does not hold both files"
serial=$(jq -r .serial .keel/state.json)
expect_ok keel state push "$WORK/pulled.json"
[[ $(jq -r .serial .keel/state.json) == $((serial + 1)) ]] || fail "push did not save the next serial"
expect_ok keel state history
assert_contains "$WORK/last.out" "keel state push"
before=$(sha256sum .keel/state.json)
expect_rc 1 keel state push "$WORK/pulled.json"
assert_contains "$WORK/last.out" "older than the state here"
jq '.project = "someone-else"' "$WORK/pulled.json" >"$WORK/foreign.json"
expect_rc 1 keel state push --force "$WORK/foreign.json"
assert_contains "$WORK/last.out" "belongs to project \`someone-else\`"
jq 'del(.project, .environment, .stack_file)' "$WORK/pulled.json" >"$WORK/unbound.json"
expect_rc 1 keel state push --force "$WORK/unbound.json"
assert_contains "$WORK/last.out" "records no project"
printf '{"version": 1}' >"$WORK/broken.json"
expect_rc 1 keel state push --force "$WORK/broken.json"
[[ $(sha256sum .keel/state.json) == "$before" ]] || fail "a refused push changed state.json"
expect_ok keel plan
assert_contains "$WORK/last.out" "No changes"

step "a KEEL_ENV left set does not plan this stack's resources again in an empty environment"
expect_rc 1 env KEEL_ENV=production "$KEEL" plan
assert_contains "$WORK/last.out" "Run without -e and KEEL_ENV to use it"
[[ ! -e .keel/environments/production/state.json ]] || fail "the refused run made a state for the environment"

# Issue 14, item 8 and its siblings: nothing may turn a lost state or key
# into an empty state or a new key.
step "a missing state.json beside its backup is refused, naming the backup"
mv .keel/state.json "$WORK/state.moved"
listing_before=$(ls -A .keel)
for cmd in "plan" "apply --auto-approve" "state list"; do
  rc=0
  # shellcheck disable=SC2086
  keel $cmd >"$WORK/missing.out" 2>&1 || rc=$?
  [[ $rc == 1 ]] || { show "$WORK/missing.out"; fail "keel $cmd without state.json (backup beside it) exited $rc, expected 1"; }
  assert_contains "$WORK/missing.out" "cp $STACK/.keel/state.json.backup $STACK/.keel/state.json"
  [[ $(ls -A .keel) == "$listing_before" ]] || fail "keel $cmd changed .keel without state.json: $(ls -A .keel)"
done
mv "$WORK/state.moved" .keel/state.json
expect_ok keel plan --detailed-exitcode

step "a missing state.key is reported as missing, and no new key is made"
mv .keel/state.key "$WORK/key.moved"
expect_rc 1 keel plan
assert_contains "$WORK/last.out" "state.key is missing"
assert_not_contains "$WORK/last.out" "wrong state key"
[[ ! -e .keel/state.key ]] || fail "keel made a new state.key for an existing state"
mv "$WORK/key.moved" .keel/state.key

step "a state.key others can read is refused with the chmod that fixes it"
chmod 0644 .keel/state.key
expect_rc 1 keel plan
assert_contains "$WORK/last.out" "chmod 0600"
chmod 0600 .keel/state.key
expect_ok keel plan --detailed-exitcode

step "under umask 000, nothing keel makes in .keel is writable by others"
new_stack UMASK_STACK umask
cd "$UMASK_STACK"
cat >keel.yaml <<YAML
keel: 1
project: e2e-state-umask
providers:
  ex: { type: example, root: "$OUT/umask" }
files:
  u: { provider: ex, path: u.txt, content: "u" }
YAML
(umask 000 && keel apply --auto-approve >"$WORK/umask.out" 2>&1 && keel apply --auto-approve >>"$WORK/umask.out" 2>&1) ||
  { show "$WORK/umask.out"; fail "apply under umask 000 failed"; }
writable=$(find .keel ! -type l -perm /022)
[[ -z $writable ]] || fail "writable by group or others under umask 000: $writable"
