#!/usr/bin/env bash
# (Re)start zonixd, the resident host core that vmadm runs its commands in: under systemd when systemd
# runs this machine, else in the background with its log in /var/log/zonix/zonixd.log. A zonixd of an
# older build is replaced (until then the tools run their commands in their own processes).
set -euo pipefail
cd "$(dirname "$0")/.."
sock=${ZONIX_RUN_DIR:-/run/zonix}/zonixd.sock
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  sed "s|@ROOT@|$PWD|" scripts/zonixd.service > /etc/systemd/system/zonixd.service
  systemctl daemon-reload
  systemctl enable zonixd >/dev/null 2>&1
  systemctl restart zonixd
else
  if [ -f "$sock.pid" ]; then
    pid=$(cat "$sock.pid")
    if kill -TERM "$pid" 2>/dev/null; then
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  mkdir -p /var/log/zonix
  setsid -f bin/zonixd >>/var/log/zonix/zonixd.log 2>&1 </dev/null
fi
for _ in $(seq 100); do [ -S "$sock" ] && [ -f "$sock.pid" ] && break; sleep 0.1; done
if [ -S "$sock" ]; then
  echo "zonixd is running (pid $(cat "$sock.pid")), on $sock" >&2
else
  echo "zonixd did not start: see /var/log/zonix/zonixd.log or journalctl -u zonixd" >&2
  exit 1
fi
