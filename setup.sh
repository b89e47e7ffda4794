#!/usr/bin/env bash
# Set up this machine as a Zonix host and start it: install, build, import or create the `zones`
# pool, start zonixd (the resident host core), print sysinfo. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
npm run build --silent
for t in bin/*; do [ "$(basename "$t")" = package.json ] && continue; ln -sf "$PWD/$t" "/usr/local/sbin/$(basename "$t")"; done
scripts/start-zonixd.sh
exec bin/zonix boot "$@"
