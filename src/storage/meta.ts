/**
 * The pool's own record of its datasets, inside the pool: a base document (`<top>/meta/pool.json`,
 * replaced atomically) and a journal of the changes made since (`meta/journal.<gen>`, one JSON line per
 * change, appended and synced). It is the truth for which datasets exist, their properties, snapshots
 * and origins; the driver's subvolumes or directories hold the data.
 *
 * A change appends one line naming the datasets it set or removed, so its cost does not grow with the
 * pool; every so often the journal is folded into a new base (of the next generation) and the old
 * journal dropped. A line torn by a crash was never committed and is ignored. Reads are cached per
 * process, keyed on the two files' identity and size, and the cached record is shared: it is never
 * changed (changes work on a copy, `readMetaCopy`). With ZONIX_CHECKS=1 (the test runner sets it) it
 * is frozen, so that code which changes it fails its tests.
 * @module
 */
import {
  closeSync,
  fdatasyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  unlinkSync,
  writeSync,
  constants,
} from 'node:fs';
import { join } from 'node:path';
import { isErrno, writeFileAtomicSync } from '../common/index.ts';

export type DatasetType = 'filesystem' | 'volume';

export interface SnapshotMeta {
  guid: string;
  creation: number;
  createtxg: number;
  /** User properties set on the snapshot. */
  user: Record<string, string>;
}

export interface DatasetMeta {
  guid: string;
  type: DatasetType;
  /** Seconds since the epoch. */
  creation: number;
  createtxg: number;
  /** Locally set properties (values as zfs prints them with -p). */
  props: Record<string, string>;
  /** GUID of the snapshot this clone was made from. */
  origin?: string;
  snapshots: Record<string, SnapshotMeta>;
  /** Where the data lives, relative to the pool's top. */
  path: string;
}

export interface PoolMeta {
  version: 1;
  name: string;
  guid: string;
  creation: number;
  driver: string;
  txg: number;
  datasets: Record<string, DatasetMeta>;
}

/** The base document: the record as of its generation's start. */
interface BaseDoc extends PoolMeta {
  /** The journal that follows this base (absent in pools made before journals: 0). */
  gen?: number;
}

/** One committed change: the datasets it wrote whole, those it removed, the txg after it. */
export interface MetaChange {
  txg: number;
  set: Record<string, DatasetMeta>;
  del: string[];
  /** The pool's own fields, when they changed (a renamed pool). */
  head?: Omit<PoolMeta, 'datasets'>;
}

export const META_DIR = 'meta';
export const META_FILE = 'pool.json';
/** Fold the journal into a new base after this many changes. */
const FOLD_AFTER = 128;

export function metaPath(top: string): string {
  return join(top, META_DIR, META_FILE);
}

function journalPath(top: string, gen: number): string {
  return join(top, META_DIR, `journal.${gen}`);
}

/** The pool lock: held by every change to the pool's record, left behind (stale) by one that died. */
export function poolLockPath(top: string): string {
  return join(top, META_DIR, 'lock');
}

interface Loaded {
  key: string;
  meta: PoolMeta;
  gen: number;
  /** Bytes of the journal that hold whole lines, and how many lines. */
  journalBytes: number;
  entries: number;
}

const cache = new Map<string, Loaded>();

function statKey(path: string): string {
  const st = statSync(path, { bigint: true, throwIfNoEntry: false });
  return st ? `${st.ino}:${st.mtimeNs}:${st.size}` : '-';
}

function genOf(top: string): number {
  // The base's generation is in its first bytes (`{"gen":N,...`), so a key costs no parse.
  const fd = openSync(metaPath(top), 'r');
  try {
    const buf = Buffer.alloc(32);
    const n = readSyncAt(fd, buf);
    const m = /^\{"gen":(\d+)/.exec(buf.subarray(0, n).toString('latin1'));
    return m ? Number(m[1]) : 0;
  } finally {
    closeSync(fd);
  }
}

function readSyncAt(fd: number, buf: Buffer): number {
  return readSync(fd, buf, 0, buf.length, 0);
}

/**
 * A key that changes whenever the record does (the base's identity and the journal's size): caches
 * built from the record are valid while it stays the same.
 */
export function metaKey(top: string): string {
  for (;;) {
    const base = statKey(metaPath(top));
    const gen = genOf(top);
    const journal = statKey(journalPath(top, gen));
    // A fold between the two reads: read again.
    if (statKey(metaPath(top)) === base) return `${base}/${gen}/${journal}`;
  }
}

function load(top: string): Loaded {
  for (;;) {
    const baseKey = statKey(metaPath(top));
    const text = readFileSync(metaPath(top), 'utf8');
    const base = JSON.parse(text) as BaseDoc;
    const gen = base.gen ?? 0;
    let journal: Buffer;
    try {
      journal = readFileSync(journalPath(top, gen));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      journal = Buffer.alloc(0);
    }
    // The journal goes only after a new base is in place: if the base changed meanwhile, read again.
    if (statKey(metaPath(top)) !== baseKey) continue;
    delete base.gen;
    const meta = base as PoolMeta;
    let at = 0;
    let entries = 0;
    for (;;) {
      const nl = journal.indexOf(10, at);
      if (nl < 0) break;
      let change: MetaChange;
      try {
        change = JSON.parse(journal.subarray(at, nl).toString('utf8')) as MetaChange;
      } catch {
        break;
      }
      applyChange(meta, change);
      at = nl + 1;
      entries++;
    }
    const jst = statSync(journalPath(top, gen), { bigint: true, throwIfNoEntry: false });
    const key = `${baseKey}/${gen}/${jst ? `${jst.ino}:${jst.mtimeNs}:${journal.length}` : '-'}`;
    return { key, meta, gen, journalBytes: at, entries };
  }
}

function applyChange(meta: PoolMeta, c: MetaChange): void {
  if (c.head) Object.assign(meta, c.head);
  for (const name of c.del) delete meta.datasets[name];
  Object.assign(meta.datasets, c.set);
  meta.txg = c.txg;
}

const checks = () => process.env.ZONIX_CHECKS === '1';

function deepFreeze<T>(o: T): T {
  if (checks() && o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

function loaded(top: string): Loaded {
  const hit = cache.get(top);
  if (hit && hit.key === metaKey(top)) return hit;
  const l = load(top);
  deepFreeze(l.meta);
  cache.set(top, l);
  return l;
}

/** The record as it is now (shared: read it, never change it). */
export function readMeta(top: string): PoolMeta {
  return loaded(top).meta;
}

/** A copy of the record that a change may work on. */
export function readMetaCopy(top: string): PoolMeta {
  return structuredClone(loaded(top).meta);
}

/** Write a whole new record (a new pool): base of generation 0, no journal. */
export function writeMeta(top: string, meta: PoolMeta): void {
  writeFileAtomicSync(metaPath(top), JSON.stringify({ gen: 0, ...meta }));
  try {
    unlinkSync(journalPath(top, 0));
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  cache.delete(top);
}

/** What changed between two records (datasets compared whole). */
export function diffMeta(before: PoolMeta, after: PoolMeta): MetaChange {
  const set: Record<string, DatasetMeta> = {};
  const del: string[] = [];
  for (const [name, ds] of Object.entries(after.datasets)) {
    const old = before.datasets[name];
    if (!old || JSON.stringify(old) !== JSON.stringify(ds)) set[name] = ds;
  }
  for (const name of Object.keys(before.datasets)) if (!(name in after.datasets)) del.push(name);
  const { datasets: _a, ...headAfter } = after;
  const { datasets: _b, ...headBefore } = before;
  const change: MetaChange = { txg: after.txg, set, del };
  if (JSON.stringify({ ...headAfter, txg: 0 }) !== JSON.stringify({ ...headBefore, txg: 0 }))
    change.head = headAfter;
  return change;
}

/**
 * Commit a change, the caller holding the pool lock: one line appended to the journal and synced (a
 * line torn by a crash before this returns was never committed), or, every FOLD_AFTER changes, a new
 * base with everything in it.
 */
export function commitMeta(top: string, change: MetaChange): void {
  const cur = loaded(top);
  // The record after the change, sharing what did not change with the one before.
  const next: PoolMeta = { ...cur.meta, ...change.head, txg: change.txg, datasets: { ...cur.meta.datasets } };
  for (const name of change.del) delete next.datasets[name];
  Object.assign(next.datasets, structuredClone(change.set));
  deepFreeze(next);
  if (cur.entries >= FOLD_AFTER) {
    writeFileAtomicSync(metaPath(top), JSON.stringify({ gen: cur.gen + 1, ...next }));
    try {
      unlinkSync(journalPath(top, cur.gen));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    cache.set(top, { key: metaKey(top), meta: next, gen: cur.gen + 1, journalBytes: 0, entries: 0 });
    return;
  }
  const line = Buffer.from(JSON.stringify(change) + '\n');
  const fd = openSync(journalPath(top, cur.gen), constants.O_WRONLY | constants.O_CREAT, 0o644);
  try {
    // Whatever a crash tore off the end goes, so the line starts clean.
    ftruncateSync(fd, cur.journalBytes);
    let off = 0;
    while (off < line.length) off += writeSync(fd, line, off, line.length - off, cur.journalBytes + off);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const key = metaKey(top);
  cache.set(top, {
    key,
    meta: next,
    gen: cur.gen,
    journalBytes: cur.journalBytes + line.length,
    entries: cur.entries + 1,
  });
}

export function newGuid(): string {
  // ZFS prints GUIDs as unsigned 64-bit decimals.
  const b = new BigUint64Array(1);
  crypto.getRandomValues(b);
  return b[0]!.toString();
}

export function snapshotPath(ds: DatasetMeta, snap: SnapshotMeta): string {
  return join('snapshots', ds.guid, snap.guid);
}

/** Find a snapshot anywhere in the pool by its GUID. */
export function findSnapshotByGuid(meta: PoolMeta, guid: string) {
  for (const [name, ds] of Object.entries(meta.datasets)) {
    for (const [snap, s] of Object.entries(ds.snapshots)) {
      if (s.guid === guid) return { dataset: name, snapshot: snap, ds, snap: s };
    }
  }
  return undefined;
}

/** Snapshots of a dataset, oldest first. */
export function sortedSnapshots(ds: DatasetMeta): [string, SnapshotMeta][] {
  return Object.entries(ds.snapshots).sort((a, b) => a[1].createtxg - b[1].createtxg);
}
