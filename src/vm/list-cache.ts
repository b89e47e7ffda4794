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
  } catch {
    /* a cache: the next list reads the pool again */
  }
}
