/**
 * Pools: create, import, export, destroy, list. A pool imported on this host has a record in the run
 * directory (gone at reboot); the pool cache in the config directory lists the pools to import again
 * at boot, and `zpool import` also finds pools by reading labels on block devices and in folders.
 * @module
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, open, rm, stat, statfs, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Reverter } from '../common/index.ts';
import { writeFileAtomicSync } from '../common/index.ts';
import { acquireLock } from '../common/index.ts';
import { configPath, poolFileDir, runPath } from '../platform/index.ts';
import { run } from '../platform/index.ts';
import type { PoolSummary } from '../platform/index.ts';
import type { PoolSource, StorageDriver } from './driver.ts';
import { createDriver, chooseDriver } from './drivers/index.ts';
import { cannot, noPool, ZfsError } from './errors.ts';
import { META_DIR, newGuid, poolLockPath, readMeta, writeMeta, type PoolMeta } from './meta.ts';
import { isMountPoint, mountTable } from './mounts.ts';
import { poolNameProblem } from './names.ts';
import { createReserve, Pool, RESERVE, reserveSize, ROOT_PATH, type PoolRecord } from './pool.ts';
import { importedPoolNames, readRecord, recordPath } from './registry.ts';
import { parseSize } from './units.ts';

export { importedPoolNames } from './registry.ts';

interface CacheEntry {
  driver: string;
  source: PoolSource;
}

interface PoolCache {
  pools: Record<string, CacheEntry>;
}

const DEFAULT_FILE_SIZE = 64 * 1024 ** 3;
const MIN_SIZE = 128 * 1024 ** 2;

function topFor(name: string): string {
  return runPath('pools', name);
}

function readCache(): PoolCache {
  try {
    return JSON.parse(readFileSync(configPath('zpool.cache'), 'utf8')) as PoolCache;
  } catch {
    return { pools: {} };
  }
}

async function updateCache(fn: (c: PoolCache) => void): Promise<void> {
  await mkdir(dirname(configPath('zpool.cache')), { recursive: true });
  const lock = await acquireLock(configPath('zpool.cache.lock'));
  try {
    const c = readCache();
    fn(c);
    writeFileAtomicSync(configPath('zpool.cache'), JSON.stringify(c, null, 2) + '\n');
  } finally {
    lock.release();
  }
}

/** An imported pool, ready for dataset work. */
export function openPool(name: string): Pool {
  const rec = readRecord(name);
  if (!rec) throw noPool(name);
  return new Pool(rec, createDriver(rec.driver));
}

export function isImported(name: string): boolean {
  return readRecord(name) !== undefined;
}

export interface CreatePoolOptions {
  mountpoint?: string;
  /** For a new pool file: its size (bytes or `10G`). */
  size?: string | number;
  /** Force a driver (`btrfs` or `dir`); else the best this host has. */
  driver?: string;
  /** Use a device or file even if it holds another pool. */
  force?: boolean;
}

export async function createPool(name: string, target: string, opts: CreatePoolOptions = {}): Promise<Pool> {
  const problem = poolNameProblem(name);
  if (problem) throw cannot('EINVAL', 'create', name, problem);
  if (isImported(name) || readCache().pools[name])
    throw cannot('EEXIST', 'create', name, 'pool already exists');
  const mountpoint = opts.mountpoint ?? `/${name}`;
  if (mountpoint !== 'none' && mountpoint !== 'legacy' && !mountpoint.startsWith('/'))
    throw cannot('EINVAL', 'create', name, "mountpoint must be an absolute path, 'none', or 'legacy'");
  if (mountpoint.startsWith('/') && existsSync(mountpoint) && !isEmptyDir(mountpoint))
    throw cannot('EEXIST', 'create', name, `mountpoint '${mountpoint}' exists and is not empty`);
  const driver = opts.driver ? createDriver(opts.driver) : await chooseDriver();
  const path = resolve(target);
  const source = await sourceFor(driver, path);
  const undo = new Reverter();
  try {
    if (source.kind === 'file' && !existsSync(path)) {
      const size = await fileSize(name, path, opts.size);
      await mkdir(dirname(path), { recursive: true });
      const fh = await open(path, 'wx', 0o600);
      await fh.truncate(size);
      await fh.close();
      undo.add(() => unlink(path));
    } else if (source.kind === 'directory') {
      if (existsSync(path) && !isEmptyDir(path) && !opts.force)
        throw cannot('EEXIST', 'create', name, `directory '${path}' is not empty\nuse '-f' to override`);
      await mkdir(path, { recursive: true });
    } else if (!opts.force) {
      const found = await driver.readLabel(source);
      if (found !== undefined)
        throw cannot(
          'EBUSY',
          'create',
          name,
          `invalid vdev specification\nuse '-f' to override the following errors:\n${path} is part of potentially active pool '${found.label}'`,
        );
    }
    if (source.kind === 'file' && (await stat(path)).size < MIN_SIZE)
      throw cannot(
        'EINVAL',
        'create',
        name,
        `one or more devices is less than the minimum size (${MIN_SIZE / 1024 ** 2}M)`,
      );
    await driver.format(source, name);
    const top = source.kind === 'directory' ? path : topFor(name);
    const devices = await driver.attach(source, top);
    undo.add(() => driver.detach(source, top));
    await driver.initPool(top);
    await initLayout(driver, top, name, mountpoint);
    const rec: PoolRecord = { name, driver: driver.info.name, source, top, devices };
    const pool = new Pool(rec, driver);
    await pool.mountRoot();
    undo.add(() => pool.unmountRoot());
    await saveRecord(rec);
    undo.add(() => rm(recordPath(name), { force: true }));
    await updateCache((c) => {
      c.pools[name] = { driver: driver.info.name, source };
    });
    undo.success();
    return pool;
  } finally {
    await undo.fail();
  }
}

function isEmptyDir(path: string): boolean {
  try {
    return statSync(path).isDirectory() && readdirSync(path).length === 0;
  } catch {
    return false;
  }
}

async function sourceFor(driver: StorageDriver, path: string): Promise<PoolSource> {
  if (!driver.info.blockBacked) return { path, kind: 'directory' };
  try {
    const st = await stat(path);
    if (st.isBlockDevice()) return { path, kind: 'device' };
    if (st.isFile()) return { path, kind: 'file' };
    throw cannot('EINVAL', 'open', path, 'not a block device or regular file');
  } catch (err) {
    if (err instanceof ZfsError) throw err;
    return { path, kind: 'file' };
  }
}

async function fileSize(name: string, path: string, size: string | number | undefined): Promise<number> {
  if (typeof size === 'number') return size;
  if (size !== undefined) {
    const n = parseSize(size);
    if (n === undefined) throw cannot('EINVAL', 'create', name, `bad size '${size}'`);
    return n;
  }
  await mkdir(dirname(path), { recursive: true });
  const fs = await statfs(dirname(path));
  return Math.max(
    MIN_SIZE,
    Math.min(DEFAULT_FILE_SIZE, Math.floor((fs.bavail * fs.bsize * 0.9) / 4096) * 4096),
  );
}

async function initLayout(
  driver: StorageDriver,
  top: string,
  name: string,
  mountpoint: string,
): Promise<void> {
  for (const d of [META_DIR, 'snapshots', 'volumes', 'tmp']) await mkdir(join(top, d), { recursive: true });
  if (driver.info.blockBacked) {
    const fs = await statfs(top);
    await createReserve(join(top, RESERVE), reserveSize(fs.blocks * fs.bsize));
  }
  await driver.createBody(join(top, ROOT_PATH));
  const props: Record<string, string> = { mountpoint };
  if (driver.info.compression) {
    props.compression = 'zstd';
    await driver.setCompression(join(top, ROOT_PATH), 'zstd');
  }
  const now = Math.floor(Date.now() / 1000);
  const meta: PoolMeta = {
    version: 1,
    name,
    guid: newGuid(),
    creation: now,
    driver: driver.info.name,
    txg: 1,
    datasets: {
      [name]: {
        guid: newGuid(),
        type: 'filesystem',
        creation: now,
        createtxg: 1,
        props,
        snapshots: {},
        path: ROOT_PATH,
      },
    },
  };
  writeMeta(top, meta);
}

async function saveRecord(rec: PoolRecord): Promise<void> {
  await mkdir(runPath('pools'), { recursive: true });
  writeFileAtomicSync(recordPath(rec.name), JSON.stringify(rec));
}

// ---- import / export / destroy ---------------------------------------------------------------------

export interface ImportCandidate {
  name: string;
  driver: string;
  source: PoolSource;
  id: string;
}

/** Pools this host could import: from the cache, labels on block devices, and files in `dirs`. */
export async function findImportable(dirs: string[] = []): Promise<ImportCandidate[]> {
  const found = new Map<string, ImportCandidate>();
  const mountedSources = new Set(mountTable().map((m) => m.source));
  const add = (c: ImportCandidate) => {
    if (isImported(c.name) || found.has(`${c.name}:${c.source.path}`)) return;
    found.set(`${c.name}:${c.source.path}`, c);
  };
  const probeFile = async (path: string, kind: 'file' | 'device') => {
    for (const drv of ['btrfs']) {
      const driver = createDriver(drv);
      const found = await driver.readLabel({ path, kind });
      if (found) add({ name: found.label, driver: drv, source: { path, kind }, id: found.id });
    }
  };
  const probeDir = (path: string) => {
    try {
      const meta = readMeta(path);
      add({ name: meta.name, driver: 'dir', source: { path, kind: 'directory' }, id: meta.guid });
    } catch {
      /* not a pool */
    }
  };
  if (dirs.length === 0) {
    for (const [, e] of Object.entries(readCache().pools)) {
      if (!existsSync(e.source.path)) continue;
      if (e.source.kind === 'directory') probeDir(e.source.path);
      else await probeFile(e.source.path, e.source.kind);
    }
    for (const dev of blockDevices()) if (!mountedSources.has(dev)) await probeFile(dev, 'device');
  }
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      throw new ZfsError('ENOENT', `cannot open '${dir}': No such file or directory`);
    }
    for (const n of names) {
      const p = join(resolve(dir), n);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isFile()) await probeFile(p, 'file');
      else if (st.isBlockDevice()) await probeFile(p, 'device');
      else if (st.isDirectory()) probeDir(p);
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function blockDevices(): string[] {
  try {
    return readdirSync('/sys/class/block')
      .filter((n) => !/^(loop|ram|zram|sr|nbd)/.test(n))
      .map((n) => `/dev/${n}`)
      .filter((p) => existsSync(p));
  } catch {
    return [];
  }
}

/** Import a pool found by `findImportable`: attach it, finish any half-done work, mount it. */
export async function importPool(name: string, dirs: string[] = []): Promise<Pool> {
  if (isImported(name))
    throw cannot(
      'EEXIST',
      'import',
      name,
      'a pool with that name is already created/imported,\nand no additional pools with that name were found',
    );
  const cands = (await findImportable(dirs)).filter((c) => c.name === name || c.id === name);
  if (cands.length === 0) throw cannot('ENOENT', 'import', name, 'no such pool available');
  if (cands.length > 1)
    throw cannot('EINVAL', 'import', name, `more than one matching pool\nimport by numeric ID instead`);
  const c = cands[0]!;
  const driver = createDriver(c.driver);
  const top = c.source.kind === 'directory' ? c.source.path : topFor(c.name);
  const undo = new Reverter();
  try {
    const devices = await driver.attach(c.source, top);
    undo.add(() => driver.detach(c.source, top));
    const rec: PoolRecord = { name: c.name, driver: c.driver, source: c.source, top, devices };
    const pool = new Pool(rec, driver);
    // Taking the lock once reconciles whatever a process that died while holding it left behind.
    const lock = await acquireLock(poolLockPath(top), {
      onStale: (dead) => pool.reconcile(dead.intent as Parameters<Pool['reconcile']>[0]),
    });
    lock.release();
    const meta = pool.meta();
    await pool.mountRoot(meta);
    undo.add(() => pool.unmountRoot(meta));
    await pool.mountAll(meta);
    await saveRecord(rec);
    await updateCache((cache) => {
      cache.pools[c.name] = { driver: c.driver, source: c.source };
    });
    undo.success();
    return pool;
  } finally {
    await undo.fail();
  }
}

/** Import every pool the cache lists that is not imported yet (what the host does at boot). */
export async function importCachedPools(): Promise<string[]> {
  const done: string[] = [];
  for (const name of Object.keys(readCache().pools)) {
    if (isImported(name)) continue;
    await importPool(name);
    done.push(name);
  }
  return done;
}

export async function exportPool(name: string, opts: { keepCache?: boolean } = {}): Promise<void> {
  const pool = openPool(name);
  const meta = pool.meta();
  try {
    await pool.unmountAll(meta);
    await pool.unmountRoot(meta);
  } catch (err) {
    await pool.mountRoot(meta).catch(() => undefined);
    await pool.mountAll(meta).catch(() => undefined);
    throw cannot('EBUSY', 'export', name, 'pool is busy', err);
  }
  if (pool.rec.source.kind !== 'directory') {
    try {
      await pool.driver.detach(pool.rec.source, pool.top);
    } catch (err) {
      await pool.mountRoot(meta).catch(() => undefined);
      await pool.mountAll(meta).catch(() => undefined);
      throw cannot('EBUSY', 'export', name, 'pool is busy', err);
    }
    await rm(pool.top, { recursive: false, force: true }).catch(() => undefined);
  }
  await rm(recordPath(name), { force: true });
  if (!opts.keepCache) {
    await updateCache((c) => {
      delete c.pools[name];
    });
  }
}

export async function destroyPool(name: string, opts: { force?: boolean } = {}): Promise<void> {
  const pool = openPool(name);
  // Pool files Zonix made in its own folder go with the pool; elsewhere only the label is wiped.
  const created = pool.rec.source.kind === 'file' && dirname(pool.rec.source.path) === resolve(poolFileDir());
  if (opts.force) {
    const meta = pool.meta();
    for (const m of mountTable()
      .filter((x) => x.target.startsWith(pool.mountpointOf(meta, name) ?? '\0'))
      .reverse())
      await run('umount', ['-l', m.target]).catch(() => undefined);
  }
  await exportPool(name, { keepCache: true });
  const src = pool.rec.source;
  if (src.kind === 'directory') {
    await rm(src.path, { recursive: true, force: true });
  } else if (created) {
    await unlink(src.path);
  } else {
    await run('wipefs', ['-a', src.path]);
  }
  await updateCache((c) => {
    delete c.pools[name];
  });
}

// ---- listing ---------------------------------------------------------------------------------------

/** What zpool list and status show; sysinfo takes the same record. */
export interface PoolStatus extends PoolSummary {
  driver: string;
  source: PoolSource;
  creation: number;
  guid: string;
}

export async function poolStatus(name: string): Promise<PoolStatus> {
  const pool = openPool(name);
  const online = pool.rec.source.kind === 'directory' || isMountPoint(pool.top);
  let meta: PoolMeta | undefined;
  try {
    meta = pool.meta();
  } catch {
    meta = undefined;
  }
  const cap = online ? await pool.driver.capacity(pool.top) : { size: 0, free: 0, alloc: 0 };
  return {
    name,
    driver: pool.rec.driver,
    source: pool.rec.source,
    mountpoint: meta ? (pool.mountpointOf(meta, name) ?? '-') : '-',
    devices: pool.rec.devices.length ? pool.rec.devices : [pool.rec.source.path],
    sizeBytes: cap.size,
    allocBytes: cap.alloc,
    freeBytes: cap.free,
    health: online && meta ? 'ONLINE' : 'UNAVAIL',
    profile: 'striped',
    creation: meta?.creation ?? 0,
    guid: meta?.guid ?? '-',
  };
}

export async function listPools(): Promise<PoolStatus[]> {
  return Promise.all(importedPoolNames().map((n) => poolStatus(n)));
}

/** Which pool a dataset name belongs to, imported. */
export function poolOf(datasetName: string): Pool {
  const poolName = datasetName.split(/[/@]/)[0]!;
  return openPool(poolName);
}
