/**
 * Value checks and fixed value sets shared by the table, the validator and the normalisers.
 * @module
 */
import { isIP } from './ip.ts';

/** Lower-case only, as SmartOS's `isUUID`. */
export const UUID_RE = /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/;

export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

export const COMPRESSION_TYPES = [
  'on',
  'off',
  'gzip',
  ...Array.from({ length: 9 }, (_, i) => `gzip-${i + 1}`),
  'lz4',
  'lzjb',
  'zle',
] as const;

export const VGA_TYPES = ['cirrus', 'std', 'vmware', 'qxl', 'xenfb'] as const;

export const BOOTROMS = ['bios', 'uefi'] as const;

/** `max_swap` never goes below this many MiB. */
export const MINIMUM_MAX_SWAP = 256;

/** `max_msg_ids`, `max_sem_ids` and `max_shm_ids` of a new VM. */
export const DEFAULT_IPC_IDS = 4096;

export const DEFAULT_RECSIZE = 131072;

export function isUUID(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

/** `"true"`/`"false"` to booleans; anything else unchanged. */
export function fixBoolean(value: unknown): unknown {
  if (value === 'true') return true;
  if (value === 'false') return false;
  return value;
}

/** Like `fixBoolean`, and also 1/0 and `"1"`/`"0"`. */
export function fixBooleanLoose(value: unknown): unknown {
  if (value === 'true' || value === '1' || value === 1) return true;
  if (value === 'false' || value === '0' || value === 0) return false;
  return value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The plain-object entries of an array (anything else gives none). */
export function objectsOf(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isPlainObject) : [];
}

export function isPowerOf2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** ZFS record and volume block sizes: a power of 2 from 512 to 131072. */
export function isValidRecordSize(n: unknown): boolean {
  return typeof n === 'number' && n >= 512 && n <= 131072 && isPowerOf2(n);
}

/** `resolvers` entries: any IPv4 or IPv6 address. */
export function isResolver(value: string | number): boolean {
  return typeof value === 'string' && isIP(value) !== 0;
}

/** zone attribute values such as `internal_metadata_namespaces` entries. */
export function isAttrValue(value: string | number): boolean {
  return /^[a-zA-Z0-9\-._]+$/.test(String(value));
}

/**
 * A MAC address: six groups of one or two hex digits separated by `:` (SmartOS also accepts what its
 * `macaddr.parse` does, but then requires only hex digits and colons, which leaves this form).
 */
export function isMacAddress(value: string | number): boolean {
  return typeof value === 'string' && /^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$/.test(value);
}

/** `01:2:3:4:5:6` → `01:02:03:04:05:06`, lower case. */
export function normalizeMac(mac: string): string {
  return mac
    .split(':')
    .map((o) => o.padStart(2, '0').toLowerCase())
    .join(':');
}

/** DHCP client identifiers: `0x` and an even-length hex string, at most 512 characters. */
export function isClientId(value: string | number): boolean {
  return (
    typeof value === 'string' &&
    /^0x[0-9a-fA-F]+$/.test(value) &&
    value.length % 2 === 0 &&
    value.length <= 512
  );
}

/** bhyve `guest_block_size`: `"512"` or `"512/4096"`, powers of 2. */
export function isBhyveSectorSize(value: string | number): boolean {
  const sizes = String(value).split('/');
  return sizes.length <= 2 && sizes.every((s) => /^\d+$/.test(s) && isPowerOf2(Number(s)));
}

/** A bhyve PCI slot: `dev`, `dev:fn` or `bus:dev:fn` (bus 0–255, dev 0–31, fn 0–7). */
export function isPciSlot(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const parts = value.split(':');
  if (parts.length > 3 || !parts.every((p) => /^\d+$/.test(p))) return false;
  const n = parts.map(Number);
  const [bus, dev, fn] = n.length === 3 ? n : n.length === 2 ? [0, n[0]!, n[1]!] : [0, n[0]!, 0];
  return bus! <= 255 && dev! <= 31 && fn! <= 7;
}

/** dladm's maxbw: a rate with K, M or G, Mbps when bare (`100M`, `1G`, `500`); empty removes it. */
export function isMaxbw(v: unknown): boolean {
  return typeof v === 'string' && (v === '' || /^\d+(\.\d+)?[KMGkmg]?$/.test(v));
}
