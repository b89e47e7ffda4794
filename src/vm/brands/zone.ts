/**
 * The OS brands (joyent, joyent-minimal, builder, lx): a VM is a zone, its root a clone of its image,
 * run by the OCI runtime it was made with under conmon. What differs among them (halt signal or
 * command, image types, tmpfs) is in their info records.
 * @module
 */
import type { ZoneSpec } from '../../zones/index.ts';
import { VmError } from '../errors.ts';
import type { VmRecord } from '../store.ts';
import { startZone, stopZone, zoneSpecFor } from '../zone.ts';
import type { BrandInfo } from './info.ts';
import type { BrandContext, BrandDriver, HaltOptions } from './types.ts';

export class ZoneBrand implements BrandDriver {
  readonly bootable = true;
  readonly rootFromImage = true;
  readonly reprovisionable = true;

  constructor(readonly info: BrandInfo) {}

  zoneSpec(vm: VmRecord, zonepath: string): ZoneSpec {
    return zoneSpecFor(vm, zonepath);
  }

  async boot(vm: VmRecord, ctx: BrandContext): Promise<number> {
    return bootZone(this.info, vm, ctx, () => this.zoneSpec(vm, ctx.zonepath));
  }

  async halt(vm: VmRecord, ctx: BrandContext, opts: HaltOptions = {}): Promise<void> {
    await stopZone(ctx.runtime, vm.uuid, {
      ...opts,
      haltSignal: this.info.haltSignal,
      ...(this.info.haltCommand ? { haltCommand: this.info.haltCommand } : {}),
    });
    await ctx.hooks.detach(vm, ctx);
  }

  /** `vmadm info` talks to a hypervisor; a zone has none. */
  async vmInfo(vm: VmRecord): Promise<Record<string, unknown>> {
    throw new VmError(
      'ENOTSUP',
      `Unable to get VM info for VM ${vm.uuid}: info is not supported for ${this.info.name} VMs`,
    );
  }

  consoleTarget(vm: VmRecord): string {
    return vm.uuid;
  }
}

/**
 * Boot a VM's zone from the spec its brand makes, with what the hooks mount, prepare and attach;
 * resolves to its init's PID. Every brand's boot goes through here (zones, and HVM guests' QEMU).
 */
export async function bootZone(
  info: BrandInfo,
  vm: VmRecord,
  ctx: BrandContext,
  makeSpec: () => ZoneSpec | Promise<ZoneSpec>,
): Promise<number> {
  try {
    const hctx = { ...ctx, brand: info };
    const spec = await makeSpec();
    spec.mounts = [...(spec.mounts ?? []), ...ctx.hooks.mounts(vm, hctx)];
    return await startZone(ctx.runtime, vm, ctx.zonepath, {
      spec,
      prepare: () => ctx.hooks.prepare(vm, hctx),
      attach: (pid) => ctx.hooks.attach(vm, { ...hctx, pid }),
    });
  } catch (err) {
    // A boot that failed halfway leaves no zone and nothing of the hooks' behind.
    await ctx.runtime.delete(vm.uuid, { force: true }).catch(() => undefined);
    await ctx.hooks.detach(vm, ctx).catch(() => undefined);
    throw err;
  }
}
