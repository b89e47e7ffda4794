/**
 * Brand drivers, one per brand: the registry maps each brand's info record to the driver that runs
 * its VMs. A brand added later (a kvm driver that boots QEMU) replaces its entry here and nothing else.
 * @module
 */
import { BRANDS, getBrand, type BrandInfo } from './info.ts';
import { QemuBrand } from './qemu.ts';
import type { BrandDriver } from './types.ts';
import { ZoneBrand } from './zone.ts';

export * from './info.ts';
export * from './types.ts';
export {
  GUEST_SOCKETS,
  guestSocket,
  qemuArgv,
  qmp,
  tapName,
  tcgCacheMiB,
  vncAddress,
  vncOffer,
} from './qemu.ts';

/** Which driver runs a brand's VMs: zone brands run as zones; HVM brands as QEMU inside a zone. */
const driverFor = (info: BrandInfo): BrandDriver => (info.hvm ? new QemuBrand(info) : new ZoneBrand(info));

const drivers = new Map<string, BrandDriver>(Object.values(BRANDS).map((b) => [b.name, driverFor(b)]));

/** The driver of a known brand, or undefined. */
export function brandDriver(name: unknown): BrandDriver | undefined {
  const info = getBrand(name);
  return info ? drivers.get(info.name) : undefined;
}
