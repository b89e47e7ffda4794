/**
 * Networking tests' helpers: namespaces the test makes (and only those carry test traffic), and a leak
 * check for what networking makes on the host.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

/**
 * Links, nftables tables, namespaces and dnsmasq processes left by this test: names starting with
 * `prefix`, links and tables of the VMs `uuids`, dnsmasq processes started from `runDir`.
 */
export function netLeaks(prefix: string, uuids: readonly string[], runDir: string): string[] {
  const found: string[] = [];
  const links = JSON.parse(sh('ip', ['-j', '-d', 'link', 'show'])) as { ifname: string; ifalias?: string }[];
  for (const l of links) {
    if (l.ifname.startsWith(prefix)) found.push(`link ${l.ifname}`);
    if (
      uuids.some((u) => l.ifalias?.includes(u) || l.ifname.startsWith(`zx${u.replace(/-/g, '').slice(0, 9)}`))
    )
      found.push(`link ${l.ifname} (${l.ifalias ?? ''})`);
  }
  const tables = sh('nft', ['list', 'tables']);
  for (const u of uuids) if (tables.includes(`zx_${u.replace(/-/g, '')}`)) found.push(`nft table of VM ${u}`);
  for (const line of tables.split('\n')) if (line.includes(prefix)) found.push(`nft ${line}`);
  for (const ns of sh('ip', ['netns', 'list']).split('\n'))
    if (ns.startsWith(prefix)) found.push(`netns ${ns}`);
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('dnsmasq') && cmd.includes(runDir)) found.push(`dnsmasq ${pid}`);
    } catch {
      /* gone */
    }
  }
  return found;
}

/** Run a command, returning its exit code (and output) instead of throwing. */
export function tryRun(cmd: string, args: string[]): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}
