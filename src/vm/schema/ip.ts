/**
 * Address checks the payload rules need (SmartOS's `ip.js` semantics, on `node:net`).
 * @module
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';

/** `dhcp` and `addrconf`: NIC addresses the guest configures itself. */
export const AUTOCONFIG = ['dhcp', 'addrconf'] as const;

export function isAutoConfig(ip: unknown): boolean {
  return ip === 'dhcp' || ip === 'addrconf';
}

function ipv4ToNumber(addr: string): number {
  return addr.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** A dotted IPv4 mask made of leading ones only (`255.255.255.0`). */
export function isIPv4Netmask(mask: unknown): boolean {
  if (typeof mask !== 'string' || !isIPv4(mask)) return false;
  const inverse = ~ipv4ToNumber(mask) >>> 0;
  return ((inverse + 1) & inverse) === 0;
}

/** Prefix length of a valid IPv4 netmask. */
export function netmaskToBits(mask: string): number {
  let inverse = ~ipv4ToNumber(mask) >>> 0;
  let bits = 32;
  while (inverse !== 0) {
    inverse >>>= 1;
    bits--;
  }
  return bits;
}

/** IPv4 netmask for a prefix length. */
export function bitsToNetmask(bits: number): string {
  const n = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

function splitPrefix(cidr: string): [string, number] | undefined {
  const parts = cidr.split('/');
  if (parts.length !== 2) return undefined;
  return [parts[0]!, Number.parseInt(parts[1]!, 10)];
}

/** `a.b.c.d/n` with n in 8..32 (the range SmartOS accepts for NIC addresses and routes). */
export function isCIDRv4(cidr: string): boolean {
  const p = splitPrefix(cidr);
  return p !== undefined && isIPv4(p[0]) && p[1] >= 8 && p[1] <= 32;
}

/** An IPv4 CIDR (/8–/32) or an IPv6 CIDR (/0–/128). */
export function isCIDR(cidr: string): boolean {
  const p = splitPrefix(cidr);
  if (p === undefined) return false;
  if (isIPv4(p[0])) return p[1] >= 8 && p[1] <= 32;
  return isIPv6(p[0]) && p[1] >= 0 && p[1] <= 128;
}

/** What `nics.*.ips` entries may be: a CIDR, `dhcp` or `addrconf`. */
export function isNicAddress(ip: unknown): boolean {
  return typeof ip === 'string' && (isAutoConfig(ip) || isCIDR(ip));
}

/** The address part of `ip/prefix`. */
export function addressOf(ip: string): string {
  return ip.split('/')[0]!;
}

/** An entry of `allowed_ips`: an address, or a CIDR with prefix 1–32 (IPv4) or 1–128 (IPv6). */
export function isAllowedIp(ip: string): boolean {
  if (isIP(ip) !== 0) return true;
  const parts = ip.split('/');
  if (parts.length !== 2) return false;
  const bits = Number(parts[1]);
  if (isIPv4(parts[0]!)) return bits >= 1 && bits <= 32;
  if (isIPv6(parts[0]!)) return bits >= 1 && bits <= 128;
  return false;
}
