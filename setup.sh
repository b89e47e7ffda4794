#!/usr/bin/env bash
# Set up this machine as a Zonix host and start it: install, build, import or create the `zones`
# pool (on a loop file by default), make the host network `zonix0` (an etherstub with the host at
# 10.88.0.1, NAT out and DHCP) so a first zone reaches the outside, import the `minimal` image,
# start zonixd (the service: API, web console, autoboot), and print the console's address.
# Run as root on Debian 12. Arguments go to `zonix boot` (-s SIZE, -f FILE for the pool).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
npm run build --silent
for t in bin/*; do [ "$(basename "$t")" = package.json ] && continue; ln -sf "$PWD/$t" "/usr/local/sbin/$(basename "$t")"; done
bin/zonix boot -q "$@"
bin/nictagadm exists zonix0 2>/dev/null || bin/nictagadm add -l -p gateway=10.88.0.1/24 zonix0
# The same network for CloudAPI and the console's create form: addresses .2-.127 handed out by Zonix
# (dnsmasq's DHCP keeps the upper half), the default network of every account.
bin/zonix network get zonix0 >/dev/null 2>&1 || bin/zonix network add zonix0 --nic-tag zonix0 --description 'host-local network (NAT)'
[ -n "$(bin/imgadm list -H -o uuid name=minimal)" ] || bin/imgadm import -q minimal
scripts/start-zonixd.sh
