/**
 * The host programs networking drives, through the one host layer (platform's `run`): `ip`, `bridge`
 * and `tc` take batches on stdin (one process for many changes), `nft` whole rule sets (loaded
 * atomically), and commands for a zone's network namespace go through `nsenter --net`.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { ZonixError } from '../common/index.ts';
import { findTool, run } from '../platform/index.ts';

const TIMEOUT_MS = 30_000;

/** A batch line's words go to the tool unquoted: none may hold a blank, a quote or a comment mark. */
const SAFE_WORD = /^[^\s"'\\#]+$/;

function batchText(lines: readonly (readonly string[])[]): string {
  for (const line of lines)
    for (const w of line)
      if (!SAFE_WORD.test(w))
        throw new ZonixError('EINVAL', `unsafe word in a network command: ${JSON.stringify(w)}`);
  return lines.map((l) => l.join(' ')).join('\n') + '\n';
}

/** Where a command runs: the host's network namespace, or that of the process `pid` (a zone's init). */
export interface NsOptions {
  pid?: number;
}

function inNs(tool: string, argv: string[], o: NsOptions): [string, string[]] {
  if (o.pid === undefined) return [tool, argv];
  const path = findTool(tool) ?? tool;
  return ['nsenter', [`--net=/proc/${o.pid}/ns/net`, '--', path, ...argv]];
}

/** `ip -batch -`: every line one ip command (`link add ...`, `addr add ...`); stops at the first error. */
export async function ipBatch(lines: readonly (readonly string[])[], o: NsOptions = {}): Promise<void> {
  if (lines.length === 0) return;
  const [tool, argv] = inNs('ip', ['-batch', '-'], o);
  await run(tool, argv, { input: batchText(lines), timeoutMs: TIMEOUT_MS });
}

/** One ip command. */
export async function ip(argv: readonly string[], o: NsOptions = {}): Promise<string> {
  const [tool, args] = inNs('ip', [...argv], o);
  return (await run(tool, args, { timeoutMs: TIMEOUT_MS })).stdout;
}

/** `tc -batch -`. */
export async function tcBatch(lines: readonly (readonly string[])[]): Promise<void> {
  if (lines.length === 0) return;
  await run('tc', ['-batch', '-'], { input: batchText(lines), timeoutMs: TIMEOUT_MS });
}

/** Load an nft script as one transaction: all of it applies, or none. */
export async function nft(script: string): Promise<void> {
  await run('nft', ['-f', '-'], { input: script, timeoutMs: TIMEOUT_MS });
}

/** `nft -j list tables`: the tables of the host as [family, name]. */
export async function nftTables(): Promise<[string, string][]> {
  const { stdout } = await run('nft', ['-j', 'list', 'tables'], { timeoutMs: TIMEOUT_MS });
  const out: [string, string][] = [];
  const parsed = JSON.parse(stdout) as { nftables?: { table?: { family: string; name: string } }[] };
  for (const e of parsed.nftables ?? []) if (e.table) out.push([e.table.family, e.table.name]);
  return out;
}

/** What `ip -j -d link show` says of a link (the fields networking reads). */
export interface LinkInfo {
  ifindex: number;
  ifname: string;
  address?: string;
  mtu?: number;
  operstate?: string;
  flags?: string[];
  master?: string;
  ifalias?: string;
  link?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_data?: Record<string, unknown> };
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

/** Every link of the host's (or a zone's) network namespace, with its addresses. */
export async function links(o: NsOptions = {}): Promise<LinkInfo[]> {
  return JSON.parse(await ip(['-j', '-d', 'addr', 'show'], o)) as LinkInfo[];
}

/** Write a sysctl of the host's network stack (`net/ipv6/conf/<link>/disable_ipv6`, say). */
export async function sysctl(key: string, value: string): Promise<void> {
  await writeFile(`/proc/sys/${key}`, value);
}
