/**
 * The vmadm core for OS-brand VMs: get, list, start, stop, kill and delete, over the VM store (the
 * pool) and the zone runtime. Operations on one VM hold its lock; different VMs run in parallel.
 * The CLI and the API are thin over this.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { importedPoolNames } from '../storage/index.ts';
import { OciRuntime } from '../zones/index.ts';
import type { Pool } from '../storage/index.ts';
import type { PoolMeta } from '../storage/meta.ts';
import { getBrand } from './schema/brands.ts';
import { alreadyRunning, notRunning, VmError, vmNotFound } from './errors.ts';
import { busyVms, freeDeadVmLocks, lockVm, VM_PROP, VmStore, type VmRecord } from './store.ts';
import { cacheKey, readCache, writeCache, type StoredVm } from './list-cache.ts';
import { presentVm } from './live.ts';
import { getVm, storedVms } from './view.ts';
import { vmSnapshots } from './snapshots.ts';
import { liveState, liveStateSync, signalName, startZone, stopZone } from './zone.ts';

/** What the VM core needs to know of images (the imgadm layer sits above it and provides this). */
export interface ImageCatalogue {
  /** An installed image's manifest facts, or undefined. */
  lookup(
    uuid: string,
  ): { type: string; image_size?: number; requirements?: { bootrom?: string } } | undefined;
  /** The snapshot VMs are cloned from (`<pool>/<uuid>@final`). */
  origin(uuid: string): string;
}

export class VmCore {
  readonly store: VmStore;

  constructor(
    readonly pool: Pool,
    readonly runtime: OciRuntime = new OciRuntime('runc'),
    readonly images?: ImageCatalogue,
  ) {
    this.store = new VmStore(pool);
  }

  private record(uuid: string, meta: PoolMeta = this.pool.meta()): VmRecord {
    const vm = this.store.readReady(uuid, meta);
    if (!vm) throw vmNotFound(uuid);
    return vm;
  }

  /** The VM as `vmadm get` shows it: the stored manifest with its live state and where it lives. */
  async get(uuid: string): Promise<VmRecord> {
    return getVm(this.pool, this.runtime, uuid, this.pool.meta());
  }

  private present(
    vm: VmRecord,
    meta: PoolMeta = this.pool.meta(),
    zones?: Set<string>,
    busy: Map<string, string> = busyVms(),
  ): VmRecord {
    return this.withLive(this.stored(vm, meta), zones, busy);
  }

  /** What the pool says of a VM: its manifest, where it lives, its snapshots. */
  private stored(vm: VmRecord, meta: PoolMeta): StoredVm {
    return { vm, zonepath: this.store.zonepath(vm.uuid, meta), snapshots: vmSnapshots(this, vm.uuid, meta) };
  }

  /** The VM as `get` shows it: what the pool says, with its live state. */
  private withLive(s: StoredVm, zones?: Set<string>, busy: Map<string, string> = busyVms()): VmRecord {
    return presentVm(s, this.pool.name, liveStateSync(this.runtime, s.vm.uuid, zones), busy.get(s.vm.uuid));
  }

  /**
   * Finish what a killed command left: its VM lock is freed, half-made or half-deleted VMs go (their
   * zones first). Returns the pool's metadata as it is afterwards.
   */
  private async reconcile(): Promise<PoolMeta> {
    await this.pool.recoverIfStale();
    await freeDeadVmLocks();
    const meta = this.pool.meta();
    const removed = await this.store.reconcile((uuid) => this.runtime.delete(uuid, { force: true }), meta);
    return removed.length ? this.pool.meta() : meta;
  }

  /**
   * Every complete VM, as `get` shows them (fields that do not apply are undefined rather than absent;
   * JSON leaves them out). What the pool says of them comes from the list cache
   * when nothing has changed since it was written (see list-cache.ts); live state is always read.
   */
  async list(): Promise<VmRecord[]> {
    await this.pool.recoverIfStale();
    const key = cacheKey(this.pool);
    let stored = readCache(this.pool, key);
    if (!stored) {
      stored = storedVms(this.pool, await this.reconcile());
      writeCache(this.pool, key, stored);
    }
    const zones = this.runtime.zoneIds();
    const busy = busyVms();
    return stored.map((s) => this.withLive(s, zones, busy));
  }

  /**
   * Create a VM from a SmartOS payload: validated and defaulted by the schema, its dataset cloned from
   * the image's `@final` (constant time), its manifest written inside, then started if `autoboot`.
   * Killed at any point, the half-made VM is removed by the next look (see VmStore.reconcile).
   */
  async create(input: unknown): Promise<{ uuid: string; warnings: string[] }> {
    await this.reconcile();
    const images = this.images;
    // The VM goes to this core's pool unless the payload names another one (the CLI picks that core).
    const withPool =
      input !== null && typeof input === 'object' && !('zpool' in input)
        ? { ...input, zpool: this.pool.name }
        : input;
    // Validation is loaded when a VM is made, not by every command that reads VMs.
    const { prepareCreate } = await import('./schema/normalize.ts');
    const { payload, warnings } = prepareCreate(withPool, {
      ...(images ? { imageLookup: (u: string) => images.lookup(u) } : {}),
      zpools: importedPoolNames(),
    });
    const uuid = typeof payload.uuid === 'string' ? payload.uuid : globalThis.crypto.randomUUID();
    if (this.store.exists(uuid)) throw new VmError('EEXIST', `VM with UUID ${uuid} already exists`);
    const brand = getBrand(payload.brand)!;
    const lock = await lockVm(uuid, 'create');
    try {
      const ds = this.store.dataset(uuid);
      // One pool change makes the dataset with its quota, marked as not yet complete.
      const quota = typeof payload.quota === 'number' ? payload.quota : 0;
      const props = { [VM_PROP]: 'creating', ...(quota > 0 ? { quota: `${quota}G` } : {}) };
      if (brand.hvm || typeof payload.image_uuid !== 'string' || !images)
        await this.pool.create(ds, { props });
      else await this.pool.clone(images.origin(payload.image_uuid), ds, { props });
      const now = new Date().toISOString();
      const vm: VmRecord = {
        ...payload,
        uuid,
        zonename: typeof payload.zonename === 'string' ? payload.zonename : uuid,
        create_timestamp: now,
        last_modified: now,
      };
      delete vm.state;
      delete vm.zone_state;
      this.store.write(vm);
      await this.store.setPhase(uuid, 'ready');
    } finally {
      lock.release();
    }
    if (payload.autoboot !== false && !brand.hvm) {
      // A create whose zone cannot boot failed: it leaves nothing behind.
      try {
        await this.start(uuid, 'create');
      } catch (err) {
        await this.delete(uuid).catch(() => undefined);
        throw err;
      }
    }
    return { uuid, warnings };
  }

  /** Boot the zone; `intent` says why (a create's first boot shows the VM as provisioning). */
  async start(uuid: string, intent: 'start' | 'create' = 'start'): Promise<void> {
    const lock = await lockVm(uuid, intent);
    try {
      const vm = this.record(uuid);
      const live = await liveState(this.runtime, uuid);
      if (live.state === 'running') throw alreadyRunning(uuid);
      await this.bootLocked(vm);
    } finally {
      lock.release();
    }
  }

  async stop(uuid: string, opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const lock = await lockVm(uuid, 'stop');
    try {
      const vm = this.record(uuid);
      const live = await liveState(this.runtime, uuid);
      if (live.state === 'ready') {
        // Made but never started (its start was killed): nothing runs; take the zone down.
        this.store.write({ ...vm, autoboot: false, last_modified: new Date().toISOString() });
        await this.runtime.delete(uuid, { force: true });
        return;
      }
      if (live.state !== 'running') throw notRunning(uuid, live.state);
      await this.haltLocked(vm, opts, { autoboot: false });
    } finally {
      lock.release();
    }
  }

  /**
   * Reboot: halt the zone as `stop` does (the brand's own way, or at once with `force`) and boot it
   * again; `autoboot` is left as it is.
   */
  async reboot(uuid: string, opts: { force?: boolean } = {}): Promise<void> {
    const lock = await lockVm(uuid, 'reboot');
    try {
      const vm = this.record(uuid);
      const live = await liveState(this.runtime, uuid);
      if (live.state !== 'running')
        throw new VmError('EINVAL', `Cannot reboot vm from state "${live.state}", must be "running"`);
      await this.haltLocked(vm, opts);
      const after = this.store.read(uuid)!;
      await startZone(this.runtime, after, this.store.zonepath(uuid));
      const now = new Date().toISOString();
      this.store.write({ ...after, boot_timestamp: now, last_modified: now });
    } finally {
      lock.release();
    }
  }

  /** Boot the stopped VM, the caller holding its lock: autoboot on, a new boot_timestamp. */
  async bootLocked(vm: VmRecord): Promise<void> {
    await startZone(this.runtime, vm, this.store.zonepath(vm.uuid));
    const now = new Date().toISOString();
    this.store.write({ ...vm, autoboot: true, boot_timestamp: now, last_modified: now });
  }

  /**
   * Halt the running zone, the caller holding the VM's lock, and record how init ended; `set` is
   * written first (a stop turns autoboot off before it halts, as SmartOS does).
   */
  async haltLocked(
    vm: VmRecord,
    opts: { force?: boolean; timeoutMs?: number } = {},
    set: Partial<VmRecord> = {},
  ): Promise<void> {
    if (Object.keys(set).length) this.store.write({ ...vm, ...set, last_modified: new Date().toISOString() });
    const brand = getBrand(vm.brand);
    await stopZone(this.runtime, vm.uuid, {
      ...opts,
      haltSignal: brand?.haltSignal ?? 'TERM',
      ...(brand?.haltCommand ? { haltCommand: brand.haltCommand } : {}),
    });
    const after = this.store.read(vm.uuid)!;
    // conmon records init's status right after reaping it: give it a moment.
    let exit = await this.runtime.exitRecord(vm.uuid);
    for (let i = 0; exit === undefined && i < 100; i++) {
      await sleep(5);
      exit = await this.runtime.exitRecord(vm.uuid);
    }
    this.store.write({
      ...after,
      ...(exit !== undefined ? { exit_status: exit.status } : {}),
      exit_timestamp: (exit?.time ?? new Date()).toISOString(),
    });
  }

  async kill(uuid: string, signal = 'TERM'): Promise<void> {
    this.record(uuid);
    const live = await liveState(this.runtime, uuid);
    if (live.state !== 'running')
      throw new VmError('ENOTRUNNING', `Cannot find running init PID for VM ${uuid}`);
    if (!this.runtime.signalInit(uuid, signalName(signal)))
      throw new VmError('ENOTRUNNING', `Cannot find running init PID for VM ${uuid}`);
  }

  /**
   * Reprovision: put the VM on another image (`{"image_uuid": ...}`), keeping its UUID, manifest,
   * NICs and metadata (the manifest folder moves onto the new root) and its dataset's properties. A
   * running VM is halted first; the VM boots again if autoboot is set, as SmartOS does.
   */
  async reprovision(uuid: string, input: unknown): Promise<void> {
    const fail = (msg: string, code = 'EINVAL') =>
      new VmError(code, `Failed to reprovision VM ${uuid}: ${msg}`);
    const lock = await lockVm(uuid, 'reprovision');
    let boot: boolean;
    try {
      const vm = this.record(uuid);
      const brand = getBrand(vm.brand);
      const image =
        input !== null && typeof input === 'object'
          ? (input as { image_uuid?: unknown }).image_uuid
          : undefined;
      if (typeof image !== 'string') throw fail('payload is missing image_uuid');
      if (vm.indestructible_zoneroot === true)
        throw fail('indestructible_zoneroot is set, cannot reprovision', 'EPERM');
      if (!brand || brand.hvm) throw fail(`reprovision is not supported for ${String(vm.brand)} VMs`);
      const found = this.images?.lookup(image);
      if (!found || !this.images) throw fail(`image ${image} is not installed`, 'ENOENT');
      if (!brand.imageTypes.includes(found.type))
        throw fail(
          `image ${image} is of type ${found.type}, ${brand.name} VMs need ${brand.imageTypes.join(' or ')}`,
        );
      if ((await liveState(this.runtime, uuid)).state === 'running')
        await this.haltLocked(vm, { force: true });
      await this.runtime.delete(uuid, { force: true });
      await this.pool.rebase(this.store.dataset(uuid), this.images.origin(image), ['config']);
      const after = this.store.read(uuid) ?? vm;
      this.store.write({ ...after, image_uuid: image, last_modified: new Date().toISOString() });
      boot = after.autoboot !== false;
    } finally {
      lock.release();
    }
    if (boot) await this.start(uuid);
  }

  /** Delete: the zone, then the dataset with everything in it. Done halfway, the next look finishes it. */
  async delete(uuid: string): Promise<void> {
    const lock = await lockVm(uuid, 'delete');
    try {
      const vm = this.record(uuid);
      if (vm.indestructible_zoneroot === true)
        throw new VmError(
          'EPERM',
          `Failed to delete VM ${uuid}: indestructible_zoneroot is set, cannot delete`,
        );
      await this.runtime.delete(uuid, { force: true });
      await this.store.setPhase(uuid, 'deleting');
      await this.pool.destroy(this.store.dataset(uuid), { recursive: true });
    } finally {
      lock.release();
    }
  }
}
