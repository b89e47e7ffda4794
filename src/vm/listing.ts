/**
 * Listing VMs from the list cache's columns, without the VM core: what `vmadm list` prints from. On a
 * host with a thousand VMs it parses the few columns it shows rather than every manifest, and loads
 * neither the storage drivers nor the schema's validators. When the cache cannot answer (changed
 * since, a command under way, a pool change that died), it says so and the caller asks the core,
 * which reads the pool (and recovers it) and fills the cache again.
 * @module
 */
import { lockIsStale } from '../common/lock.ts';
import { poolLockPath } from '../storage/meta.ts';
import type { ZoneStateReader } from '../zones/state.ts';
import { cacheKey, readColumns, type PoolRef } from './list-cache.ts';
import { liveStateSync, presentVm } from './live.ts';
import { busyVms, type VmRecord } from './store.ts';

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
