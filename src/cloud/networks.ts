/**
 * Networks, as Triton's NAPI has them: a subnet on a nic tag (or etherstub) and VLAN, with a
 * gateway, a provision range, resolvers and routes, public or owned by some accounts. Kept in the
 * system pool. A machine created on a network gets a free address from its range: the addresses
 * in use are those of the VMs' NICs (so an address comes back when its VM goes) and those handed
 * out to creates still under way.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { ipv4ToNumber, numberToIpv4 } from '../common/index.ts';
import type { NicTag } from '../net/index.ts';
import type { DocStore } from '../storage/index.ts';
import { isIPv4, VM_UUID } from '../vm/index.ts';
import { DocCache } from './doc-cache.ts';
import { CloudError, invalid, notFound } from './errors.ts';

export interface CloudNetwork {
  uuid: string;
  name: string;
  nic_tag: string;
  vlan_id: number;
  /** `10.88.0.0/24` */
  subnet: string;
  netmask: string;
  gateway?: string;
  provision_start_ip: string;
  provision_end_ip: string;
  resolvers: string[];
  /** destination (CIDR or address) → gateway */
  routes?: Record<string, string>;
  public: boolean;
  /** Accounts that may use a network that is not public. */
  owner_uuids?: string[];
  description: string;
  created: string;
}

export interface NetworkRequest {
  name: string;
  nic_tag: string;
  vlan_id?: number | string;
  subnet?: string;
  gateway?: string;
  provision_start_ip?: string;
  provision_end_ip?: string;
  resolvers?: string[];
  routes?: Record<string, string>;
  public?: boolean;
  owner_uuids?: string[];
  description?: string;
}

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

/** `10.88.0.0/24` → network, prefix, mask, first and last address (as numbers). */
export function cidr(text: string): { network: number; prefix: number; netmask: string; last: number } {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  const prefix = m ? Number(m[2]) : NaN;
  if (!m || !isIPv4(m[1]!) || prefix < 8 || prefix > 30)
    throw invalid(`subnet '${text}' is invalid: an IPv4 subnet with a /8 to /30 prefix`);
  const mask = (~0 << (32 - prefix)) >>> 0;
  const network = (ipv4ToNumber(m[1]!) & mask) >>> 0;
  return { network, prefix, netmask: numberToIpv4(mask), last: (network + 2 ** (32 - prefix) - 1) >>> 0 };
}

export function inSubnet(net: Pick<CloudNetwork, 'subnet'>, ip: string): boolean {
  if (!isIPv4(ip)) return false;
  const c = cidr(net.subnet);
  const n = ipv4ToNumber(ip);
  return n > c.network && n < c.last;
}

/** A network's fields checked and filled: the subnet, gateway and range from its host network when its tag has one. */
export function networkOf(req: NetworkRequest, tag: NicTag | undefined, now = new Date()): CloudNetwork {
  if (typeof req.name !== 'string' || !NAME.test(req.name))
    throw invalid(`name ${JSON.stringify(req.name)} is invalid: letters, digits, _ . -, at most 64`);
  if (!tag) throw invalid(`nic tag '${req.nic_tag}' does not exist`);
  const vlan = req.vlan_id === undefined ? 0 : Number(req.vlan_id);
  if (!Number.isInteger(vlan) || vlan < 0 || vlan > 4094 || vlan === 1)
    throw invalid(`vlan_id ${String(req.vlan_id)} is invalid: 0 or 2 to 4094`);
  // A host network (set-up's zonix0): its subnet and gateway, and a range below its DHCP range.
  const host = tag.net && vlan === 0 ? tag.net : undefined;
  const hostGw = host?.gateway.split('/')[0];
  const subnetText =
    req.subnet ??
    (host ? `${numberToIpv4(cidr(host.gateway).network)}/${cidr(host.gateway).prefix}` : undefined);
  if (!subnetText) throw invalid('subnet is required (such as 10.0.0.0/24)');
  const c = cidr(subnetText);
  const subnet = `${numberToIpv4(c.network)}/${c.prefix}`;
  const within = (field: string, ip: string) => {
    if (!isIPv4(ip)) throw invalid(`${field} '${ip}' is not an IPv4 address`);
    const n = ipv4ToNumber(ip);
    if (n <= c.network || n >= c.last) throw invalid(`${field} ${ip} is not in ${subnet}`);
    return n;
  };
  const gateway = req.gateway ?? hostGw;
  if (gateway !== undefined) within('gateway', gateway);
  let start = req.provision_start_ip ? within('provision_start_ip', req.provision_start_ip) : c.network + 1;
  let end = req.provision_end_ip ? within('provision_end_ip', req.provision_end_ip) : c.last - 1;
  if (host && host.dhcp && !req.provision_end_ip) {
    // Below the DHCP server's range, which is the upper half unless the tag says otherwise.
    const dhcpStart = host.range
      ? ipv4ToNumber(host.range[0])
      : c.network + Math.max(2, Math.floor((c.last - c.network + 1) / 2));
    end = Math.min(end, dhcpStart - 1);
  }
  if (gateway !== undefined && start === ipv4ToNumber(gateway) && !req.provision_start_ip) start += 1;
  if (start > end) throw invalid(`provision range ${numberToIpv4(start)}-${numberToIpv4(end)} is empty`);
  const resolvers = req.resolvers ?? (hostGw ? [hostGw] : []);
  for (const r of resolvers) if (!isIPv4(r)) throw invalid(`resolver '${r}' is not an IPv4 address`);
  for (const [dst, gw] of Object.entries(req.routes ?? {}))
    if (!isIPv4(gw) || !(isIPv4(dst) || /^[\d.]+\/\d{1,2}$/.test(dst)))
      throw invalid(`route ${dst} via ${gw} is invalid`);
  for (const o of req.owner_uuids ?? [])
    if (!VM_UUID.test(o)) throw invalid(`owner_uuids: '${o}' is not a UUID`);
  return {
    uuid: randomUUID(),
    name: req.name,
    nic_tag: tag.name,
    vlan_id: vlan,
    subnet,
    netmask: c.netmask,
    ...(gateway !== undefined ? { gateway } : {}),
    provision_start_ip: numberToIpv4(start),
    provision_end_ip: numberToIpv4(end),
    resolvers,
    ...(req.routes && Object.keys(req.routes).length ? { routes: req.routes } : {}),
    public: req.public ?? !req.owner_uuids?.length,
    ...(req.owner_uuids?.length ? { owner_uuids: req.owner_uuids } : {}),
    description: req.description ?? '',
    created: now.toISOString(),
  };
}

/** May `owner` use the network? (The operator, `undefined`, may use all.) */
export const usableBy = (net: CloudNetwork, owner: string | undefined): boolean =>
  owner === undefined || net.public || (net.owner_uuids ?? []).includes(owner);

export class Networks {
  /** Addresses handed to creates under way: network uuid → addresses. */
  private readonly pending = new Map<string, Set<string>>();
  private queue: Promise<unknown> = Promise.resolve();

  private readonly cache: DocCache<CloudNetwork>;

  constructor(
    private readonly docs: () => DocStore,
    private readonly tag: (name: string) => NicTag | undefined,
  ) {
    this.cache = new DocCache(docs);
  }

  list(): CloudNetwork[] {
    return [...this.cache.all()].sort(
      (a, b) => a.created.localeCompare(b.created) || a.name.localeCompare(b.name),
    );
  }

  find(id: string): CloudNetwork | undefined {
    return this.list().find((n) => n.uuid === id || n.name === id);
  }

  get(id: string): CloudNetwork {
    const n = this.find(id);
    if (!n) throw notFound(`${id} not found`);
    return n;
  }

  add(req: NetworkRequest): CloudNetwork {
    const net = networkOf(req, this.tag(req.nic_tag));
    if (this.find(net.name)) throw invalid(`network ${net.name} already exists`);
    const clash = this.list().find(
      (n) =>
        n.nic_tag === net.nic_tag &&
        n.vlan_id === net.vlan_id &&
        (inSubnet(n, numberToIpv4(cidr(net.subnet).network + 1)) ||
          inSubnet(net, numberToIpv4(cidr(n.subnet).network + 1))),
    );
    if (clash) throw invalid(`subnet ${net.subnet} overlaps network ${clash.name} (${clash.subnet})`);
    this.docs().put(net.uuid, net);
    return net;
  }

  /** Delete a network no VM uses (`used` lists the addresses VMs hold on it). */
  delete(id: string, used: readonly string[]): CloudNetwork {
    const n = this.get(id);
    if (used.length) throw invalid(`network ${n.name} is in use by ${used.length} NIC(s)`);
    this.docs().delete(n.uuid);
    return n;
  }

  /**
   * A free address of `net` for a create, given the addresses its VMs hold; it stays taken until
   * `release` (the create wrote its VM, or failed). One allocation at a time, so two creates never
   * get the same address.
   */
  allocate(net: CloudNetwork, used: () => Promise<Iterable<string>>, wanted?: string): Promise<string> {
    const run = this.queue.then(async () => {
      const taken = new Set(await used());
      for (const p of this.pending.get(net.uuid) ?? []) taken.add(p);
      if (net.gateway) taken.add(net.gateway);
      if (wanted !== undefined) {
        if (!inSubnet(net, wanted))
          throw invalid(`ip ${wanted} is not in network ${net.name} (${net.subnet})`);
        if (taken.has(wanted)) throw invalid(`ip ${wanted} is already taken on network ${net.name}`);
        return this.hold(net, wanted);
      }
      for (let n = ipv4ToNumber(net.provision_start_ip); n <= ipv4ToNumber(net.provision_end_ip); n++) {
        const ip = numberToIpv4(n);
        if (!taken.has(ip)) return this.hold(net, ip);
      }
      throw new CloudError('InsufficientCapacity', `network ${net.name} has no free address`);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private hold(net: CloudNetwork, ip: string): string {
    let s = this.pending.get(net.uuid);
    if (!s) this.pending.set(net.uuid, (s = new Set()));
    s.add(ip);
    return ip;
  }

  release(net: CloudNetwork, ip: string): void {
    const s = this.pending.get(net.uuid);
    s?.delete(ip);
    if (s && !s.size) this.pending.delete(net.uuid);
  }

  /** The NIC (vmadm's nics[] entry) a machine gets on `net` with address `ip`. */
  static nic(net: CloudNetwork, ip: string, primary: boolean): Record<string, unknown> {
    return {
      nic_tag: net.nic_tag,
      ...(net.vlan_id ? { vlan_id: net.vlan_id } : {}),
      ip,
      netmask: net.netmask,
      ...(net.gateway ? { gateway: net.gateway } : {}),
      network_uuid: net.uuid,
      ...(primary ? { primary: true } : {}),
    };
  }
}
