#!/usr/bin/env bash
# Saved plans (`plan --out` / `apply FILE`) and their staleness checks,
# approval without a terminal, --detailed-exitcode, --target, graph, schema.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

OUT="$WORK/out"
mkdir -p "$OUT"
new_stack STACK plans
cd "$STACK"

# write_stack Z_CONTENT [EXTRA_YAML]: x <- y (y reads x), z on its own.
write_stack() {
  cat >keel.yaml <<YAML
keel: 1
project: e2e-plans
providers:
  ex: { type: example, root: "$OUT" }
files:
  x:
    provider: ex
    path: x.txt
    content: "x content"
  y:
    provider: ex
    path: y.txt
    content: "after \${files.x.sha256}"
  z:
    provider: ex
    path: z.txt
    content: "$1"
${2:-}
YAML
}
serial() { json_get .keel/state.json 'd["serial"]'; }

write_stack "z one"

step "graph and schema"
expect_ok keel graph
cp "$WORK/last.out" "$WORK/graph.dot"
assert_contains "$WORK/graph.dot" "digraph"
grep -qE '"files\.y" -> "files\.x"|"files\.x" -> "files\.y"' "$WORK/graph.dot" ||
  { show "$WORK/graph.dot"; fail "keel graph shows no edge between files.y and files.x"; }
grep -qE '"files\.z" -> ' "$WORK/graph.dot" && { show "$WORK/graph.dot"; fail "keel graph shows an edge from files.z, which depends on nothing"; }
keel schema >"$WORK/schema.json" 2>"$WORK/schema.err" || { show "$WORK/schema.err"; fail "keel schema failed"; }
python3 -m json.tool "$WORK/schema.json" >/dev/null || fail "keel schema does not print valid JSON"
[[ $(json_get "$WORK/schema.json" '"$schema" in d') == True ]] || fail "keel schema has no \"\$schema\""
[[ $(json_get "$WORK/schema.json" '"files" in d["properties"]') == True ]] || fail "keel schema does not describe the files kind of the example plugin"

step "--detailed-exitcode with changes, and --target"
expect_rc 2 keel plan --detailed-exitcode
expect_rc 2 keel plan --target files.y --detailed-exitcode
cp "$WORK/last.out" "$WORK/target.out"
assert_contains "$WORK/target.out" "files.y (create)"
assert_contains "$WORK/target.out" "files.x (create)" "--target files.y does not plan its dependency files.x"
assert_not_contains "$WORK/target.out" "files.z" "--target files.y plans files.z, which y does not depend on"
keel_json plan --target files.y >"$WORK/target.json"
[[ $(json_get "$WORK/target.json" 'sorted(c["address"] for c in d["changes"] if c["action"] != "no-op")') == "['files.x', 'files.y']" ]] ||
  { show "$WORK/target.json"; fail "plan --json --target files.y should change exactly files.x and files.y"; }

step "apply without --auto-approve and without a terminal changes nothing"
rc=0
keel apply </dev/null >"$WORK/noprompt.out" 2>&1 || rc=$?
[[ $rc == 1 ]] || { show "$WORK/noprompt.out"; fail "keel apply without a terminal exited $rc, expected 1"; }
[[ -z $(ls -A "$OUT") ]] || fail "keel apply without approval created files: $(ls -A "$OUT")"
if [[ -e .keel/state.json ]]; then
  [[ $(json_get .keel/state.json 'len(d["resources"])') == 0 ]] || fail "keel apply without approval changed state"
fi

step "plan --out, then apply the file"
expect_ok keel plan --out p.json
[[ -s p.json ]] || fail "plan --out p.json wrote nothing"
python3 -m json.tool p.json >/dev/null || fail "p.json is not JSON"
# The very first plan of a stack: there is no state.json yet.
run_rc rc keel apply p.json </dev/null
if [[ $rc != 0 ]]; then
  show "$WORK/last.out"
  soft_fail "\`keel apply p.json\` of the first plan of a new stack (no state.json yet) exited $rc, expected 0 (output above)"
  expect_ok keel apply --auto-approve
else
  assert_contains "$WORK/last.out" "Apply complete! Resources: 3 added"
fi
for f in x y z; do [[ -f $OUT/$f.txt ]] || fail "apply p.json did not create $f.txt"; done
expect_ok keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "No changes"

step "plan --out, then apply the file, on an existing state"
write_stack "z changed by a saved plan"
expect_ok keel plan --out p1.json
assert_contains "$WORK/last.out" "files.z (update in place)"
expect_ok keel apply p1.json </dev/null
assert_contains "$WORK/last.out" "Apply complete! Resources: 0 added, 1 changed, 0 destroyed"
[[ $(cat "$OUT/z.txt") == "z changed by a saved plan" ]] || fail "apply p1.json did not rewrite z.txt"
expect_ok keel plan --detailed-exitcode
write_stack "z one"
expect_ok keel apply --auto-approve

step "a saved plan is refused once the state has moved"
write_stack "z one" "  w: { provider: ex, path: w.txt, content: w }"
cp keel.yaml "$WORK/stack-v2.yaml"
expect_ok keel plan --out p2.json
assert_contains "$WORK/last.out" "files.w (create)"
before=$(serial)
write_stack "z two"
expect_ok keel apply --auto-approve
[[ $(serial) != "$before" ]] || fail "the apply of the edited stack did not move the state serial"
# Back to the stack p2.json was made from: only the state differs now.
cp "$WORK/stack-v2.yaml" keel.yaml
after=$(serial)
rc=0
keel apply p2.json </dev/null >"$WORK/stale.out" 2>&1 || rc=$?
[[ $rc == 1 ]] || { show "$WORK/stale.out"; fail "apply of a plan made before the state changed exited $rc, expected 1"; }
grep -qi "state has changed" "$WORK/stale.out" || { show "$WORK/stale.out"; fail "the refusal does not say that the state has changed"; }
[[ ! -e $OUT/w.txt ]] || fail "the refused plan still created w.txt"
[[ $(serial) == "$after" ]] || fail "the refused apply changed the state serial"

step "a saved plan is refused once keel.yaml was edited"
expect_ok keel plan --out p3.json
echo "# an edit after the plan was saved" >>keel.yaml
rc=0
keel apply p3.json </dev/null >"$WORK/edited.out" 2>&1 || rc=$?
[[ $rc == 1 ]] || { show "$WORK/edited.out"; fail "apply of a plan whose keel.yaml was edited exited $rc, expected 1"; }
grep -qi "stack file has changed\|keel.yaml.*changed" "$WORK/edited.out" || { show "$WORK/edited.out"; fail "the refusal does not say that the stack file changed"; }
[[ ! -e $OUT/w.txt ]] || fail "the refused plan still created w.txt"
[[ $(serial) == "$after" ]] || fail "the refused apply changed the state serial"

step "the current stack applies, and then there is nothing to do"
expect_ok keel apply --auto-approve
[[ -f $OUT/w.txt ]] || fail "w.txt was not created"
expect_rc 0 keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "No changes"
