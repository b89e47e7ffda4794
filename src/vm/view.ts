/**
 * VMs as `vmadm get` and `list` show them, read from the pool's files alone: no storage driver, no
 * runtime binary, no validator is loaded, so that these commands start fast. The VM core reads VMs
 * through the same functions.
 *
 * - `getVm`: one VM, from the pool metadata, its manifest and its zone's state files.
 * - `listCached`: every VM, from the list cache's columns: on a host with a thousand VMs it parses the
 *   few columns `vmadm list` shows rather than every manifest. When the cache cannot answer (changed
 *   since, a command under way, a pool change that died), it says so and the caller asks the core,
 *   which reads the pool (and recovers it) and fills the cache again.
 * @module
 */
import { readFileSync } from 'node:fs';
import { isErrno } from '../common/errors.ts';
import { lockIsStale } from '../common/lock.ts';
import { poolLockPath, readMeta, type PoolMeta } from '../storage/meta.ts';
import { noDataset } from '../storage/errors.ts';
import { mountpointOf } from '../storage/tree.ts';
import type { ZoneStateReader } from '../zones/state.ts';
import { vmNotFound } from './errors.ts';
import { cacheKey, readColumns, type PoolRef } from './list-cache.ts';
import { liveStateSync, presentVm } from './live.ts';
import { busyVms, VM_PROP, type VmRecord } from './store.ts';

/** What SmartOS prefixes a VM snapshot's ZFS name with (`<pool>/<uuid>@vmsnap-<name>`). */
export const VMSNAP_PREFIX = 'vmsnap-';

export interface VmSnapshot {
  name: string;
  /** ISO time of the snapshot, to the second (as SmartOS shows ZFS's `creation`). */
  created_at: string;
  /** MiB held only by this snapshot; present only when asked for (see vmSnapshotsWithSize). */
  size?: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Is VM `uuid` complete (not half-made or half-deleted) in this pool? */
export function vmReady(pool: PoolRef, meta: PoolMeta, uuid: string): boolean {
  return UUID.test(uuid) && meta.datasets[`${pool.name}/${uuid}`]?.props[VM_PROP] === 'ready';
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
  if (!vmReady(pool, meta, uuid)) return undefined;
  try {
    return JSON.parse(readFileSync(`${zonepathOf(pool, meta, uuid)}/config/vm.json`, 'utf8')) as VmRecord;
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

/**
 * Every complete VM with only the named fields (and its live state: state, zone_state, pid, exit
 * status, zonepath...), or undefined when the cache cannot answer.
 */
export function listCached(
  pool: PoolRef,
  reader: ZoneStateReader,
  fields: readonly string[],
): VmRecord[] | undefined {
  if (lockIsStale(poolLockPath(pool.top))) return undefined;
  const names = [...new Set(['uuid', 'boot_timestamp', 'exit_status', 'exit_timestamp', ...fields])];
  const got = readColumns(pool, cacheKey(pool), names);
  if (!got) return undefined;
  const zones = reader.zoneIds();
  const busy = busyVms();
  const cols = [...got.columns].filter(([n]) => n !== 'zonepath' && n !== 'snapshots');
  const zonepaths = got.columns.get('zonepath');
  const snapshots = got.columns.get('snapshots');
  const out: VmRecord[] = [];
  for (let i = 0; i < got.count; i++) {
    const vm = {} as VmRecord;
    for (const [n, values] of cols) if (values[i] !== null && values[i] !== undefined) vm[n] = values[i];
    const stored = {
      vm,
      zonepath: (zonepaths?.[i] as string | undefined) ?? '',
      snapshots: (snapshots?.[i] as unknown[] | undefined) ?? [],
    };
    out.push(presentVm(stored, pool.name, liveStateSync(reader, vm.uuid, zones), busy.get(vm.uuid)));
  }
  return out;
}
