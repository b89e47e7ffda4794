/**
 * DHCP for zone NICs with `ip: "dhcp"`: the host asks for the zone, in the zone's network namespace
 * (BusyBox's udhcpc, once, before the zone's init runs), and puts the lease on the NIC itself, so the
 * anti-spoofing rules know the address and a zone needs no DHCP client of its own. Leases from Zonix's
 * own host networks never expire; renewing leases of outside DHCP servers is left to a later change.
 * @module
 */
import { writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { findTool, run, runPath } from '../platform/index.ts';

export interface Lease {
  /** The address with its prefix (`10.88.0.57/24`). */
  cidr: string;
  router?: string;
  dns: string[];
}

const SCRIPT = `#!/bin/sh
# udhcpc's event script for Zonix: report the lease on stdout; Zonix applies it.
case "$1" in bound|renew) printf 'ip=%s\\nmask=%s\\nrouter=%s\\ndns=%s\\n' "$ip" "$mask" "$router" "$dns" ;; esac
exit 0
`;

function scriptPath(): string {
  const p = runPath('net', 'udhcpc-report');
  if (!existsSync(p)) {
    mkdirSync(runPath('net'), { recursive: true });
    writeFileSync(p, SCRIPT, { mode: 0o755 });
  }
  return p;
}

/** Parse what the script printed. */
export function parseLease(out: string): Lease | undefined {
  const kv = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const ip = kv.get('ip');
  const mask = kv.get('mask');
  if (!ip || !mask) return undefined;
  const router = kv.get('router')?.split(/\s+/)[0];
  return {
    cidr: `${ip}/${mask}`,
    ...(router ? { router } : {}),
    dns: (kv.get('dns') ?? '').split(/\s+/).filter(Boolean),
  };
}

/** Ask for a lease on `iface` in the network namespace of `pid`; undefined when no server answered. */
export async function requestLease(pid: number, iface: string, hostname: string): Promise<Lease | undefined> {
  const busybox = findTool('busybox') ?? '/bin/busybox';
  const argv = [
    `--net=/proc/${pid}/ns/net`,
    '--',
    busybox,
    'udhcpc',
    '-i',
    iface,
    '-f',
    '-q',
    '-n',
    '-t',
    '4',
    '-T',
    '1',
    '-A',
    '1',
    '-x',
    `hostname:${hostname.slice(0, 63)}`,
    '-s',
    scriptPath(),
  ];
  try {
    const { stdout } = await run('nsenter', argv, { timeoutMs: 15_000 });
    return parseLease(stdout);
  } catch {
    return undefined;
  }
}

export const leaseDir = () => runPath('net');
export const leaseFile = (uuid: string) => join(leaseDir(), `${uuid}.json`);
