/**
 * A cache of what listing VMs reads from the pool (each VM's manifest, zonepath and snapshots), so
 * that `vmadm list` on a host with a thousand VMs reads one file instead of a thousand. It lives in
 * the run directory (gone at reboot, rebuilt from the pool on the next list) and is only used when
 * nothing can have changed since it was written:
 *
 * - its key is the pool metadata file's identity (every dataset change, rollbacks included, writes
 *   that file) and the VM generation (a file the store grows by a byte after each manifest write);
 * - the key is read before the pool is, so a change made while the cache is built invalidates it;
 * - while any VM lock file exists (a command under way, or one that died), the cache is not used.
 * @module
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../common/fs-atomic.ts';
import { runPath } from '../platform/paths.ts';
import type { Pool } from '../storage/index.ts';
import { generationFile, type VmRecord } from './store.ts';

/** What a VM looks like on the pool: everything `vmadm get` shows but its live state. */
export interface StoredVm {
  vm: VmRecord;
  zonepath: string;
  snapshots: unknown[];
}

interface CacheFile {
  key: string;
  vms: StoredVm[];
}

const cacheFile = (pool: Pool) => runPath('vm-cache', `${pool.name}.json`);
/**
 * The same VMs by column: a JSON header line `{key, count, columns: {name: [start, end]}}`, then each
 * column as a JSON array at those offsets, so that `vmadm list` parses only the columns it prints.
 */
const columnsFile = (pool: Pool) => runPath('vm-cache', `${pool.name}.columns`);

function columnsText(key: string, vms: StoredVm[]): string {
  const names = new Set<string>(['zonepath', 'snapshots']);
  for (const s of vms) for (const k of Object.keys(s.vm)) names.add(k);
  const columns: Record<string, [number, number]> = {};
  let body = '';
  for (const name of names) {
    const values = vms.map((s) =>
      name === 'zonepath' ? s.zonepath : name === 'snapshots' ? s.snapshots : (s.vm[name] ?? null),
    );
    const text = JSON.stringify(values);
    columns[name] = [body.length, body.length + text.length];
    body += text;
  }
  return `${JSON.stringify({ key, count: vms.length, columns })}\n${body}`;
}

/** The named columns (a name no VM has is all undefined), or undefined when the cache cannot answer. */
export function readColumns(
  pool: Pool,
  key: string,
  names: readonly string[],
): { count: number; columns: Map<string, unknown[]> } | undefined {
  if (vmLocksPresent()) return undefined;
  try {
    const text = readFileSync(columnsFile(pool), 'utf8');
    const nl = text.indexOf('\n');
    const head = JSON.parse(text.slice(0, nl)) as {
      key: string;
      count: number;
      columns: Record<string, [number, number]>;
    };
    if (head.key !== key) return undefined;
    const columns = new Map<string, unknown[]>();
    for (const name of names) {
      const at = head.columns[name];
      columns.set(
        name,
        at
          ? (JSON.parse(text.slice(nl + 1 + at[0], nl + 1 + at[1])) as unknown[])
          : new Array<unknown>(head.count),
      );
    }
    return { count: head.count, columns };
  } catch {
    return undefined;
  }
}

/** The key the pool has now (read it before reading the pool). */
export function cacheKey(pool: Pool): string {
  const meta = statSync(join(pool.top, 'meta', 'pool.json'), { bigint: true });
  const gen = statSync(generationFile(), { throwIfNoEntry: false });
  return `${meta.ino}:${meta.mtimeNs}:${meta.size}:${gen?.ino ?? 0}:${gen?.size ?? 0}`;
}

/** Is any command working on a VM now, or did one die holding its lock? */
function vmLocksPresent(): boolean {
  const dir = runPath('vm-locks');
  return existsSync(dir) && readdirSync(dir).some((n) => n.endsWith('.lock'));
}

export function readCache(pool: Pool, key: string): StoredVm[] | undefined {
  if (vmLocksPresent()) return undefined;
  try {
    const c = JSON.parse(readFileSync(cacheFile(pool), 'utf8')) as CacheFile;
    return c.key === key ? c.vms : undefined;
  } catch {
    return undefined;
  }
}

/** Keep what was read under `key`, unless a command was at work meanwhile. */
export function writeCache(pool: Pool, key: string, vms: StoredVm[]): void {
  if (vmLocksPresent()) return;
  try {
    mkdirSync(runPath('vm-cache'), { recursive: true });
    writeFileAtomicSync(cacheFile(pool), JSON.stringify({ key, vms } satisfies CacheFile), 0o600);
    writeFileAtomicSync(columnsFile(pool), columnsText(key, vms), 0o600);
  } catch {
    /* a cache: the next list reads the pool again */
  }
}
