/**
 * Names of what networking makes on the host, and the marks (link aliases) that say whose it is, so
 * that everything can be found again after a crash: a VM's NIC ends `zx<9 hex of its UUID>n<N>`, a
 * nic tag's bridge the tag's own name (or `zxt<hash>` when that does not fit IFNAMSIZ), a VLAN's
 * bridge on a tag `<bridge>v<vid>`, a VM's nftables table `zx_<UUID hex>`.
 * @module
 */
import { createHash } from 'node:crypto';

/** Linux link names: at most 15 bytes (IFNAMSIZ less the NUL). */
export const IFNAMSIZ = 15;

const hex = (uuid: string) => uuid.replace(/-/g, '');
const hash = (s: string, n: number) => createHash('sha1').update(s).digest('hex').slice(0, n);

/** The host end of a VM NIC's veth pair: the NIC's number from its interface name, else its place. */
export function hostLinkName(uuid: string, iface: string, index: number): string {
  const m = /(\d+)$/.exec(iface);
  const n = m && m[1]!.length <= 3 ? m[1]! : String(index);
  return `zx${hex(uuid).slice(0, 9)}n${n}`;
}

/** The IFB device that shapes what the VM sends on that NIC (tc cannot police ingress here). */
export function ifbName(hostLink: string): string {
  return `zb${hostLink.slice(2)}`;
}

/** The alias that marks a VM's host link: `zonix:vm:<uuid>:<interface>`. */
export function vmLinkAlias(uuid: string, iface: string): string {
  return `zonix:vm:${uuid}:${iface}`;
}

export function parseVmLinkAlias(alias: string | undefined): { uuid: string; iface: string } | undefined {
  const m = /^zonix:vm:([0-9a-f-]{36}):(\S+)$/.exec(alias ?? '');
  return m ? { uuid: m[1]!, iface: m[2]! } : undefined;
}

/** The bridge of a nic tag (vlan 0) or of one VLAN on it. */
export function bridgeName(tag: string, vlan = 0): string {
  const base = tag.length <= IFNAMSIZ ? tag : `zxt${hash(tag, 8)}`;
  if (vlan === 0) return base;
  const v = `${base}v${vlan}`;
  return v.length <= IFNAMSIZ ? v : `zxt${hash(tag, 6)}v${vlan}`;
}

/** The alias of a tag's bridge: `zonix:tag:<name>` (`:vlan:<vid>` for a VLAN's). */
export function bridgeAlias(tag: string, vlan = 0): string {
  return vlan === 0 ? `zonix:tag:${tag}` : `zonix:tag:${tag}:vlan:${vlan}`;
}

export function parseBridgeAlias(alias: string | undefined): { tag: string; vlan: number } | undefined {
  const m = /^zonix:tag:([A-Za-z0-9_]+)(?::vlan:(\d+))?$/.exec(alias ?? '');
  return m ? { tag: m[1]!, vlan: Number(m[2] ?? 0) } : undefined;
}

/** A VM's nftables table (bridge family: anti-spoofing and, later, its firewall). */
export function vmTableName(uuid: string): string {
  return `zx_${hex(uuid)}`;
}

export function uuidOfTable(name: string): string | undefined {
  const m = /^zx_([0-9a-f]{32})$/.exec(name);
  if (!m) return undefined;
  const h = m[1]!;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
