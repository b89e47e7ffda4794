/**
 * VMs as `vmadm get` and `list` show them, read from the pool's files alone: no storage driver, no
 * runtime binary, no validator is loaded, so that these commands start fast. The VM core reads VMs
 * through the same functions.
 *
 * - `getVm`: one VM, from the pool metadata, its manifest and its zone's state files.
 * - `listColumns`: the named fields of every VM, by column, from the list cache: on a host with a
 *   thousand VMs it parses the few columns `vmadm list` shows rather than every manifest. When the
 *   cache cannot answer (changed since, a command under way, a pool change that died), it says so
 *   and the caller asks the core, which reads the pool (and recovers it) and fills the cache again.
 * @module
 */
import { readFileSync } from 'node:fs';
import { isErrno } from '../common/index.ts';
import { lockIsStale } from '../common/index.ts';
import { poolLockPath, readMeta, type PoolMeta } from '../storage/index.ts';
import { noDataset } from '../storage/index.ts';
import { mountpointOf } from '../storage/index.ts';
import type { ZoneStateReader } from '../zones/index.ts';
import { vmNotFound } from './errors.ts';
import {
  cacheKey,
  readColumns,
  vmLocksPresent,
  writeCache,
  type PoolRef,
  type StoredVm,
} from './list-cache.ts';
import { applyLive, LIVE_FIELDS, liveStateSync, presentVm } from './live.ts';
import { busyVms, VM_PROP, VM_UUID, type VmPhase, type VmRecord } from './store.ts';

/** What SmartOS prefixes a VM snapshot's ZFS name with (`<pool>/<uuid>@vmsnap-<name>`). */
export const VMSNAP_PREFIX = 'vmsnap-';

export interface VmSnapshot {
  name: string;
  /** ISO time of the snapshot, to the second (as SmartOS shows ZFS's `creation`). */
  created_at: string;
  /** MiB held only by this snapshot; present only when asked for (see vmSnapshotsWithSize). */
  size?: number;
}

/** The pool's VMs, each with its phase (complete, or half-made or half-deleted by a command). */
export function vmPhases(pool: PoolRef, meta: PoolMeta): Map<string, VmPhase> {
  const out = new Map<string, VmPhase>();
  const prefix = `${pool.name}/`;
  for (const [name, ds] of Object.entries(meta.datasets)) {
    const phase = ds.props[VM_PROP] as VmPhase | undefined;
    if (!phase || !name.startsWith(prefix)) continue;
    const uuid = name.slice(prefix.length);
    if (VM_UUID.test(uuid)) out.set(uuid, phase);
  }
  return out;
}

/** Every complete VM as the pool stores it: manifest, zonepath, snapshots. */
export function storedVms(pool: PoolRef, meta: PoolMeta): StoredVm[] {
  const out: StoredVm[] = [];
  for (const [uuid, phase] of vmPhases(pool, meta)) {
    const vm = phase === 'ready' ? readManifest(pool, meta, uuid) : undefined;
    if (vm)
      out.push({ vm, zonepath: zonepathOf(pool, meta, uuid), snapshots: vmSnapshotsIn(pool, meta, uuid) });
  }
  return out;
}

/**
 * Fill the list cache from the pool without the VM core, and say so; false when something needs the
 * core first: a command at work or dead (a VM lock), a pool change that died, a VM half-made or
 * half-deleted.
 */
export function refreshListCache(pool: PoolRef): boolean {
  if (vmLocksPresent() || lockIsStale(poolLockPath(pool.top))) return false;
  // Read before the pool: a change made meanwhile makes what is written here stale at once.
  const key = cacheKey(pool);
  const meta = readMeta(pool.top);
  const phases = vmPhases(pool, meta);
  for (const phase of phases.values()) if (phase !== 'ready') return false;
  writeCache(pool, key, storedVms(pool, meta));
  return true;
}

/** Is VM `uuid` complete (not half-made or half-deleted) in this pool? */
export function vmReady(pool: PoolRef, meta: PoolMeta, uuid: string): boolean {
  return VM_UUID.test(uuid) && meta.datasets[`${pool.name}/${uuid}`]?.props[VM_PROP] === 'ready';
}

/** The zonepath: where the VM's dataset is reachable on the host (its mountpoint, else its body). */
export function zonepathOf(pool: PoolRef, meta: PoolMeta, uuid: string): string {
  const name = `${pool.name}/${uuid}`;
  const ds = meta.datasets[name];
  if (!ds) throw noDataset('open', name);
  return mountpointOf(meta, name) ?? `${pool.top}/${ds.path}`;
}

/** The VM's snapshots (`vmadm create-snapshot`'s), newest first. */
export function vmSnapshotsIn(pool: PoolRef, meta: PoolMeta, uuid: string): VmSnapshot[] {
  const ds = meta.datasets[`${pool.name}/${uuid}`];
  if (!ds) return [];
  return Object.entries(ds.snapshots)
    .filter(([name]) => name.startsWith(VMSNAP_PREFIX) && name.length > VMSNAP_PREFIX.length)
    .sort((a, b) => b[1].createtxg - a[1].createtxg)
    .map(([name, s]) => ({
      name: name.slice(VMSNAP_PREFIX.length),
      created_at: new Date(s.creation * 1000).toISOString(),
    }));
}

/** The VM's manifest as stored, or undefined when it has none (or is not complete). */
export function readManifest(pool: PoolRef, meta: PoolMeta, uuid: string): VmRecord | undefined {
  return vmReady(pool, meta, uuid) ? readManifestIn(zonepathOf(pool, meta, uuid)) : undefined;
}

/** The manifest in a zonepath (`config/vm.json`), or undefined when there is none. */
export function readManifestIn(zonepath: string): VmRecord | undefined {
  try {
    return JSON.parse(readFileSync(`${zonepath}/config/vm.json`, 'utf8')) as VmRecord;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
    throw err;
  }
}

/** VM `uuid` as `vmadm get` shows it: its manifest, where it lives, its snapshots and live state. */
export function getVm(
  pool: PoolRef,
  reader: ZoneStateReader,
  uuid: string,
  meta = readMeta(pool.top),
): VmRecord {
  const vm = readManifest(pool, meta, uuid);
  if (!vm) throw vmNotFound(uuid);
  const stored = { vm, zonepath: zonepathOf(pool, meta, uuid), snapshots: vmSnapshotsIn(pool, meta, uuid) };
  const out = presentVm(stored, pool.name, liveStateSync(reader, uuid), busyVms().get(uuid));
  // One VM: a plain object without the fields that do not apply (presentVm sets them undefined).
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

/** Every VM's value of each named field, by column (index = VM); undefined where a VM has none. */
export interface VmColumns {
  count: number;
  columns: Map<string, unknown[]>;
}

/** Fields a VM record gets from where it lives rather than from its manifest. */
const PLACE_FIELDS = new Set(['zfs_filesystem', 'zpool']);
const LIVE = new Set<string>(LIVE_FIELDS);

/**
 * The named fields of every complete VM, with its live state, from the list cache's columns; undefined
 * when the cache cannot answer. Each value is what `vmadm get` would show.
 */
export function listColumns(
  pool: PoolRef,
  reader: ZoneStateReader,
  fields: readonly string[],
  /** Told how many VMs there are, before the work over all of them (see cli/optimizer.ts). */
  onCount?: (count: number) => void,
): VmColumns | undefined {
  if (lockIsStale(poolLockPath(pool.top))) return undefined;
  const live = fields.some((f) => LIVE.has(f));
  const stored = new Set(['uuid', ...fields.filter((f) => !PLACE_FIELDS.has(f) && !LIVE.has(f))]);
  // Live state decides these, from what the manifest says.
  if (live) for (const f of ['boot_timestamp', 'exit_status', 'exit_timestamp']) stored.add(f);
  const got = readColumns(pool, cacheKey(pool), [...stored]);
  if (!got) return undefined;
  const { count, columns } = got;
  onCount?.(count);
  // The cache writes a VM without the field as null.
  for (const values of columns.values())
    for (let i = 0; i < count; i++) if (values[i] === null) values[i] = undefined;
  const uuids = columns.get('uuid') as string[];
  if (fields.includes('zfs_filesystem'))
    columns.set(
      'zfs_filesystem',
      uuids.map((u) => `${pool.name}/${u}`),
    );
  if (fields.includes('zpool')) columns.set('zpool', new Array<unknown>(count).fill(pool.name));
  const snapshots = columns.get('snapshots');
  if (snapshots) for (let i = 0; i < count; i++) snapshots[i] ??= [];
  if (live) {
    const zones = reader.zoneIds();
    const busy = busyVms();
    const cols = LIVE_FIELDS.map((f) => {
      let values = columns.get(f);
      if (!values) columns.set(f, (values = new Array<unknown>(count)));
      return [f, values] as const;
    });
    // Most VMs of a big host have no zone and nothing working on them: what applyLive makes of those
    // is worked out once.
    const idle: Record<string, unknown> = {};
    applyLive(idle, liveStateSync(reader, '', new Set()));
    const idleCols = Object.entries(idle).map(([f, v]) => [columns.get(f)!, v] as const);
    const row: Record<string, unknown> = {};
    for (let i = 0; i < count; i++) {
      const uuid = uuids[i]!;
      if (!zones.has(uuid) && !busy.has(uuid)) {
        for (const [values, v] of idleCols) values[i] = v;
        continue;
      }
      for (const [f, values] of cols) row[f] = values[i];
      applyLive(row, liveStateSync(reader, uuid, zones), busy.get(uuid));
      for (const [f, values] of cols) values[i] = row[f];
    }
  }
  return { count, columns };
}
