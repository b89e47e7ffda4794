#!/usr/bin/env bash
# Set up this machine as a Zonix host and start it: install, build, import or create the `zones`
# pool, start zonixd (the resident host core), make the host network `zonix0` (an etherstub with the
# host at 10.88.0.1, NAT out and DHCP) so a first zone reaches the outside, print sysinfo. Run as
# root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
npm run build --silent
for t in bin/*; do [ "$(basename "$t")" = package.json ] && continue; ln -sf "$PWD/$t" "/usr/local/sbin/$(basename "$t")"; done
scripts/start-zonixd.sh
bin/zonix boot -q "$@"
bin/nictagadm exists zonix0 2>/dev/null || bin/nictagadm add -l -p gateway=10.88.0.1/24 zonix0
exec bin/sysinfo
