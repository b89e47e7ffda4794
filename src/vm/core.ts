/**
 * The vmadm core for OS-brand VMs: get, list, start, stop, kill and delete, over the VM store (the
 * pool) and the zone runtime. Operations on one VM hold its lock; different VMs run in parallel.
 * The CLI and the API are thin over this.
 * @module
 */
import { OciRuntime } from '../zones/index.ts';
import type { Pool } from '../storage/index.ts';
import { alreadyRunning, notRunning, VmError, vmNotFound } from './errors.ts';
import { lockVm, VmStore, type VmRecord } from './store.ts';
import { liveState, startZone, stopZone } from './zone.ts';

/** How a brand's init is asked to halt: busybox init powers off on USR2; sysvinit-style inits on a command. */
const HALT: Record<string, { signal: string }> = {
  joyent: { signal: 'USR2' },
  'joyent-minimal': { signal: 'USR2' },
  builder: { signal: 'USR2' },
  lx: { signal: 'TERM' },
};

export class VmCore {
  readonly store: VmStore;

  constructor(
    readonly pool: Pool,
    readonly runtime: OciRuntime = new OciRuntime('runc'),
  ) {
    this.store = new VmStore(pool);
  }

  private record(uuid: string): VmRecord {
    const vm = this.store.uuids().includes(uuid) ? this.store.read(uuid) : undefined;
    if (!vm) throw vmNotFound(uuid);
    return vm;
  }

  /** The VM as `vmadm get` shows it: the stored manifest with its live state and where it lives. */
  async get(uuid: string): Promise<VmRecord> {
    return this.present(this.record(uuid));
  }

  private async present(vm: VmRecord): Promise<VmRecord> {
    const live = await liveState(this.runtime, vm.uuid);
    const out: VmRecord = {
      ...vm,
      zonepath: this.store.zonepath(vm.uuid),
      zfs_filesystem: this.store.dataset(vm.uuid),
      zpool: this.pool.name,
      state: live.state,
      zone_state: live.zone_state,
    };
    if (live.state === 'running') out.pid = live.pid;
    else {
      delete out.pid;
      delete out.boot_timestamp;
    }
    if (live.exit_status !== undefined && live.state !== 'running') out.exit_status = live.exit_status;
    return out;
  }

  /** Every complete VM, as `get` shows them. */
  async list(): Promise<VmRecord[]> {
    const out: VmRecord[] = [];
    for (const uuid of this.store.uuids()) {
      const vm = this.store.read(uuid);
      if (vm) out.push(await this.present(vm));
    }
    return out;
  }

  async start(uuid: string): Promise<void> {
    const lock = await lockVm(uuid, 'start');
    try {
      const vm = this.record(uuid);
      const live = await liveState(this.runtime, uuid);
      if (live.state === 'running') throw alreadyRunning(uuid);
      await startZone(this.runtime, vm, this.store.zonepath(uuid));
      this.store.write({
        ...vm,
        autoboot: true,
        boot_timestamp: new Date().toISOString(),
        last_modified: new Date().toISOString(),
      });
    } finally {
      lock.release();
    }
  }

  async stop(uuid: string, opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const lock = await lockVm(uuid, 'stop');
    try {
      const vm = this.record(uuid);
      const live = await liveState(this.runtime, uuid);
      if (live.state !== 'running') throw notRunning(uuid, live.state);
      this.store.write({ ...vm, autoboot: false, last_modified: new Date().toISOString() });
      const halt = HALT[String(vm.brand)] ?? { signal: 'TERM' };
      await stopZone(this.runtime, uuid, { ...opts, haltSignal: halt.signal });
      const after = this.store.read(uuid)!;
      const exit = await this.runtime.exitStatus(uuid);
      this.store.write({
        ...after,
        ...(exit !== undefined ? { exit_status: exit } : {}),
        exit_timestamp: new Date().toISOString(),
      });
    } finally {
      lock.release();
    }
  }

  async kill(uuid: string, signal = 'TERM'): Promise<void> {
    this.record(uuid);
    const live = await liveState(this.runtime, uuid);
    if (live.state !== 'running')
      throw new VmError('ENOTRUNNING', `Cannot find running init PID for VM ${uuid}`);
    await this.runtime.kill(uuid, signal.replace(/^SIG/, ''));
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
