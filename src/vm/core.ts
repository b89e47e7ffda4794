/**
 * The VM core of one pool: every vmadm operation (create, get, list, update, start, stop, reboot,
 * kill, delete, reprovision, snapshots, send and receive, console, events, info) as a method, over
 * the VM store (the pool), the brand drivers (what differs between brands) and the OCI runtime each
 * VM was made with. Operations on one VM hold its lock; different VMs run in parallel. Long ones take
 * an Operation (an AbortSignal and a progress callback). The host (src/host) holds one core per pool;
 * the CLIs and the service are thin over it.
 * @module
 */
import { makeDisks } from './disks.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkCancelled, reportProgress, type Operation } from '../common/index.ts';
import { importedPoolNames } from '../storage/index.ts';
import type { Pool } from '../storage/index.ts';
import type { PoolMeta } from '../storage/index.ts';
import {
  DEFAULT_RUNTIME,
  hostRuntimeName,
  isRuntimeName,
  openRuntime,
  ZoneStates,
  type ZoneRuntime,
} from '../zones/index.ts';
import {
  brandDriver,
  LifecycleHooks,
  type BootOnce,
  type BrandContext,
  type BrandDriver,
} from './brands/index.ts';
import { alreadyRunning, notRunning, VmError, vmNotFound } from './errors.ts';
import type { VmWatcher, WatchOptions } from './events.ts';
import { busyVms, freeDeadVmLocks, lockVm, VM_PROP, VmStore, type VmRecord } from './store.ts';
import { cacheKey, readCache, writeCache, type StoredVm } from './list-cache.ts';
import { presentVm } from './live.ts';
import { getVm, storedVms } from './view.ts';
import { vmSnapshots } from './snapshots.ts';
import { liveState, liveStateSync, signalName } from './zone.ts';

/** On a VM's dataset: the OCI runtime it was made with (runc or crun). */
export const RUNTIME_PROP = 'com.zonix:runtime';

/** What the VM core needs to know of images (the imgadm layer sits above it and provides this). */
export interface ImageCatalogue {
  /** An installed image's manifest facts, or undefined. */
  lookup(
    uuid: string,
  ): { type: string; image_size?: number; requirements?: { bootrom?: string } } | undefined;
  /** The snapshot VMs are cloned from (`<pool>/<uuid>@final`). */
  origin(uuid: string): string;
}

export interface VmCoreOptions {
  /** What networking, metadata and the rest add to every VM's life (see brands/types.ts). */
  hooks?: LifecycleHooks;
  /** Every VM of the host, all pools (conflict checks); default: this pool's. */
  peers?: () => Promise<VmRecord[]>;
}

export interface HaltOpts {
  force?: boolean;
  timeoutMs?: number;
}

export class VmCore {
  readonly store: VmStore;
  readonly hooks: LifecycleHooks;
  /** Live state of every VM, whichever runtime it runs under (read from files). */
  readonly states = new ZoneStates();
  private newRuntime: ZoneRuntime | undefined;
  private readonly peersOf: (() => Promise<VmRecord[]>) | undefined;

  /**
   * `runtime`: what new VMs are made with (default: the host's choice from its probe). A VM made
   * before keeps its own.
   */
  constructor(
    readonly pool: Pool,
    runtime?: ZoneRuntime,
    public images?: ImageCatalogue,
    opts: VmCoreOptions = {},
  ) {
    this.store = new VmStore(pool);
    this.newRuntime = runtime;
    this.hooks = opts.hooks ?? new LifecycleHooks();
    this.peersOf = opts.peers;
  }

  /** The host's VMs, as the hooks' checks see them. */
  peers(): Promise<VmRecord[]> {
    return this.peersOf ? this.peersOf() : this.list();
  }

  /**
   * Whether a VM's zone exists (made or running) or a command is at work on it: what the hooks'
   * reconcile leaves alone. The VM locks are read once, when first asked.
   */
  liveness(): (uuid: string) => boolean {
    let busy: Map<string, string> | undefined;
    return (uuid) => {
      const st = this.states.stateSync(uuid);
      if (st !== undefined && st.status !== 'stopped') return true;
      return (busy ??= busyVms()).has(uuid);
    };
  }

  /** The runtime new VMs get. */
  get runtime(): ZoneRuntime {
    return (this.newRuntime ??= openRuntime(hostRuntimeName()));
  }

  /** The runtime VM `uuid` was made with (VMs from before runtimes were recorded ran runc). */
  runtimeOf(uuid: string, meta: PoolMeta = this.pool.meta()): ZoneRuntime {
    const name = meta.datasets[this.store.dataset(uuid)]?.props[RUNTIME_PROP] ?? DEFAULT_RUNTIME;
    if (this.newRuntime?.info.name === name) return this.newRuntime;
    return openRuntime(isRuntimeName(name) ? name : DEFAULT_RUNTIME);
  }

  /** The driver of a VM's brand; a manifest with an unknown brand is refused. */
  driver(vm: VmRecord): BrandDriver {
    const d = brandDriver(vm.brand);
    if (!d) throw new VmError('EINVAL', `VM ${vm.uuid} has unknown brand "${String(vm.brand)}"`);
    return d;
  }

  private context(
    uuid: string,
    op?: Operation,
    meta: PoolMeta = this.pool.meta(),
    bootOnce?: BootOnce,
  ): BrandContext {
    return {
      runtime: this.runtimeOf(uuid, meta),
      zonepath: this.store.zonepath(uuid, meta),
      hooks: this.hooks,
      volumeFile: (name: string) => this.pool.volumeFile(name),
      ...(op ? { op } : {}),
      ...(bootOnce ? { bootOnce } : {}),
    };
  }

  private record(uuid: string, meta: PoolMeta = this.pool.meta()): VmRecord {
    const vm = this.store.readReady(uuid, meta);
    if (!vm) throw vmNotFound(uuid);
    return vm;
  }

  /** The VM as `vmadm get` shows it: the stored manifest with its live state and where it lives. */
  async get(uuid: string): Promise<VmRecord> {
    return getVm(this.pool, this.states, uuid, this.pool.meta());
  }

  /** What the pool says of a VM: its manifest, where it lives, its snapshots. */
  private stored(vm: VmRecord, meta: PoolMeta): StoredVm {
    return { vm, zonepath: this.store.zonepath(vm.uuid, meta), snapshots: vmSnapshots(this, vm.uuid, meta) };
  }

  /** The VM as `get` shows it: what the pool says, with its live state. */
  private withLive(s: StoredVm, zones?: Set<string>, busy: Map<string, string> = busyVms()): VmRecord {
    return presentVm(s, this.pool.name, liveStateSync(this.states, s.vm.uuid, zones), busy.get(s.vm.uuid));
  }

  /**
   * Finish what a killed command left: its VM lock is freed, half-made or half-deleted VMs go (their
   * zones first). Returns the pool's metadata as it is afterwards.
   */
  private async reconcile(): Promise<PoolMeta> {
    await this.pool.recoverIfStale();
    await freeDeadVmLocks();
    const meta = this.pool.meta();
    const removed = await this.store.reconcile(
      (uuid) => this.runtimeOf(uuid, meta).delete(uuid, { force: true }),
      meta,
    );
    await this.abandonedStarts(meta);
    await this.hooks.reconcile(this.liveness());
    return removed.length ? this.pool.meta() : meta;
  }

  /**
   * Zones made but never started whose start was killed (no command at work on them): they go, and
   * what the hooks gave them (NICs, tables) with them, so the VM is stopped and whole again.
   */
  private async abandonedStarts(meta: PoolMeta): Promise<void> {
    let busy: Map<string, string> | undefined;
    const zones = this.states.zoneIds(); // one folder read: only VMs with a zone are looked at
    for (const uuid of this.store.uuids(meta)) {
      if (!zones.has(uuid) || this.states.stateSync(uuid)?.status !== 'created') continue;
      if ((busy ??= busyVms()).has(uuid)) continue;
      await this.takeDownReady(this.record(uuid, meta), meta);
    }
  }

  /** A zone in state `ready` (made, its init never started): the zone, then what the hooks attached. */
  private async takeDownReady(vm: VmRecord, meta: PoolMeta): Promise<void> {
    await this.runtimeOf(vm.uuid, meta).delete(vm.uuid, { force: true });
    await this.hooks.detach(vm, { zonepath: this.store.zonepath(vm.uuid, meta) });
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
    const zones = this.states.zoneIds();
    const busy = busyVms();
    return stored.map((s) => this.withLive(s, zones, busy));
  }

  /**
   * Create a VM from a SmartOS payload: validated and defaulted by the schema, its dataset cloned from
   * the image's `@final` (constant time) or made empty (brands whose root is not an image), its
   * manifest written inside, then started if `autoboot`. Killed or cancelled at any point, the
   * half-made VM is removed (by this call, or by the next look: see VmStore.reconcile).
   */
  async create(input: unknown, op?: Operation): Promise<{ uuid: string; warnings: string[] }> {
    await this.reconcile();
    const images = this.images;
    // The VM goes to this core's pool unless the payload names another one (the host picks that core).
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
    await this.hooks.check({ ...payload, uuid }, { peers: () => this.peers() });
    const driver = this.driver({ uuid, brand: payload.brand });
    checkCancelled(op, `create VM ${uuid}`);
    const lock = await lockVm(uuid, 'create');
    let made = false;
    try {
      const ds = this.store.dataset(uuid);
      // One pool change makes the dataset with its quota and runtime, marked as not yet complete.
      const quota = typeof payload.quota === 'number' ? payload.quota : 0;
      const props = {
        [VM_PROP]: 'creating',
        [RUNTIME_PROP]: this.runtime.info.name,
        ...(quota > 0 ? { quota: `${quota}G` } : {}),
      };
      reportProgress(op, { phase: 'cloning', subject: uuid });
      if (!driver.rootFromImage || typeof payload.image_uuid !== 'string' || !images)
        await this.pool.create(ds, { props });
      else await this.pool.clone(images.origin(payload.image_uuid), ds, { props });
      made = true;
      checkCancelled(op, `create VM ${uuid}`);
      // An HVM VM's disks: volumes under its dataset, the boot disk cloned from its image.
      const disks = Array.isArray(payload.disks)
        ? await makeDisks(this.pool, ds, payload.disks as Record<string, unknown>[], { images, op })
        : undefined;
      const now = new Date().toISOString();
      const vm: VmRecord = {
        ...payload,
        ...(disks ? { disks } : {}),
        uuid,
        zonename: typeof payload.zonename === 'string' ? payload.zonename : uuid,
        create_timestamp: now,
        last_modified: now,
      };
      delete vm.state;
      delete vm.zone_state;
      const boot = payload.autoboot !== false && driver.bootable;
      if (boot) reportProgress(op, { phase: 'booting', subject: uuid });
      // The manifest (with its boot time, when it boots) and the mark that the VM is complete, and
      // its first boot, at once: killed meanwhile, or if the boot fails, the VM is not complete and
      // is removed, its zone first. So one synced write of the manifest does.
      const meta = this.pool.meta();
      const booted = new Date().toISOString();
      const written: VmRecord = boot
        ? { ...vm, autoboot: true, boot_timestamp: booted, last_modified: booted }
        : vm;
      await Promise.all([
        (async () => {
          await this.store.write(written, meta);
          await this.store.setPhase(uuid, 'ready');
        })(),
        boot ? driver.boot(vm, this.context(uuid, op, meta)) : undefined,
      ]);
    } catch (err) {
      // A cancelled or failed create (its zone could not boot) leaves nothing behind.
      if (made) await this.removeLocked(uuid).catch(() => undefined);
      throw err;
    } finally {
      lock.release();
    }
    return { uuid, warnings };
  }

  /** Boot the VM; `intent` says why (a create's first boot shows the VM as provisioning). */
  async start(
    uuid: string,
    intent: 'start' | 'create' = 'start',
    op?: Operation,
    bootOnce?: BootOnce,
  ): Promise<void> {
    const lock = await lockVm(uuid, intent);
    try {
      const meta = this.pool.meta();
      const vm = this.record(uuid, meta);
      if (bootOnce && !this.driver(vm).info.hvm)
        throw new VmError(
          'EINVAL',
          `VM ${uuid} is not a hardware VM: start options (order, once, cdrom, disk) do not apply`,
        );
      for (const f of [...(bootOnce?.cdroms ?? []), ...(bootOnce?.disks ?? [])])
        if (!existsSync(f.path)) throw new VmError('EINVAL', `${f.path} does not exist`);
      const live = await liveState(this.runtimeOf(uuid, meta), uuid);
      if (live.state === 'running') throw alreadyRunning(uuid);
      checkCancelled(op, `start VM ${uuid}`);
      await this.bootLocked(vm, op, meta, bootOnce);
    } finally {
      lock.release();
    }
  }

  async stop(uuid: string, opts: HaltOpts = {}, op?: Operation): Promise<void> {
    const brand = this.driver(this.record(uuid)).info;
    // The lock's intent is what `get` shows meanwhile (`shutting_down`, or `stopping` for HVMs).
    const lock = await lockVm(uuid, brand.haltingState === 'stopping' ? 'stopping' : 'stop');
    try {
      const meta = this.pool.meta();
      const vm = this.record(uuid, meta);
      const runtime = this.runtimeOf(uuid, meta);
      const live = await liveState(runtime, uuid);
      if (live.state === 'ready') {
        // Made but never started (its start was killed): nothing runs; take the zone down.
        await this.store.write({ ...vm, autoboot: false, last_modified: new Date().toISOString() });
        await this.takeDownReady(vm, meta);
        return;
      }
      if (live.state !== 'running') throw notRunning(uuid, live.state);
      await this.haltLocked(vm, opts, { autoboot: false }, op);
    } finally {
      lock.release();
    }
  }

  /**
   * Reboot: halt the VM as `stop` does (the brand's own way, or at once with `force`) and boot it
   * again; `autoboot` is left as it is.
   */
  async reboot(uuid: string, opts: { force?: boolean } = {}, op?: Operation): Promise<void> {
    const lock = await lockVm(uuid, 'reboot');
    try {
      const meta = this.pool.meta();
      const vm = this.record(uuid, meta);
      const live = await liveState(this.runtimeOf(uuid, meta), uuid);
      if (live.state !== 'running')
        throw new VmError('EINVAL', `Cannot reboot vm from state "${live.state}", must be "running"`);
      await this.haltLocked(vm, opts, {}, op);
      const after = this.store.read(uuid, meta)!;
      await this.driver(after).boot(after, this.context(uuid, op, meta));
      const now = new Date().toISOString();
      await this.store.write({ ...after, boot_timestamp: now, last_modified: now });
    } finally {
      lock.release();
    }
  }

  /** Boot the stopped VM, the caller holding its lock: autoboot on, a new boot_timestamp. */
  async bootLocked(
    vm: VmRecord,
    op?: Operation,
    meta: PoolMeta = this.pool.meta(),
    bootOnce?: BootOnce,
  ): Promise<void> {
    reportProgress(op, { phase: 'booting', subject: vm.uuid });
    await this.driver(vm).boot(vm, this.context(vm.uuid, op, meta, bootOnce));
    const now = new Date().toISOString();
    await this.store.write({ ...vm, autoboot: true, boot_timestamp: now, last_modified: now });
  }

  /**
   * Halt the running VM, the caller holding its lock, and record how init ended with `set` (a stop
   * turns autoboot off, as SmartOS does).
   */
  async haltLocked(
    vm: VmRecord,
    opts: HaltOpts = {},
    set: Partial<VmRecord> = {},
    op?: Operation,
  ): Promise<void> {
    const meta = this.pool.meta();
    reportProgress(op, { phase: 'halting', subject: vm.uuid });
    const ctx = this.context(vm.uuid, op, meta);
    // A halt that may take long (init is asked first) has `set` on its way to the pool (its fsyncs
    // on libuv's threads) while the zone halts; a forced one is over in milliseconds, and `set` goes
    // with how init ended, in one synced write.
    const changes = Object.keys(set).length > 0;
    const early = changes && !opts.force;
    await Promise.all([
      early ? this.store.write({ ...vm, ...set, last_modified: new Date().toISOString() }, meta) : undefined,
      this.driver(vm).halt(vm, ctx, opts),
    ]);
    const after = { ...this.store.read(vm.uuid, meta)!, ...(early ? {} : set) };
    // conmon records init's status right after reaping it: give it a moment.
    let exit = await ctx.runtime.exitRecord(vm.uuid);
    for (let i = 0; exit === undefined && i < 200; i++) {
      await sleep(i < 100 ? 1 : 5);
      exit = await ctx.runtime.exitRecord(vm.uuid);
    }
    await this.store.write({
      ...after,
      ...(exit !== undefined ? { exit_status: exit.status } : {}),
      exit_timestamp: (exit?.time ?? new Date()).toISOString(),
      ...(changes && !early ? { last_modified: new Date().toISOString() } : {}),
    });
  }

  async kill(uuid: string, signal = 'TERM'): Promise<void> {
    const meta = this.pool.meta();
    this.record(uuid, meta);
    const runtime = this.runtimeOf(uuid, meta);
    const live = await liveState(runtime, uuid);
    if (live.state !== 'running')
      throw new VmError('ENOTRUNNING', `Cannot find running init PID for VM ${uuid}`);
    if (!runtime.signalInit(uuid, signalName(signal)))
      throw new VmError('ENOTRUNNING', `Cannot find running init PID for VM ${uuid}`);
  }

  /**
   * Reprovision: put the VM on another image (`{"image_uuid": ...}`), keeping its UUID, manifest,
   * NICs and metadata (the manifest folder moves onto the new root) and its dataset's properties. A
   * running VM is halted first; the VM boots again if autoboot is set, as SmartOS does.
   */
  async reprovision(uuid: string, input: unknown, op?: Operation): Promise<void> {
    const fail = (msg: string, code = 'EINVAL') =>
      new VmError(code, `Failed to reprovision VM ${uuid}: ${msg}`);
    const lock = await lockVm(uuid, 'reprovision');
    let boot: boolean;
    try {
      const meta = this.pool.meta();
      const vm = this.record(uuid, meta);
      const driver = brandDriver(vm.brand);
      const image =
        input !== null && typeof input === 'object'
          ? (input as { image_uuid?: unknown }).image_uuid
          : undefined;
      if (typeof image !== 'string') throw fail('payload is missing image_uuid');
      if (vm.indestructible_zoneroot === true)
        throw fail('indestructible_zoneroot is set, cannot reprovision', 'EPERM');
      if (!driver?.reprovisionable) throw fail(`reprovision is not supported for ${String(vm.brand)} VMs`);
      const { info } = driver;
      const found = this.images?.lookup(image);
      if (!found || !this.images) throw fail(`image ${image} is not installed`, 'ENOENT');
      if (!info.imageTypes.includes(found.type))
        throw fail(
          `image ${image} is of type ${found.type}, ${info.name} VMs need ${info.imageTypes.join(' or ')}`,
        );
      const runtime = this.runtimeOf(uuid, meta);
      if ((await liveState(runtime, uuid)).state === 'running')
        await this.haltLocked(vm, { force: true }, {}, op);
      await runtime.delete(uuid, { force: true });
      reportProgress(op, { phase: 'rebasing', subject: uuid });
      await this.pool.rebase(this.store.dataset(uuid), this.images.origin(image), ['config']);
      const after = this.store.read(uuid) ?? vm;
      await this.store.write({ ...after, image_uuid: image, last_modified: new Date().toISOString() });
      boot = after.autoboot !== false;
    } finally {
      lock.release();
    }
    if (boot) await this.start(uuid, 'start', op);
  }

  /**
   * Delete: the zone, what the lifecycle hooks hold for the VM, then the dataset with everything in
   * it. Done halfway, the next look finishes it.
   */
  async delete(uuid: string, op?: Operation): Promise<void> {
    const lock = await lockVm(uuid, 'delete');
    try {
      const meta = this.pool.meta();
      const vm = this.record(uuid, meta);
      if (vm.indestructible_zoneroot === true)
        throw new VmError(
          'EPERM',
          `Failed to delete VM ${uuid}: indestructible_zoneroot is set, cannot delete`,
        );
      const ctx = this.context(uuid, op, meta);
      reportProgress(op, { phase: 'destroying', subject: uuid });
      // Marked as going first (or at once): killed after this, the next look finishes the delete.
      await Promise.all([ctx.runtime.delete(uuid, { force: true }), this.store.setPhase(uuid, 'deleting')]);
      await this.hooks.release(vm, ctx);
      await this.pool.destroy(this.store.dataset(uuid), { recursive: true });
    } finally {
      lock.release();
    }
  }

  /** Take away a VM that is not complete (a create that failed), the caller holding its lock. */
  private async removeLocked(uuid: string): Promise<void> {
    const meta = this.pool.meta();
    const ctx = this.context(uuid, undefined, meta);
    await ctx.runtime.delete(uuid, { force: true });
    const vm = this.store.read(uuid, meta);
    if (vm) await this.hooks.release(vm, ctx);
    await this.pool.destroy(this.store.dataset(uuid), { recursive: true });
  }

  /** `vmadm update`: see update.ts. */
  async update(uuid: string, input: unknown): Promise<{ warnings: string[] }> {
    const { updateVm } = await import('./update.ts');
    return updateVm(this, uuid, input);
  }

  async createSnapshot(uuid: string, name: string): Promise<void> {
    return (await import('./snapshots.ts')).createSnapshot(this, uuid, name);
  }

  async deleteSnapshot(uuid: string, name: string): Promise<void> {
    return (await import('./snapshots.ts')).deleteSnapshot(this, uuid, name);
  }

  async rollbackSnapshot(uuid: string, name: string): Promise<void> {
    return (await import('./snapshots.ts')).rollbackSnapshot(this, uuid, name);
  }

  /** `vmadm send`: the VM as a stream (see transfer.ts). */
  async send(uuid: string, out: Writable): Promise<void> {
    return (await import('./transfer.ts')).sendVm(this, uuid, out);
  }

  /** `vmadm receive`: a VM from a stream; resolves to its UUID. */
  async receive(input: Readable): Promise<string> {
    return (await import('./transfer.ts')).receiveVm(this, input);
  }

  /** A watcher of this pool's VMs (`vmadm events`); call its start() to begin. */
  async watch(opts: WatchOptions): Promise<VmWatcher> {
    const { VmWatcher } = await import('./events.ts');
    return new VmWatcher(this, opts);
  }

  /** `vmadm info`: what the VM's hypervisor says (its brand's driver answers). */
  async info(uuid: string, types: readonly string[] = []): Promise<Record<string, unknown>> {
    const meta = this.pool.meta();
    const vm = this.record(uuid, meta);
    return this.driver(vm).vmInfo(vm, this.context(uuid, undefined, meta), types);
  }

  /** The runtime container whose terminal is the running VM's console. */
  async consoleTarget(uuid: string): Promise<string> {
    const meta = this.pool.meta();
    const vm = this.record(uuid, meta);
    return this.driver(vm).consoleTarget(vm, this.store.zonepath(uuid, meta));
  }

  /** `vmadm sysrq`: what the VM's brand offers (an NMI, a screenshot). */
  async sysrq(uuid: string, kind: string): Promise<void> {
    const meta = this.pool.meta();
    const vm = this.record(uuid, meta);
    const driver = this.driver(vm);
    const ctx = this.context(uuid, undefined, meta);
    if (!driver.sysrq || !(driver.info.sysrqKinds ?? []).includes(kind))
      throw new VmError('EINVAL', `Invalid sysrq type: ${kind}`);
    if (ctx.runtime.stateSync(uuid)?.status !== 'running') throw notRunning(uuid, 'stopped');
    await driver.sysrq(vm, ctx, kind);
  }

  /**
   * argv that runs `args` in the running VM's zone (zlogin): its runtime's exec. No `args`: a login
   * shell, bash where the zone has it, else sh.
   */
  loginArgv(
    uuid: string,
    args: string[],
    opts: { tty?: boolean; env?: string[] } = {},
  ): { path: string; argv: string[] } {
    const meta = this.pool.meta();
    const runtime = this.runtimeOf(uuid, meta);
    const root = join(String(this.record(uuid, meta).zonepath), 'root');
    const command = args.length ? args : [existsSync(join(root, 'bin/bash')) ? '/bin/bash' : '/bin/sh', '-l'];
    return { path: runtime.info.path, argv: runtime.execArgv(uuid, command, opts) };
  }
}
