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

# --- stacks a pull request could send (docs/security.md#stack-input) ---
#
# hostile NAME LINE TEXT: `keel validate` on $WORK/hostile/NAME/keel.yaml
# exits 1 within a deadline (no crash, no hang), reports TEXT at line LINE,
# prints no raw escape, and with --json prints exactly one JSON document.
hostile() {
  local name=$1 line=$2 text=$3 dir="$WORK/hostile/$1" rc=0
  cd "$dir"
  timeout 120 "$KEEL" validate >"$dir/out" 2>&1 || rc=$?
  [[ $rc == 1 ]] || { show "$dir/out"; soft_fail "$name: keel validate exited $rc, expected 1 (124: it hung; above 128: a signal)"; return; }
  grep -qE "^keel\.yaml:$line:[0-9]+: error: .*$text" "$dir/out" ||
    { show "$dir/out"; soft_fail "$name: no error about \"$text\" at keel.yaml:$line"; }
  if grep -qP '[\x00-\x08\x0b-\x1f\x7f]' "$dir/out"; then soft_fail "$name: the output holds a raw control character"; fi
  rc=0
  timeout 120 "$KEEL" validate --json >"$dir/json" 2>/dev/null || rc=$?
  [[ $rc == 1 ]] || soft_fail "$name: keel validate --json exited $rc, expected 1"
  python3 - "$dir/json" "$line" <<'PY' || { show "$dir/json"; soft_fail "$name: keel validate --json is not one JSON document with the error"; }
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
d, end = json.JSONDecoder().raw_decode(text)
assert text[end:].strip() == "", "more than one document"
assert d["valid"] is False
assert int(sys.argv[2]) in {x["line"] for x in d["diagnostics"]}, "no diagnostic on the line"
PY
}
stack() { mkdir -p "$WORK/hostile/$1" && cat >"$WORK/hostile/$1/keel.yaml"; }

step "stacks from a pull request: refused with a position, never a crash or a hang"
python3 - "$WORK/hostile" <<'PY'
import os, sys
root = sys.argv[1]
def put(name, data):
    os.makedirs(os.path.join(root, name), exist_ok=True)
    with open(os.path.join(root, name, "keel.yaml"), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
head = "keel: 1\nproject: hostile\n"
# Issue 5: a long plain scalar (std::regex overflowed the stack); `? KEY`
# because YAML stops implicit keys at 1024 characters.
put("long-name", head + "caches:\n  ? " + "a" * 100000 + "\n  : { engine: redis }\n")
# Issue 6: a 1 KB alias bomb, and nesting 100,000 deep.
bomb = head + 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
for i in range(1, 10):
    bomb += f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]\n"
put("alias-bomb", bomb + "outputs:\n  x: *a9\n")
put("deep", head + "outputs:\n  x: " + "[" * 100000 + "]" * 100000 + "\n")
# Issue 7: not UTF-8, and numbers that do not fit.
put("utf8", (head + "caches:\n  c: { engine: redis }\noutputs:\n  x: \"caf").encode() + b"\xe9\"\n")
put("number", head + "caches:\n  c: { engine: redis, port: 1.0e999 }\n")
# Low: duplicate keys, values the local provider refuses, escapes, devices.
put("duplicate", head + "caches:\n  c: { engine: redis, engine: memcached }\n")
put("port", head + "caches:\n  c: { engine: redis, port: 70000 }\n")
put("database", head + "databases:\n  db: { database: ../../x }\n")
put("escape", head + "caches:\n  c: { engine: redis, \"\\e]0;pwned\\a\\e[2J\": 1 }\n")
put("device", head + "outputs:\n  z: \"${file(/dev/zero)}\"\n")
PY
hostile long-name 4 "resource name"
hostile alias-bomb 3 "too large once its aliases are expanded"
hostile deep 4 "YAML syntax error|deeper than"
hostile utf8 6 "not valid UTF-8"
hostile number 4 "out of range"
hostile duplicate 4 "given twice in this map, first at keel.yaml:4:"
hostile port 4 "out of range: from 1 to 65535"
hostile database 4 "holds a character it may not"
hostile escape 4 'unknown key `\\e\]0;pwned\\x07\\e\[2J`'
hostile device 4 "a character device"

step "a stack committed as a symlink to /dev/zero is refused at once"
mkdir -p "$WORK/hostile/zero"
ln -s /dev/zero "$WORK/hostile/zero/keel.yaml"
cd "$WORK/hostile/zero"
rc=0
timeout 60 "$KEEL" validate >"$WORK/hostile/zero/out" 2>&1 || rc=$?
[[ $rc == 1 ]] || { show "$WORK/hostile/zero/out"; soft_fail "validate of a keel.yaml -> /dev/zero exited $rc, expected 1"; }
grep -q "a character device" "$WORK/hostile/zero/out" || { show "$WORK/hostile/zero/out"; soft_fail "no error naming the device"; }

step "\${env.X} is sensitive in the plan unless nonsensitive() says otherwise"
mkdir -p "$WORK/env"
cd "$WORK/env"
cat >keel.yaml <<'YAML'
keel: 1
project: e2e-env
outputs:
  token: ${env.E2E_PLANTED}
  home: ${nonsensitive(env.E2E_PUBLIC)}
  refused: ${nonsensitive(env.E2E_TOKEN)}
YAML
rc=0
E2E_PLANTED=planted-e2e E2E_PUBLIC=public-e2e E2E_TOKEN=x keel validate >"$WORK/env.out" 2>&1 || rc=$?
[[ $rc == 1 ]] || { show "$WORK/env.out"; fail "nonsensitive(env.E2E_TOKEN) was accepted"; }
assert_contains "$WORK/env.out" "keel.yaml:6:12: error: \`\${nonsensitive(env.E2E_TOKEN)}\`: E2E_TOKEN looks like a secret"
sed -i '/refused/d' keel.yaml
E2E_PLANTED=planted-e2e E2E_PUBLIC=public-e2e expect_ok keel plan
assert_contains "$WORK/last.out" "public-e2e"
assert_not_contains "$WORK/last.out" "planted-e2e" "the plan printed a value read with \${env.X}"
[[ ! -e .keel/state.json ]] || fail "plan wrote state"
