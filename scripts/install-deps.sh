#!/usr/bin/env bash
# Host packages Zonix drives, and the project's npm dependencies. Idempotent; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

need_node="20.19.0"
if ! command -v node >/dev/null || [ "$(printf '%s\n' "$need_node" "$(node -p process.versions.node)" | sort -V | head -1)" != "$need_node" ]; then
  echo "Zonix needs Node.js >= $need_node (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

pkgs=(btrfs-progs e2fsprogs util-linux iproute2 nftables runc busybox-static
      gcc libc6-dev zstd xz-utils bzip2 tar qemu-system-x86 bpftrace debootstrap
      docker-registry skopeo openssl conmon crun
      dnsmasq-base iperf3 iputils-ping chromium
      syslinux syslinux-common mtools dosfstools fdisk qemu-utils)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
modprobe btrfs 2>/dev/null || true
modprobe loop 2>/dev/null || true

npm ci --no-audit --no-fund --loglevel=error
