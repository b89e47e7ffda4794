/**
 * Where VMs live: each VM is the dataset `<pool>/<uuid>` (the zonepath: `root/` is the zone's root,
 * `config/vm.json` its manifest, written atomically). A user property on the dataset says whether
 * the VM is complete; a create or delete that died halfway is finished (removed) by the next command
 * that looks, so a VM is either whole or gone. Nothing outside the pool is needed to list VMs.
 * @module
 */
import {
  appendFileSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  utimesSync,
} from 'node:fs';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../common/index.ts';
import { acquireLock, processStartTime, type FileLock } from '../common/index.ts';
import { runPath } from '../platform/index.ts';
import type { Pool } from '../storage/index.ts';
import type { PoolMeta } from '../storage/index.ts';
import { readManifest, readManifestIn, vmPhases, zonepathOf } from './view.ts';

/** On the VM's dataset: `creating`, `ready` or `deleting`. */
export const VM_PROP = 'com.zonix:vm';
/** A VM UUID as vmadm takes it (lower-case). */
export const VM_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export type VmRecord = Record<string, unknown> & { uuid: string };

export type VmPhase = 'creating' | 'ready' | 'deleting';

/** Serialise operations on one VM across every Zonix process; operations on other VMs go on. */
export function lockVm(uuid: string, intent: string): Promise<FileLock> {
  mkdirSync(runPath('vm-locks'), { recursive: true });
  return acquireLock(runPath('vm-locks', `${uuid}.lock`), { intent, timeoutMs: 300_000 });
}

/**
 * What live commands are doing to which VM: the intent of every held VM lock (a released lock is
 * gone, so this is one readdir and a read per busy VM).
 */
export function busyVms(): Map<string, string> {
  const out = new Map<string, string>();
  let names: string[];
  try {
    names = readdirSync(runPath('vm-locks'));
  } catch {
    return out;
  }
  for (const n of names) {
    if (!n.endsWith('.lock')) continue;
    try {
      const h = JSON.parse(readFileSync(runPath('vm-locks', n), 'utf8')) as {
        pid: number;
        start: string;
        intent?: unknown;
      };
      if (processStartTime(h.pid) === h.start && typeof h.intent === 'string')
        out.set(n.slice(0, -'.lock'.length), h.intent);
    } catch {
      /* released meanwhile, or torn */
    }
  }
  return out;
}

/**
 * Free the locks of commands that died holding them (the VM's next command would take them over
 * anyway): while one is left, the list cache is not used. The dead command may have written its
 * manifest without announcing it (see VmStore.write), so this announces it on its behalf.
 */
export async function freeDeadVmLocks(): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(runPath('vm-locks'));
  } catch {
    return;
  }
  for (const n of names) {
    const uuid = n.endsWith('.lock') ? n.slice(0, -'.lock'.length) : undefined;
    if (uuid === undefined || lockHeld(uuid)) continue;
    try {
      const lock = await acquireLock(runPath('vm-locks', n), { timeoutMs: 0, onStale: () => announce(uuid) });
      lock.release();
    } catch {
      /* a live command took it meanwhile */
    }
  }
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

/** Where a VM's changes are announced (`vmadm events` watches it): one empty file per VM, touched. */
export const changesDir = (): string => runPath('vm-changes');

/** Grows by a byte at every VM change: its size is the host's VM generation (see VmListCache). */
export const generationFile = (): string => join(changesDir(), '.generation');

/** Tell watchers that a VM changed (a touch, ~10 µs); never fails the operation that changed it. */
function announce(uuid: string, gone = false): void {
  const file = join(changesDir(), uuid);
  try {
    try {
      appendFileSync(generationFile(), '.');
    } catch {
      mkdirSync(changesDir(), { recursive: true });
      appendFileSync(generationFile(), '.');
    }
    try {
      const now = new Date();
      utimesSync(file, now, now);
    } catch {
      mkdirSync(changesDir(), { recursive: true });
      closeSync(openSync(file, 'a'));
    }
    if (gone) unlinkSync(file);
  } catch {
    /* no watcher can be told; the change itself stands */
  }
}

export class VmStore {
  constructor(readonly pool: Pool) {}

  dataset(uuid: string): string {
    return `${this.pool.name}/${uuid}`;
  }

  /** The zonepath: where the VM's dataset is reachable on the host. */
  zonepath(uuid: string, meta: PoolMeta = this.pool.meta()): string {
    return zonepathOf(this.pool, meta, uuid);
  }

  private file(uuid: string, meta?: PoolMeta): string {
    return join(this.zonepath(uuid, meta), 'config', 'vm.json');
  }

  /**
   * UUIDs of the VMs in this pool, with the phase each is in. Commands that look at many VMs read the
   * pool's metadata once and pass it along (`meta`).
   */
  phases(meta: PoolMeta = this.pool.meta()): Map<string, VmPhase> {
    return vmPhases(this.pool, meta);
  }

  /** One VM's phase, undefined if there is no such VM. */
  phaseOf(uuid: string, meta: PoolMeta = this.pool.meta()): VmPhase | undefined {
    if (!VM_UUID.test(uuid)) return undefined;
    return meta.datasets[this.dataset(uuid)]?.props[VM_PROP] as VmPhase | undefined;
  }

  /** Complete VMs' UUIDs. */
  uuids(meta?: PoolMeta): string[] {
    return [...this.phases(meta)].filter(([, p]) => p === 'ready').map(([u]) => u);
  }

  exists(uuid: string): boolean {
    return this.phases().has(uuid);
  }

  read(uuid: string, meta: PoolMeta = this.pool.meta()): VmRecord | undefined {
    return readManifestIn(this.zonepath(uuid, meta));
  }

  /** The manifest of a complete VM; undefined when there is none (or it is half-made or half-deleted). */
  readReady(uuid: string, meta: PoolMeta = this.pool.meta()): VmRecord | undefined {
    return readManifest(this.pool, meta, uuid);
  }

  /** Write the manifest atomically and durably, then tell watchers. */
  async write(vm: VmRecord, meta?: PoolMeta): Promise<void> {
    const zonepath = this.zonepath(vm.uuid, meta);
    await mkdir(join(zonepath, 'config'), { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(zonepath, 'config', 'vm.json'), JSON.stringify(vm, null, 2) + '\n', 0o600);
    announce(vm.uuid);
  }

  async setPhase(uuid: string, phase: VmPhase): Promise<void> {
    await this.pool.set(this.dataset(uuid), { [VM_PROP]: phase });
    announce(uuid, phase === 'deleting');
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
