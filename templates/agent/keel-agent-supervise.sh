#!/bin/sh
# keel-agent's supervisor where systemd is not running, installed by keel over
# SSH (keel apply / keel agent install). It restarts the agent when it exits,
# as systemd's Restart=always would, and passes SIGHUP (reload) on to it.
# Replaced at the next install: change the stack, not this file.
DIR='@DIR@'
umask 077
echo $$ > "$DIR/supervisor.pid"
child=
stopping=
trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
trap '[ -n "$child" ] && kill -HUP "$child" 2>/dev/null' HUP
while [ -z "$stopping" ]; do
  "$DIR/bin/keel-agent" --config "$DIR/agent.yaml" >>"$DIR/agent.log" 2>&1 &
  child=$!
  echo "$child" > "$DIR/agent.pid"
  # wait returns early when a trapped signal arrives: wait again for the child
  while kill -0 "$child" 2>/dev/null; do wait "$child"; done
  [ -n "$stopping" ] || sleep 1
done
rm -f "$DIR/agent.pid" "$DIR/supervisor.pid"
