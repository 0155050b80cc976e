#!/usr/bin/env bash
# Validation: a stack with many mistakes gets every one reported at once,
# each at its file:line:column, with a hint for a typo; nothing is created.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

OUT="$WORK/out"
new_stack STACK validate
cd "$STACK"
# Line numbers matter below: keep the numbering comments in step.
cat >keel.yaml <<YAML
keel: 1
project: e2e-validate
providers:
  ex: { type: example, root: "$OUT" }
databases:
  main:
    enigne: postgres
caches:
  sessions:
    engine: redis
    port: "not-a-number"
  nameless:
    running: true
files:
  a:
    provider: ex
    path: a.txt
    content: \${files.b.sha256}
  b:
    provider: ex
    path: b.txt
    content: \${files.a.sha256}
  c:
    provider: ex
    path: c.txt
    contnet: hello
  d:
    provider: ex
    path: d.txt
    content: \${files.nope.sha256}
colour: blue
YAML
# line  7: `enigne` (typo of engine)            -> keel.yaml:7:5
# line 11: port is a string, not an integer     -> keel.yaml:11:5
# line 12: caches.nameless lacks `engine`       -> keel.yaml:12:3
# line 15/19: files.a <-> files.b cycle         -> keel.yaml:15:3 or 19:3
# line 26: `contnet` (typo of content)          -> keel.yaml:26:5
# line 30: reference to files.nope              -> keel.yaml:30:5
# line 31: unknown top-level key `colour`       -> keel.yaml:31:1

# expect_diag FILE LINE COL TEXT...: a diagnostic at keel.yaml:LINE:COL in
# FILE whose message contains every TEXT. A missing one is recorded and the
# others are still checked, so that the report names all that are missing.
expect_diag() {
  local file=$1 line=$2 col=$3
  shift 3
  local found t
  found=$(grep -F "keel.yaml:$line:$col:" "$file" || true)
  if [[ -z $found ]]; then
    soft_fail "$(basename "$file"): no diagnostic at keel.yaml:$line:$col (expected one about: $*)"
    return
  fi
  for t in "$@"; do
    grep -qF -- "$t" <<<"$found" || soft_fail "$(basename "$file"): the diagnostic at keel.yaml:$line:$col does not mention \"$t\": $found"
  done
}

# check_all FILE [WITH_TOP_LEVEL]: every mistake of the stack is in FILE.
check_all() {
  local file=$1
  [[ ${2:-} == with-top-level ]] && expect_diag "$file" 31 1 "colour"
  expect_diag "$file" 7 5 "enigne" "did you mean \`engine\`?"
  expect_diag "$file" 26 5 "contnet" "did you mean \`content\`?"
  expect_diag "$file" 11 5 "port" "integer"
  expect_diag "$file" 12 3 "caches.nameless" "engine"
  expect_diag "$file" 30 5 "files.nope"
  grep -qE 'keel.yaml:(15|19):3:.*cycle' "$file" ||
    soft_fail "$(basename "$file"): no dependency-cycle diagnostic at keel.yaml:15:3 or keel.yaml:19:3"
}

step "keel validate reports every error with its position"
rc=0
keel validate >"$WORK/validate.out" 2>"$WORK/validate.err" || rc=$?
[[ $rc == 1 ]] || { show "$WORK/validate.err"; fail "keel validate on a broken stack exited $rc, expected 1"; }
echo "    keel validate said:"
show "$WORK/validate.err" 2>&1
check_all "$WORK/validate.err" with-top-level

step "the same mistakes without the unknown top-level key"
mkdir -p "$WORK/no-top-level"
head -n 30 keel.yaml >"$WORK/no-top-level/keel.yaml"
(cd "$WORK/no-top-level" && keel validate >"$WORK/validate-no-top-level.out" 2>"$WORK/validate-no-top-level.err") && rc=0 || rc=$?
[[ $rc == 1 ]] || fail "keel validate on the stack without \`colour\` exited $rc, expected 1"
check_all "$WORK/validate-no-top-level.err"

step "keel validate --json"
rc=0
keel_json validate >"$WORK/validate.json" 2>"$WORK/validate-json.err" || rc=$?
[[ $rc == 1 ]] || fail "keel validate --json on a broken stack exited $rc, expected 1"
python3 - "$WORK/validate.json" <<'PY' || { show "$WORK/validate.json"; fail "keel validate --json: wrong document (above)"; }
import json, sys
d = json.load(open(sys.argv[1]))
assert d["valid"] is False, "valid is not false"
diags = d["diagnostics"]
assert isinstance(diags, list) and diags, "no diagnostics"
for x in diags:
    assert isinstance(x["line"], int) and isinstance(x["column"], int), x
    assert "summary" in x or "message" in x, x
lines = {x["line"] for x in diags}
assert 31 in lines, "no diagnostic on line 31"
PY
rc=0
(cd "$WORK/no-top-level" && keel_json validate >"$WORK/validate-no-top-level.json" 2>/dev/null) || rc=$?
[[ $rc == 1 ]] || fail "keel validate --json on the stack without \`colour\` exited $rc, expected 1"
python3 - "$WORK/validate-no-top-level.json" <<'PY' || { show "$WORK/validate-no-top-level.json"; fail "keel validate --json: wrong document (above)"; }
import json, sys
d = json.load(open(sys.argv[1]))
assert d["valid"] is False
got = {(x["line"], x["column"]) for x in d["diagnostics"]}
want = {(7, 5), (11, 5), (12, 3), (26, 5), (30, 5)}
assert want <= got, f"missing {sorted(want - got)}"
assert (15, 3) in got or (19, 3) in got, "no cycle diagnostic"
hints = " ".join(x.get("hint", "") for x in d["diagnostics"])
assert "did you mean `engine`?" in hints, "no did-you-mean hint in the JSON"
PY

step "keel apply on the broken stack exits 1 and creates nothing"
rc=0
keel apply --auto-approve >"$WORK/apply.out" 2>&1 || rc=$?
[[ $rc == 1 ]] || { show "$WORK/apply.out"; fail "keel apply on a broken stack exited $rc, expected 1"; }
assert_contains "$WORK/apply.out" "keel.yaml:31:1"
[[ ! -e .keel/local ]] || fail "apply of an invalid stack created .keel/local"
[[ ! -e .keel/state.json ]] || fail "apply of an invalid stack wrote .keel/state.json"
[[ ! -e $OUT ]] || fail "apply of an invalid stack created the files root $OUT: $(ls -A "$OUT")"

step "a YAML syntax error names its line"
mkdir -p "$WORK/syntax"
cd "$WORK/syntax"
cat >keel.yaml <<'YAML'
keel: 1
project: e2e-syntax
caches:
  sessions:
    port: 6379
    engine: redis: extra
outputs:
  x: y
YAML
rc=0
keel validate >"$WORK/syntax.out" 2>&1 || rc=$?
[[ $rc == 1 ]] || { show "$WORK/syntax.out"; fail "keel validate on bad YAML exited $rc, expected 1"; }
grep -qE '^keel\.yaml:6:[0-9]+: error: YAML syntax error' "$WORK/syntax.out" ||
  { show "$WORK/syntax.out"; fail "the YAML syntax error is not reported at keel.yaml line 6"; }
rc=0
keel apply --auto-approve >"$WORK/syntax-apply.out" 2>&1 || rc=$?
[[ $rc == 1 ]] || fail "keel apply on bad YAML exited $rc, expected 1"
[[ ! -e .keel/local && ! -e .keel/state.json ]] || fail "apply of a stack with bad YAML created state or resources"

step "a valid stack validates"
mkdir -p "$WORK/good"
cd "$WORK/good"
printf 'keel: 1\nproject: fine\ncaches:\n  c: { engine: redis }\n' >keel.yaml
expect_ok keel validate
assert_contains "$WORK/last.out" "valid"
keel_json validate >"$WORK/good.json"
[[ $(json_get "$WORK/good.json" 'd["valid"] is True and d["diagnostics"] == []') == True ]] ||
  { show "$WORK/good.json"; fail "keel validate --json on a valid stack"; }
[[ ! -e .keel/local ]] || fail "validate created resources"
