#!/usr/bin/env bash
# Crash safety: keel killed with SIGKILL at random moments, again and again,
# must leave state and the managed resources such that the next apply
# converges with no duplicates and no corruption.
#
# Part 1: 40 `files` of the example plugin, each operation slowed to 150 ms,
# with references between them; 12 kills in a row (the first during the very
# first run), then a clean apply.
# Part 2: the local provider, killed while initdb/pg_ctl run; the next apply
# must converge to exactly one postmaster and one redis-server.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

KILLS=12
FILES="$WORK/files"
mkdir -p "$FILES"
new_stack STACK stack
cd "$STACK"

# 1 base + 30 counted files that read base's hash + 9 that read two of those.
{
  cat <<YAML
keel: 1
project: e2e-crash
providers:
  ex: { type: example, root: "$FILES" }
files:
  base:
    provider: ex
    path: base.txt
    content: "the base file"
    delay: 150ms
  f:
    provider: ex
    count: 30
    path: "f-\${count.index}.txt"
    content: "\${files.base.sha256}"
    delay: 150ms
YAML
  for i in $(seq 0 8); do
    cat <<YAML
  h$i:
    provider: ex
    path: h-$i.txt
    content: "\${files.f[$i].size}-\${files.f[$((i + 1))].sha256}"
    delay: 150ms
YAML
  done
} >keel.yaml

EXPECTED_ADDRESSES=$( { echo files.base; for i in $(seq 0 29); do echo "files.f[$i]"; done; for i in $(seq 0 8); do echo "files.h$i"; done; } | sort)
EXPECTED_FILES=$( { echo base.txt; for i in $(seq 0 29); do echo "f-$i.txt"; done; for i in $(seq 0 8); do echo "h-$i.txt"; done; } | sort)

expect_ok keel validate
assert_contains "$WORK/last.out" "40 resources"

KILLED_PLUGIN_PIDS=" "
completed=0
step "$KILLS applies killed with SIGKILL at random moments"
for run in $(seq 1 $KILLS); do
  # The first kill lands early, while the very first run is surely working.
  if [[ $run == 1 ]]; then ms=$((100 + RANDOM % 500)); else ms=$((100 + RANDOM % 1401)); fi
  # It may end on its own before the kill: the exit code tells.
  apply_killed_after "$ms" "$WORK/run-$run.log" --parallelism 8
  if [[ $KILL_RC == 137 ]]; then
    echo "    run $run: killed after ${ms} ms"
    for p in $KILLED_PLUGINS; do KILLED_PLUGIN_PIDS+="$p "; done
  elif [[ $KILL_RC == 0 ]]; then
    [[ $run != 1 ]] || fail "the first run ended within ${ms} ms: no kill landed during the very first run"
    echo "    run $run: finished before the kill (${ms} ms)"
    completed=$((completed + 1))
  else
    show "$WORK/run-$run.log"
    fail "run $run: keel exited $KILL_RC on its own (output above)"
  fi
  if [[ $run == 1 ]]; then
    n=$(find "$FILES" -maxdepth 1 -type f ! -name '.*' | wc -l)
    [[ $n -lt 40 ]] || fail "the first run was killed after ${ms} ms but all 40 files exist already: the kill was not mid-run"
  fi
done

step "a clean apply after the kills"
expect_ok keel apply --auto-approve --parallelism 8
cp "$WORK/last.out" "$WORK/final-apply.log"
assert_contains "$WORK/final-apply.log" "Apply complete!"
expect_ok keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "No changes"

step "state: the 40 addresses, once each, and valid JSON"
expect_ok keel state list
listed=$(sort "$WORK/last.out")
if [[ $listed != "$EXPECTED_ADDRESSES" ]]; then
  diff <(echo "$EXPECTED_ADDRESSES") <(echo "$listed") | show
  fail "keel state list differs from the 40 expected addresses (diff expected/listed above)"
fi
python3 -m json.tool .keel/state.json >/dev/null 2>"$WORK/json.err" || { show "$WORK/json.err"; fail ".keel/state.json is not valid JSON"; }
[[ $(json_get .keel/state.json 'len(d["resources"])') == 40 ]] || fail ".keel/state.json does not hold 40 resources"
[[ ! -e .keel/state.journal ]] || fail ".keel/state.journal is left after a complete apply"

step "the files: exactly the 40 managed ones, their sidecars, no duplicates"
visible=$(cd "$FILES" && find . -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f\n' | sort)
if [[ $visible != "$EXPECTED_FILES" ]]; then
  diff <(echo "$EXPECTED_FILES") <(echo "$visible") | show
  fail "the files directory does not hold exactly the 40 managed files (diff expected/actual above)"
fi
while read -r hidden; do
  case $hidden in
    .*.keel-tags)
      managed=${hidden#.}
      managed=${managed%.keel-tags}
      grep -qxF "$managed" <<<"$EXPECTED_FILES" || fail "sidecar $hidden belongs to no managed file"
      ;;
    .*.tmp.*)
      # write_atomic's temporary: .NAME.tmp.PID.RANDOM. Only a write that was
      # cut off by a kill may leave one, so PID must be a killed run's plugin.
      writer=$(sed -E 's/^.*\.tmp\.([0-9]+)\.[0-9a-f]+$/\1/' <<<"$hidden")
      [[ $KILLED_PLUGIN_PIDS == *" $writer "* ]] ||
        fail "temporary file $hidden was left by pid $writer, which is not a plugin of a killed run: a completed write left its temporary behind"
      echo "    (temporary of a killed write: $hidden)"
      ;;
    *) fail "unexpected file $hidden in the files directory" ;;
  esac
done < <(cd "$FILES" && find . -mindepth 1 -maxdepth 1 -name '.*' -printf '%f\n')
for f in $EXPECTED_FILES; do
  [[ -f $FILES/.$f.keel-tags ]] || fail "managed file $f has no .$f.keel-tags sidecar"
  python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); assert t.get("project")=="e2e-crash", t' "$FILES/.$f.keel-tags" 2>/dev/null ||
    fail "sidecar .$f.keel-tags does not name project e2e-crash: $(cat "$FILES/.$f.keel-tags")"
done
[[ -z $(find "$FILES" -mindepth 2) ]] || fail "subdirectories appeared in the files directory: $(find "$FILES" -mindepth 2)"

step "the files hold what the references say"
base_sha=$(printf '%s' "the base file" | sha256sum | cut -d' ' -f1)
for i in $(seq 0 29); do
  [[ $(cat "$FILES/f-$i.txt") == "$base_sha" ]] || fail "f-$i.txt does not hold base.txt's sha256"
done
f_sha=$(printf '%s' "$base_sha" | sha256sum | cut -d' ' -f1)
for i in $(seq 0 8); do
  [[ $(cat "$FILES/h-$i.txt") == "64-$f_sha" ]] || fail "h-$i.txt holds '$(cat "$FILES/h-$i.txt")', expected '64-$f_sha'"
done

step "destroy the files"
expect_ok keel destroy --auto-approve --parallelism 8
left=$(find "$FILES" -mindepth 1 ! -name '.*.tmp.*' -printf '%f\n')
[[ -z $left ]] || fail "destroy left files behind: $left"

step "killed while creating, then destroyed at once: what the interrupted creates made goes too"
# An intent (a create keel never saw finish) whose file exists: destroy
# must find it by its tags and delete it, not just forget the intent.
interrupted=""
for try in 1 2 3 4 5; do
  apply_killed_after $((300 + RANDOM % 600)) "$WORK/kill-destroy-$try.log" --parallelism 8
  expect_ok keel state list
  if grep -q "create interrupted" "$WORK/last.out"; then interrupted=yes; break; fi
  expect_ok keel destroy --auto-approve --parallelism 8
done
[[ -n $interrupted ]] || fail "5 kills left no interrupted create to destroy"
expect_ok keel plan --destroy
assert_contains "$WORK/last.out" "whatever an interrupted run created, once found"
expect_ok keel destroy --auto-approve --parallelism 8
left=$(find "$FILES" -mindepth 1 ! -name '.*.tmp.*' -printf '%f\n')
[[ -z $left ]] || fail "destroy after a kill left files behind: $left"
expect_ok keel state list
assert_not_contains "$WORK/last.out" "files."

# --- part 2: the local provider -----------------------------------------------

step "local provider: kill keel during the first apply (initdb / pg_ctl)"
new_stack LSTACK local
cd "$LSTACK"
cat >keel.yaml <<'YAML'
keel: 1
project: e2e-crash-local
databases:
  main:
    engine: postgres
caches:
  sessions:
    engine: redis
YAML
# The kill comes 2.0-4.0 s into the first apply, while initdb / pg_ctl run.
# On a fast machine the whole apply may be over by then: then the stack is
# destroyed and the first apply tried again, killed at a random point of the
# time the completed one took, until a kill lands (three tries).
landed=0
for attempt in 1 2 3; do
  if [[ $attempt == 1 ]]; then
    ms=$((2000 + RANDOM % 2001))
  else
    ms=$((took * 30 / 100 + RANDOM % (took * 60 / 100 + 1)))
  fi
  apply_killed_after "$ms" "$WORK/local-run-$attempt.log"
  rc=$KILL_RC
  if [[ $rc == 137 ]]; then
    echo "    try $attempt: killed after ${ms} ms"
    landed=1
    break
  fi
  [[ $rc == 0 ]] || { show "$WORK/local-run-$attempt.log"; fail "the first local apply exited $rc on its own (output above)"; }
  # How long it took: the slowest resource, plus what came before it.
  took=$(python3 - "$WORK/local-run-$attempt.log" <<'PY'
import re, sys
secs = [float(x) for x in re.findall(r"created after ([0-9.]+)s", open(sys.argv[1]).read())]
print(int(max(secs + [1.0]) * 1000) + 300)
PY
)
  echo "    try $attempt: the apply was over within ${ms} ms (took about ${took} ms); destroying and trying again"
  expect_ok keel destroy --auto-approve
done
[[ $landed == 1 ]] || fail "no kill landed during the first local apply in three tries"

step "apply again: it must converge"
run_rc rc keel apply --auto-approve
cp "$WORK/last.out" "$WORK/local-final-apply.log"
if [[ $rc != 0 ]]; then
  show "$WORK/local-final-apply.log"
  soft_fail "the apply after killing keel during the first local apply exited $rc, expected 0 (output above)"
  # What the killed keel had started may still run (initdb goes on after its
  # parent died); once it is gone, one more apply shows whether it converges.
  echo "    processes still working in $LSTACK/.keel/local:"
  ps -eo pid=,ppid=,stat=,args= | grep -F "$LSTACK/.keel/local" | grep -v grep | cut -c1-160 | show 2>&1 || true
  wait_until 60 bash -c "! ps -eo args= | grep -v grep | grep -qF -- '$LSTACK/.keel/local/databases/main/pg/data -U'" ||
    fail "the initdb of the killed run still runs after 60 s"
  step "one more apply, once what the killed run started is gone"
  expect_ok keel apply --auto-approve
fi
expect_ok keel plan --detailed-exitcode
assert_contains "$WORK/last.out" "No changes"

keel_json state show databases.main >"$WORK/db.json" || fail "keel state show databases.main --json failed"
keel_json state show caches.sessions >"$WORK/cache.json" || fail "keel state show caches.sessions --json failed"
DATA_DIR=$(json_get "$WORK/db.json" 'd["attributes"]["data_dir"]')
DB_PORT=$(json_get "$WORK/db.json" 'd["attributes"]["port"]')
REDIS_PORT=$(json_get "$WORK/cache.json" 'd["attributes"]["port"]')
[[ -d $DATA_DIR ]] || fail "recorded data_dir $DATA_DIR does not exist"

# Postmasters: `.../bin/postgres -D DIR` (the other backends rename themselves).
postmasters() { ps -eo pid=,args= | awk '$2 ~ /\/bin\/postgres$/ && $3 == "-D" {print $1, $4}'; }
ours=$(postmasters | awk -v s="$LSTACK" -v e="/var/lib/keel-local/" 'index($2, s) == 1 || index($2, e) == 1')
mine=$(awk -v d="$DATA_DIR" '$2 == d' <<<"$ours" | wc -l)
[[ $mine == 1 ]] || { echo "$ours" | show; fail "expected exactly 1 postmaster for $DATA_DIR, found $mine (list above)"; }
stray=$(awk -v d="$DATA_DIR" -v s="$LSTACK" '$2 != d && index($2, s) == 1' <<<"$ours")
[[ -z $stray ]] || { echo "$stray" | show; fail "postmasters of this stack run from other data directories (leaked by the killed run)"; }
# redis-server: exactly one whose working directory is in this stack, on the
# recorded port.
redis_here=()
for p in $(pgrep -x redis-server || true); do
  cwd=$(readlink "/proc/$p/cwd" 2>/dev/null || true)
  [[ $cwd == "$LSTACK"/* ]] && redis_here+=("$p")
done
[[ ${#redis_here[@]} == 1 ]] || fail "expected exactly 1 redis-server running in $LSTACK, found ${#redis_here[@]}: ${redis_here[*]:-none}"
args=$(ps -o args= -p "${redis_here[0]}")
[[ $args == *":$REDIS_PORT"* ]] || fail "the redis-server of this stack ($args) is not on the recorded port $REDIS_PORT"
port_open "$DB_PORT" || fail "postgres does not listen on the recorded port $DB_PORT"

step "destroy"
expect_ok keel destroy --auto-approve
wait_until 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$DB_PORT) 2>/dev/null" || fail "postgres port $DB_PORT still open after destroy"
wait_until 10 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT) 2>/dev/null" || fail "redis port $REDIS_PORT still open after destroy"
