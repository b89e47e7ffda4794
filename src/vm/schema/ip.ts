/**
 * Address checks the payload rules need (SmartOS's `ip.js` semantics). The address grammar is the
 * one `node:net` uses (its isIP regular expressions), written here because loading `node:net`
 * brings Node's whole stream stack, milliseconds that `vmadm list` (which reads the schema's columns
 * but checks no address) would pay for nothing. A test holds them to `node:net`.
 * @module
 */
import { ipv4ToNumber, numberToIpv4 } from '../../common/index.ts';

const V4_SEG = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const V4 = `(?:${V4_SEG}\\.){3}${V4_SEG}`;
const V6_SEG = '(?:[0-9a-fA-F]{1,4})';
const IPV4_RE = new RegExp(`^${V4}$`);
const IPV6_RE = new RegExp(
  '^(?:' +
    `(?:${V6_SEG}:){7}(?:${V6_SEG}|:)|` +
    `(?:${V6_SEG}:){6}(?:${V4}|:${V6_SEG}|:)|` +
    `(?:${V6_SEG}:){5}(?::${V4}|(?::${V6_SEG}){1,2}|:)|` +
    `(?:${V6_SEG}:){4}(?:(?::${V6_SEG}){0,1}:${V4}|(?::${V6_SEG}){1,3}|:)|` +
    `(?:${V6_SEG}:){3}(?:(?::${V6_SEG}){0,2}:${V4}|(?::${V6_SEG}){1,4}|:)|` +
    `(?:${V6_SEG}:){2}(?:(?::${V6_SEG}){0,3}:${V4}|(?::${V6_SEG}){1,5}|:)|` +
    `(?:${V6_SEG}:){1}(?:(?::${V6_SEG}){0,4}:${V4}|(?::${V6_SEG}){1,6}|:)|` +
    `(?::(?:(?::${V6_SEG}){0,5}:${V4}|(?::${V6_SEG}){1,7}|:))` +
    ')(?:%[0-9a-zA-Z-.:]{1,})?$',
);

export const isIPv4 = (s: string): boolean => IPV4_RE.test(s);
export const isIPv6 = (s: string): boolean => IPV6_RE.test(s);
/** 4 or 6 for an IPv4 or IPv6 address, else 0 (as `net.isIP`). */
export const isIP = (s: string): number => (isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0);

/** `dhcp` and `addrconf`: NIC addresses the guest configures itself. */
export const AUTOCONFIG = ['dhcp', 'addrconf'] as const;

export function isAutoConfig(ip: unknown): boolean {
  return ip === 'dhcp' || ip === 'addrconf';
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
  return numberToIpv4(bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
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
