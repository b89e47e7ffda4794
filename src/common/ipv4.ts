/**
 * IPv4 addresses as numbers and back (subnets, ranges, masks), for the subsystems that reckon with
 * them: the payload rules, host networks, the cloud's address allocation.
 * @module
 */

/** `10.88.0.1` → 173539329 (an unsigned 32-bit number); the address is not checked. */
export function ipv4ToNumber(addr: string): number {
  return addr.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** 173539329 → `10.88.0.1`. */
export function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}
