#!/usr/bin/env bash
# The CI pipelines of templates/ci (docs/ci.md), run as written against a
# real PostgreSQL state backend: GitLab's with gitlab-ci-local (shell
# executor: no containers); GitHub Actions', Jenkins' and CircleCI's by
# running the steps each file holds, in the order the file gives, each job
# in a fresh checkout with the artifacts the file passes on.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

NPM_PREFIX=${KEEL_NPM_PREFIX:-$HOME/.cache/keel-npm}
GCL=$NPM_PREFIX/node_modules/.bin/gitlab-ci-local
[[ -x $GCL ]] || fail "gitlab-ci-local is not installed in $NPM_PREFIX (tests/support/install-npm-tools.sh)"
command -v rsync >/dev/null || fail "rsync is missing (gitlab-ci-local needs it; scripts/install-deps.sh installs it)"
PY=/usr/bin/python3
"$PY" -c 'import yaml' 2>/dev/null || fail "python3-yaml is missing (scripts/install-deps.sh installs it)"

start_postgres
export KEEL_PG_URL=$E2E_PG_URL KEEL_STATE_KEY=e2e-ci-passphrase
export PATH="$KEEL_BUILD_DIR:$PATH"  # the jobs run `keel`
TEMPLATES=$KEEL_SOURCE_DIR/templates/ci

# repo DIR PROJECT: a git repository holding a stack kept in the backend.
repo() {
  mkdir -p "$1"
  cat >"$1/keel.yaml" <<YAML
keel: 1
project: $2
backend:
  postgres: "\${env.KEEL_PG_URL}"
providers:
  ex: { type: example, root: "$WORK/out-$2" }
files:
  motd: { provider: ex, path: motd, content: "v1" }
YAML
  git -C "$1" init -q -b main
  git -C "$1" -c user.email=ci@example.com -c user.name=ci add -A
  git -C "$1" -c user.email=ci@example.com -c user.name=ci commit -qm "the stack"
}

commit() {  # commit DIR MESSAGE
  git -C "$1" -c user.email=ci@example.com -c user.name=ci commit -qam "$2"
}

serial_of() { psql_keel "SELECT coalesce(max(serial), 0) FROM keel.states WHERE state_key = '$1'"; }

# ---------------------------------------------------------------- GitLab CI
gcl() {  # gcl DIR ARGS...: gitlab-ci-local in DIR, output in $WORK/last.out
  local dir=$1
  shift
  (cd "$dir" && timeout 300 "$GCL" --variable "KEEL_PG_URL=$KEEL_PG_URL" --variable "KEEL_STATE_KEY=$KEEL_STATE_KEY" \
    --variable "KEEL_ALLOWED_NETWORKS=$KEEL_ALLOWED_NETWORKS" "$@") >"$WORK/last.out" 2>&1
}

G=$WORK/gitlab
repo "$G" ci-gitlab
cp "$TEMPLATES/gitlab-ci.yml" "$G/.gitlab-ci.yml"
git -C "$G" add .gitlab-ci.yml
commit "$G" "the pipeline"

step "gitlab: a merge request's pipeline validates and plans, and applies nothing"
git -C "$G" checkout -q -b feature
gcl "$G" || { show "$WORK/last.out"; fail "the merge request's pipeline failed"; }
assert_contains "$WORK/last.out" "PASS  plan"
assert_not_contains "$WORK/last.out" "PASS  apply"
[[ ! -e $WORK/out-ci-gitlab/motd ]] || fail "a merge request's pipeline applied"
[[ -s $G/plan.md ]] || fail "the plan job left no plan.md artifact"
grep -q "motd" "$G/plan.md" || fail "plan.md does not show the change: $(cat "$G/plan.md")"

step "gitlab: the default branch applies the saved plan, through the shared state"
git -C "$G" checkout -q main
gcl "$G" || { show "$WORK/last.out"; fail "the main pipeline failed"; }
assert_contains "$WORK/last.out" "PASS  apply"
[[ $(cat "$WORK/out-ci-gitlab/motd") == v1 ]] || fail "the apply job did not write motd"
[[ $(serial_of ci-gitlab) == 1 ]] || fail "the backend does not hold serial 1 for ci-gitlab"
sed -i 's/content: "v1"/content: "v2"/' "$G/keel.yaml"
commit "$G" "v2"
gcl "$G" || { show "$WORK/last.out"; fail "the second main pipeline failed"; }
[[ $(cat "$WORK/out-ci-gitlab/motd") == v2 ]] || fail "the second pipeline did not apply v2"

step "gitlab: the scheduled drift job passes when nothing drifted and fails when something did"
gcl "$G" --variable KEEL_JOB=drift || { show "$WORK/last.out"; fail "the drift job failed with no drift"; }
assert_contains "$WORK/last.out" "PASS  drift"
assert_not_contains "$WORK/last.out" "PASS  apply"
echo "changed by hand" >"$WORK/out-ci-gitlab/motd"
if gcl "$G" --variable KEEL_JOB=drift; then show "$WORK/last.out"; fail "the drift job passed although motd drifted"; fi
assert_contains "$WORK/last.out" "files.motd"

# --------------------------------------------- the others, steps as written
# run_steps DIR STEPS_FILE: each line of STEPS_FILE is one step's script
# (JSON-encoded), run with bash -e in DIR; stops at the first failure.
run_steps() {
  local dir=$1 list=$2 rc=0
  "$PY" -c 'import json,sys; [print(json.dumps(s)) for s in json.load(open(sys.argv[1]))]' "$list" >"$list.lines"
  while IFS= read -r encoded; do
    script=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1]))' "$encoded")
    (cd "$dir" && bash -e -c "$script") >>"$WORK/steps.out" 2>&1 || { rc=$?; break; }
  done <"$list.lines"
  return "$rc"
}

# export_env FILE: exports the NAME: value pairs of a JSON object, as the
# pipeline file's environment block sets them for its jobs.
export_env() {
  eval "$("$PY" -c 'import json,sys,shlex; [print(f"export {k}={shlex.quote(str(v))}") for k, v in json.load(open(sys.argv[1])).items()]' "$1")"
}

# fresh_checkout SRC DST: a clean clone, as a runner starts with.
fresh_checkout() { rm -rf "$2"; git clone -q "$1" "$2"; }

GH=$WORK/github
repo "$GH" ci-github
step "github actions: plan, then apply the plan artifact in another checkout, then drift"
"$PY" - "$TEMPLATES/github-actions.yml" "$WORK/gh" <<'PY'
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for job in ("plan", "apply", "drift"):
    steps = [s["run"] for s in doc["jobs"][job]["steps"] if "run" in s]
    json.dump(steps, open(f"{sys.argv[2]}-{job}.json", "w"))
env = {k: v for k, v in doc["env"].items() if "${{" not in str(v)}
json.dump(env, open(f"{sys.argv[2]}-env.json", "w"))
PY
export_env "$WORK/gh-env.json"
export GITHUB_STEP_SUMMARY=$WORK/gh-summary.md
fresh_checkout "$GH" "$WORK/gh-plan"
run_steps "$WORK/gh-plan" "$WORK/gh-plan.json" || { show "$WORK/steps.out"; fail "the github plan job failed"; }
grep -q motd "$GITHUB_STEP_SUMMARY" || fail "the job summary does not show the plan"
fresh_checkout "$GH" "$WORK/gh-apply"
cp "$WORK/gh-plan/plan.keel" "$WORK/gh-plan/plan.md" "$WORK/gh-apply/"  # download-artifact
run_steps "$WORK/gh-apply" "$WORK/gh-apply.json" || { show "$WORK/steps.out"; fail "the github apply job failed"; }
[[ $(cat "$WORK/out-ci-github/motd") == v1 ]] || fail "the github apply job did not write motd"
fresh_checkout "$GH" "$WORK/gh-drift"
run_steps "$WORK/gh-drift" "$WORK/gh-drift.json" || { show "$WORK/steps.out"; fail "the github drift job failed with no drift"; }

J=$WORK/jenkins
repo "$J" ci-jenkins
step "jenkins: the stages' sh steps, in order, with the archived plan"
"$PY" - "$TEMPLATES/Jenkinsfile" "$WORK/jk" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
stages = {}
for m in re.finditer(r"stage\('(\w+)'\)\s*\{(.*?)\n    \}", text, re.S):
    body = m.group(2)
    steps = re.findall(r"sh '''(.*?)'''", body, re.S) + re.findall(r"sh '([^'\n]+)'", body)
    stages[m.group(1)] = steps
for name in ("validate", "plan", "apply", "drift"):
    assert stages.get(name), f"no sh step in stage {name}"
    json.dump(stages[name], open(f"{sys.argv[2]}-{name}.json", "w"))
env = dict(re.findall(r"(\w+) = '([^']*)'", text.split("environment {")[1].split("}")[0]))
json.dump(env, open(f"{sys.argv[2]}-env.json", "w"))
PY
export_env "$WORK/jk-env.json"
fresh_checkout "$J" "$WORK/jk-ws"
for stage in validate plan apply drift; do
  run_steps "$WORK/jk-ws" "$WORK/jk-$stage.json" || { show "$WORK/steps.out"; fail "the jenkins stage $stage failed"; }
done
[[ $(cat "$WORK/out-ci-jenkins/motd") == v1 ]] || fail "the jenkins apply stage did not write motd"

C=$WORK/circleci
repo "$C" ci-circle
step "circleci: plan, apply from the persisted workspace, drift"
"$PY" - "$TEMPLATES/circleci-config.yml" "$WORK/cc" <<'PY'
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for job in ("plan", "apply", "drift"):
    steps = [s["run"]["command"] for s in doc["jobs"][job]["steps"] if isinstance(s, dict) and "run" in s]
    json.dump(steps, open(f"{sys.argv[2]}-{job}.json", "w"))
json.dump(doc["executors"]["keel"]["environment"], open(f"{sys.argv[2]}-env.json", "w"))
PY
export_env "$WORK/cc-env.json"
fresh_checkout "$C" "$WORK/cc-plan"
run_steps "$WORK/cc-plan" "$WORK/cc-plan.json" || { show "$WORK/steps.out"; fail "the circleci plan job failed"; }
fresh_checkout "$C" "$WORK/cc-apply"
mkdir -p "$WORK/cc-apply/out"
cp "$WORK/cc-plan/out/plan.keel" "$WORK/cc-apply/out/"  # attach_workspace
run_steps "$WORK/cc-apply" "$WORK/cc-apply.json" || { show "$WORK/steps.out"; fail "the circleci apply job failed"; }
[[ $(cat "$WORK/out-ci-circle/motd") == v1 ]] || fail "the circleci apply job did not write motd"
fresh_checkout "$C" "$WORK/cc-drift"
run_steps "$WORK/cc-drift" "$WORK/cc-drift.json" || { show "$WORK/steps.out"; fail "the circleci drift job failed with no drift"; }

step "the stacks are destroyed through the backend"
for d in "$G" "$GH" "$J" "$C"; do
  (cd "$d" && keel destroy --auto-approve >/dev/null 2>&1) || fail "destroy in $d failed"
done
