/**
 * The pool's own record of its datasets: one JSON document inside the pool (`<top>/meta/pool.json`),
 * replaced atomically. It is the truth for which datasets exist, their properties, snapshots and
 * origins; the driver's subvolumes or directories hold the data.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../common/index.ts';

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

export const META_DIR = 'meta';
export const META_FILE = 'pool.json';

export function metaPath(top: string): string {
  return join(top, META_DIR, META_FILE);
}

/** The pool lock: held by every change to the pool, left behind (stale) by one that died. */
export function poolLockPath(top: string): string {
  return join(top, META_DIR, 'lock');
}

export function readMeta(top: string): PoolMeta {
  return JSON.parse(readFileSync(metaPath(top), 'utf8')) as PoolMeta;
}

export function writeMeta(top: string, meta: PoolMeta): void {
  writeFileAtomicSync(metaPath(top), JSON.stringify(meta));
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
