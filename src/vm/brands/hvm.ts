/**
 * The HVM brands (kvm, bhyve) until their driver boots QEMU inside a zone: VMs are validated and
 * stored, with an empty dataset for their disks, and say clearly that they cannot boot yet.
 * @module
 */
import type { ZoneSpec } from '../../zones/index.ts';
import { VmError } from '../errors.ts';
import type { VmRecord } from '../store.ts';
import type { BrandInfo } from './info.ts';
import type { BrandDriver } from './types.ts';

export class StoredOnlyBrand implements BrandDriver {
  readonly bootable = false;
  readonly rootFromImage = false;
  readonly reprovisionable = false;

  constructor(readonly info: BrandInfo) {}

  private unsupported(vm: VmRecord, what: string): VmError {
    return new VmError(
      'ENOTSUP',
      `Cannot ${what} VM ${vm.uuid}: ${this.info.name} VMs cannot boot on this host yet`,
    );
  }

  zoneSpec(vm: VmRecord): ZoneSpec {
    throw this.unsupported(vm, 'start');
  }

  async boot(vm: VmRecord): Promise<number> {
    throw this.unsupported(vm, 'start');
  }

  /** Nothing of it runs, so there is nothing to halt. */
  async halt(): Promise<void> {}

  /** SmartOS's message for an HVM guest that is not running (none runs yet). */
  async vmInfo(vm: VmRecord): Promise<Record<string, unknown>> {
    throw new VmError(
      'ENOTSUP',
      `Unable to get VM info for VM ${vm.uuid}: info is not supported for ${this.info.name} VMs that are not running`,
    );
  }

  consoleTarget(vm: VmRecord): string {
    return vm.uuid;
  }
}
