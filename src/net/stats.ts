/**
 * Traffic counters of the VMs' NICs, read from sysfs (no program runs): each host end of a VM's veth
 * pair names its VM and interface in its alias. Counted as the VM sees them: what the host end
 * receives the VM sent.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseVmLinkAlias } from './names.ts';

export interface VnicCounters {
  /** The host end of the pair. */
  link: string;
  uuid: string;
  iface: string;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
}

const SYS = '/sys/class/net';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function vnicCounters(): VnicCounters[] {
  const out: VnicCounters[] = [];
  let names: string[];
  try {
    names = readdirSync(SYS);
  } catch {
    return out;
  }
  for (const link of names) {
    const vm = parseVmLinkAlias(read(join(SYS, link, 'ifalias')));
    if (!vm) continue;
    const stat = (f: string) => Number(read(join(SYS, link, 'statistics', f)) ?? 0);
    out.push({
      link,
      uuid: vm.uuid,
      iface: vm.iface,
      rxBytes: stat('tx_bytes'),
      txBytes: stat('rx_bytes'),
      rxPackets: stat('tx_packets'),
      txPackets: stat('rx_packets'),
    });
  }
  return out;
}
