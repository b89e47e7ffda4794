/**
 * Nic tags: names for the host's networks. A normal tag is a bridge over a physical link (found by its
 * MAC, as SmartOS finds it, or its name); a local-only tag (an etherstub) is a bridge with no uplink,
 * a virtual switch for this host alone. A VLAN on a tag gets a bridge of its own (over an 802.1Q link
 * of the uplink on a normal tag): this kernel has neither 8021q nor bridge VLAN filtering, so separate
 * bridges are what keeps VLANs apart. Tags live in the system pool (one document each) and their
 * bridges are made again when the host starts; every bridge carries an alias naming its tag.
 * @module
 */
import { readFileSync } from 'node:fs';
import { ZonixError } from '../common/index.ts';
import { HostCommandError } from '../platform/index.ts';
import { ipBatch, links, sysctl, type LinkInfo } from './exec.ts';
import { bridgeAlias, bridgeName, IFNAMSIZ, parseBridgeAlias, parseVmLinkAlias } from './names.ts';

export type TagKind = 'normal' | 'etherstub';

/** A host-local network on an etherstub: the host's address on it, NAT out, DHCP (Zonix's extension). */
export interface HostNetConfig {
  /** The host's address with its prefix (`10.88.0.1/24`): the gateway of the zones on it. */
  gateway: string;
  /** Masquerade what leaves the network through the host's default route. */
  nat: boolean;
  /** Serve DHCP on it (dnsmasq), handing out `range` (default: the upper half of the subnet). */
  dhcp: boolean;
  range?: [string, string];
}

export interface NicTag {
  name: string;
  kind: TagKind;
  /** Normal tags: the uplink's MAC (how it is found again), and its name when it was given by name. */
  mac?: string;
  link?: string;
  mtu?: number;
  net?: HostNetConfig;
}

/** Where tags are kept (the system pool's documents, `nictags`). */
export interface TagDocs {
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  get<T>(key: string): T | undefined;
  put(key: string, value: unknown): void;
  delete(key: string): void;
  keys(): string[];
}

export const tagError = (msg: string) => new ZonixError('EINVAL', msg);

const MAC_RE = /^([0-9a-fA-F]{1,2}:){5}[0-9a-fA-F]{1,2}$/;
const TAG_RE = /^[a-zA-Z0-9_]+$/;
const STUB_RE = /^[a-zA-Z0-9_]*[0-9]$/;

export const isMac = (s: string) => MAC_RE.test(s);

/** `1:2:a:b:c:d` → `01:02:0a:0b:0c:0d` (SmartOS's normalize_mac). */
export function normalizeMac(mac: string): string {
  return mac
    .split(':')
    .map((o) => o.toLowerCase().padStart(2, '0'))
    .join(':');
}

export function validTagName(name: string): boolean {
  return name.length > 0 && name.length < 31 && TAG_RE.test(name);
}

/** Etherstub names end in a digit (as datalink names); here they also name a bridge, so ≤ 15 bytes. */
export function validStubName(name: string): boolean {
  return name.length > 0 && name.length <= IFNAMSIZ && STUB_RE.test(name);
}

export function validMtu(v: string): number {
  if (!/^[0-9]+$/.test(v)) throw tagError(`invalid mtu: ${v}`);
  const n = Number(v);
  if (n < 1500 || n > 9000) throw tagError('mtu must be between 1500-9000');
  return n;
}

/** A link Zonix did not make and that may be a tag's uplink: a device or a veth. */
export function isUplinkCandidate(l: LinkInfo): boolean {
  if (l.ifname === 'lo') return false;
  // Devices, and veths (a link into another namespace); not bridges, IFBs, tunnels or the like.
  const kind = l.linkinfo?.info_kind;
  if (kind !== undefined && kind !== 'veth') return false;
  if (parseVmLinkAlias(l.ifalias) || parseBridgeAlias(l.ifalias)) return false;
  return l.link_netnsid === undefined || l.linkinfo?.info_kind === 'veth';
}

export class NicTags {
  constructor(private readonly docs: () => TagDocs) {}

  list(): NicTag[] {
    const d = this.docs();
    return d
      .keys()
      .map((k) => d.get<NicTag>(k))
      .filter((t): t is NicTag => t !== undefined);
  }

  get(name: string): NicTag | undefined {
    if (!validTagName(name)) return undefined;
    return this.docs().get<NicTag>(name);
  }

  /** The uplink of a normal tag as the host has it now: by MAC first, then by name. */
  uplinkOf(tag: NicTag, all: readonly LinkInfo[]): LinkInfo | undefined {
    const cands = all.filter(isUplinkCandidate);
    return (
      (tag.mac ? cands.find((l) => normalizeMac(l.address ?? '') === tag.mac) : undefined) ??
      (tag.link ? cands.find((l) => l.ifname === tag.link) : undefined)
    );
  }

  /** A physical link given by MAC or name, as `nictagadm add` takes it. */
  async findUplink(spec: string): Promise<LinkInfo> {
    const all = (await links()).filter(isUplinkCandidate);
    if (isMac(spec)) {
      const mac = normalizeMac(spec);
      const l = all.find((x) => normalizeMac(x.address ?? '') === mac);
      if (!l) throw tagError(`No physical nic found with MAC address '${mac}'`);
      return l;
    }
    const l = all.find((x) => x.ifname === spec);
    if (!l) throw tagError(`MAC address '${spec}' is invalid`);
    return l;
  }

  /** Store a new tag and make its bridge. */
  async add(tag: NicTag): Promise<void> {
    if (this.get(tag.name)) throw tagError(`nic tag '${tag.name}' already exists`);
    const all = await links();
    const taken = all.find((l) => l.ifname === bridgeName(tag.name));
    if (taken && parseBridgeAlias(taken.ifalias)?.tag !== tag.name)
      throw tagError(`link '${taken.ifname}' already exists on this host`);
    this.docs().put(tag.name, tag);
    try {
      await this.ensureBridge(tag, 0);
    } catch (err) {
      this.docs().delete(tag.name);
      await this.removeBridges(tag.name).catch(() => undefined);
      throw err;
    }
  }

  /** Change a normal tag's uplink or MTU (the bridge follows at once; NICs keep theirs until restart). */
  async update(name: string, change: { mac?: string; link?: string; mtu?: number }): Promise<void> {
    const tag = this.get(name);
    if (!tag) throw tagError(`nic tag '${name}' does not exist`);
    const next: NicTag = { ...tag, ...change };
    if (change.mac !== undefined && change.link === undefined) delete next.link;
    this.docs().put(name, next);
    const bridges = await this.bridgesOf(name);
    const lines: string[][] = [];
    for (const b of bridges) {
      if (change.mtu !== undefined) lines.push(['link', 'set', b.ifname, 'mtu', String(change.mtu)]);
    }
    if (change.mac !== undefined || change.link !== undefined) {
      for (const l of await links()) {
        if (l.master === bridgeName(name) && isUplinkCandidate(l))
          lines.push(['link', 'set', l.ifname, 'nomaster']);
      }
    }
    await ipBatch(lines);
    await this.ensureBridge(next, 0);
  }

  /** Remove a tag and its bridges (the caller has checked that no VM uses it). */
  async delete(name: string): Promise<void> {
    if (!this.get(name)) throw tagError(`nic tag '${name}' does not exist`);
    await this.removeBridges(name);
    this.docs().delete(name);
  }

  /** The bridges of a tag (its own and its VLANs'). */
  async bridgesOf(name: string, all?: readonly LinkInfo[]): Promise<LinkInfo[]> {
    return (all ?? (await links())).filter((l) => parseBridgeAlias(l.ifalias)?.tag === name);
  }

  async removeBridges(name: string): Promise<void> {
    const all = await links();
    const bridges = await this.bridgesOf(name, all);
    const names = new Set(bridges.map((b) => b.ifname));
    // 802.1Q links Zonix made on the uplink for the tag's VLANs go with their bridges.
    const vlanLinks = all.filter((l) => l.master && names.has(l.master) && l.linkinfo?.info_kind === 'vlan');
    await ipBatch([
      ...vlanLinks.map((l) => ['link', 'del', l.ifname]),
      ...bridges.map((b) => ['link', 'del', b.ifname]),
    ]);
  }

  /**
   * The bridge a NIC on `tag` with VLAN `vlan` plugs into, made when it is missing (with its uplink,
   * or the uplink's 802.1Q link for a VLAN). Safe to call from several commands at once.
   */
  /**
   * An etherstub's bridge that is there already, found without listing every link (what a VM's
   * start needs most often); otherwise undefined, and `ensureBridge` does the rest.
   */
  existingStub(tag: NicTag, vlan: number): string | undefined {
    if (tag.kind !== 'etherstub') return undefined;
    const name = bridgeName(tag.name, vlan);
    try {
      return readFileSync(`/sys/class/net/${name}/ifalias`, 'utf8').trim() === bridgeAlias(tag.name, vlan)
        ? name
        : undefined;
    } catch {
      return undefined;
    }
  }

  async ensureBridge(tag: NicTag, vlan: number, known?: readonly LinkInfo[]): Promise<string> {
    const name = bridgeName(tag.name, vlan);
    const alias = bridgeAlias(tag.name, vlan);
    let all = known ?? (await links());
    const found = all.find((l) => l.ifname === name);
    if (found) {
      if (found.ifalias !== alias)
        throw tagError(`host link '${name}' exists and is not nic tag ${tag.name}'s`);
      if (tag.kind === 'normal') await this.attachUplink(tag, vlan, name, all);
      return name;
    }
    const mtu = String(tag.mtu ?? 1500);
    try {
      await ipBatch([
        ['link', 'add', name, 'mtu', mtu, 'type', 'bridge'],
        ['link', 'set', name, 'alias', alias, 'up'],
      ]);
    } catch (err) {
      // Another command made it meanwhile.
      all = await links();
      if (!(err instanceof HostCommandError) || all.find((l) => l.ifname === name)?.ifalias !== alias)
        throw err;
    }
    // The host takes no part in a tag's traffic unless it has an address there (a host network).
    if (!tag.net) await sysctl(`net/ipv6/conf/${name}/disable_ipv6`, '1').catch(() => undefined);
    if (tag.kind === 'normal') await this.attachUplink(tag, vlan, name, await links());
    return name;
  }

  private async attachUplink(
    tag: NicTag,
    vlan: number,
    bridge: string,
    all: readonly LinkInfo[],
  ): Promise<void> {
    const up = this.uplinkOf(tag, all);
    if (!up)
      throw tagError(
        `nic tag '${tag.name}': no physical nic found with MAC address '${tag.mac ?? tag.link ?? ''}'`,
      );
    if (vlan === 0) {
      if (up.master === bridge) return;
      if (up.addr_info?.some((a) => a.scope === 'global'))
        throw tagError(
          `nic tag '${tag.name}': link ${up.ifname} has host addresses; move them off it (or onto bridge ${bridge}) first`,
        );
      await ipBatch([['link', 'set', up.ifname, 'master', bridge, 'up']]);
      return;
    }
    if (all.some((l) => l.master === bridge && l.linkinfo?.info_kind === 'vlan')) return;
    const vname = `${up.ifname.slice(0, IFNAMSIZ - 1 - String(vlan).length)}.${vlan}`;
    try {
      await ipBatch([
        ['link', 'add', 'link', up.ifname, 'name', vname, 'type', 'vlan', 'id', String(vlan)],
        ['link', 'set', vname, 'master', bridge, 'up'],
      ]);
    } catch (err) {
      if (err instanceof HostCommandError && /not supported|Unknown device type/i.test(err.stderr))
        throw tagError(
          `VLAN ${vlan} on nic tag '${tag.name}' needs 802.1Q links, which this host's kernel lacks (CONFIG_VLAN_8021Q); VLANs on etherstubs work`,
        );
      throw err;
    }
  }

  /** Make every stored tag's bridge again (host start). */
  async restore(): Promise<string[]> {
    const problems: string[] = [];
    const all = await links();
    for (const tag of this.list()) {
      try {
        await this.ensureBridge(tag, 0, all);
      } catch (err) {
        problems.push(`nic tag ${tag.name}: ${(err as Error).message}`);
      }
    }
    return problems;
  }
}
