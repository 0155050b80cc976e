#!/usr/bin/env bash
# Environments: one stack, one state per environment (keel -e NAME or
# KEEL_ENV), each with its own variables (`environments:`, --var-file) and
# its own local resources; ${environment} in names; a saved plan belongs to
# its environment; bad names and unknown variables are refused with their
# line.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
e2e_setup

new_stack STACK environments
cd "$STACK"
cat >keel.yaml <<'YAML'
keel: 1
project: e2e-envs
variables:
  replicas: 1
  label: { default: none }
environments:
  staging: { vars: { label: stg } }
  production: { vars: { replicas: 2, label: prod }, description: "the real one" }
providers:
  ex: { type: example, root: "./out-${environment}" }
caches:
  sessions: { engine: redis }
files:
  conf:
    provider: ex
    count: ${var.replicas}
    path: "${environment}-${count.index}.conf"
    content: "label=${var.label} redis=${caches.sessions.port}"
outputs:
  redis_uri: ${caches.sessions.uri}
YAML

step "without -e, a stack that declares environments is refused, naming them"
expect_rc 1 keel plan
assert_contains "$WORK/last.out" "keel.yaml:7:3"
assert_contains "$WORK/last.out" "declares environments (staging, production)"
[[ ! -e .keel/state.json ]] || fail "a refused plan made a state"

step "an environment the stack does not declare, and a name that is not one"
expect_rc 1 keel -e prod plan
assert_contains "$WORK/last.out" "environment \`prod\` (-e or KEEL_ENV): keel.yaml declares no such environment"
expect_rc 1 keel -e ../x plan
assert_contains "$WORK/last.out" "environment's name"

step "apply staging: its state and its redis under .keel/environments/staging"
expect_ok keel -e staging apply --auto-approve
assert_contains "$WORK/last.out" "Environment: staging"
assert_contains "$WORK/last.out" "Apply complete! Resources: 2 added"
[[ -s .keel/environments/staging/state.json ]] || fail "no state in .keel/environments/staging"
[[ ! -e .keel/state.json ]] || fail "staging wrote the stack's own state"
[[ -d .keel/environments/staging/local/caches/sessions ]] || fail "staging's redis is not in its own directory"
grep -q '^label=stg ' out-staging/staging-0.conf || fail "staging's file does not hold its environment's label"
jq -e '.project == "e2e-envs-staging"' out-staging/.staging-0.conf.keel-tags >/dev/null ||
  fail "staging's resources are not tagged with project e2e-envs-staging"

step "production sees none of staging: all of it is to add"
expect_rc 2 env KEEL_ENV=production "$KEEL" plan --detailed-exitcode
assert_contains "$WORK/last.out" "Environment: production"
assert_contains "$WORK/last.out" "Plan: 3 to add, 0 to change, 0 to destroy."
keel_json -e production plan >"$WORK/plan.json"
jq -e '.environment == "production"' "$WORK/plan.json" >/dev/null || fail "the JSON plan does not name its environment"

step "a plan saved for staging cannot be applied to production"
expect_ok keel -e staging plan --out "$WORK/staging.plan"
expect_rc 1 keel -e production apply "$WORK/staging.plan"
assert_contains "$WORK/last.out" "was made for environment \`staging\`"
expect_ok keel apply "$WORK/staging.plan"
assert_contains "$WORK/last.out" "Environment: staging"

step "apply production: a second redis, both running"
expect_ok env KEEL_ENV=production "$KEEL" apply --auto-approve
assert_contains "$WORK/last.out" "Apply complete! Resources: 3 added"
STAGING_URI=$(keel -e staging output --raw redis_uri)
PRODUCTION_URI=$(keel -e production output --raw redis_uri)
[[ $STAGING_URI != "$PRODUCTION_URI" ]] || fail "staging and production share one redis ($STAGING_URI)"
[[ $(redis-cli -u "$STAGING_URI" ping 2>/dev/null) == PONG ]] || fail "staging's redis does not answer"
[[ $(redis-cli -u "$PRODUCTION_URI" ping 2>/dev/null) == PONG ]] || fail "production's redis does not answer"
grep -q '^label=prod ' out-production/production-1.conf || fail "production's second file is missing or wrong"

step "a var file wins over the environment's vars, --var over both"
cat >"$WORK/more.yaml" <<'YAML'
replicas: 3
label: from-file
YAML
expect_rc 2 keel -e production --var-file "$WORK/more.yaml" plan --detailed-exitcode
assert_contains "$WORK/last.out" "files.conf[2] (create)"
assert_contains "$WORK/last.out" "label=from-file"
expect_rc 2 keel -e production --var-file "$WORK/more.yaml" --var label=cli plan --detailed-exitcode
assert_contains "$WORK/last.out" "label=cli"

step "a var file's unknown variable is refused with its line"
printf 'replicas: 2\nreplicaz: 3\n' >"$WORK/typo.yaml"
expect_rc 1 keel -e production --var-file "$WORK/typo.yaml" plan
assert_contains "$WORK/last.out" "typo.yaml:2:1"
assert_contains "$WORK/last.out" "no variable \`replicaz\`"

step "a saved plan keeps its var file: applied after the file changed, it is what was planned"
expect_ok keel -e production --var-file "$WORK/more.yaml" plan --out "$WORK/production.plan"
printf 'replicas: 1\n' >"$WORK/more.yaml"
expect_ok keel apply "$WORK/production.plan"
assert_contains "$WORK/last.out" "Apply complete! Resources: 1 added"
[[ -s out-production/production-2.conf ]] || fail "the saved plan's third file was not made"

step "a saved plan takes no --var, --var-file or --target; an edited environment in its header is refused"
expect_ok keel -e staging plan --out "$WORK/again.plan"
expect_rc 1 keel apply "$WORK/again.plan" --var label=x
assert_contains "$WORK/last.out" "--var cannot be used with a saved plan"
expect_rc 1 keel apply "$WORK/again.plan" --var-file "$WORK/more.yaml"
assert_contains "$WORK/last.out" "--var-file cannot be used with a saved plan"
jq '.stack.environment = "production"' "$WORK/again.plan" >"$WORK/edited.plan"
expect_rc 1 keel apply "$WORK/edited.plan"
[[ $(keel -e production output --raw redis_uri) == "$PRODUCTION_URI" ]] || fail "an edited plan touched production"

step "a state copied into another environment's directory is refused, by every command"
mkdir -p .keel/environments/qa && cp -a .keel/environments/production/. .keel/environments/qa/
sed -i 's/^environments:$/environments:\n  qa: {}/' keel.yaml
expect_rc 1 keel -e qa output
assert_contains "$WORK/last.out" "belongs to environment \`production\`"
expect_rc 1 keel -e qa plan
assert_contains "$WORK/last.out" "belongs to environment \`production\`"
rm -rf .keel/environments/qa

step "a .keel/environments that is a link is refused"
mv .keel/environments/staging "$WORK/staging-state"
mkdir "$WORK/elsewhere"
ln -s "$WORK/elsewhere" .keel/environments/qa
expect_rc 1 keel -e qa plan
assert_contains "$WORK/last.out" "is a symbolic link"
[[ -z $(ls -A "$WORK/elsewhere") ]] || fail "keel wrote through the link"
rm .keel/environments/qa
mv "$WORK/staging-state" .keel/environments/staging

step "destroying staging leaves production alone"
expect_ok keel -e staging destroy --auto-approve
[[ ! -e out-staging/staging-0.conf ]] || fail "staging's file outlived its destroy"
[[ $(redis-cli -u "$PRODUCTION_URI" ping 2>/dev/null) == PONG ]] || fail "destroying staging stopped production's redis"
expect_ok keel -e production plan --var replicas=3 --var label=from-file
assert_contains "$WORK/last.out" "No changes."
