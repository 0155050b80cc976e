#!/usr/bin/env bash
# start-s3.sh DIR [PORT]
#
# Starts s3rver (npm package s3rver@3.7.1, an S3-compatible server in
# Node.js) on 127.0.0.1:PORT, storing objects under DIR/s3/data, with the
# buckets in S3_BUCKETS (default "keel-test") created at startup.
# PORT omitted or 0: a free port is picked. Stop it with: stop-s3.sh DIR
#
# Writes DIR/s3.env and prints it: S3_ENDPOINT S3_REGION S3_BUCKET
# S3_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY (and the same as AWS_* names), S3_LOG.
# The pid is in DIR/s3.pid. Addressing: path style (http://127.0.0.1:PORT/BUCKET/KEY).
#
# Where s3rver comes from (first match):
#   $S3RVER_BIN                                    an s3rver executable
#   $KEEL_NPM_PREFIX/node_modules/.bin/s3rver      default prefix: ~/.cache/keel-npm
#   otherwise install-npm-tools.sh installs it there (~10 s, needs the npm registry)
#
# What s3rver 3.7.1 does not do (read its lib/routes.js and
# lib/middleware/authentication.js): it does not verify SigV4 signatures
# (any request with the key id S3RVER passes), it has neither
# ListMultipartUploads nor AbortMultipartUpload, and it answers a Range
# request on an empty object with a broken 206 (Content-Length 1, no body). A signed request must carry
# x-amz-content-sha256, or it gets 400 InvalidRequest.
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

die() { echo "start-s3.sh: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() {  # PIDFILE names a running, non-zombie process
  local pid
  [ -s "$1" ] || return 1
  pid=$(head -n1 "$1")
  case "$pid" in ''|*[!0-9]*) return 1 ;; esac
  [ -d "/proc/$pid" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}
pick_free_port() {  # random in 20000-59999; a small race until s3rver binds it
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    if command -v ss >/dev/null 2>&1; then
      [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ] || continue  # also TIME_WAIT and friends
    fi
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  die "no free port found"
}

[ $# -ge 1 ] || die "usage: $0 DIR [PORT]"
command -v node >/dev/null || die "node not found (Node.js 20 is expected on the machine)"
mkdir -p -- "$1"
DIR=$(cd -- "$1" && pwd -P)
pid_alive "$DIR/s3.pid" && die "s3rver already runs in $DIR (pid $(head -n1 "$DIR/s3.pid")); stop-s3.sh $DIR first"
PORT=${2:-0}
case "$PORT" in *[!0-9]*|'') die "bad port: $PORT" ;; esac
AUTO_PORT=0
if [ "$PORT" = 0 ]; then AUTO_PORT=1; PORT=$(pick_free_port); elif port_in_use "$PORT"; then die "port $PORT is in use"; fi
BUCKETS=${S3_BUCKETS:-keel-test}

BIN=${S3RVER_BIN:-}
if [ -z "$BIN" ]; then
  PREFIX=${KEEL_NPM_PREFIX:-$HOME/.cache/keel-npm}
  BIN="$PREFIX/node_modules/.bin/s3rver"
  [ -x "$BIN" ] || "$HERE/install-npm-tools.sh" "$PREFIX" >&2 || die "installing s3rver failed"
fi
[ -x "$BIN" ] || die "s3rver not executable: $BIN"

# Ready when the first bucket answers (the buckets are made at startup).
first=${BUCKETS%% *}
ready() {
  if command -v curl >/dev/null; then
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/$first?max-keys=0" 2>/dev/null)" = 200 ]
  else
    port_in_use "$PORT"
  fi
}

# start_once: 0 when s3rver answers on $PORT, 1 when it exited (the log says why).
start_once() {
  args=(-d "$DIR/s3/data" -a 127.0.0.1 -p "$PORT" --silent)
  for b in $BUCKETS; do args+=(--configure-bucket "$b"); done
  # stdin/stdout/stderr detached, so that a caller capturing our output
  # (CTest, popen) does not wait for s3rver to exit.
  # --openssl-legacy-provider: s3rver makes ListObjectsV2 continuation tokens
  # with DES, which Node 17+ (OpenSSL 3) refuses otherwise: every truncated
  # listing would be a 500 InternalError.
  NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--openssl-legacy-provider" \
    nohup "$BIN" "${args[@]}" > "$DIR/s3.log" 2>&1 < /dev/null &
  echo $! > "$DIR/s3.pid"
  local deadline=$(( $(now_ms) + 60000 ))
  until ready; do
    pid_alive "$DIR/s3.pid" || return 1
    if [ "$(now_ms)" -ge "$deadline" ]; then
      kill -TERM "$(cat "$DIR/s3.pid")" 2>/dev/null
      cat "$DIR/s3.log" >&2
      die "s3rver did not answer within 60 s"
    fi
    sleep 0.05
  done
}

mkdir -p -- "$DIR/s3/data"
t0=$(now_ms)
# A port picked here may be taken by someone else before s3rver binds it:
# then pick another.
for attempt in 1 2 3; do
  start_once && break
  if [ "$AUTO_PORT" = 1 ] && [ "$attempt" -lt 3 ] && grep -q EADDRINUSE "$DIR/s3.log"; then
    PORT=$(pick_free_port)
    continue
  fi
  cat "$DIR/s3.log" >&2
  die "s3rver did not start"
done

{
  echo "S3_ENDPOINT=http://127.0.0.1:$PORT"
  echo "S3_REGION=us-east-1"
  echo "S3_BUCKET=$first"
  echo "S3_ACCESS_KEY_ID=S3RVER"
  echo "S3_SECRET_ACCESS_KEY=S3RVER"
  echo "AWS_ENDPOINT_URL=http://127.0.0.1:$PORT"
  echo "AWS_DEFAULT_REGION=us-east-1"
  echo "AWS_ACCESS_KEY_ID=S3RVER"
  echo "AWS_SECRET_ACCESS_KEY=S3RVER"
  echo "S3_LOG=$DIR/s3.log"
} > "$DIR/s3.env"
cat "$DIR/s3.env"
echo "s3rver ready on 127.0.0.1:$PORT (pid $(cat "$DIR/s3.pid")), buckets: $BUCKETS, in $(( $(now_ms) - t0 )) ms" >&2
