/**
 * Conflicts with other VMs on the host, as SmartOS checks them at create and update: a MAC that any
 * other VM has, or the same address (the identical CIDR string) on the same nic tag and VLAN. VMs that
 * failed and do not run are not counted.
 * @module
 */
import { ZonixError } from '../common/index.ts';
import { nicsOf, type NetVm } from './vnics.ts';

export const conflictError = () =>
  new ZonixError('EEXIST', 'Conflict detected with another vm, please check the MAC, IP, and VRID');

export function hasConflict(vm: NetVm, peers: readonly NetVm[]): boolean {
  const mine = nicsOf(vm);
  if (mine.length === 0) return false;
  const macs = new Set(mine.map((n) => n.mac));
  const ips = new Set<string>();
  for (const n of mine)
    for (const ip of n.ips) if (ip !== 'dhcp' && ip !== 'addrconf') ips.add(`${n.tag}|${n.vlan}|${ip}`);
  for (const p of peers) {
    if (p.uuid === vm.uuid) continue;
    if (p.state === 'failed') continue;
    for (const n of nicsOf(p)) {
      if (macs.has(n.mac)) return true;
      for (const ip of n.ips) if (ips.has(`${n.tag}|${n.vlan}|${ip}`)) return true;
    }
  }
  return false;
}
