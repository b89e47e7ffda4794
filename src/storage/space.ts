/**
 * What zfs get and zfs list print for a dataset or snapshot: space (one driver call for many
 * entities), and every other property with its source.
 * @module
 */
import type { SpaceUsage } from './driver.ts';
import { snapshotPath, type PoolMeta } from './meta.ts';
import { isMountPoint } from './mounts.ts';
import { parentName, parseName } from './names.ts';
import type { Pool } from './pool.ts';
import { PROPS, isUserProp } from './props.ts';
import {
  childrenOf,
  descendantsOf,
  inheritedProp,
  mountpointOf,
  originName,
  type Entity,
  type PropValue,
} from './tree.ts';

/** used/referenced/available for the given entities (one driver call for all). */
export async function spaceOf(
  pool: Pool,
  meta: PoolMeta,
  names: string[],
): Promise<Map<string, Record<string, number>>> {
  const paths = new Set<string>();
  const wanted = new Set<string>();
  for (const n of names) {
    const p = parseName(n);
    for (const d of [p.dataset, ...descendantsOf(meta, p.dataset)]) wanted.add(d);
  }
  for (const d of wanted) {
    const ds = meta.datasets[d]!;
    paths.add(ds.path);
    for (const s of Object.values(ds.snapshots)) paths.add(snapshotPath(ds, s));
  }
  const [usage, cap] = await Promise.all([
    pool.driver.space(pool.top, [...paths]),
    pool.driver.capacity(pool.top),
  ]);
  const get = (rel: string): SpaceUsage => usage.get(rel) ?? { referenced: 0, exclusive: 0 };
  const memo = new Map<string, Record<string, number>>();
  const dsSpace = (d: string): Record<string, number> => {
    const hit = memo.get(d);
    if (hit) return hit;
    const ds = meta.datasets[d]!;
    const own = get(ds.path);
    const byDataset = ds.origin ? own.exclusive : own.referenced;
    let bySnaps = 0;
    for (const s of Object.values(ds.snapshots)) bySnaps += get(snapshotPath(ds, s)).exclusive;
    let byChildren = 0;
    for (const c of childrenOf(meta, d)) byChildren += dsSpace(c).used!;
    const used = byDataset + bySnaps + byChildren;
    let available = cap.free;
    const quota = ds.props.quota;
    if (quota !== undefined && quota !== 'none')
      available = Math.max(0, Math.min(available, Number(quota) - own.exclusive));
    for (let a = parentName(d); a !== undefined; a = parentName(a)) {
      const q = meta.datasets[a]?.props.quota;
      if (q !== undefined && q !== 'none')
        available = Math.min(available, Math.max(0, Number(q) - dsSpace(a).used!));
    }
    if (ds.type === 'volume') available = Math.max(available, 0);
    const out = {
      used,
      referenced: own.referenced,
      available,
      usedbydataset: byDataset,
      usedbysnapshots: bySnaps,
      usedbychildren: byChildren,
    };
    memo.set(d, out);
    return out;
  };
  const out = new Map<string, Record<string, number>>();
  for (const n of names) {
    const p = parseName(n);
    if (p.snapshot === undefined) out.set(n, dsSpace(p.dataset));
    else {
      const ds = meta.datasets[p.dataset]!;
      const u = get(snapshotPath(ds, ds.snapshots[p.snapshot]!));
      out.set(n, { used: u.exclusive, referenced: u.referenced });
    }
  }
  return out;
}

/** One property of an entity: raw value (as -p prints it) and source. */
export function propertyOf(
  pool: Pool,
  meta: PoolMeta,
  e: Entity,
  prop: string,
  space?: Record<string, number>,
): PropValue {
  const none = (value: string): PropValue => ({ value, source: '-' });
  const target = e.snap ?? e.ds;
  switch (prop) {
    case 'name':
      return none(e.name);
    case 'type':
      return none(e.type);
    case 'creation':
      return none(String(target.creation));
    case 'createtxg':
      return none(String(target.createtxg));
    case 'guid':
      return none(target.guid);
    case 'used':
    case 'referenced':
    case 'available':
    case 'usedbydataset':
    case 'usedbysnapshots':
    case 'usedbychildren': {
      const v = space?.[prop];
      return none(v === undefined ? '-' : String(v));
    }
    case 'compressratio':
      return none('1.00x');
    case 'origin':
      return none(e.snap ? '-' : (originName(meta, e.ds) ?? '-'));
    case 'mounted': {
      if (e.type !== 'filesystem') return none('-');
      const mp = mountpointOf(meta, e.dataset);
      if (mp === undefined) return none('no');
      const owner = mountOwner(meta, e.dataset);
      return none(owner && isMountPoint(mountpointOf(meta, owner)!) ? 'yes' : 'no');
    }
    case 'mountpoint': {
      if (e.type !== 'filesystem') return none('-');
      return inheritedProp(meta, e.dataset, 'mountpoint') ?? { value: `/${e.dataset}`, source: 'default' };
    }
    case 'volsize':
      return e.ds.type === 'volume'
        ? { value: e.ds.props.volsize ?? '0', source: e.snap ? '-' : 'local' }
        : none('-');
  }
  if (e.snap && isUserProp(prop)) {
    const v = e.snap.user[prop];
    if (v !== undefined) return { value: v, source: 'local' };
    return inheritedProp(meta, e.dataset, prop) ?? none('-');
  }
  const def = PROPS.get(prop);
  if (def && !def.types.includes(e.type)) return none('-');
  if (e.snap && def) return none('-');
  if (def && !def.inheritable) {
    const v = e.ds.props[prop];
    return v !== undefined ? { value: v, source: 'local' } : { value: def.default ?? '-', source: 'default' };
  }
  return (
    inheritedProp(meta, e.dataset, prop) ??
    (def ? { value: def.default ?? '-', source: 'default' } : none('-'))
  );
}

/** The nearest dataset (self or ancestor) with a bind mount of its own. */
function mountOwner(meta: PoolMeta, name: string): string | undefined {
  for (let cur: string | undefined = name; cur !== undefined; cur = parentName(cur)) {
    if (meta.datasets[cur]?.props.mountpoint !== undefined) return cur;
  }
  return undefined;
}
