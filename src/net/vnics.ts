/**
 * A VM's NICs on the host: for each `nics[]` entry a veth pair, the host end (named after the VM and
 * NIC, marked with an alias) plugged into its tag's bridge (its VLAN's), the zone end named after the
 * NIC's interface with its MAC and MTU, its addresses and routes set before the zone's init runs; the
 * VM's anti-spoofing table; bandwidth caps. What was plumbed is written down (in the run folder)
 * before it is made, so that a halt, a delete or the next host start takes away exactly that, even
 * after a crash.
 * @module
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { isIP } from 'node:net';
import { writeFileAtomicSync, ZonixError, isErrno } from '../common/index.ts';
import { ipBatch, links, nft, tcBatch, type LinkInfo } from './exec.ts';
import { guardScript, unguardScript, type GuardNic, type NicProtection } from './antispoof.ts';
import { leaseDir, leaseFile, requestLease, type Lease } from './dhcp.ts';
import { hostLinkName, ifbName, parseVmLinkAlias, vmLinkAlias } from './names.ts';
import { capLines, parseMaxbw, uncapLines } from './shaping.ts';
import { NicTags, tagError } from './tags.ts';

/** What networking reads of a VM (its manifest). */
export interface NetVm {
  uuid: string;
  nics?: unknown;
  routes?: unknown;
  resolvers?: unknown;
  hostname?: unknown;
  [k: string]: unknown;
}

/** One NIC as networking uses it: the manifest entry, read with its defaults. */
export interface VmNic extends NicProtection {
  index: number;
  iface: string;
  tag: string;
  vlan: number;
  mtu?: number;
  gateways: string[];
  primary: boolean;
  maxbw?: string;
}

const strs = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
const bool = (v: unknown) => v === true || v === 'true';

export function nicsOf(vm: NetVm): VmNic[] {
  const list = Array.isArray(vm.nics) ? (vm.nics as Record<string, unknown>[]) : [];
  return list.map((n, index) => ({
    index,
    iface: typeof n.interface === 'string' ? n.interface : `net${index}`,
    mac: typeof n.mac === 'string' ? n.mac.toLowerCase() : '',
    tag: typeof n.nic_tag === 'string' ? n.nic_tag : '',
    vlan: typeof n.vlan_id === 'number' ? n.vlan_id : Number(n.vlan_id ?? 0) || 0,
    ...(typeof n.mtu === 'number' ? { mtu: n.mtu } : {}),
    ips: strs(n.ips),
    gateways: strs(n.gateways),
    primary: n.primary === true,
    allowedIps: strs(n.allowed_ips),
    ...(typeof n.vrrp_primary_ip === 'string' ? { vrrpPrimaryIp: n.vrrp_primary_ip } : {}),
    allowIpSpoofing: bool(n.allow_ip_spoofing),
    allowMacSpoofing: bool(n.allow_mac_spoofing),
    allowDhcpSpoofing: bool(n.allow_dhcp_spoofing) || bool(n.dhcp_server),
    allowRestrictedTraffic: bool(n.allow_restricted_traffic),
    blockedPorts: (Array.isArray(n.blocked_outgoing_ports) ? n.blocked_outgoing_ports : [])
      .map(Number)
      .filter((p) => Number.isInteger(p) && p > 0 && p < 65536),
    ...(typeof n.maxbw === 'string' && n.maxbw !== '' ? { maxbw: n.maxbw } : {}),
  }));
}

/** What a running VM has on the host (written before it is made). */
export interface Plumbed {
  uuid: string;
  pid: number;
  nics: { mac: string; iface: string; hostLink: string; bridge: string; ifb?: string }[];
  /** DHCP leases by MAC. */
  leases: Record<string, Lease>;
}

export function readPlumbed(uuid: string): Plumbed | undefined {
  try {
    return JSON.parse(readFileSync(leaseFile(uuid), 'utf8')) as Plumbed;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

function writePlumbed(p: Plumbed): void {
  mkdirSync(leaseDir(), { recursive: true });
  writeFileAtomicSync(leaseFile(p.uuid), JSON.stringify(p) + '\n');
}

/** ip lines that make the IFB device shaping what a NIC sends. */
function ifbLines(uuid: string, iface: string, ifb: string): string[][] {
  return [
    ['link', 'add', ifb, 'type', 'ifb'],
    ['link', 'set', ifb, 'alias', `${vmLinkAlias(uuid, iface)}:ifb`, 'up'],
  ];
}

const isV6 = (cidr: string) => cidr.split('/')[0]!.includes(':');

/** The NIC whose gateway is the default route: the primary one, else the first with a gateway. */
function defaultRouteNic(nics: readonly VmNic[]): VmNic | undefined {
  return nics.find((n) => n.primary) ?? nics.find((n) => n.gateways.length > 0);
}

/** Route lines in the zone for `routes` (`dst` → IP, `nics[N]` or `macs[<mac>]`). */
function routeLines(vm: NetVm, nics: readonly VmNic[]): string[][] {
  const routes =
    vm.routes !== null && typeof vm.routes === 'object' ? (vm.routes as Record<string, unknown>) : {};
  const out: string[][] = [];
  for (const [dst, gwv] of Object.entries(routes)) {
    const gw = String(gwv);
    const to = dst.includes('/') ? dst : `${dst}/32`;
    const byIndex = /^nics\[(\d+)\]$/.exec(gw);
    const byMac = /^macs\[([0-9a-fA-F:]+)\]$/.exec(gw);
    const nic = byIndex
      ? nics[Number(byIndex[1])]
      : byMac
        ? nics.find((n) => n.mac === byMac[1]!.toLowerCase())
        : undefined;
    if (nic) out.push(['route', 'replace', to, 'dev', nic.iface]);
    else if (isIP(gw)) out.push(['route', 'replace', to, 'via', gw]);
  }
  return out;
}

export class VmNetwork {
  constructor(readonly tags: NicTags) {}

  /** Every NIC's tag exists (create, update, start): SmartOS's `Invalid nic tag` error otherwise. */
  checkTags(vm: NetVm): void {
    const missing = [...new Set(nicsOf(vm).map((n) => n.tag))].filter((t) => !this.tags.get(t));
    if (missing.length) throw tagError(missing.map((t) => `Invalid nic tag "${t}"`).join('\n'));
  }

  guardNics(vm: NetVm, p: Plumbed): GuardNic[] {
    const byMac = new Map(nicsOf(vm).map((n) => [n.mac, n]));
    const out: GuardNic[] = [];
    for (const pn of p.nics) {
      const n = byMac.get(pn.mac);
      if (!n) continue;
      out.push({ ...n, hostLink: pn.hostLink, leased: p.leases[n.mac] ? [p.leases[n.mac]!.cidr] : [] });
    }
    return out;
  }

  /**
   * Give the zone whose init (not yet running) is `pid` its NICs. Resolves to the DNS servers DHCP
   * offered (for resolv.conf when the VM names none).
   */
  async plumb(vm: NetVm, pid: number, opts: { guest?: boolean } = {}): Promise<{ dns: string[] }> {
    const nics = nicsOf(vm);
    if (nics.length === 0) return { dns: [] };
    this.checkTags(vm);
    // Whatever an earlier boot left (its zone is gone, its links may linger) goes first.
    await this.unplumb(vm.uuid);
    // Every link is listed only when something needs it (a bridge to make, a tag's uplink).
    let all: LinkInfo[] | undefined;
    const plumbed: Plumbed = { uuid: vm.uuid, pid, nics: [], leases: {} };
    const host: string[][] = [];
    const zone: string[][] = [['link', 'set', 'lo', 'up']];
    const caps: string[][] = [];
    for (const n of nics) {
      const tag = this.tags.get(n.tag)!;
      const bridge =
        this.tags.existingStub(tag, n.vlan) ??
        (await this.tags.ensureBridge(tag, n.vlan, (all ??= await links())));
      const hostLink = hostLinkName(vm.uuid, n.iface, n.index);
      if (existsSync(`/sys/class/net/${hostLink}`)) {
        const owner = parseVmLinkAlias(readFileSync(`/sys/class/net/${hostLink}/ifalias`, 'utf8').trim());
        throw new ZonixError(
          'EEXIST',
          `host link ${hostLink} for ${n.iface} is taken${owner ? ` by VM ${owner.uuid}` : ''}`,
        );
      }
      const mtu = String(n.mtu ?? tag.mtu ?? 1500);
      host.push(
        [
          'link',
          'add',
          hostLink,
          'mtu',
          mtu,
          'type',
          'veth',
          'peer',
          'name',
          n.iface,
          'address',
          opts.guest ? guestPortMac(n.mac) : n.mac,
          'mtu',
          mtu,
          'netns',
          String(pid),
        ],
        ['link', 'set', hostLink, 'addrgenmode', 'none'],
        ['link', 'set', hostLink, 'alias', vmLinkAlias(vm.uuid, n.iface), 'master', bridge, 'up'],
      );
      const entry: Plumbed['nics'][number] = { mac: n.mac, iface: n.iface, hostLink, bridge };
      if (n.maxbw) {
        const ifb = ifbName(hostLink);
        entry.ifb = ifb;
        host.push(
          ['link', 'add', ifb, 'type', 'ifb'],
          ['link', 'set', ifb, 'alias', `${vmLinkAlias(vm.uuid, n.iface)}:ifb`, 'up'],
        );
        caps.push(...capLines(hostLink, ifb, parseMaxbw(n.maxbw)));
      }
      plumbed.nics.push(entry);
      if (opts.guest) {
        // A hardware guest's NIC is a tap its QEMU opens (as root without capabilities: the tap is
        // root's), joined to the zone's end of the veth by a bridge of the zone's own; the guest
        // sets its addresses itself. The veth end has a MAC of its own so that the zone's bridge
        // forwards the guest's frames rather than taking them as its own.
        const tap = `tap${n.index}`;
        const br = `vmbr${n.index}`;
        zone.push(
          ['tuntap', 'add', 'dev', tap, 'mode', 'tap', 'user', '0', 'group', '0'],
          ['link', 'set', tap, 'mtu', mtu, 'addrgenmode', 'none'],
          ['link', 'add', br, 'type', 'bridge'],
          ['link', 'set', br, 'addrgenmode', 'none', 'mtu', mtu],
          ['link', 'set', n.iface, 'addrgenmode', 'none'],
          ['link', 'set', n.iface, 'master', br, 'up'],
          ['link', 'set', tap, 'master', br, 'up'],
          ['link', 'set', br, 'up'],
        );
        continue;
      }
      zone.push(['link', 'set', n.iface, 'up']);
      for (const ip of n.ips) {
        if (ip === 'dhcp' || ip === 'addrconf') continue;
        zone.push(['addr', 'add', ip, 'dev', n.iface, ...(isV6(ip) ? ['nodad'] : [])]);
      }
    }
    const def = opts.guest ? undefined : defaultRouteNic(nics);
    if (def?.gateways[0])
      zone.push(['route', 'replace', 'default', 'via', def.gateways[0], 'dev', def.iface, 'onlink']);
    if (!opts.guest) zone.push(...routeLines(vm, nics));
    writePlumbed(plumbed);
    // The guard names host links (iifname), so it loads while they are made; the caps and the zone's
    // side need the links. Nothing in the zone runs yet (its init waits to be started), so no frame
    // passes before the guard is in place.
    const guard = this.guardNics(vm, plumbed);
    const guarded = nft(guardScript(vm.uuid, guard, { fresh: true })).catch(() =>
      nft(guardScript(vm.uuid, guard)),
    );
    const linked = ipBatch(host);
    // Every step ends before a failure is told: the undo that follows must not race a step still running.
    const settled = await Promise.allSettled([
      guarded,
      linked.then(async () => {
        const rest = await Promise.allSettled([tcBatch(caps), ipBatch(zone, { pid })]);
        for (const r of rest) if (r.status === 'rejected') throw r.reason;
      }),
    ]);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    const dns: string[] = [];
    const hostname = typeof vm.hostname === 'string' && vm.hostname ? vm.hostname : vm.uuid;
    for (const n of nics.filter((x) => !opts.guest && x.ips.includes('dhcp'))) {
      const lease = await requestLease(pid, n.iface, hostname);
      if (!lease) continue;
      plumbed.leases[n.mac] = lease;
      const lines = [['addr', 'replace', lease.cidr, 'dev', n.iface]];
      if (lease.router && (def === n || (!def && n === nics[0])))
        lines.push(['route', 'replace', 'default', 'via', lease.router, 'dev', n.iface]);
      writePlumbed(plumbed);
      await nft(guardScript(vm.uuid, this.guardNics(vm, plumbed)));
      await ipBatch(lines, { pid });
      dns.push(...lease.dns);
    }
    return { dns };
  }

  /** Apply what changed live on a running VM: its anti-spoofing rules and caps (SmartOS: at once). */
  async refresh(vm: NetVm): Promise<void> {
    const p = readPlumbed(vm.uuid);
    if (!p) return;
    await nft(guardScript(vm.uuid, this.guardNics(vm, p)));
    const byMac = new Map(nicsOf(vm).map((n) => [n.mac, n]));
    const makeIfbs: string[][] = [];
    const dropIfbs: string[][] = [];
    const uncap: string[][] = [];
    const cap: string[][] = [];
    for (const pn of p.nics) {
      const maxbw = byMac.get(pn.mac)?.maxbw;
      if (maxbw === undefined) {
        if (!pn.ifb) continue;
        uncap.push(...uncapLines(pn.hostLink));
        dropIfbs.push(['link', 'del', pn.ifb]);
        delete pn.ifb;
        continue;
      }
      if (!pn.ifb) {
        pn.ifb = ifbName(pn.hostLink);
        makeIfbs.push(...ifbLines(vm.uuid, pn.iface, pn.ifb));
      }
      cap.push(...capLines(pn.hostLink, pn.ifb, parseMaxbw(maxbw)));
    }
    writePlumbed(p);
    await ipBatch(makeIfbs);
    await tcBatch(cap);
    // A cap being lifted may be half there (a failed boot): what is already gone is not an error.
    await tcBatch(uncap).catch(() => undefined);
    await ipBatch(dropIfbs);
  }

  /**
   * Take away what the VM has on the host: its table, its links (the zone's end goes with its
   * namespace; the host end may outlive it a moment), its IFBs and the record. Safe to repeat.
   */
  async unplumb(uuid: string, known?: readonly LinkInfo[], opts: { table?: boolean } = {}): Promise<void> {
    const p = readPlumbed(uuid);
    const all = known ?? (p ? await links() : []);
    const mine = all.filter((l) => parseVmLinkAlias(l.ifalias)?.uuid === uuid);
    if (p || mine.length || opts.table) {
      await nft(unguardScript(uuid));
      await ipBatch(mine.map((l) => ['link', 'del', l.ifname])).catch(async () => {
        // Some went with the namespace meanwhile: delete the rest one by one.
        for (const l of mine) await ipBatch([['link', 'del', l.ifname]]).catch(() => undefined);
      });
    }
    rmSync(leaseFile(uuid), { force: true });
  }
}

/**
 * The MAC of the zone's end of a hardware guest's veth: the guest's own with the locally
 * administered bit flipped, so it differs from the guest's and from every other guest's.
 */
export function guestPortMac(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  b[0] = (b[0]! ^ 0x02) & 0xfe;
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
