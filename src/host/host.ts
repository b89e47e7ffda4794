/**
 * One node's host: its pools, the images on them, the OCI runtime new zones get, the host probe, the
 * lifecycle hooks other subsystems add (networking, metadata), and every vmadm operation as a method.
 * The CLIs use one in-process; zonixd will hold one for its whole life. The host keeps no state of
 * its own beyond what it opened: everything durable is in the pools.
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import type { Operation } from '../common/index.ts';
import { hostUuid, probeHost, type HostProbe } from '../platform/index.ts';
import { Network } from '../net/index.ts';
import { metadataHook, type DaemonOptions, type MetadataBackend } from '../metadata/index.ts';
import { importedPoolNames, isImported, systemPool, type Pool } from '../storage/index.ts';
import {
  attachConsole,
  brandDriver,
  LifecycleHooks,
  notRunning,
  VmCore,
  type AttachOptions,
  type DetachReason,
  type BootOnce,
  type HaltOpts,
  type ImageCatalogue,
  VM_UUID,
  VmError,
  type VmRecord,
  type VmWatcher,
  type WatchOptions,
} from '../vm/index.ts';
import { hostRuntimeName, openRuntime, type RuntimeName, type ZoneRuntime } from '../zones/index.ts';

export interface HostOptions {
  /** Hooks every VM's life runs (networking, metadata); more can be added with `hooks.add`. */
  hooks?: LifecycleHooks;
  /** The runtime new VMs get (default: the host's choice from its probe). */
  runtime?: RuntimeName;
}

/** Which pool a command on an existing VM works on: the named one, else the system pool. */
export interface PoolOption {
  pool?: string;
}

export class Host {
  readonly hooks: LifecycleHooks;
  /** Networking: nic tags (kept in the system pool), VM NICs, host networks. */
  readonly net: Network;
  private readonly runtimeName: RuntimeName | undefined;
  private readonly cores = new Map<string, VmCore>();
  private readonly catalogues = new Map<string, Promise<ImageCatalogue>>();

  constructor(opts: HostOptions = {}) {
    this.hooks = opts.hooks ?? new LifecycleHooks();
    this.runtimeName = opts.runtime;
    this.net = new Network(() => this.pool().docs('nictags'), {
      rules: () => this.pool().docs('fwrules'),
      vms: () => this.allVms(),
    });
    this.hooks.add({ ...this.net.hook(), reconcile: (live) => this.net.reconcile(live) });
    this.hooks.add(metadataHook());
  }

  /** Every VM on the host, all imported pools. */
  async allVms(): Promise<VmRecord[]> {
    const out: VmRecord[] = [];
    for (const name of importedPoolNames()) out.push(...(await this.core(name).list()));
    return out;
  }

  /**
   * Host start: networking made again from the pool (tag bridges, host networks) and what VMs that no
   * longer run left behind taken away. Returns what could not be restored.
   */
  async restoreNetwork(): Promise<string[]> {
    return this.net.restore(this.core().liveness());
  }

  /**
   * What a host start does once its pools are imported (`zonix boot`, zonixd): networking made again,
   * what killed commands left finished (half-made VMs go), zones whose VM is gone removed, then the
   * VMs with autoboot set started. Reports each step's outcome; a VM that cannot start does not stop
   * the others.
   */
  async startUp(report: (line: string) => void = () => undefined): Promise<{ started: string[] }> {
    for (const problem of await this.restoreNetwork()) report(`zonix: ${problem}`);
    const known = new Set<string>();
    const vms: { vm: VmRecord; pool: string }[] = [];
    for (const name of importedPoolNames())
      for (const vm of await this.list({ pool: name })) {
        known.add(vm.uuid);
        vms.push({ vm, pool: name });
      }
    // A zone of no VM on any pool (its VM was deleted while the host was down, say).
    const core = this.core();
    for (const id of core.states.zoneIds()) {
      if (known.has(id) || !VM_UUID.test(id)) continue;
      try {
        await core.runtimeOf(id).delete(id, { force: true });
        report(`removed zone ${id}: it has no VM`);
      } catch (err) {
        report(`zonix: cannot remove zone ${id}, which has no VM: ${(err as Error).message}`);
      }
    }
    // Zones with autoboot set start again, as SmartOS boots them with the host.
    const started: string[] = [];
    for (const { vm, pool } of vms) {
      if (vm.autoboot !== true || vm.state === 'running' || !brandDriver(vm.brand)?.bootable) continue;
      try {
        await this.start(vm.uuid, { pool });
        started.push(vm.uuid);
        report(`started VM ${vm.uuid}`);
      } catch (err) {
        report(`zonix: cannot start VM ${vm.uuid}: ${(err as Error).message}`);
      }
    }
    return { started };
  }

  /** What the host can do (cached per boot; `refresh` probes again). */
  probe(opts: { refresh?: boolean } = {}): Promise<HostProbe> {
    return probeHost(opts);
  }

  /** The runtime new VMs get. */
  runtime(): ZoneRuntime {
    return openRuntime(this.runtimeName ?? hostRuntimeName());
  }

  /** The imported pool VM `uuid` is on (the system pool's VMs first: most are there), if any. */
  async poolOf(uuid: string): Promise<string | undefined> {
    const sys = this.pool().name;
    for (const name of [sys, ...importedPoolNames().filter((n) => n !== sys)]) {
      try {
        await this.get(uuid, { pool: name });
        return name;
      } catch (err) {
        if (!(err instanceof VmError && err.code === 'ENOENT')) throw err;
      }
    }
    return undefined;
  }

  /** The named pool, or the system pool. */
  pool(name?: string): Pool {
    return systemPool(name);
  }

  /**
   * The VM core of a pool (one per pool while the pool stays as it was imported: a pool exported and
   * imported again, or destroyed and made anew, under the same name, gets a new one).
   */
  core(poolName?: string): VmCore {
    const pool = this.pool(poolName);
    let core = this.cores.get(pool.name);
    const r = pool.rec;
    if (core && (core.pool.rec.top !== r.top || core.pool.rec.driver !== r.driver)) {
      core = undefined;
      this.catalogues.delete(pool.name);
    }
    if (!core) {
      core = new VmCore(pool, this.runtimeName ? openRuntime(this.runtimeName) : undefined, undefined, {
        hooks: this.hooks,
        peers: () => this.allVms(),
      });
      this.cores.set(pool.name, core);
    }
    return core;
  }

  /** The same core, knowing the pool's installed images (what create and reprovision need). */
  async coreWithImages(poolName?: string): Promise<VmCore> {
    const core = this.core(poolName);
    if (!core.images) {
      let images = this.catalogues.get(core.pool.name);
      if (!images) {
        const pool = core.pool;
        images = import('../images/index.ts').then(({ ImageStore }) => new ImageStore(pool).catalogue());
        this.catalogues.set(pool.name, images);
      }
      core.images = await images;
    }
    return core;
  }

  /** Create a VM on the pool its payload names (`zpool`), else on the system pool. */
  async create(payload: unknown, op?: Operation): Promise<{ uuid: string; warnings: string[] }> {
    const zpool = (payload as { zpool?: unknown } | null)?.zpool;
    const core = await this.coreWithImages(
      typeof zpool === 'string' && isImported(zpool) ? zpool : undefined,
    );
    return core.create(payload, op);
  }

  get(uuid: string, o: PoolOption = {}): Promise<VmRecord> {
    return this.core(o.pool).get(uuid);
  }

  list(o: PoolOption = {}): Promise<VmRecord[]> {
    return this.core(o.pool).list();
  }

  update(uuid: string, payload: unknown, o: PoolOption = {}): Promise<{ warnings: string[] }> {
    return this.core(o.pool).update(uuid, payload);
  }

  start(uuid: string, o: PoolOption & { op?: Operation; bootOnce?: BootOnce } = {}): Promise<void> {
    return this.core(o.pool).start(uuid, 'start', o.op, o.bootOnce);
  }

  /** `vmadm sysrq`: an NMI or a screenshot, as the VM's brand offers. */
  sysrq(uuid: string, kind: string, o: PoolOption = {}): Promise<void> {
    return this.core(o.pool).sysrq(uuid, kind);
  }

  stop(uuid: string, opts: HaltOpts & PoolOption & { op?: Operation } = {}): Promise<void> {
    return this.core(opts.pool).stop(uuid, opts, opts.op);
  }

  reboot(uuid: string, opts: { force?: boolean } & PoolOption & { op?: Operation } = {}): Promise<void> {
    return this.core(opts.pool).reboot(uuid, opts, opts.op);
  }

  kill(uuid: string, signal?: string, o: PoolOption = {}): Promise<void> {
    return this.core(o.pool).kill(uuid, signal);
  }

  delete(uuid: string, o: PoolOption & { op?: Operation } = {}): Promise<void> {
    return this.core(o.pool).delete(uuid, o.op);
  }

  async reprovision(uuid: string, payload: unknown, o: PoolOption & { op?: Operation } = {}): Promise<void> {
    return (await this.coreWithImages(o.pool)).reprovision(uuid, payload, o.op);
  }

  createSnapshot(uuid: string, name: string, o: PoolOption = {}): Promise<void> {
    return this.core(o.pool).createSnapshot(uuid, name);
  }

  rollbackSnapshot(uuid: string, name: string, o: PoolOption = {}): Promise<void> {
    return this.core(o.pool).rollbackSnapshot(uuid, name);
  }

  deleteSnapshot(uuid: string, name: string, o: PoolOption = {}): Promise<void> {
    return this.core(o.pool).deleteSnapshot(uuid, name);
  }

  send(uuid: string, out: Writable, o: PoolOption = {}): Promise<void> {
    return this.core(o.pool).send(uuid, out);
  }

  receive(input: Readable, o: PoolOption = {}): Promise<string> {
    return this.core(o.pool).receive(input);
  }

  /** A watcher of a pool's VMs (`vmadm events`); its start() begins. */
  watch(opts: WatchOptions & PoolOption): Promise<VmWatcher> {
    return this.core(opts.pool).watch(opts);
  }

  info(uuid: string, types: readonly string[] = [], o: PoolOption = {}): Promise<Record<string, unknown>> {
    return this.core(o.pool).info(uuid, types);
  }

  /**
   * Attach to a running VM's console until the user detaches, input ends or the VM stops. `vm` is the
   * VM as `get` showed it (the caller checks and reports on it first).
   */
  async console(vm: VmRecord, opts: AttachOptions & PoolOption): Promise<DetachReason> {
    if (vm.state !== 'running') throw notRunning(vm.uuid, String(vm.state));
    return attachConsole(await this.core(opts.pool).consoleTarget(vm.uuid), opts);
  }

  /**
   * What the host's metadata server needs of the host (in zonix-metadata or in zonixd): who the host
   * is, guests' writes into their VMs, and which VMs run.
   */
  async metadataBackend(): Promise<MetadataBackend & Omit<DaemonOptions, 'log'>> {
    return {
      serverUuid: await hostUuid(),
      update: async (uuid, payload) => {
        // On the VM's pool; one it is on none of answers as the system pool does (not found).
        await this.update(uuid, payload, { pool: await this.poolOf(uuid) });
      },
      // Asked afresh each time: a VM runs, or a command (a start) is at work on it.
      isLive: (uuid) => this.core().liveness()(uuid),
      pidOf: (uuid) => this.core().states.stateSync(uuid)?.pid,
    };
  }

  /** argv that runs `args` in a running VM (zlogin). */
  loginArgv(
    uuid: string,
    args: string[],
    opts: { tty?: boolean; env?: string[] } & PoolOption = {},
  ): { path: string; argv: string[] } {
    return this.core(opts.pool).loginArgv(uuid, args, opts);
  }
}

let shared: Host | undefined;

/** The process's host (the CLIs make one; zonixd will too). */
export function defaultHost(): Host {
  return (shared ??= new Host());
}
