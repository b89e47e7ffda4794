/**
 * What a storage driver does: the primitive operations on datasets' bodies (btrfs subvolumes, or plain
 * directories). ZFS semantics (names, hierarchy, properties, rules) live above, in Pool, and ask the
 * driver's `info` for what it can do, never its name.
 * @module
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { NotSupportedError } from '../common/index.ts';

export interface StorageDriverInfo {
  name: string;
  /** Snapshots and clones take constant time whatever the size. */
  instantSnapshots: boolean;
  /** Quotas are enforced (writes past them fail with EDQUOT). */
  quotas: boolean;
  /** Transparent compression, settable per dataset. */
  compression: boolean;
  /** Read-only datasets are enforced by the filesystem. */
  readonly: boolean;
  /** The pool sits on a block device or a file (else it is a directory). */
  blockBacked: boolean;
}

export interface SpaceUsage {
  /** Bytes the dataset refers to (shared or not). */
  referenced: number;
  /** Bytes only it holds. */
  exclusive: number;
}

export interface PoolSource {
  /** A block device, a pool file, or (directory pools) a folder. */
  path: string;
  kind: 'device' | 'file' | 'directory';
}

export interface StorageDriver {
  readonly info: StorageDriverInfo;
  /** Can this host use the driver? */
  probe(): Promise<boolean>;
  /** Make a new, empty pool on the source (mkfs). */
  format(source: PoolSource, label: string): Promise<void>;
  /** Make the pool's storage reachable at `top`; returns the devices it sits on. */
  attach(source: PoolSource, top: string): Promise<string[]>;
  detach(source: PoolSource, top: string): Promise<void>;
  /** Called once after the first attach of a new pool. */
  initPool(top: string): Promise<void>;
  /** Read the pool's name and id from a source without attaching it; undefined if it is not a pool. */
  readLabel(source: PoolSource): Promise<{ label: string; id: string } | undefined>;

  createBody(path: string): Promise<void>;
  /** Copy `src` to `dst` (a snapshot or clone); entries named in `exclude` (child datasets) stay empty. */
  snapshotBody(src: string, dst: string, opts: { readonly: boolean; exclude: string[] }): Promise<void>;
  destroyBody(path: string): Promise<void>;
  /** Is `path` a dataset body (subvolume) rather than a plain directory? */
  isBody(path: string): Promise<boolean>;
  setReadonly(path: string, readonly: boolean): Promise<void>;
  setQuota(path: string, bytes: number | null): Promise<void>;
  setCompression(path: string, algorithm: string): Promise<void>;
  /** Space per body, keyed by path relative to top. */
  space(top: string, paths: string[]): Promise<Map<string, SpaceUsage>>;
  /** Write a stream of `snap` (incremental from `base` when given) to `out`. */
  send(snap: string, base: string | undefined, out: Writable): Promise<void>;
  /**
   * Read a stream made by `send` into a new read-only body `dir/name` (incremental streams apply on
   * top of `base`); returns the path of the body made.
   */
  receive(input: Readable, dir: string, name: string, base: string | undefined): Promise<string>;
  /** Create a volume: a sparse file of `size` bytes with CoW off, in the body at `path`. */
  createVolume(path: string, size: number): Promise<void>;
  resizeVolume(path: string, size: number): Promise<void>;
  /** Bytes free and total in the pool. */
  capacity(top: string): Promise<{ size: number; free: number; alloc: number }>;
  /** Error counters per device (zpool status). */
  deviceErrors(top: string): Promise<Map<string, { read: number; write: number; cksum: number }>>;
}

/** The file inside a volume's body that holds its blocks. */
export const VOLUME_FILE = 'data';

export function notSupported(driver: string, what: string): never {
  throw new NotSupportedError(`${what} is not supported by the ${driver} storage driver`);
}

/** Set a volume's size: its data file, sparse, truncated or extended. */
export async function resizeVolumeFile(body: string, size: number): Promise<void> {
  const fh = await open(join(body, VOLUME_FILE), 'r+');
  try {
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}
