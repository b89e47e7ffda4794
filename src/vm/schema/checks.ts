/**
 * The create/update errors of smartos.md §3.2 that need no host state, other than the NIC and memory
 * ones: payload structure, disks, routes, and single-property rules. Each check throws a PayloadError
 * with SmartOS's wording.
 * @module
 */
import type { BrandInfo } from '../brands/info.ts';
import { payloadError } from './errors.ts';
import { isAutoConfig, isCIDRv4, isIPv4 } from './ip.ts';
import type { Nic } from './nics.ts';
import { COMPOUND_PROPERTIES } from './payload-keys.ts';
import { PROPERTIES } from './properties.ts';
import type { Payload } from './types.ts';
import {
  COMPRESSION_TYPES,
  VGA_TYPES,
  isPlainObject,
  isValidRecordSize,
  normalizeMac,
  objectsOf,
} from './values.ts';

const has = (o: Readonly<Payload>, k: string): boolean => Object.hasOwn(o, k);
const inList = (list: readonly string[], v: unknown): boolean => typeof v === 'string' && list.includes(v);

/** `add_nics`, `update_disks`, `remove_filesystems`, ... must be arrays; `nics` and `add_nics` not both. */
export function checkStructure(payload: Readonly<Payload>): void {
  for (const prop of COMPOUND_PROPERTIES) {
    for (const field of [`add_${prop}`, `update_${prop}`, `remove_${prop}`]) {
      if (has(payload, field) && !Array.isArray(payload[field])) throw payloadError('NotAnArray', field);
    }
  }
  for (const prop of COMPOUND_PROPERTIES) {
    if (has(payload, prop) && has(payload, `add_${prop}`)) throw payloadError('BothGiven', prop);
  }
}

const stopped = (vm: Readonly<Payload>): boolean =>
  vm.state === 'stopped' || (vm.state === 'provisioning' && vm.zone_state === 'installed');

/** Fields of `update_disks` that may change while the VM runs. */
const LIVE_DISK_FIELDS = ['compression', 'path', 'refreservation'];

/**
 * Disk rules: state for updates (`old` = the VM), `path` only for cdroms or with `nocreate`,
 * `block_size`, `compression` and `model` values. Disks being added are `disks` on create
 * (`old` absent) and `add_disks` on update.
 */
export function checkDisks(payload: Readonly<Payload>, brand: BrandInfo, old?: Readonly<Payload>): void {
  if (old !== undefined) checkDiskState(payload, old);
  for (const disk of objectsOf(old === undefined ? payload.disks : payload.add_disks)) {
    if (has(disk, 'path') && disk.media !== 'cdrom' && disk.nocreate !== true)
      throw payloadError('DiskPathNeedsNocreate');
    if (has(disk, 'block_size') && !isValidRecordSize(disk.block_size)) {
      throw payloadError('InvalidBlockSize', disk.block_size);
    }
    if (has(disk, 'block_size') && has(disk, 'image_uuid')) throw payloadError('BlockSizeWithImage');
    if (has(disk, 'compression') && !inList(COMPRESSION_TYPES, disk.compression)) {
      throw payloadError('InvalidDiskCompression');
    }
    if (typeof disk.model !== 'string' || disk.model === '' || disk.model === 'undefined') {
      throw payloadError('MissingDiskModel', disk);
    }
    checkDiskModel(disk, brand);
  }
  for (const disk of old === undefined ? [] : objectsOf(payload.update_disks)) {
    if (disk.refreservation === 'auto') throw payloadError('RefreservationAuto');
    if (has(disk, 'compression') && !inList(COMPRESSION_TYPES, disk.compression)) {
      throw payloadError('InvalidDiskCompressionUpdate');
    }
    if (has(disk, 'block_size')) throw payloadError('BlockSizeChange');
    if (has(disk, 'model')) checkDiskModel(disk, brand);
  }
}

function checkDiskModel(disk: Readonly<Record<string, unknown>>, brand: BrandInfo): void {
  if (!inList(brand.diskModels, disk.model)) {
    throw payloadError('InvalidDiskModel', disk.model, brand.name, brand.diskModels);
  }
}

function checkDiskState(payload: Readonly<Payload>, vm: Readonly<Payload>): void {
  if (!stopped(vm)) {
    if (has(payload, 'add_disks') || has(payload, 'remove_disks')) {
      throw payloadError('DisksNeedStopped', vm.state, vm.zone_state);
    }
    const live = objectsOf(payload.update_disks).every((d) =>
      Object.keys(d).every((k) => LIVE_DISK_FIELDS.includes(k)),
    );
    if (!live) throw payloadError('DiskUpdateNeedsStopped', vm.state, vm.zone_state);
  }
  if (
    vm.state !== 'stopped' &&
    ['add_pci_devices', 'update_pci_devices', 'remove_pci_devices'].some((k) => has(payload, k))
  ) {
    throw payloadError('PciNeedsStopped', vm.state, vm.zone_state);
  }
}

/** Index of the NIC a link-local route names (`nics[N]` or `macs[<mac>]`), or why it names none. */
function routeNic(gw: string, nics: readonly Nic[]): { isNic: boolean; nic?: Nic } {
  const mac = /^macs\[(.+)\]$/.exec(gw);
  if (mac) {
    if (!/^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$/.test(mac[1]!)) return { isNic: false };
    const want = normalizeMac(mac[1]!);
    const nic = nics.find((n) => typeof n.mac === 'string' && normalizeMac(n.mac) === want);
    return nic === undefined ? { isNic: true } : { isNic: true, nic };
  }
  const idx = /^nics\[(\d+)\]$/.exec(gw);
  if (!idx) return { isNic: false };
  const nic = nics[Number(idx[1])];
  return nic === undefined ? { isNic: true } : { isNic: true, nic };
}

const hasStaticIp = (nic: Nic | undefined): boolean =>
  nic !== undefined && Array.isArray(nic.ips) && (nic.ips as unknown[]).some((ip) => !isAutoConfig(ip));

/**
 * `routes` (create) and `set_routes`/`remove_routes` (update): destinations are IPv4 addresses or
 * CIDRs, gateways IPv4 addresses or `nics[N]`/`macs[<mac>]` naming a NIC with a static address.
 * `nics` = the NICs as they will be after the payload (from `checkNics`).
 */
export function checkRoutes(payload: Readonly<Payload>, nics: readonly Nic[], old?: Readonly<Payload>): void {
  const result: Record<string, unknown> = { ...(isPlainObject(old?.routes) ? old.routes : {}) };
  for (const key of ['routes', 'set_routes']) {
    const routes = payload[key];
    if (!isPlainObject(routes)) continue;
    for (const [dst, gw] of Object.entries(routes)) {
      if (!isIPv4(dst) && !isCIDRv4(dst)) throw payloadError('InvalidRouteDestination', dst);
      if (typeof gw !== 'string' || !isIPv4(gw)) {
        const target = routeNic(String(gw), nics);
        if (!hasStaticIp(target.nic)) {
          throw payloadError(target.isNic ? 'RouteToMissingNic' : 'InvalidRouteGateway', gw);
        }
      }
      result[dst] = gw;
    }
  }
  for (const dst of Array.isArray(payload.remove_routes) ? payload.remove_routes : [])
    delete result[String(dst)];
  for (const gw of Object.values(result)) {
    if ((typeof gw !== 'string' || !isIPv4(gw)) && !hasStaticIp(routeNic(String(gw), nics).nic)) {
      throw payloadError('RouteToMissingNic', gw);
    }
  }
}

/**
 * Single-property rules: `vga`, `vnc_password` length, `zfs_*_recsize` (after 0/'' became the
 * default), `zfs_*_compression` and `zfs_*_limit`.
 */
export function checkProperties(payload: Readonly<Payload>): void {
  if (has(payload, 'vga') && !inList(VGA_TYPES, payload.vga)) throw payloadError('InvalidVga', payload.vga);
  if (typeof payload.vnc_password === 'string' && payload.vnc_password.length > 8) {
    throw payloadError('VncPasswordTooLong');
  }
  for (const prop of ['zfs_root_recsize', 'zfs_data_recsize']) {
    if (has(payload, prop) && !isValidRecordSize(payload[prop]))
      throw payloadError('InvalidRecsize', prop, payload[prop]);
  }
  for (const prop of ['zfs_root_compression', 'zfs_data_compression']) {
    const choices = PROPERTIES[prop]!.choices ?? [];
    if (has(payload, prop) && !inList(choices, payload[prop]))
      throw payloadError('InvalidCompression', payload[prop]);
  }
  for (const prop of ['zfs_filesystem_limit', 'zfs_snapshot_limit']) {
    const v = payload[prop];
    if (v !== undefined && v !== 'none' && !(Number(v) >= 0)) throw payloadError('InvalidLimit', prop, v);
  }
}
