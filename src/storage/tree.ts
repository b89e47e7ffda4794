/**
 * Questions about a pool's dataset tree, answered from its metadata alone: children, descendants,
 * clones, origins, inherited properties, mountpoints.
 * @module
 */
import { noDataset } from './errors.ts';
import {
  findSnapshotByGuid,
  snapshotPath,
  type DatasetMeta,
  type PoolMeta,
  type SnapshotMeta,
} from './meta.ts';
import { isDescendant, parentName, parseName } from './names.ts';
import type { EntityType } from './props.ts';

export const ROOT_PATH = 'root';

export interface PropValue {
  value: string;
  source: string;
}

export interface Entity {
  name: string;
  type: EntityType;
  dataset: string;
  ds: DatasetMeta;
  snap?: SnapshotMeta;
}

/** The dataset or snapshot called `name`, or a ZFS "does not exist" error. */
export function entityOf(meta: PoolMeta, name: string, action = 'open'): Entity {
  const p = parseName(name);
  const ds = meta.datasets[p.dataset];
  if (p.snapshot === undefined) {
    if (!ds) throw noDataset(action, name);
    return { name, type: ds.type, dataset: p.dataset, ds };
  }
  const snap = ds?.snapshots[p.snapshot];
  if (!ds || !snap) throw noDataset(action, name);
  return { name, type: 'snapshot', dataset: p.dataset, ds, snap };
}

export function childrenOf(meta: PoolMeta, name: string): string[] {
  return Object.keys(meta.datasets)
    .filter((n) => parentName(n) === name)
    .sort();
}

export function descendantsOf(meta: PoolMeta, name: string): string[] {
  return Object.keys(meta.datasets)
    .filter((n) => isDescendant(n, name))
    .sort();
}

/** Datasets cloned from any snapshot of `name`. */
export function clonesOf(meta: PoolMeta, name: string, snapshot?: string): string[] {
  const ds = meta.datasets[name];
  if (!ds) return [];
  const guids = new Set(
    Object.entries(ds.snapshots)
      .filter(([s]) => snapshot === undefined || s === snapshot)
      .map(([, s]) => s.guid),
  );
  return Object.entries(meta.datasets)
    .filter(([, d]) => d.origin !== undefined && guids.has(d.origin))
    .map(([n]) => n)
    .sort();
}

export function originName(meta: PoolMeta, ds: DatasetMeta): string | undefined {
  if (!ds.origin) return undefined;
  const hit = findSnapshotByGuid(meta, ds.origin);
  return hit ? `${hit.dataset}@${hit.snapshot}` : undefined;
}

/** The value of an inheritable or local property, and where it comes from. */
export function inheritedProp(meta: PoolMeta, name: string, prop: string): PropValue | undefined {
  let cur: string | undefined = name;
  while (cur !== undefined) {
    const ds = meta.datasets[cur];
    const v = ds?.props[prop];
    if (v !== undefined) {
      if (cur === name) return { value: v, source: 'local' };
      if (prop === 'mountpoint' && v !== 'none' && v !== 'legacy') {
        const rest = name.slice(cur.length);
        return { value: (v === '/' ? '' : v) + rest, source: `inherited from ${cur}` };
      }
      return { value: v, source: `inherited from ${cur}` };
    }
    cur = parentName(cur);
  }
  return undefined;
}

export function mountpointOf(meta: PoolMeta, name: string): string | undefined {
  const ds = meta.datasets[name];
  if (!ds || ds.type !== 'filesystem') return undefined;
  const mp = inheritedProp(meta, name, 'mountpoint')?.value ?? `/${name}`;
  return mp === 'none' || mp === 'legacy' ? undefined : mp;
}

/** Every body path the metadata refers to (what reconcile must keep). */
export function referencedPaths(meta: PoolMeta): Set<string> {
  const out = new Set<string>([ROOT_PATH]);
  for (const ds of Object.values(meta.datasets)) {
    out.add(ds.path);
    for (const s of Object.values(ds.snapshots)) out.add(snapshotPath(ds, s));
  }
  return out;
}
