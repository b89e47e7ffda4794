#!/usr/bin/env bash
# (Re)start zonixd, the host service (the API and web console, and the core vmadm runs its commands
# in): under systemd when systemd runs this machine, else in the background under zonix-respawn, with
# its log in /var/log/zonix/zonixd.log, its pid in <run dir>/zonixd.sock.pid and its respawner's in
# <run dir>/zonixd-respawn.pid. Prints where the console is.
# ZONIXD_ARGS passes flags (--listen HOST:PORT, --tls-cert, --tls-key; see bin/zonixd --help).
set -euo pipefail
cd "$(dirname "$0")/.."
run=${ZONIX_RUN_DIR:-/run/zonix}
sock=$run/zonixd.sock
state=$run/zonixd.json
args=${ZONIXD_ARGS:-}
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  sed "s|@ROOT@|$PWD|; s|@ARGS@|$args|" scripts/zonixd.service > /etc/systemd/system/zonixd.service
  systemctl daemon-reload
  systemctl enable zonixd >/dev/null 2>&1
  rm -f "$state"
  systemctl restart zonixd
  where="journalctl -u zonixd"
else
  # The running one: its respawner when it has one (which passes SIGTERM on), else zonixd itself.
  for f in "$run/zonixd-respawn.pid" "$sock.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -TERM "$pid" 2>/dev/null; then
      for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$f"
  done
  rm -f "$state"
  mkdir -p /var/log/zonix "$run"
  # Under zonix-respawn (as systemd's Restart= would): zonixd hosts the zones' metadata server, so a
  # zonixd that dies is started again within a second.
  # shellcheck disable=SC2086
  setsid dist/zonix-respawn bin/zonixd $args >>/var/log/zonix/zonixd.log 2>&1 </dev/null &
  echo $! > "$run/zonixd-respawn.pid"
  where=/var/log/zonix/zonixd.log
fi
for _ in $(seq 300); do [ -S "$sock" ] && [ -f "$state" ] && break; sleep 0.1; done
if [ ! -f "$state" ]; then
  echo "zonixd did not start: see $where" >&2
  if [ -f "$run/zonixd-respawn.pid" ]; then kill -TERM "$(cat "$run/zonixd-respawn.pid")" 2>/dev/null || true; rm -f "$run/zonixd-respawn.pid"; fi
  exit 1
fi
pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$state")
url=$(sed -n 's/.*"url":"\([^"]*\)".*/\1/p' "$state")
token_file=$(sed -n 's/.*"token_file":"\([^"]*\)".*/\1/p' "$state")
echo "zonixd is running (pid $pid); its log: $where" >&2
if [ -n "$url" ]; then
  echo "Zonix console: $url/?token=$(cat "$token_file")"
  echo "API: $url/v1 (Authorization: Bearer \$(cat $token_file)), or without a token on $run/zonixd-api.sock"
fi
