/**
 * What differs between brands, behind one interface: how a VM of the brand becomes something that
 * runs (its zone spec), how it boots, halts and reboots, what `vmadm info` and the console reach, and
 * the points in its life where other subsystems (networking, metadata) attach. Shared code asks a
 * brand's driver or its info record; it never compares brand names.
 * @module
 */
import type { ZoneMount, ZoneRuntime, ZoneSpec } from '../../zones/index.ts';
import type { Operation } from '../../common/index.ts';
import type { VmRecord } from '../store.ts';
import type { BrandInfo } from './info.ts';

/**
 * A subsystem that takes part in every VM's life (networking makes and removes its links, metadata
 * its socket). Each step is optional; a step that throws fails the operation it is part of, and what
 * was already done is undone as that operation undoes its own work.
 */
export interface LifecycleHook {
  readonly name: string;
  /**
   * Before a create or an update changes anything: refuse the VM as it would be (`vm`) with the error
   * SmartOS gives (an unknown nic tag, a MAC or IP another VM has). `peers` are the host's other VMs.
   */
  check?(vm: VmRecord, ctx: CheckContext): Promise<void>;
  /** What the subsystem mounts into the VM's zone (metadata: its control folder). */
  mounts?(vm: VmRecord, ctx: HookContext & { brand: BrandInfo }): ZoneMount[];
  /** Before the VM's zone is made: what it needs must exist by then (its bridges, its sockets). */
  prepare?(vm: VmRecord, ctx: HookContext): Promise<void>;
  /**
   * Once its namespaces exist and before its init runs (`pid` is that init): what needs them (its
   * NICs and their addresses, a server for it).
   */
  attach?(vm: VmRecord, ctx: HookContext & { pid: number }): Promise<void>;
  /** A running VM's manifest changed (`vmadm update`): apply what takes effect at once. */
  update?(vm: VmRecord, ctx: HookContext & { old: VmRecord }): Promise<void>;
  /** After it halted (by a stop, a reboot's first half, or on its own). */
  detach?(vm: VmRecord, ctx: HookContext): Promise<void>;
  /** When the VM is deleted: whatever it still holds on the host. */
  release?(vm: VmRecord, ctx: HookContext): Promise<void>;
  /**
   * Take away what VMs that do not run left behind (a command killed halfway, a zone that ended on
   * its own). `live` says whether a VM runs or a command is at work on it.
   */
  reconcile?(live: (uuid: string) => boolean): Promise<void>;
}

export interface CheckContext {
  /** The VM before the change (updates). */
  readonly old?: VmRecord;
  /** The host's VMs (all pools). */
  peers(): Promise<VmRecord[]>;
}

export interface HookContext {
  /** Where the VM's dataset is on the host. */
  readonly zonepath: string;
  readonly op?: Operation;
  /** The VM's brand, when the step is part of its boot. */
  readonly brand?: BrandInfo;
}

/** The hooks every VM's lifecycle runs, in the order they were added (release in reverse). */
export class LifecycleHooks {
  private readonly list: LifecycleHook[] = [];

  add(hook: LifecycleHook): void {
    if (this.list.some((h) => h.name === hook.name)) throw new Error(`hook ${hook.name} added twice`);
    this.list.push(hook);
  }

  async check(vm: VmRecord, ctx: CheckContext): Promise<void> {
    for (const h of this.list) await h.check?.(vm, ctx);
  }

  async update(vm: VmRecord, ctx: HookContext & { old: VmRecord }): Promise<void> {
    for (const h of this.list) await h.update?.(vm, ctx);
  }

  /** Every hook's reconcile runs even when one fails. */
  async reconcile(live: (uuid: string) => boolean): Promise<void> {
    await this.each(this.list, (h) => h.reconcile?.(live));
  }

  mounts(vm: VmRecord, ctx: HookContext & { brand: BrandInfo }): ZoneMount[] {
    return this.list.flatMap((h) => h.mounts?.(vm, ctx) ?? []);
  }

  async prepare(vm: VmRecord, ctx: HookContext): Promise<void> {
    for (const h of this.list) await h.prepare?.(vm, ctx);
  }

  async attach(vm: VmRecord, ctx: HookContext & { pid: number }): Promise<void> {
    for (const h of this.list) await h.attach?.(vm, ctx);
  }

  /** Every hook's detach runs even when one fails; the first failure is thrown at the end. */
  async detach(vm: VmRecord, ctx: HookContext): Promise<void> {
    await this.each([...this.list].reverse(), (h) => h.detach?.(vm, ctx));
  }

  async release(vm: VmRecord, ctx: HookContext): Promise<void> {
    await this.each([...this.list].reverse(), (h) => h.release?.(vm, ctx));
  }

  private async each(hooks: LifecycleHook[], fn: (h: LifecycleHook) => Promise<void> | undefined) {
    let first: Error | undefined;
    for (const h of hooks) {
      try {
        await fn(h);
      } catch (err) {
        first ??= err instanceof Error ? err : new Error(`hook ${h.name}: ${String(err)}`);
      }
    }
    if (first !== undefined) throw first;
  }
}

/** What a brand driver works with when it boots or halts a VM. */
export interface BrandContext {
  /** The runtime the VM was made with. */
  readonly runtime: ZoneRuntime;
  readonly zonepath: string;
  readonly hooks: LifecycleHooks;
  readonly op?: Operation;
  /** The file that holds the data of volume dataset `name` of the VM's pool (HVM disks). */
  readonly volumeFile?: (name: string) => string;
  /** For this boot only (`vmadm start UUID order=cd,once=d cdrom=PATH,MODEL`): HVM brands. */
  readonly bootOnce?: BootOnce;
}

/** What one `vmadm start` adds to an HVM guest's boot. */
export interface BootOnce {
  /** QEMU `-boot` options (`order=cd,once=d`). */
  boot?: string;
  /** Extra ISOs (read-only) and disks, as `{ path, model }`. */
  cdroms?: { path: string; model: string }[];
  disks?: { path: string; model: string }[];
}

export interface HaltOptions {
  /** Kill at once, without asking the VM's init. */
  force?: boolean;
  /** How long init gets before everything is killed (default 60 s). */
  timeoutMs?: number;
}

export interface BrandDriver {
  /** The brand's description: what the schema, list and imgadm ask of it. */
  readonly info: BrandInfo;
  /** Its VMs can boot on this host (HVM brands: not until their driver runs QEMU). */
  readonly bootable: boolean;
  /** A VM's dataset is a clone of its image's `@final` (zone brands), not an empty dataset with disks. */
  readonly rootFromImage: boolean;
  /** `vmadm reprovision` can put the VM on another image. */
  readonly reprovisionable: boolean;
  /** The zone a VM runs as. */
  zoneSpec(vm: VmRecord, zonepath: string): ZoneSpec;
  /** Boot the stopped VM; resolves with its init's PID once it runs. */
  boot(vm: VmRecord, ctx: BrandContext): Promise<number>;
  /** Halt the running VM: the brand's own way (its halt command or signal), or at once with `force`. */
  halt(vm: VmRecord, ctx: BrandContext, opts?: HaltOptions): Promise<void>;
  /** `vmadm info`: what the hypervisor says of the VM; zones have none, and say so. */
  vmInfo(vm: VmRecord, ctx: BrandContext, types: readonly string[]): Promise<Record<string, unknown>>;
  /**
   * The VM's console: the runtime container whose terminal it is (zones), or an absolute path, the
   * socket of the guest's serial console (HVM brands).
   */
  consoleTarget(vm: VmRecord, zonepath?: string): string;
  /** `vmadm sysrq` (HVM brands). */
  sysrq?(vm: VmRecord, ctx: BrandContext, kind: string): Promise<void>;
}
