/**
 * NICs: MAC and interface names for new NICs, the old `ip`/`netmask`/`gateway` fields turned into
 * `ips`/`gateways`, and the NIC errors of smartos.md §3.2 that need no host state.
 * @module
 */
import { randomInt } from 'node:crypto';
import type { BrandInfo } from '../brands/info.ts';
import { payloadError } from './errors.ts';
import {
  addressOf,
  isAllowedIp,
  isAutoConfig,
  isCIDRv4,
  isIPv4,
  isIPv4Netmask,
  isNicAddress,
  netmaskToBits,
  bitsToNetmask,
} from './ip.ts';
import type { Payload } from './types.ts';
import { objectsOf } from './values.ts';

export type Nic = Record<string, unknown>;

/** Random integer in [min, max). */
export type RandomInt = (min: number, max: number) => number;

/**
 * A new MAC as SmartOS makes one: the first octet is a hex digit 1–f followed by `2` (so the locally
 * administered bit is set and it is unicast), then five random octets 01–ff.
 */
export function generateMac(random: RandomInt = randomInt): string {
  const octets = [`${random(1, 16).toString(16)}2`];
  for (let i = 0; i < 5; i++) octets.push(random(1, 256).toString(16).padStart(2, '0'));
  return octets.join(':');
}

/** The MAC of a VRRP NIC: `00:00:5e:00:01:<vrid in hex>`. */
export function vrrpMac(vrid: unknown): string {
  return `00:00:5e:00:01:${Number(vrid).toString(16).padStart(2, '0')}`;
}

const nicsOf = objectsOf;

/** What identifies a NIC: its MAC, or the MAC its VRRP id implies. */
function macKey(n: Readonly<Nic>): string | undefined {
  if (typeof n.mac === 'string') return n.mac;
  return Object.hasOwn(n, 'vrrp_vrid') ? vrrpMac(n.vrrp_vrid) : undefined;
}

/** `ip` + `netmask` → `ips`, `gateway` → `gateways` (SmartOS `upgradeNic`). */
export function upgradeNic(nic: Readonly<Nic>): Nic {
  const n: Nic = { ...nic };
  if (Object.hasOwn(n, 'netmask') && !isIPv4Netmask(n.netmask))
    throw payloadError('InvalidNetmask', n.netmask);
  if (Object.hasOwn(n, 'ip')) {
    if (!Object.hasOwn(n, 'ips')) {
      if (isAutoConfig(n.ip)) n.ips = [n.ip];
      else if (Object.hasOwn(n, 'netmask')) {
        n.ips = [`${String(n.ip)}/${netmaskToBits(String(n.netmask))}`];
        delete n.netmask;
      } else throw payloadError('MissingNetmask', n);
    }
    delete n.ip;
  }
  if (Object.hasOwn(n, 'gateway')) {
    if (!Object.hasOwn(n, 'gateways')) n.gateways = [n.gateway];
    delete n.gateway;
  }
  return n;
}

/**
 * NICs being added (on create, or `add_nics`): a MAC when none is given (the VRRP MAC with
 * `vrrp_vrid`), `primary` only as `true`, no deprecated `index`, a `model` from `nic_driver` or the
 * first existing NIC when the brand needs one, then `upgradeNic`.
 */
export function normalizeAddedNics(
  nics: readonly Nic[],
  o: { brand: BrandInfo; old?: Readonly<Payload>; nicDriver?: unknown; random?: RandomInt },
): Nic[] {
  const oldNics = nicsOf(o.old?.nics);
  const driver = o.nicDriver ?? o.old?.nic_driver ?? oldNics[0]?.model;
  return nics.map((nic) => {
    const n: Nic = { ...nic };
    if (!Object.hasOwn(n, 'mac'))
      n.mac = Object.hasOwn(n, 'vrrp_vrid') ? vrrpMac(n.vrrp_vrid) : generateMac(o.random);
    delete n.index;
    if (Object.hasOwn(n, 'primary')) {
      if (n.primary === true || n.primary === '1' || n.primary === 1 || n.primary === 'true')
        n.primary = true;
      else delete n.primary;
    }
    if (
      o.brand.nicModelRequired &&
      (typeof n.model !== 'string' || n.model === '') &&
      typeof driver === 'string'
    ) {
      n.model = driver;
    }
    return upgradeNic(n);
  });
}

/** An `update_nics` entry: found by `mac`; a lone `ip` or `netmask` is completed from the NIC's address. */
export function normalizeUpdatedNic(nic: Readonly<Nic>, old: Readonly<Payload>): Nic {
  if (!Object.hasOwn(nic, 'mac')) throw payloadError('UpdateNicNeedsMac');
  const current = nicsOf(old.nics).find((n) => n.mac === nic.mac);
  if (current === undefined) throw payloadError('NoSuchNic');
  const n: Nic = { ...nic };
  if (Object.hasOwn(n, 'ips')) return upgradeNic(n);
  const existing = (): { ip: string; netmask?: string } => {
    const ips = Array.isArray(current.ips) ? (current.ips as unknown[]) : undefined;
    if (ips?.length === 1 && typeof ips[0] === 'string' && isCIDRv4(ips[0])) {
      const [ip, bits] = ips[0].split('/');
      return { ip: ip!, netmask: bitsToNetmask(Number(bits)) };
    }
    if (ips === undefined && typeof current.ip === 'string') {
      return typeof current.netmask === 'string'
        ? { ip: current.ip, netmask: current.netmask }
        : { ip: current.ip };
    }
    throw payloadError('NeedSingleIPv4');
  };
  if (Object.hasOwn(n, 'netmask') && !Object.hasOwn(n, 'ip')) {
    n.ip = existing().ip;
  } else if (!Object.hasOwn(n, 'netmask') && Object.hasOwn(n, 'ip') && !isAutoConfig(n.ip)) {
    const mask = existing().netmask;
    if (mask === undefined) throw payloadError('UpdateIpWithoutNetmask');
    n.netmask = mask;
  }
  return upgradeNic(n);
}

/** Names `<prefix>N` (lowest free N; lx: ethN) for added NICs that have no `interface`. */
export function assignInterfaces(
  nics: readonly Nic[],
  brand: BrandInfo,
  existing: readonly Nic[] = [],
): Nic[] {
  const re = new RegExp(`^${brand.interfacePrefix}(\\d+)$`);
  const used = new Set<number>();
  for (const n of [...existing, ...nics]) {
    const m = typeof n.interface === 'string' ? re.exec(n.interface) : null;
    if (m) used.add(Number(m[1]));
  }
  let next = 0;
  return nics.map((nic) => {
    if (Object.hasOwn(nic, 'interface')) return nic;
    while (used.has(next)) next++;
    used.add(next);
    return { ...nic, interface: `${brand.interfacePrefix}${next}` };
  });
}

const ADD_TAG_RE = /^[a-zA-Z0-9_/]+$/;
const UPDATE_TAG_RE = /^[a-zA-Z0-9_]+$/;
const strings = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

interface NicState {
  ips: string[];
  macs: unknown[];
  vrids: unknown[];
  primaryIps: unknown[];
  /** The NICs as they will be after this payload, in order, keyed by MAC. */
  result: Map<string, Nic>;
}

function initialState(old: Readonly<Payload> | undefined, updates: readonly Nic[]): NicState {
  const s: NicState = { ips: [], macs: [], vrids: [], primaryIps: [], result: new Map() };
  const updating = new Map(updates.map((u) => [macKey(u), u]));
  for (const nic of nicsOf(old?.nics)) {
    const mac = macKey(nic);
    if (mac !== undefined && !s.result.has(mac)) s.result.set(mac, { ...nic });
    if (!Object.hasOwn(updating.get(mac) ?? {}, 'ips')) {
      for (const ip of strings(nic.ips)) if (typeof ip === 'string' && !isAutoConfig(ip)) s.ips.push(ip);
    }
    if (Object.hasOwn(nic, 'mac')) s.macs.push(nic.mac);
    if (Object.hasOwn(nic, 'vrrp_vrid')) s.vrids.push(nic.vrrp_vrid);
    if (Object.hasOwn(nic, 'vrrp_primary_ip')) s.primaryIps.push(nic.vrrp_primary_ip);
  }
  return s;
}

/**
 * The NIC rules of create (`old` absent; NICs in `nics`) and update (`add_nics`, `update_nics`,
 * `remove_nics`), after normalisation. Throws the first error SmartOS would give; returns the NICs as
 * they will be, in order (routes are checked against them).
 */
export function checkNics(payload: Readonly<Payload>, brand: BrandInfo, old?: Readonly<Payload>): Nic[] {
  const adds = nicsOf(old === undefined ? payload.nics : payload.add_nics);
  const updates = old === undefined ? [] : nicsOf(payload.update_nics);
  const s = initialState(old, updates);
  const newIps: string[] = [];
  const newMacs: unknown[] = [];
  const newVrids: unknown[] = [];
  let primaries = 0;
  for (const [n, adding] of [
    ...adds.map((x) => [x, true] as const),
    ...updates.map((x) => [x, false] as const),
  ]) {
    if (Object.hasOwn(n, 'vrrp_vrid')) {
      if (s.vrids.includes(n.vrrp_vrid) || newVrids.includes(n.vrrp_vrid))
        throw payloadError('DuplicateVrid', n.vrrp_vrid);
      newVrids.push(n.vrrp_vrid);
    }
    if (adding && Object.hasOwn(n, 'mac')) {
      if (newMacs.includes(n.mac) || s.macs.includes(n.mac)) throw payloadError('DuplicateMac', n.mac);
      newMacs.push(n.mac);
    }
    if (Object.hasOwn(n, 'primary')) {
      if (n.primary !== true) throw payloadError('InvalidPrimary', n.primary);
      primaries++;
    }
    for (const gw of strings(n.gateways))
      if (typeof gw !== 'string' || !isIPv4(gw)) throw payloadError('GatewayNotIPv4', gw);
    if (Object.hasOwn(n, 'ips')) {
      const ips = strings(n.ips);
      if (ips.length > 20) throw payloadError('TooManyIps', ips.length);
      for (const ip of ips) {
        if (isAutoConfig(ip)) continue;
        if (!isNicAddress(ip)) throw payloadError('InvalidNicIp', n);
        const addr = ip as string;
        if (newIps.includes(addr) || s.ips.includes(addr)) throw payloadError('DuplicateIp', addr);
        newIps.push(addr);
      }
    }
    if (adding && Object.hasOwn(n, 'vrrp_vrid') && n.mac !== vrrpMac(n.vrrp_vrid))
      throw payloadError('MacWithVrid');
    if (Object.hasOwn(n, 'vrrp_primary_ip')) s.primaryIps.push(n.vrrp_primary_ip);
    if (
      adding &&
      brand.nicModelRequired &&
      (typeof n.model !== 'string' || n.model === '' || n.model === 'undefined')
    ) {
      throw payloadError('MissingNicModel', n);
    }
    if (brand.nicModels.length > 0 && typeof n.model === 'string' && !brand.nicModels.includes(n.model))
      throw payloadError('InvalidNicModel', n.model, brand.name, brand.nicModels);
    if (adding && (typeof n.nic_tag !== 'string' || !ADD_TAG_RE.test(n.nic_tag)))
      throw payloadError('InvalidNicTag', n);
    if (
      !adding &&
      Object.hasOwn(n, 'model') &&
      (typeof n.model !== 'string' || n.model === '' || n.model === 'undefined')
    ) {
      throw payloadError('InvalidUpdateNicModel', n);
    }
    if (
      !adding &&
      Object.hasOwn(n, 'nic_tag') &&
      (typeof n.nic_tag !== 'string' || !UPDATE_TAG_RE.test(n.nic_tag))
    ) {
      throw payloadError('InvalidUpdateNicTag', n);
    }
    const key = macKey(n);
    if (key !== undefined) s.result.set(key, { ...(s.result.get(key) ?? {}), ...n });
    if (Object.hasOwn(n, 'allowed_ips')) checkAllowedIps(strings(n.allowed_ips));
    if (Object.hasOwn(n, 'allowed_dhcp_cids')) {
      const cids = strings(n.allowed_dhcp_cids);
      if (cids.length > 20) throw payloadError('TooManyClientIds', cids.length);
      if (cids.join(',').length >= 1024) throw payloadError('ClientIdsTooLong');
    }
  }
  for (const mac of old === undefined ? [] : strings(payload.remove_nics)) {
    const gone = s.result.get(String(mac));
    if (gone === undefined) continue;
    for (const ip of strings(gone.ips)) {
      for (const list of [newIps, s.ips]) {
        const i = list.indexOf(ip as string);
        if (i !== -1) list.splice(i, 1);
      }
    }
    s.result.delete(String(mac));
  }
  checkFinalNics([...s.result.values()], s.primaryIps, [...s.ips, ...newIps]);
  if (primaries > 1) throw payloadError('MultiplePrimary');
  return [...s.result.values()];
}

function checkAllowedIps(list: readonly unknown[]): void {
  const bad = list.filter((ip) => typeof ip !== 'string' || !isAllowedIp(ip)).map(String);
  if (bad.length > 0) throw payloadError('InvalidAllowedIps', bad);
  if (list.length > 13) throw payloadError('TooManyAllowedIps');
}

function checkFinalNics(nics: readonly Nic[], primaryIps: readonly unknown[], ips: readonly string[]): void {
  let onlyVrrp = true;
  for (const n of nics) {
    if (Object.hasOwn(n, 'vrrp_vrid')) {
      for (const ip of strings(n.ips)) {
        if (typeof ip === 'string' && primaryIps.includes(addressOf(ip)))
          throw payloadError('VrrpPrimaryIsVrrp');
      }
      if (!Object.hasOwn(n, 'vrrp_primary_ip')) throw payloadError('VrrpWithoutPrimaryIp');
    } else onlyVrrp = false;
    const count =
      strings(n.allowed_ips).length + (Object.hasOwn(n, 'vrrp_primary_ip') ? 1 : 0) + strings(n.ips).length;
    if (count > 32) throw payloadError('TooManyNicAddresses');
  }
  if (onlyVrrp && nics.length > 0) throw payloadError('OnlyVrrpNics');
  const own = new Set(ips.map(addressOf));
  for (const ip of primaryIps) if (!own.has(String(ip))) throw payloadError('VrrpPrimaryNotOwn');
}
