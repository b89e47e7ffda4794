/**
 * A cache of what listing VMs reads from the pool (each VM's manifest, zonepath and snapshots), so
 * that `vmadm list` on a host with a thousand VMs reads one file instead of a thousand. It lives in
 * the run directory (gone at reboot, rebuilt from the pool on the next list) and is only used when
 * nothing can have changed since it was written:
 *
 * - its key is the pool metadata file's identity (every dataset change, rollbacks included, writes
 *   that file) and the VM generation (a file the store grows by a byte after each manifest write);
 * - the key is read before the pool is, so a change made while the cache is built invalidates it;
 * - while any VM lock file exists (a command under way, or one that died), the cache is not used;
 *   reading the pool (VmCore.list) frees the locks of commands that died.
 * @module
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs';
import { writeFileAtomicSync } from '../common/index.ts';
import { runPath } from '../platform/index.ts';
import { metaKey } from '../storage/index.ts';
import { generationFile, type VmRecord } from './store.ts';

/** The pool a cache is of: its name and where its storage is reached. */
export interface PoolRef {
  readonly name: string;
  readonly top: string;
}

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

const cacheFile = (pool: PoolRef) => runPath('vm-cache', `${pool.name}.json`);
const columnsFile = (pool: PoolRef) => runPath('vm-cache', `${pool.name}.columns`);
/**
 * The same VMs by column: a JSON header line `{version, key, count, columns: {name: [start, end]}}`,
 * then each column as a JSON array at those byte offsets in the body, so that `vmadm list` reads and
 * parses only the columns it prints.
 */
const COLUMNS_VERSION = 2;

function columnsText(key: string, vms: StoredVm[]): string {
  const names = new Set<string>(['zonepath', 'snapshots']);
  for (const s of vms) for (const k of Object.keys(s.vm)) names.add(k);
  const columns: Record<string, [number, number]> = {};
  const texts: string[] = [];
  let at = 0;
  for (const name of names) {
    const values = vms.map((s) =>
      name === 'zonepath' ? s.zonepath : name === 'snapshots' ? s.snapshots : (s.vm[name] ?? null),
    );
    const text = JSON.stringify(values);
    const bytes = Buffer.byteLength(text);
    columns[name] = [at, at + bytes];
    at += bytes;
    texts.push(text);
  }
  return `${JSON.stringify({ version: COLUMNS_VERSION, key, count: vms.length, columns })}\n${texts.join('')}`;
}

interface ColumnsHead {
  version?: number;
  key: string;
  count: number;
  columns: Record<string, [number, number]>;
}

/** `length` bytes of an open file from `at`, as text. */
function readAt(fd: number, at: number, length: number): string {
  const buf = Buffer.allocUnsafe(length);
  return buf.toString('utf8', 0, readSync(fd, buf, 0, length, at));
}

/**
 * The column file's header and where its body starts, when it is of this format and `key`;
 * undefined otherwise. The caller closes `fd` either way.
 */
function columnsHead(fd: number, key: string): { head: ColumnsHead; bodyAt: number } | undefined {
  for (let size = 8192; ; size *= 4) {
    const text = readAt(fd, 0, size);
    const nl = text.indexOf('\n');
    if (nl < 0 && text.length < size) return undefined;
    if (nl < 0) continue;
    const head = JSON.parse(text.slice(0, nl)) as ColumnsHead;
    if (head.version !== COLUMNS_VERSION || head.key !== key) return undefined;
    return { head, bodyAt: Buffer.byteLength(text.slice(0, nl)) + 1 };
  }
}

function withColumns<T>(pool: PoolRef, fn: (fd: number) => T | undefined): T | undefined {
  let fd: number;
  try {
    fd = openSync(columnsFile(pool), 'r');
  } catch {
    return undefined;
  }
  try {
    return fn(fd);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * The named columns (a name no VM has is all undefined), or undefined when the cache cannot answer.
 * Only the header and those columns are read from the file: memory a process touches for the first
 * time is what costs most in a short-lived CLI.
 */
export function readColumns(
  pool: PoolRef,
  key: string,
  names: readonly string[],
): { count: number; columns: Map<string, unknown[]> } | undefined {
  if (vmLocksPresent()) return undefined;
  return withColumns(pool, (fd) => {
    const got = columnsHead(fd, key);
    if (!got) return undefined;
    const { head, bodyAt } = got;
    const columns = new Map<string, unknown[]>();
    for (const name of names) {
      const at = head.columns[name];
      columns.set(
        name,
        at
          ? (JSON.parse(readAt(fd, bodyAt + at[0], at[1] - at[0])) as unknown[])
          : new Array<unknown>(head.count),
      );
    }
    return { count: head.count, columns };
  });
}

/** The key the pool has now (read it before reading the pool). */
export function cacheKey(pool: PoolRef): string {
  const gen = statSync(generationFile(), { throwIfNoEntry: false });
  return `${metaKey(pool.top)}:${gen?.ino ?? 0}:${gen?.size ?? 0}`;
}

/** Is any command working on a VM now, or did one die holding its lock? */
export function vmLocksPresent(): boolean {
  const dir = runPath('vm-locks');
  return existsSync(dir) && readdirSync(dir).some((n) => n.endsWith('.lock'));
}

/** The cached VMs, when the cache is of `key` (both files: `vmadm list` reads the columns). */
export function readCache(pool: PoolRef, key: string): StoredVm[] | undefined {
  if (vmLocksPresent()) return undefined;
  if (!withColumns(pool, (fd) => columnsHead(fd, key))) return undefined;
  try {
    const c = JSON.parse(readFileSync(cacheFile(pool), 'utf8')) as CacheFile;
    return c.key === key ? c.vms : undefined;
  } catch {
    return undefined;
  }
}

/** Keep what was read under `key`, unless a command was at work meanwhile. */
export function writeCache(pool: PoolRef, key: string, vms: StoredVm[]): void {
  if (vmLocksPresent()) return;
  try {
    mkdirSync(runPath('vm-cache'), { recursive: true });
    writeFileAtomicSync(cacheFile(pool), JSON.stringify({ key, vms } satisfies CacheFile), 0o600, {
      durable: false,
    });
    writeFileAtomicSync(columnsFile(pool), columnsText(key, vms), 0o600, { durable: false });
  } catch {
    /* a cache: the next list reads the pool again */
  }
}
