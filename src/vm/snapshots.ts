/**
 * VM snapshots, as `vmadm create-snapshot`, `rollback-snapshot` and `delete-snapshot` make them on
 * SmartOS: a snapshot `<pool>/<uuid>@vmsnap-<name>` of the VM's dataset (and of its child datasets,
 * when it has any). The manifest lives inside the dataset, so a rollback brings back the VM's
 * `customer_metadata`, `internal_metadata`, `tags` and `routes` as they were, as SmartOS does (it keeps
 * those in the zone root); the rest of the configuration (SmartOS's zonecfg) stays as it is now.
 * A rollback stops the VM (forced), rolls back, drops the newer snapshots, and starts the VM again:
 * SmartOS's `VM.rollback_snapshot` always starts it afterwards, whether it was running or not.
 *
 * Each operation holds the VM's lock. The lock is not re-entrant, so the zone is stopped and started
 * here through the zone layer, with the same manifest updates as `VmCore.stop` and `VmCore.start`
 * (VmCore's `haltLocked` and `bootLocked`).
 * @module
 */
import { descendantsOf } from '../storage/index.ts';
import type { PoolMeta } from '../storage/index.ts';
import type { VmCore } from './core.ts';
import { VmError, vmNotFound } from './errors.ts';
import { getBrand } from './brands/info.ts';
import { lockVm, type VmRecord } from './store.ts';
import { liveState } from './zone.ts';

export { VMSNAP_PREFIX, type VmSnapshot } from './view.ts';
import { VMSNAP_PREFIX, vmSnapshotsIn, type VmSnapshot } from './view.ts';

/** The fields SmartOS keeps in the zone root (`<zonepath>/config/*.json`): what a rollback reverts. */
export const ZONEROOT_FIELDS = ['customer_metadata', 'internal_metadata', 'tags', 'routes'] as const;

const MiB = 1024 * 1024;

/** SmartOS's rule: 1 to 64 characters of `[a-zA-Z0-9_.:%-]`. */
export function validSnapshotName(name: string): boolean {
  return /^[a-zA-Z0-9_.:%-]{1,64}$/.test(name);
}

const invalidName = () => new VmError('EINVAL', 'Invalid snapshot name', { httpStatus: 400 });

const noSnapshot = (uuid: string, name: string) =>
  new VmError('ENOENT', `No snapshot named "${name}" for ${uuid}`, { httpStatus: 404 });

/**
 * The VM's snapshots as `vmadm get` shows them (`snapshots`): newest first, from the pool's record
 * alone (no host command). Without `size`: SmartOS's own vmload leaves it out too, and it needs a
 * space query of the pool (see vmSnapshotsWithSize).
 */
export function vmSnapshots(core: VmCore, uuid: string, meta: PoolMeta = core.pool.meta()): VmSnapshot[] {
  return vmSnapshotsIn(core.pool, meta, uuid);
}

/** The same, each with `size`: the MiB only that snapshot holds (one space query of the pool). */
export async function vmSnapshotsWithSize(core: VmCore, uuid: string): Promise<VmSnapshot[]> {
  const meta = core.pool.meta();
  const list = vmSnapshots(core, uuid, meta);
  if (list.length === 0) return list;
  const ds = core.store.dataset(uuid);
  const names = list.map((s) => `${ds}@${VMSNAP_PREFIX}${s.name}`);
  const space = await core.pool.spaceOf(meta, names);
  return list.map((s, i) => ({
    ...s,
    size: Math.round(((space.get(names[i]!)?.used ?? 0) / MiB) * 100) / 100,
  }));
}

/** A complete VM's stored manifest, or SmartOS's "no such zone". */
function readVm(core: VmCore, uuid: string): VmRecord {
  const vm = core.store.readReady(uuid);
  if (!vm) throw vmNotFound(uuid);
  return vm;
}

/** The brand says whether its VMs can be snapshotted (SmartOS refuses kvm). */
function checkSnapshotable(vm: VmRecord): void {
  if (getBrand(vm.brand)?.snapshots === false)
    throw new VmError('ENOTSUP', `snapshots for ${String(vm.brand)} VMs currently unsupported`, {
      httpStatus: 501,
    });
}

/** The VM's dataset and its children that have the snapshot `snap` (parents first). */
function datasetsWith(core: VmCore, uuid: string, snap: string): string[] {
  const meta = core.pool.meta();
  const ds = core.store.dataset(uuid);
  return [ds, ...descendantsOf(meta, ds)].filter((d) => meta.datasets[d]?.snapshots[snap] !== undefined);
}

/** Run `fn` holding the VM's lock. */
async function withVmLock<T>(uuid: string, intent: string, fn: () => Promise<T>): Promise<T> {
  const lock = await lockVm(uuid, intent);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

const touch = async (core: VmCore, uuid: string) => {
  const vm = core.store.read(uuid);
  if (vm) await core.store.write({ ...vm, last_modified: new Date().toISOString() });
};

export async function createSnapshot(core: VmCore, uuid: string, name: string): Promise<void> {
  if (!validSnapshotName(name)) throw invalidName();
  await withVmLock(uuid, 'create-snapshot', async () => {
    const vm = readVm(core, uuid);
    checkSnapshotable(vm);
    if (Array.isArray(vm.datasets) && vm.datasets.length > 0)
      throw new VmError('ENOTSUP', 'Cannot currently snapshot zones that have datasets');
    if (vmSnapshots(core, uuid).some((s) => s.name === name))
      throw new VmError('EEXIST', `snapshot with name "${name}" already exists.`);
    // Recursive: an HVM VM's disks are child datasets and are taken at the same instant.
    await core.pool.snapshot([`${core.store.dataset(uuid)}@${VMSNAP_PREFIX}${name}`], { recursive: true });
    await touch(core, uuid);
  });
}

export async function deleteSnapshot(core: VmCore, uuid: string, name: string): Promise<void> {
  if (!validSnapshotName(name)) throw invalidName();
  await withVmLock(uuid, 'delete-snapshot', async () => {
    checkSnapshotable(readVm(core, uuid));
    if (!vmSnapshots(core, uuid).some((s) => s.name === name)) throw noSnapshot(uuid, name);
    await core.pool.destroy(`${core.store.dataset(uuid)}@${VMSNAP_PREFIX}${name}`, { recursive: true });
    await touch(core, uuid);
  });
}

export async function rollbackSnapshot(core: VmCore, uuid: string, name: string): Promise<void> {
  if (!validSnapshotName(name)) throw invalidName();
  await withVmLock(uuid, 'rollback-snapshot', async () => {
    let vm = readVm(core, uuid);
    checkSnapshotable(vm);
    if (!vmSnapshots(core, uuid).some((s) => s.name === name)) throw noSnapshot(uuid, name);
    if ((await liveState(core.runtimeOf(uuid), uuid)).state === 'running') {
      await core.haltLocked(vm, { force: true }, { autoboot: false });
      vm = core.store.read(uuid) ?? vm;
    }
    const snap = `${VMSNAP_PREFIX}${name}`;
    // Newer snapshots go too (zfs rollback -r); parents first, then their children.
    for (const d of datasetsWith(core, uuid, snap))
      await core.pool.rollback(`${d}@${snap}`, { destroyNewer: true });
    // What the snapshot holds of the manifest comes back; the configuration stays as it is now.
    const then: Record<string, unknown> = core.store.read(uuid) ?? {};
    const next: VmRecord = { ...vm };
    for (const k of ZONEROOT_FIELDS) {
      if (then[k] === undefined) delete next[k];
      else next[k] = then[k];
    }
    next.last_modified = new Date().toISOString();
    await core.store.write(next);
    await core.bootLocked(next);
  });
}

/**
 * Halt a running VM as `VmCore.stop` does (autoboot off, the brand's halt, then how init ended),
 * the caller holding its lock.
 */
