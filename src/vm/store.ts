/**
 * Where VMs live: each VM is the dataset `<pool>/<uuid>` (the zonepath: `root/` is the zone's root,
 * `config/vm.json` its manifest, written atomically). A user property on the dataset says whether
 * the VM is complete; a create or delete that died halfway is finished (removed) by the next command
 * that looks, so a VM is either whole or gone. Nothing outside the pool is needed to list VMs.
 * @module
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../common/errors.ts';
import { writeFileAtomicSync } from '../common/fs-atomic.ts';
import { acquireLock, processStartTime, type FileLock } from '../common/lock.ts';
import { runPath } from '../platform/paths.ts';
import type { Pool } from '../storage/index.ts';
import type { PoolMeta } from '../storage/meta.ts';

/** On the VM's dataset: `creating`, `ready` or `deleting`. */
export const VM_PROP = 'com.zonix:vm';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type VmRecord = Record<string, unknown> & { uuid: string };

export type VmPhase = 'creating' | 'ready' | 'deleting';

/** Serialise operations on one VM across every Zonix process; operations on other VMs go on. */
export function lockVm(uuid: string, intent: string): Promise<FileLock> {
  mkdirSync(runPath('vm-locks'), { recursive: true });
  return acquireLock(runPath('vm-locks', `${uuid}.lock`), { intent, timeoutMs: 300_000 });
}

function lockHeld(uuid: string): boolean {
  try {
    const h = JSON.parse(readFileSync(runPath('vm-locks', `${uuid}.lock`), 'utf8')) as {
      pid: number;
      start: string;
    };
    return processStartTime(h.pid) === h.start;
  } catch {
    return false;
  }
}

export class VmStore {
  constructor(readonly pool: Pool) {}

  dataset(uuid: string): string {
    return `${this.pool.name}/${uuid}`;
  }

  /** The zonepath: where the VM's dataset is reachable on the host. */
  zonepath(uuid: string, meta: PoolMeta = this.pool.meta()): string {
    const ds = this.dataset(uuid);
    return this.pool.mountpointOf(meta, ds) ?? this.pool.datasetPath(ds);
  }

  private file(uuid: string, meta?: PoolMeta): string {
    return join(this.zonepath(uuid, meta), 'config', 'vm.json');
  }

  /**
   * UUIDs of the VMs in this pool, with the phase each is in. Commands that look at many VMs read the
   * pool's metadata once and pass it along (`meta`).
   */
  phases(meta: PoolMeta = this.pool.meta()): Map<string, VmPhase> {
    const out = new Map<string, VmPhase>();
    const prefix = `${this.pool.name}/`;
    for (const [name, ds] of Object.entries(meta.datasets)) {
      const phase = ds.props[VM_PROP] as VmPhase | undefined;
      if (!phase || !name.startsWith(prefix)) continue;
      const uuid = name.slice(prefix.length);
      if (UUID.test(uuid)) out.set(uuid, phase);
    }
    return out;
  }

  /** One VM's phase, undefined if there is no such VM. */
  phaseOf(uuid: string, meta: PoolMeta = this.pool.meta()): VmPhase | undefined {
    if (!UUID.test(uuid)) return undefined;
    return meta.datasets[this.dataset(uuid)]?.props[VM_PROP] as VmPhase | undefined;
  }

  /** Complete VMs' UUIDs. */
  uuids(meta?: PoolMeta): string[] {
    return [...this.phases(meta)].filter(([, p]) => p === 'ready').map(([u]) => u);
  }

  exists(uuid: string): boolean {
    return this.phases().has(uuid);
  }

  read(uuid: string, meta?: PoolMeta): VmRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.file(uuid, meta), 'utf8')) as VmRecord;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
      throw err;
    }
  }

  write(vm: VmRecord): void {
    mkdirSync(join(this.zonepath(vm.uuid), 'config'), { recursive: true, mode: 0o700 });
    writeFileAtomicSync(this.file(vm.uuid), JSON.stringify(vm, null, 2) + '\n', 0o600);
  }

  async setPhase(uuid: string, phase: VmPhase): Promise<void> {
    await this.pool.set(this.dataset(uuid), { [VM_PROP]: phase });
  }

  /**
   * Remove VMs whose create or delete died halfway (their lock holder is gone); `beforeRemove` takes
   * away what else of the VM may exist (its zone) before its dataset goes.
   */
  async reconcile(
    beforeRemove?: (uuid: string) => Promise<void>,
    meta: PoolMeta = this.pool.meta(),
  ): Promise<string[]> {
    const removed: string[] = [];
    for (const [uuid, phase] of this.phases(meta)) {
      if (phase === 'ready' || lockHeld(uuid)) continue;
      await beforeRemove?.(uuid);
      await this.pool.destroy(this.dataset(uuid), { recursive: true });
      removed.push(uuid);
    }
    return removed;
  }
}
