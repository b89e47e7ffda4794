/**
 * One imported pool and its datasets, with ZFS's semantics: hierarchy, snapshots, clones, rollback,
 * properties and their inheritance, send and receive. Every change of the record takes the pool's
 * lock, records what it is about to touch, and commits the metadata at the point after which the change
 * is complete, so a process killed at any step leaves either the old state or the new one (the next
 * taker of the lock cleans up what the dead one left).
 *
 * The common changes (create, clone, snapshot, destroy) hold the pool lock only to check and commit:
 * their slow part (a btrfs snapshot, the dir driver's copy, removing a body) runs under a lock on the
 * dataset's subtree alone, so changes to different datasets (different VMs) go on at once. Bodies in
 * the making live in `tmp/` under their owner's name (removed once the owner is dead); what a subtree
 * lock's holder may leave behind is named in its lock, and removed once it is found stale.
 * @module
 */
import { closeSync, existsSync, openSync, renameSync, statfsSync, unlinkSync } from 'node:fs';
import { isErrno } from '../common/index.ts';
import { run } from '../platform/index.ts';
import { cp, mkdir, readdir, readFile, rename, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { acquireLock, lockIsStale, processStartTime, type FileLock } from '../common/index.ts';
import { DocStore } from './docs.ts';
import type { PoolSource, StorageDriver } from './driver.ts';
import { VOLUME_FILE } from './driver.ts';
import { asZfsError, cannot, needsFlag, noDataset, ZfsError } from './errors.ts';
import {
  newGuid,
  META_DIR,
  commitMeta,
  diffMeta,
  readMeta,
  snapshotPath,
  sortedSnapshots,
  type DatasetMeta,
  type DatasetType,
  type PoolMeta,
  poolLockPath,
} from './meta.ts';
import { bindMount, isMountPoint, mountTable, unmount } from './mounts.ts';
import { datasetNameProblem, parentName, parseName } from './names.ts';
import { PROPS, isUserProp, parseAssignment } from './props.ts';
import {
  childrenOf,
  clonesOf,
  descendantsOf,
  entityOf,
  inheritedProp,
  mountpointOf,
  referencedPaths,
  ROOT_PATH,
  type Entity,
  type PropValue,
} from './tree.ts';
import { receiveStream, sendSnapshot } from './pool-stream.ts';
import { propertyOf, spaceOf } from './space.ts';

export interface PoolRecord {
  name: string;
  driver: string;
  source: PoolSource;
  /** Where the pool's storage is reached (the btrfs top-level mount, or the pool directory). */
  top: string;
  devices: string[];
}

interface Intent {
  op: string;
  /** Paths (relative to top) to remove unless the metadata references them. */
  cleanup?: string[];
  /** A body being replaced (rollback, incremental receive): finish it. */
  replace?: ReplaceIntent;
}

/** What a transaction acts on, for its error messages (`cannot <action> '<name>': ...`). */
export interface Subject {
  action: string;
  name: string;
}

interface ReplaceIntent {
  path: string;
  fresh: string;
  old: string;
  children: string[];
  /** Plain files or folders of the old body that move into the new one (see `rebase`). */
  keep?: string[];
}

export interface CreateOptions {
  props?: Record<string, string>;
  parents?: boolean;
  /** A volume of this many bytes. */
  volsize?: number;
}

const TMP = 'tmp';
/** Subtree locks: one file per locked dataset, named by its (encoded) name. */
const LOCKS = join(META_DIR, 'locks');
/** This process, as names in `tmp/` and subtree locks say it: pid and start time. */
const OWNER = `${process.pid}-${processStartTime(process.pid) ?? '0'}`;
let stageSeq = 0;

/** Is the process that a name in `tmp/` starts with (`<pid>-<start>.`) alive? */
function ownerAlive(name: string): boolean {
  const m = /^(\d+)-(\d+)\./.exec(name);
  return m !== null && processStartTime(Number(m[1])) === m[2];
}

interface SubtreeHolder {
  pid: number;
  start: string;
  /** Paths (relative to top) to remove unless the metadata references them, should the holder die. */
  cleanup?: string[];
}

/** Do two dataset names overlap (one is the other or inside it)? */
function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}
/** A preallocated file given back when the pool is full (see Pool.withSpace). */
export const RESERVE = join('meta', 'reserve');

/** Like ZFS's slop space: 1/64 of the pool, between 8 MiB and 256 MiB. */
export function reserveSize(poolBytes: number): number {
  return Math.min(256 << 20, Math.max(8 << 20, Math.floor(poolBytes / 64 / 4096) * 4096));
}

/** A file whose blocks are really allocated (no CoW, so no compression), to be freed on demand. */
export async function createReserve(path: string, size: number): Promise<void> {
  const tmp = `${path}.new`;
  closeSync(openSync(tmp, 'w', 0o600));
  await run('chattr', ['+C', tmp], { timeoutMs: 10_000 });
  await run('fallocate', ['-l', String(size), tmp], { timeoutMs: 30_000 });
  renameSync(tmp, path);
}

export class Pool {
  constructor(
    readonly rec: PoolRecord,
    readonly driver: StorageDriver,
  ) {}

  get name(): string {
    return this.rec.name;
  }

  get top(): string {
    return this.rec.top;
  }

  abs(rel: string): string {
    return join(this.rec.top, rel);
  }

  /** The record as it is now: read it, never change it (it is frozen and shared). */
  meta(): PoolMeta {
    return readMeta(this.rec.top);
  }

  // ---- transactions -------------------------------------------------------------------------------

  private lockPath(): string {
    return poolLockPath(this.rec.top);
  }

  /** Run `fn` holding the pool lock, with the metadata read fresh. */
  async tx<T>(subject: Subject, fn: (meta: PoolMeta, t: Tx) => Promise<T>): Promise<T> {
    const op = subject.action;
    const take = () =>
      acquireLock(this.lockPath(), {
        intent: { op },
        onStale: (dead) => this.reconcile(dead.intent as Intent | undefined),
      });
    let lock: FileLock;
    try {
      lock = await take();
    } catch (err) {
      if (!isErrno(err, 'ENOSPC') || !this.releaseReserve())
        throw asZfsError(err, subject.action, subject.name);
      lock = await take();
    }
    await this.ensureReserve();
    // What dead processes left outside the pool lock (bodies in the making, subtree locks) goes first.
    if (subject.action !== 'recover' && (await this.leftovers()))
      await this.reconcile(undefined).catch(() => undefined);
    const before = this.meta();
    const meta = structuredClone(before);
    const t = new Tx(this, lock, before, meta, op);
    try {
      return await fn(meta, t);
    } catch (err) {
      // A failed change leaves nothing behind: undo what it made before its commit.
      if (!t.committed) await this.reconcile(t.intent()).catch(() => undefined);
      throw asZfsError(err, subject.action, subject.name);
    } finally {
      lock.release();
    }
  }

  /**
   * If a process died holding the pool's lock, finish or undo what it left now (taking the lock does
   * that), rather than at the next change: a killed `zfs create` leaves nothing behind for long.
   */
  async recoverIfStale(): Promise<void> {
    if (lockIsStale(this.lockPath()) || (await this.leftovers()))
      await this.tx({ action: 'recover', name: this.name }, async () => {
        await this.reconcile(undefined);
      });
  }

  /** Did a process die leaving bodies in `tmp/` or a subtree lock? */
  private async leftovers(): Promise<boolean> {
    const names = async (rel: string) => readdir(this.abs(rel)).catch(() => [] as string[]);
    if ((await names(TMP)).some((n) => !ownerAlive(n))) return true;
    for (const n of await names(LOCKS)) {
      const h = await this.subtreeHolder(n);
      if (!h || processStartTime(h.pid) !== h.start) return true;
    }
    return false;
  }

  private async subtreeHolder(file: string): Promise<SubtreeHolder | undefined> {
    try {
      return JSON.parse(await readFile(this.abs(join(LOCKS, file)), 'utf8')) as SubtreeHolder;
    } catch {
      return undefined;
    }
  }

  /**
   * Hold the subtrees of `names` (each dataset and all below it) for a change's slow part: taken all at
   * once under the pool lock when no live holder has an overlapping one; else wait. The lock names
   * what its holder may leave behind (`setCleanup`) for whoever finds it dead.
   */
  async lockSubtrees(names: string[], timeoutMs = 120_000): Promise<SubtreeLock> {
    const deadline = Date.now() + timeoutMs;
    const wanted = [...new Set(names)].sort();
    let delay = 1;
    for (;;) {
      const got = await this.tx({ action: 'lock', name: wanted[0] ?? this.name }, async (meta) => {
        await mkdir(this.abs(LOCKS), { recursive: true });
        for (const file of await readdir(this.abs(LOCKS))) {
          const held = decodeURIComponent(file.replace(/\.lock$/, ''));
          if (!wanted.some((w) => overlaps(w, held))) continue;
          const h = await this.subtreeHolder(file);
          if (h && processStartTime(h.pid) === h.start) return undefined;
          await this.releaseDead(meta, file, h);
        }
        const files = wanted.map((w) => this.abs(join(LOCKS, `${encodeURIComponent(w)}.lock`)));
        const lock = new SubtreeLock(files);
        await lock.write([]);
        return lock;
      });
      if (got) return got;
      if (Date.now() > deadline) throw cannot('EBUSY', 'lock', wanted.join(' '), 'dataset is busy');
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
  }

  /** Remove what a dead subtree lock's holder left (the caller holds the pool lock), then its lock. */
  private async releaseDead(meta: PoolMeta, file: string, h: SubtreeHolder | undefined): Promise<void> {
    const used = referencedPaths(meta);
    for (const rel of h?.cleanup ?? []) if (!used.has(rel)) await this.removeBody(rel);
    await unlink(this.abs(join(LOCKS, file))).catch(() => undefined);
  }

  /** A fresh place in `tmp/` for a body in the making, named after this process. */
  private async stagePath(): Promise<string> {
    await mkdir(this.abs(TMP), { recursive: true });
    return join(TMP, `${OWNER}.${Date.now().toString(36)}-${++stageSeq}`);
  }

  /**
   * Run `fn`; if the pool is full, give back the reserve (a preallocated file kept for this, like
   * ZFS's slop space) and run it again, so that a full pool can still record changes and free space.
   */
  withSpace<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (isErrno(err, 'ENOSPC') && this.releaseReserve()) return fn();
      throw err;
    }
  }

  private releaseReserve(): boolean {
    try {
      unlinkSync(this.abs(RESERVE));
      return true;
    } catch {
      return false;
    }
  }

  /** Put the reserve back once there is room again. */
  private async ensureReserve(): Promise<void> {
    if (!this.driver.info.blockBacked || existsSync(this.abs(RESERVE))) return;
    try {
      const fs = statfsSync(this.top);
      const size = reserveSize(fs.blocks * fs.bsize);
      if (fs.bavail * fs.bsize < 4 * size) return;
      await createReserve(this.abs(RESERVE), size);
    } catch {
      /* best effort: the next change tries again */
    }
  }

  /** Finish or undo what a dead holder of the lock left half-done. */
  async reconcile(intent: Intent | undefined): Promise<void> {
    const meta = this.meta();
    if (intent?.replace) await this.finishReplace(intent.replace);
    const used = referencedPaths(meta);
    for (const rel of intent?.cleanup ?? []) {
      if (!used.has(rel) && existsSync(this.abs(rel))) await this.removeBody(rel);
    }
    await this.clearTmp();
    for (const file of await readdir(this.abs(LOCKS)).catch(() => [] as string[])) {
      const h = await this.subtreeHolder(file);
      if (!h || processStartTime(h.pid) !== h.start) await this.releaseDead(meta, file, h);
    }
  }

  /** Remove what dead processes left in `tmp/` (a live one's bodies in the making stay). */
  private async clearTmp(): Promise<void> {
    const dir = this.abs(TMP);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const n of names) if (!ownerAlive(n)) await this.removeBody(join(TMP, n));
  }

  /** Remove a body and whatever bodies are nested in it. */
  async removeBody(rel: string): Promise<void> {
    const path = this.abs(rel);
    if (!existsSync(path)) return;
    if (await this.driver.isBody(path)) {
      for (const e of await readdir(path, { withFileTypes: true })) {
        if (e.isDirectory() && (await this.driver.isBody(join(path, e.name))))
          await this.removeBody(join(rel, e.name));
      }
      await this.driver.destroyBody(path);
    } else {
      // A plain directory (tmp wrapper): bodies inside first, then the rest.
      for (const e of await readdir(path, { withFileTypes: true })) {
        if (e.isDirectory()) await this.removeBody(join(rel, e.name));
      }
      await rm(path, { recursive: true, force: true });
    }
  }

  // ---- lookups ------------------------------------------------------------------------------------

  /** The dataset or snapshot called `name`, or a ZFS "does not exist" error. */
  entity(meta: PoolMeta, name: string, action = 'open'): Entity {
    return entityOf(meta, name, action);
  }

  children(meta: PoolMeta, name: string): string[] {
    return childrenOf(meta, name);
  }

  mountpointOf(meta: PoolMeta, name: string): string | undefined {
    return mountpointOf(meta, name);
  }

  // ---- properties ---------------------------------------------------------------------------------

  /** Datasets that need a bind mount of their own: a path mountpoint set locally. */
  private ownMounts(meta: PoolMeta): { name: string; src: string; dst: string; readonly: boolean }[] {
    const out = [];
    for (const [name, ds] of Object.entries(meta.datasets).sort(([a], [b]) => a.localeCompare(b))) {
      if (ds.type !== 'filesystem' || ds.props.mountpoint === undefined) continue;
      const dst = mountpointOf(meta, name);
      if (dst === undefined) continue;
      out.push({ name, src: this.abs(ds.path), dst, readonly: false });
    }
    return out;
  }

  /** Mount every dataset that has a mountpoint of its own (at import). */
  async mountAll(meta = this.meta()): Promise<void> {
    const table = mountTable();
    for (const m of this.ownMounts(meta)) {
      if (!isMountPoint(m.dst, table)) await bindMount(m.src, m.dst);
    }
  }

  /** Unmount them, deepest first (at export). */
  async unmountAll(meta = this.meta()): Promise<void> {
    const table = mountTable();
    const mounts = this.ownMounts(meta).reverse();
    for (const m of mounts) {
      if (!isMountPoint(m.dst, table)) continue;
      try {
        await unmount(m.dst);
      } catch (err) {
        throw cannot('EBUSY', 'unmount', m.dst, 'Device busy', err);
      }
    }
  }

  /** @internal */
  async unmountDataset(meta: PoolMeta, name: string, action: string): Promise<void> {
    const ds = meta.datasets[name];
    if (!ds || ds.props.mountpoint === undefined) return;
    const mp = mountpointOf(meta, name);
    if (mp === undefined || !isMountPoint(mp)) return;
    try {
      await unmount(mp);
    } catch (err) {
      throw cannot('EBUSY', action, name, 'dataset is busy', err);
    }
  }

  /** @internal */
  async mountDataset(meta: PoolMeta, name: string): Promise<void> {
    const ds = meta.datasets[name];
    if (!ds || ds.props.mountpoint === undefined) return;
    const mp = mountpointOf(meta, name);
    if (mp !== undefined && !isMountPoint(mp)) await bindMount(this.abs(ds.path), mp);
  }

  // ---- space and properties -----------------------------------------------------------------------

  /** used/referenced/available for the given entities (one driver call for all). */
  spaceOf(meta: PoolMeta, names: string[]): Promise<Map<string, Record<string, number>>> {
    return spaceOf(this, meta, names);
  }

  /** One property of an entity: raw value (as -p prints it) and source. */
  property(meta: PoolMeta, e: Entity, prop: string, space?: Record<string, number>): PropValue {
    return propertyOf(this, meta, e, prop, space);
  }

  // ---- create, snapshot, clone --------------------------------------------------------------------

  async create(name: string, opts: CreateOptions = {}): Promise<void> {
    const problem = datasetNameProblem(name);
    if (problem) throw cannot('EINVAL', 'create', name, problem);
    const type: DatasetType = opts.volsize !== undefined ? 'volume' : 'filesystem';
    const props = this.checkProps(name, type, opts.props ?? {});
    if (type === 'volume') props.volsize = String(opts.volsize);
    await this.createStaged(name, { type, parents: opts.parents ?? false, props }, async (stage) => {
      if (type === 'volume') await this.driver.createVolume(this.abs(stage), opts.volsize!);
      else await this.driver.createBody(this.abs(stage));
    });
  }

  /**
   * Make a new dataset (or clone): its body is built in `tmp/` (`make`), with its properties enforced
   * there, holding only the lock on its subtree; then, under the pool lock, everything is checked again,
   * missing parents are made (-p), and the body moves into place as the record is committed.
   */
  private async createStaged(
    name: string,
    spec: {
      type: DatasetType;
      parents: boolean;
      props: Record<string, string>;
      /** Properties the dataset starts with (a volume clone's volsize). */
      base?: Record<string, string>;
      /** The snapshot a clone is made from. */
      from?: string;
    },
    make: (stage: string, src: Entity | undefined) => Promise<void>,
  ): Promise<void> {
    const check = (meta: PoolMeta) => {
      const src = spec.from !== undefined ? entityOf(meta, spec.from) : undefined;
      if (meta.datasets[name]) throw cannot('EEXIST', 'create', name, 'dataset already exists');
      this.checkParents(meta, name, spec.parents, 'create');
      return src;
    };
    const fail = <T>(p: Promise<T>) => zfsErrors('create', name, p);
    check(this.meta());
    const lock = await fail(this.lockSubtrees([name]));
    const stage = await this.stagePath();
    try {
      const meta0 = this.meta();
      const src0 = check(meta0);
      await fail(make(stage, src0));
      const guid = newGuid();
      const draft: DatasetMeta = {
        guid,
        type: spec.type,
        creation: 0,
        createtxg: 0,
        props: { ...spec.base },
        ...(src0 ? { origin: src0.snap!.guid } : {}),
        snapshots: {},
        path: stage,
      };
      // The properties, enforced on the body in the making as the dataset will see them; read-only
      // last, once the body is in place (a read-only body cannot move).
      const { readonly, ...early } = spec.props;
      const scratch: PoolMeta = { ...meta0, datasets: { ...meta0.datasets, [name]: draft } };
      await fail(this.applyProps(scratch, name, early));
      if (readonly !== undefined) draft.props.readonly = readonly;
      const effective = (ds: string, k: string) => inheritedProp(scratch, ds, k)?.value;
      if (src0) {
        // A btrfs snapshot already carries the origin's compression and is writable: enforce only what
        // differs (each property costs a btrfs call).
        if (effective(name, 'compression') !== effective(src0.dataset, 'compression'))
          await this.enforce(scratch, name, 'compression');
      } else if (this.driver.info.compression && spec.props.compression === undefined) {
        // Made outside its parent, the body did not inherit the parent's compression: set it.
        await this.enforce(scratch, name, 'compression');
      }
      const makeReadonly = src0 ? effective(name, 'readonly') === 'on' : readonly !== undefined;
      await this.tx({ action: 'create', name }, async (meta, t) => {
        const src = check(meta);
        if (src0 && src?.snap?.guid !== src0.snap!.guid) throw noDataset('open', spec.from!);
        await this.ensureParents(meta, t, name, spec.parents, 'create');
        const path = spec.type === 'volume' ? join('volumes', guid) : this.childPath(meta, name);
        t.cleanup([path]);
        await this.preparePlace(path, name, 'create');
        await mkdir(dirname(this.abs(path)), { recursive: true });
        await rename(this.abs(stage), this.abs(path));
        meta.datasets[name] = this.newDataset(meta, {
          guid,
          type: spec.type,
          path,
          props: draft.props,
          ...(draft.origin ? { origin: draft.origin } : {}),
        });
        if (makeReadonly) await this.enforce(meta, name, 'readonly');
        t.commit();
        await this.mountDataset(meta, name);
      });
    } finally {
      if (existsSync(this.abs(stage))) await this.removeBody(stage).catch(() => undefined);
      await lock.release();
    }
  }

  /** Fail as zfs does when `name`'s parent is missing (without -p) or not a filesystem. */
  private checkParents(meta: PoolMeta, name: string, parents: boolean, action: string): string[] {
    const missing: string[] = [];
    for (let p = parentName(name); p !== undefined && !meta.datasets[p]; p = parentName(p))
      missing.unshift(p);
    const parent = parentName(name);
    if (parent === undefined) throw cannot('EINVAL', action, name, 'missing dataset name');
    if (missing.length && !parents) throw cannot('ENOENT', action, name, 'parent does not exist');
    if (missing.length && !meta.datasets[missing[0]!.split('/')[0]!])
      throw cannot('ENOENT', action, name, 'no such pool');
    if (!missing.length && meta.datasets[parent]!.type !== 'filesystem')
      throw cannot('EINVAL', action, name, 'parent is not a filesystem');
    return missing;
  }

  /** Create missing ancestors (with -p), else fail if the parent is missing. Returns those created. */
  /** @internal */
  async ensureParents(meta: PoolMeta, t: Tx, name: string, parents: boolean, action: string) {
    const made: string[] = [];
    const missing = this.checkParents(meta, name, parents, action);
    const parent = parentName(name)!;
    for (const p of missing) {
      const path = this.childPath(meta, p);
      t.cleanup([path]);
      await this.preparePlace(path, p, action);
      await this.driver.createBody(this.abs(path));
      meta.datasets[p] = this.newDataset(meta, { guid: newGuid(), type: 'filesystem', path, props: {} });
      made.push(p);
    }
    const pds = meta.datasets[parent]!;
    if (pds.type !== 'filesystem') throw cannot('EINVAL', action, name, 'parent is not a filesystem');
    return made;
  }

  /** @internal */
  childPath(meta: PoolMeta, name: string): string {
    const parent = parentName(name)!;
    const leaf = name.slice(parent.length + 1);
    return join(meta.datasets[parent]!.path, leaf);
  }

  /** Make room for a body at `rel`: an empty placeholder directory is fine, anything else is not. */
  /** @internal */
  async preparePlace(rel: string, name: string, action: string): Promise<void> {
    const path = this.abs(rel);
    if (!existsSync(path)) return;
    try {
      await rmdir(path);
    } catch {
      throw cannot('EEXIST', action, name, `directory '${path}' exists and is not empty`);
    }
  }

  /** @internal */
  newDataset(
    meta: PoolMeta,
    d: { guid: string; type: DatasetType; path: string; props: Record<string, string>; origin?: string },
  ): DatasetMeta {
    meta.txg += 1;
    return {
      guid: d.guid,
      type: d.type,
      creation: Math.floor(Date.now() / 1000),
      createtxg: meta.txg,
      props: d.props,
      ...(d.origin ? { origin: d.origin } : {}),
      snapshots: {},
      path: d.path,
    };
  }

  /** @internal */
  checkProps(name: string, type: DatasetType, props: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(props)) {
      const canon = resolvePropOrThrow(k, name);
      const val = parseAssignment(canon, v, name, type);
      if (canon === 'quota' && !this.driver.info.quotas) this.unsupported(name, 'quota');
      if (canon === 'compression' && !this.driver.info.compression) this.unsupported(name, 'compression');
      if (canon === 'readonly' && !this.driver.info.readonly) this.unsupported(name, 'readonly');
      out[canon] = val;
    }
    return out;
  }

  private unsupported(name: string, prop: string): never {
    throw cannot(
      'ENOTSUP',
      'set property for',
      name,
      `'${prop}' is not supported by the ${this.driver.info.name} driver`,
    );
  }

  /** Store properties and make the driver enforce them. */
  /** @internal */
  async applyProps(meta: PoolMeta, name: string, props: Record<string, string>): Promise<void> {
    const ds = meta.datasets[name]!;
    const path = this.abs(ds.path);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'quota') await this.driver.setQuota(path, v === 'none' ? null : Number(v));
      if (k === 'volsize' && ds.props.volsize !== undefined && ds.props.volsize !== v)
        await this.driver.resizeVolume(path, Number(v));
      ds.props[k] = v;
    }
    // Inheritable enforcement: recompute for the dataset and its descendants.
    const touched = Object.keys(props).filter((k) => k === 'compression' || k === 'readonly');
    for (const k of touched) {
      for (const d of [name, ...descendantsOf(meta, name)]) await this.enforce(meta, d, k);
    }
  }

  /** @internal */
  async enforce(meta: PoolMeta, name: string, prop: string): Promise<void> {
    const ds = meta.datasets[name]!;
    const v = inheritedProp(meta, name, prop)?.value;
    if (prop === 'compression' && this.driver.info.compression)
      await this.driver.setCompression(this.abs(ds.path), v ?? 'off');
    if (prop === 'readonly' && this.driver.info.readonly)
      await this.driver.setReadonly(this.abs(ds.path), v === 'on');
  }

  async snapshot(
    names: string[],
    opts: { recursive?: boolean; props?: Record<string, string> } = {},
  ): Promise<void> {
    for (const n of names) {
      const problem = datasetNameProblem(n, { snapshot: 'require' });
      if (problem) throw cannot('EINVAL', 'create snapshot', n, problem);
    }
    const user: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.props ?? {})) {
      if (!isUserProp(k)) throw cannot('EINVAL', 'create snapshot', names[0]!, `invalid property '${k}'`);
      user[k] = v;
    }
    const fail = <T>(p: Promise<T>) => zfsErrors('create snapshot', names[0]!, p);
    const todoOf = (meta: PoolMeta) => {
      const todo: { dataset: string; snap: string; guid: string }[] = [];
      for (const n of names) {
        const p = parseName(n);
        if (!meta.datasets[p.dataset]) throw noDataset('open', p.dataset);
        const list = opts.recursive ? [p.dataset, ...descendantsOf(meta, p.dataset)] : [p.dataset];
        for (const d of list) {
          if (meta.datasets[d]!.snapshots[p.snapshot!])
            throw cannot('EEXIST', 'create snapshot', `${d}@${p.snapshot!}`, 'dataset already exists');
          todo.push({ dataset: d, snap: p.snapshot!, guid: meta.datasets[d]!.guid });
        }
      }
      return todo;
    };
    todoOf(this.meta());
    // The datasets' subtrees are held while their snapshots are taken; the pool only for the commit.
    const lock = await fail(this.lockSubtrees(names.map((n) => parseName(n).dataset)));
    try {
      const meta0 = this.meta();
      const todo = todoOf(meta0);
      const now = Math.floor(Date.now() / 1000);
      const made = todo.map((x) => ({ ...x, s: { guid: newGuid(), creation: now, user: { ...user } } }));
      const paths = made.map((m) => join('snapshots', m.guid, m.s.guid));
      await lock.write(paths);
      try {
        for (const m of made) {
          await mkdir(this.abs(join('snapshots', m.guid)), { recursive: true });
          const exclude = childrenOf(meta0, m.dataset).map((c) => c.slice(m.dataset.length + 1));
          await this.driver.snapshotBody(
            this.abs(meta0.datasets[m.dataset]!.path),
            this.abs(join('snapshots', m.guid, m.s.guid)),
            { readonly: true, exclude },
          );
        }
        await this.tx({ action: 'create snapshot', name: names[0]! }, async (meta, t) => {
          t.cleanup(paths);
          const now = todoOf(meta);
          // The same datasets as when the snapshots were taken (none renamed, replaced or added).
          if (
            JSON.stringify(now.map((x) => [x.dataset, x.guid])) !==
            JSON.stringify(todo.map((x) => [x.dataset, x.guid]))
          )
            throw cannot('EBUSY', 'create snapshot', names[0]!, 'dataset is busy');
          meta.txg += 1;
          for (const m of made) meta.datasets[m.dataset]!.snapshots[m.snap] = { ...m.s, createtxg: meta.txg };
          t.commit();
        });
      } catch (err) {
        for (const rel of paths) await this.removeBody(rel).catch(() => undefined);
        throw err;
      }
    } finally {
      await lock.release();
    }
  }

  async clone(snapName: string, name: string, opts: CreateOptions = {}): Promise<void> {
    const sp = datasetNameProblem(snapName, { snapshot: 'require' });
    if (sp) throw cannot('EINVAL', 'open', snapName, sp);
    const problem = datasetNameProblem(name);
    if (problem) throw cannot('EINVAL', 'create', name, problem);
    if (parseName(name).pool !== parseName(snapName).pool)
      throw cannot('EINVAL', 'create', name, 'source and target pools differ');
    const src = (() => {
      try {
        return entityOf(this.meta(), snapName);
      } catch (err) {
        throw asZfsError(err, 'create', name);
      }
    })();
    const props = this.checkProps(name, src.ds.type, opts.props ?? {});
    await this.createStaged(
      name,
      {
        type: src.ds.type,
        parents: opts.parents ?? false,
        props,
        base: src.ds.type === 'volume' ? { volsize: src.ds.props.volsize ?? '0' } : {},
        from: snapName,
      },
      async (stage, from) => {
        await this.driver.snapshotBody(this.abs(snapshotPath(from!.ds, from!.snap!)), this.abs(stage), {
          readonly: false,
          exclude: [],
        });
      },
    );
  }

  // ---- destroy ------------------------------------------------------------------------------------

  /**
   * Destroy datasets or snapshots: the record is committed under the pool lock, and the bodies are
   * removed after it, holding only the subtree (a dead remover's leftovers are named in its lock).
   */
  async destroy(name: string, opts: { recursive?: boolean; dependents?: boolean; dryRun?: boolean } = {}) {
    const p = parseName(name);
    const problem = datasetNameProblem(name, { snapshot: 'allow' });
    if (problem) throw cannot('EINVAL', 'destroy', name, problem);
    const recursive = opts.recursive || opts.dependents;
    const lock = opts.dryRun ? undefined : await zfsErrors('destroy', name, this.lockSubtrees([p.dataset]));
    try {
      const done = await this.tx({ action: 'destroy', name }, async (meta, t) => {
        const doomedDs = new Set<string>();
        const doomedSnaps: { dataset: string; snap: string }[] = [];
        if (p.snapshot !== undefined) {
          if (!meta.datasets[p.dataset]) throw noDataset('open', p.dataset);
          const list = opts.recursive ? [p.dataset, ...descendantsOf(meta, p.dataset)] : [p.dataset];
          for (const d of list)
            if (meta.datasets[d]!.snapshots[p.snapshot]) doomedSnaps.push({ dataset: d, snap: p.snapshot });
          if (doomedSnaps.length === 0)
            throw new ZfsError('ENOENT', `could not find any snapshots to destroy; check snapshot names.`);
          const clones = doomedSnaps.flatMap((s) => clonesOf(meta, s.dataset, s.snap));
          if (clones.length && !opts.dependents)
            throw needsFlag(name, 'snapshot has dependent clones', '-R', clones);
          for (const c of clones) this.collect(meta, c, doomedDs, doomedSnaps);
        } else {
          const root = entityOf(meta, name);
          if (parentName(name) === undefined)
            throw cannot(
              'EINVAL',
              'destroy',
              name,
              "operation does not apply to pools\nuse 'zfs destroy -r " +
                name +
                "' to destroy all datasets in the pool\nuse 'zpool destroy " +
                name +
                "' to destroy the pool itself",
            );
          const kids = [
            ...descendantsOf(meta, name),
            ...sortedSnapshots(root.ds).map(([s]) => `${name}@${s}`),
          ];
          if (kids.length && !recursive) {
            throw needsFlag(name, 'filesystem has children', '-r', kids);
          }
          const set = new Set<string>();
          const snaps: { dataset: string; snap: string }[] = [];
          this.collect(meta, name, set, snaps);
          const outside = [...set].flatMap((d) => clonesOf(meta, d)).filter((c) => !set.has(c));
          if (outside.length && !opts.dependents)
            throw needsFlag(name, 'filesystem has dependent clones', '-R', outside);
          for (const c of outside) this.collect(meta, c, set, snaps);
          for (const d of set) doomedDs.add(d);
          doomedSnaps.push(...snaps);
        }
        // Deepest first; clones before the snapshots they came from.
        const dsOrder = [...doomedDs].sort(
          (a, b) => b.split('/').length - a.split('/').length || b.localeCompare(a),
        );
        const result = { datasets: dsOrder, snapshots: doomedSnaps.map((s) => `${s.dataset}@${s.snap}`) };
        if (opts.dryRun) return { result, paths: [], guids: [] };
        for (const d of dsOrder) await this.unmountDataset(meta, d, 'destroy');
        const paths: string[] = [];
        for (const d of dsOrder) paths.push(meta.datasets[d]!.path);
        for (const s of doomedSnaps) {
          const ds = meta.datasets[s.dataset]!;
          paths.push(snapshotPath(ds, ds.snapshots[s.snap]!));
        }
        t.cleanup(paths);
        await lock!.write(paths);
        for (const s of doomedSnaps) delete meta.datasets[s.dataset]!.snapshots[s.snap];
        const guids = dsOrder.map((d) => meta.datasets[d]!.guid);
        for (const d of dsOrder) delete meta.datasets[d];
        t.commit();
        return { result, paths, guids };
      });
      for (const rel of done.paths) await this.removeBody(rel);
      for (const g of done.guids) await rm(this.abs(join('snapshots', g)), { recursive: true, force: true });
      return done.result;
    } finally {
      await lock?.release();
    }
  }

  /** A dataset, its descendants and all their snapshots. */
  private collect(
    meta: PoolMeta,
    name: string,
    set: Set<string>,
    snaps: { dataset: string; snap: string }[],
  ) {
    for (const d of [name, ...descendantsOf(meta, name)]) {
      if (set.has(d)) continue;
      set.add(d);
      for (const [s] of sortedSnapshots(meta.datasets[d]!)) snaps.push({ dataset: d, snap: s });
    }
  }

  // ---- rollback -----------------------------------------------------------------------------------

  async rollback(
    snapName: string,
    opts: { destroyNewer?: boolean; destroyClones?: boolean } = {},
  ): Promise<void> {
    const problem = datasetNameProblem(snapName, { snapshot: 'require' });
    if (problem) throw cannot('EINVAL', 'rollback to', snapName, problem);
    const p = parseName(snapName);
    // Newer snapshots go first (a transaction of their own, like zfs rollback -r).
    const meta0 = this.meta();
    const e = entityOf(meta0, snapName);
    const newer = sortedSnapshots(e.ds).filter(([, s]) => s.createtxg > e.snap!.createtxg);
    if (newer.length && !opts.destroyNewer && !opts.destroyClones)
      throw cannot(
        'EEXIST',
        'rollback to',
        snapName,
        `more recent snapshots or bookmarks exist\nuse '-r' to force deletion of the following snapshots and bookmarks:\n${newer.map(([s]) => `${p.dataset}@${s}`).join('\n')}`,
      );
    for (const [s] of newer) {
      const clones = clonesOf(meta0, p.dataset, s);
      if (clones.length && !opts.destroyClones)
        throw cannot(
          'EBUSY',
          'rollback to',
          snapName,
          `more recent snapshots have dependent clones\nuse '-R' to force deletion of the following clones and dependents:\n${clones.join('\n')}`,
        );
    }
    for (const [s] of newer) await this.destroy(`${p.dataset}@${s}`, { dependents: true });
    await this.tx({ action: 'rollback to', name: snapName }, async (meta, t) => {
      const cur = entityOf(meta, snapName);
      if (sortedSnapshots(cur.ds).some(([, s]) => s.createtxg > cur.snap!.createtxg))
        throw cannot('EEXIST', 'rollback to', snapName, 'more recent snapshots or bookmarks exist');
      await this.unmountDataset(meta, p.dataset, 'rollback');
      await this.replaceBody(meta, t, p.dataset, snapshotPath(cur.ds, cur.snap!));
      for (const k of ['compression', 'readonly']) await this.enforce(meta, p.dataset, k);
      // The metadata changes with every change of content, so caches keyed on it see rollbacks too.
      meta.txg += 1;
      t.commit();
      await this.mountDataset(meta, p.dataset);
    });
  }

  /**
   * Give a dataset a new body: a writable copy of `snapName` (a snapshot of any dataset of the pool),
   * keeping its child datasets and the listed paths of its old body (a VM's `config/`); its origin
   * becomes that snapshot. `vmadm reprovision` puts a VM on a new image this way. Crash-safe as
   * rollback is: the swap is recorded and finished by whoever takes the pool next.
   */
  async rebase(name: string, snapName: string, keep: string[] = []): Promise<void> {
    await this.tx({ action: 'rebase', name }, async (meta, t) => {
      const src = entityOf(meta, snapName);
      if (!src.snap) throw cannot('EINVAL', 'rebase', name, 'not a snapshot');
      const ds = entityOf(meta, name).ds;
      if (ds.type !== src.ds.type) throw cannot('EINVAL', 'rebase', name, 'snapshot of another type');
      await this.unmountDataset(meta, name, 'rebase');
      await this.replaceBody(meta, t, name, snapshotPath(src.ds, src.snap), keep);
      ds.origin = src.snap.guid;
      for (const k of ['compression', 'readonly']) await this.enforce(meta, name, k);
      t.commit();
      await this.mountDataset(meta, name);
    });
  }

  /**
   * Replace a dataset's body with a writable copy of a snapshot, keeping its child datasets:
   * build the new body, move the old aside, move the children across, swap, drop the old. Each step
   * is recorded so that `reconcile` can finish it.
   */
  /** @internal */
  async replaceBody(
    meta: PoolMeta,
    t: Tx,
    name: string,
    fromRel: string,
    keep: string[] = [],
  ): Promise<void> {
    const ds = meta.datasets[name]!;
    const id = newGuid();
    const r: ReplaceIntent = {
      path: ds.path,
      fresh: join(TMP, `${OWNER}.fresh-${id}`),
      old: join(TMP, `${OWNER}.old-${id}`),
      children: childrenOf(meta, name).map((c) => c.slice(name.length + 1)),
      ...(keep.length ? { keep } : {}),
    };
    await mkdir(this.abs(TMP), { recursive: true });
    await this.driver.snapshotBody(this.abs(fromRel), this.abs(r.fresh), { readonly: false, exclude: [] });
    if (ds.type === 'volume') r.children = [];
    if (ds.props.quota !== undefined && ds.props.quota !== 'none')
      await this.driver.setQuota(this.abs(r.fresh), Number(ds.props.quota));
    t.replacing(r);
    await rename(this.abs(r.path), this.abs(r.old));
    await this.finishReplace(r);
  }

  /** Idempotent tail of replaceBody. */
  async finishReplace(r: ReplaceIntent): Promise<void> {
    const fresh = this.abs(r.fresh);
    const old = this.abs(r.old);
    if (existsSync(this.abs(r.path))) {
      // The swap never started or already finished: drop whichever spare is left.
      if (existsSync(fresh) && existsSync(old)) await this.removeBody(r.old);
      else if (existsSync(fresh)) await this.removeBody(r.fresh);
      else if (existsSync(old)) await this.removeBody(r.old);
      return;
    }
    for (const c of r.children) {
      const from = join(old, c);
      if (!existsSync(from) || !(await this.driver.isBody(from))) continue;
      const to = join(fresh, c);
      if (existsSync(to)) await rm(to, { recursive: true, force: true });
      await mkdir(dirname(to), { recursive: true });
      await rename(from, to);
    }
    // Kept paths are copied (a rename cannot cross btrfs subvolumes); the old body stays until the swap.
    for (const k of r.keep ?? []) {
      const from = join(old, k);
      if (!existsSync(from)) continue;
      const to = join(fresh, k);
      await rm(to, { recursive: true, force: true });
      await mkdir(dirname(to), { recursive: true });
      await cp(from, to, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    }
    await rename(fresh, this.abs(r.path));
    if (existsSync(old)) await this.removeBody(r.old);
  }

  // ---- set / inherit ------------------------------------------------------------------------------

  async set(name: string, assignments: Record<string, string>): Promise<void> {
    await this.tx({ action: 'set property for', name }, async (meta, t) => {
      const e = entityOf(meta, name);
      if (e.snap) {
        for (const [k, v] of Object.entries(assignments)) {
          if (!isUserProp(k))
            throw cannot(
              'EINVAL',
              'set property for',
              name,
              `this property can not be modified for snapshots`,
            );
          e.snap.user[k] = v;
        }
        t.commit();
        return;
      }
      const props = this.checkProps(name, e.ds.type, assignments);
      if (props.quota !== undefined && props.quota !== 'none') {
        const used = (await this.driver.space(this.top, [e.ds.path])).get(e.ds.path)?.exclusive ?? 0;
        if (Number(props.quota) < used)
          throw cannot(
            'ENOSPC',
            'set property for',
            name,
            'size is less than current used or reserved space',
          );
      }
      const mpChange = props.mountpoint !== undefined;
      const affected = mpChange ? [name, ...descendantsOf(meta, name)].reverse() : [];
      for (const d of affected) await this.unmountDataset(meta, d, 'set property for');
      if (parentName(name) === undefined && mpChange) await this.unmountRoot(meta);
      await this.applyProps(meta, name, props);
      t.commit();
      if (parentName(name) === undefined && mpChange) await this.mountRoot(meta);
      for (const d of affected.reverse()) await this.mountDataset(meta, d);
    });
  }

  async inherit(name: string, prop: string, opts: { recursive?: boolean } = {}): Promise<void> {
    const canon = resolvePropOrThrow(prop, name);
    const def = PROPS.get(canon);
    if (def && !def.inheritable && !(def.settable && def.default !== undefined))
      throw cannot('EINVAL', 'inherit', name, `'${canon}' property cannot be inherited`);
    await this.tx({ action: 'inherit', name }, async (meta, t) => {
      const e = entityOf(meta, name);
      const list = opts.recursive ? [e.dataset, ...descendantsOf(meta, e.dataset)] : [e.dataset];
      if (e.snap) {
        delete e.snap.user[canon];
        t.commit();
        return;
      }
      if (canon === 'mountpoint' && parentName(name) === undefined)
        throw cannot(
          'EINVAL',
          'inherit',
          name,
          "'mountpoint' property cannot be inherited by the pool's root",
        );
      for (const d of [...list].reverse())
        if (canon === 'mountpoint') await this.unmountDataset(meta, d, 'inherit');
      for (const d of list) {
        const ds = meta.datasets[d]!;
        if (canon === 'quota' && ds.props.quota !== undefined)
          await this.driver.setQuota(this.abs(ds.path), null);
        delete ds.props[canon];
      }
      for (const d of list)
        if (canon === 'compression' || canon === 'readonly') await this.enforce(meta, d, canon);
      t.commit();
      for (const d of list) if (canon === 'mountpoint') await this.mountDataset(meta, d);
    });
  }

  // ---- pool root mount ----------------------------------------------------------------------------

  async mountRoot(meta = this.meta()): Promise<void> {
    const mp = mountpointOf(meta, this.name);
    if (mp !== undefined && !isMountPoint(mp)) await bindMount(this.abs(ROOT_PATH), mp);
  }

  async unmountRoot(meta = this.meta()): Promise<void> {
    const mp = mountpointOf(meta, this.name);
    if (mp === undefined || !isMountPoint(mp)) return;
    try {
      await unmount(mp);
    } catch (err) {
      throw cannot('EBUSY', 'unmount', mp, 'Device busy', err);
    }
  }

  // ---- documents ----------------------------------------------------------------------------------

  /** JSON documents of one namespace kept inside the pool (see DocStore). */
  docs(namespace: string): DocStore {
    if (!/^[a-z][a-z0-9-]*$/.test(namespace)) throw new Error(`invalid document namespace '${namespace}'`);
    return new DocStore(this.abs(join(META_DIR, 'docs', namespace)));
  }

  // ---- volumes ------------------------------------------------------------------------------------

  /** The file holding a volume's blocks (what a VM disk opens). */
  volumeFile(name: string): string {
    const e = this.entity(this.meta(), name);
    if (e.type !== 'volume') throw cannot('EINVAL', 'open', name, 'not a volume');
    return join(this.abs(e.ds.path), VOLUME_FILE);
  }

  /** Where a filesystem's data is reachable on the host whether or not it is mounted. */
  datasetPath(name: string): string {
    const e = this.entity(this.meta(), name);
    return this.abs(e.snap ? snapshotPath(e.ds, e.snap) : e.ds.path);
  }

  // ---- send / receive -----------------------------------------------------------------------------

  async send(snapName: string, out: Writable, opts: { from?: string } = {}): Promise<void> {
    return sendSnapshot(this, snapName, out, opts);
  }

  /** Receive a stream into `target` (`pool/ds` or `pool/ds@snap`). */
  async receive(target: string, input: Readable, opts: { force?: boolean } = {}): Promise<string> {
    return receiveStream(this, target, input, opts);
  }

  /** Destroy a dataset and its snapshots inside a transaction already held (receive -F). */
  /** @internal */
  async destroyLocked(meta: PoolMeta, t: Tx, name: string): Promise<void> {
    const ds = meta.datasets[name]!;
    await this.unmountDataset(meta, name, 'receive');
    const paths = [ds.path, ...Object.values(ds.snapshots).map((s) => snapshotPath(ds, s))];
    t.cleanup(paths);
    delete meta.datasets[name];
    t.commit();
    for (const rel of paths) await this.removeBody(rel);
  }
}

/** A transaction in progress: records what it touches, and commits the metadata. */
export class Tx {
  private paths: string[] = [];
  private replace: ReplaceIntent | undefined;
  committed = false;
  constructor(
    private readonly pool: Pool,
    readonly lock: FileLock,
    /** The record as last committed (shared, never changed), to tell what this change changed. */
    private before: PoolMeta,
    private readonly meta: PoolMeta,
    private readonly op: string,
  ) {}

  /** Record paths to clean up should this process die before the commit. */
  cleanup(paths: string[]): void {
    this.paths.push(...paths.filter(Boolean));
    this.pool.withSpace(() => this.lock.setIntent(this.intent()));
  }

  /** Record a body replacement under way (see Pool.replaceBody). */
  replacing(r: ReplaceIntent): void {
    this.replace = r;
    this.pool.withSpace(() => this.lock.setIntent(this.intent()));
  }

  intent(): Intent {
    return { op: this.op, cleanup: this.paths, ...(this.replace ? { replace: this.replace } : {}) };
  }

  commit(): void {
    const change = diffMeta(this.before, this.meta);
    this.pool.withSpace(() => commitMeta(this.pool.top, change));
    this.before = this.pool.meta();
    this.committed = true;
  }
}

/** Subtrees held for a change's slow part (see Pool.lockSubtrees). */
export class SubtreeLock {
  private released = false;
  constructor(private readonly files: string[]) {}

  /** Name what to remove, should this process die before it is done. */
  async write(cleanup: string[]): Promise<void> {
    const body = JSON.stringify({ pid: process.pid, start: OWNER.split('-')[1], cleanup });
    for (const [i, f] of this.files.entries())
      await writeFile(f, i === 0 ? body : JSON.stringify({ pid: process.pid, start: OWNER.split('-')[1] }));
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    for (const f of this.files) await unlink(f).catch(() => undefined);
  }
}

/** `p`, its failure said as zfs says it (`cannot <action> '<name>': ...`). */
async function zfsErrors<T>(action: string, name: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw asZfsError(err, action, name);
  }
}

function resolvePropOrThrow(prop: string, name: string): string {
  const lower = prop.toLowerCase();
  const alias: Record<string, string> = { compress: 'compression', rdonly: 'readonly' };
  const canon = alias[lower] ?? lower;
  if (PROPS.has(canon)) return canon;
  if (isUserProp(prop)) return prop;
  throw cannot('EINVAL', 'set property for', name, `invalid property '${prop}'`);
}

export { ROOT_PATH, type Entity, type PropValue };
