#!/usr/bin/env bash
# install-npm-tools.sh [DIR]
#
# Installs the npm packages the tests use into DIR (default
# $HOME/.cache/keel-npm), with `npm install --prefix DIR`:
#   s3rver                 an S3-compatible server (tests/support/start-s3.sh)
#   @aws-sdk/signature-v4  AWS's own SigV4 signer, the reference that
#   @aws-crypto/sha256-js  tests/support/sigv4_reference.mjs checks keel's
#                          signing against (the signer needs a sha256 class)
#   @stoplight/prism-cli   Prism, the validating proxy built from a vendor's
#                          OpenAPI document (tests/support/start-cloudsim.sh);
#                          5.14.x is the last line that runs on Node 20
#   gitlab-ci-local        runs templates/ci's GitLab pipeline with the shell
#                          executor (tests/e2e/ci_pipelines.sh); 4.75 needs
#                          Node 22, 4.60.1 runs on Node 20
# Versions are pinned. Idempotent: when DIR already holds exactly these
# versions it returns at once, without touching the registry. The tests find
# the packages through KEEL_NPM_PREFIX, or the same default.
set -euo pipefail

PACKAGES=(s3rver@3.7.1 @aws-sdk/signature-v4@3.374.0 @aws-crypto/sha256-js@5.2.0 @stoplight/prism-cli@5.14.2
          gitlab-ci-local@4.60.1)
DIR=${1:-${KEEL_NPM_PREFIX:-$HOME/.cache/keel-npm}}
STAMP="$DIR/.keel-npm-tools"

command -v npm >/dev/null || { echo "install-npm-tools: npm not found (Node.js 20 is expected on the machine)" >&2; exit 1; }
mkdir -p -- "$DIR"

# The stamp records what was installed; it is written only after a complete
# install, so an interrupted one is redone.
wanted=$(printf '%s\n' "${PACKAGES[@]}")
up_to_date() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$wanted" ] && [ -x "$DIR/node_modules/.bin/s3rver" ] &&
    [ -f "$DIR/node_modules/@aws-sdk/signature-v4/package.json" ] &&
    [ -f "$DIR/node_modules/@aws-crypto/sha256-js/package.json" ] &&
    [ -x "$DIR/node_modules/.bin/prism" ] && [ -x "$DIR/node_modules/.bin/gitlab-ci-local" ]
}
if up_to_date; then
  echo "install-npm-tools: ${PACKAGES[*]} already in $DIR"
  exit 0
fi

# Two runs at once (parallel CI jobs) would trip over each other's
# node_modules: take turns.
exec 9>"$DIR/.lock"
flock 9
if up_to_date; then exit 0; fi

echo "install-npm-tools: installing ${PACKAGES[*]} into $DIR"
for attempt in 1 2 3; do
  if npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error --save-exact "${PACKAGES[@]}" >&2; then
    printf '%s\n' "$wanted" > "$STAMP"
    echo "install-npm-tools: done"
    exit 0
  fi
  echo "install-npm-tools: npm install failed (attempt $attempt of 3)" >&2
  sleep $((attempt * 5))
done
exit 1
