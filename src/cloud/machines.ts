/**
 * Machines as CloudAPI shows them, made from VMs as vmadm has them (the reference's section 5.1 and
 * 5.2), and CloudAPI's CreateMachine body made into a vmadm payload. Pure: what a VM's package,
 * image and networks are is given by the caller.
 * @module
 */
import { BRAND_NAMES, brandDriver, getBrand, type VmRecord } from '../vm/index.ts';
import { invalid, missing } from './errors.ts';
import { Networks, type CloudNetwork } from './networks.ts';
import { packagePayload, type Package } from './packages.ts';

/** vmadm's state → CloudAPI's. */
export function machineState(state: unknown): string {
  switch (state) {
    case 'configured':
    case 'incomplete':
    case 'unavailable':
    case 'provisioning':
      return 'provisioning';
    case 'ready':
      return 'ready';
    case 'running':
      return 'running';
    case 'halting':
    case 'stopping':
    case 'shutting_down':
      return 'stopping';
    case 'off':
    case 'down':
    case 'installed':
    case 'stopped':
      return 'stopped';
    case 'unreachable':
      return 'offline';
    case 'destroyed':
      return 'deleted';
    case 'failed':
      return 'failed';
    default:
      return 'unknown';
  }
}

/** CloudAPI's `state` filter → the vmadm states it means. */
export function statesFor(filter: string): (s: string) => boolean {
  switch (filter) {
    case 'provisioning':
    case 'stopping':
    case 'active':
      return (s) => s !== 'deleted';
    case 'running':
    case 'stopped':
    case 'unknown':
    case 'failed':
    case 'offline':
    case 'ready':
      return (s) => s === filter;
    case 'destroyed':
    case 'deleted':
      return (s) => s === 'deleted';
    default:
      throw invalid(`${filter} is not a valid state`);
  }
}

/** A machine name: what CloudAPI takes (and vmadm keeps as alias and hostname). */
export const validMachineName = (name: string): boolean => /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,188}$/.test(name);

interface Nic {
  mac?: string;
  ip?: string;
  netmask?: string;
  gateway?: string;
  primary?: boolean;
  network_uuid?: string;
  nic_tag?: string;
}

export interface MachineContext {
  /** The package's name for a billing_id, `""` when unknown. */
  packageName: (uuid: string) => string;
}

export interface Machine {
  id: string;
  name: string;
  type: 'smartmachine' | 'virtualmachine';
  brand: string;
  state: string;
  image: string;
  ips: string[];
  memory: number;
  disk: number;
  metadata: Record<string, string>;
  tags: Record<string, unknown>;
  created: string;
  updated: string;
  networks: string[];
  nics: {
    mac: string;
    ip: string;
    primary: boolean;
    gateway?: string;
    netmask?: string;
    state: string;
    network?: string;
  }[];
  primaryIp?: string;
  firewall_enabled: boolean;
  deletion_protection: boolean;
  compute_node: string;
  package: string;
  docker?: boolean;
  dns_names?: string[];
}

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

/** A VM property that is a string, else `d`. */
const text = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);

/** A VM as CloudAPI shows it. Every machine has a UUID `image` (the CLI asserts it). */
export function toMachine(vm: VmRecord, ctx: MachineContext, opts: { deleted?: boolean } = {}): Machine {
  const brand = text(vm.brand, 'joyent');
  const hvm = getBrand(brand)?.hvm === true;
  const disks = (vm.disks as { image_uuid?: string; size?: number }[] | undefined) ?? [];
  const nics = ((vm.nics as Nic[] | undefined) ?? []).filter((n) => typeof n.ip === 'string');
  const ips = nics.map((n) => n.ip!).filter((ip) => ip !== 'dhcp' && ip !== 'addrconf');
  const primary = nics.find((n) => n.primary) ?? nics.find((n) => n.nic_tag === 'external') ?? nics[0];
  const image = text(hvm ? disks[0]?.image_uuid : vm.image_uuid) || text(vm.image_uuid, ZERO_UUID);
  const quota = typeof vm.quota === 'number' ? vm.quota : 0;
  const memory = Number((hvm ? vm.ram : vm.max_physical_memory) ?? 0);
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries((vm.customer_metadata as Record<string, unknown> | undefined) ?? {}))
    if (typeof v === 'string') metadata[k] = v;
  const state = opts.deleted ? 'deleted' : machineState(vm.state);
  const m: Machine = {
    id: vm.uuid,
    name: text(vm.alias),
    type: hvm ? 'virtualmachine' : 'smartmachine',
    brand,
    state,
    image,
    ips,
    memory,
    disk: hvm ? Number(vm.flexible_disk_size ?? disks[1]?.size ?? 0) : quota * 1024,
    metadata,
    tags: { ...((vm.tags as Record<string, unknown> | undefined) ?? {}) },
    created: text(vm.create_timestamp),
    updated: text(vm.last_modified) || text(vm.create_timestamp),
    networks: nics.map((n) => n.network_uuid).filter((u): u is string => typeof u === 'string'),
    nics: nics.map((n) => ({
      mac: n.mac ?? '',
      ip: n.ip!,
      primary: n === primary,
      ...(n.gateway ? { gateway: n.gateway } : {}),
      ...(n.netmask ? { netmask: n.netmask } : {}),
      state: vm.state === 'running' ? 'running' : 'stopped',
      ...(n.network_uuid ? { network: n.network_uuid } : {}),
    })),
    ...(primary?.ip && ips.includes(primary.ip) ? { primaryIp: primary.ip } : {}),
    firewall_enabled: vm.firewall_enabled === true,
    deletion_protection: vm.indestructible_zoneroot === true,
    compute_node: text(vm.server_uuid),
    package: typeof vm.billing_id === 'string' ? ctx.packageName(vm.billing_id) : '',
    ...(vm.docker === true ? { docker: true } : {}),
  };
  return m;
}

/** What CreateMachine resolved: the account, image, package and networks with their addresses. */
export interface CreateInputs {
  owner: string;
  image: { uuid: string; type?: string; os?: string; name?: string; requirements?: { brand?: string } };
  pkg: Package;
  networks: { net: CloudNetwork; ip: string }[];
  /** The account's keys, one per line (root_authorized_keys). */
  authorizedKeys: string;
  serverUuid?: string;
}

/** CreateMachine's body made into the vmadm payload VMAPI would get. */
export function createPayload(body: Record<string, unknown>, inputs: CreateInputs): Record<string, unknown> {
  const metadata: Record<string, unknown> = {};
  const tags: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (k.startsWith('metadata.')) metadata[k.slice(9)] = typeof v === 'string' ? v : JSON.stringify(v);
    else if (k.startsWith('tag.')) tags[k.slice(4)] = v;
  }
  if (body.metadata !== undefined && typeof body.metadata === 'object' && body.metadata !== null)
    for (const [k, v] of Object.entries(body.metadata))
      metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  if (body.tags !== undefined && typeof body.tags === 'object' && body.tags !== null)
    Object.assign(tags, body.tags);
  if (inputs.authorizedKeys) metadata.root_authorized_keys = inputs.authorizedKeys;
  const name = body.name;
  if (name !== undefined && (typeof name !== 'string' || !validMachineName(name)))
    throw invalid(`name ${JSON.stringify(name)} is invalid`);
  const imageType = inputs.image.type ?? 'zone-dataset';
  // A zone image's brand takes it as its root; a zvol image is an HVM guest's boot disk.
  const brand =
    typeof body.brand === 'string'
      ? body.brand
      : (inputs.image.requirements?.brand ??
        BRAND_NAMES.find((b) => getBrand(b)!.imageTypes.includes(imageType)) ??
        BRAND_NAMES.find((b) => getBrand(b)!.diskImageTypes.includes(imageType)) ??
        'joyent');
  if (brandDriver(brand)?.bootable === false)
    throw invalid(`brand ${brand} is not supported yet on this host`);
  const hvm = getBrand(brand)?.hvm === true;
  if (hvm && imageType !== 'zvol')
    throw invalid(`image ${inputs.image.uuid} is not a zvol image, which ${brand} machines boot from`);
  const nics = inputs.networks.map((n, i) => ({
    ...Networks.nic(n.net, n.ip, i === 0),
    ...(hvm ? { model: 'virtio' } : {}),
  }));
  // HVM machines (as Triton makes them): the package's memory is the guest's RAM (the zone's cap
  // derived from it), its disk a second, empty disk beside the image's boot disk.
  const {
    max_physical_memory: _m,
    max_locked_memory: _l,
    max_swap: _s,
    quota: _q,
    ...pkgRest
  } = packagePayload(inputs.pkg);
  const sized = hvm
    ? {
        ...pkgRest,
        ram: inputs.pkg.memory,
        vcpus: Math.max(1, inputs.pkg.vcpus),
        disks: [
          { image_uuid: inputs.image.uuid, boot: true, model: 'virtio' },
          ...(inputs.pkg.disk > 0 ? [{ size: inputs.pkg.disk, model: 'virtio' }] : []),
        ],
      }
    : { image_uuid: inputs.image.uuid, ...packagePayload(inputs.pkg) };
  return {
    brand,
    owner_uuid: inputs.owner,
    ...(typeof name === 'string' ? { alias: name, hostname: name } : {}),
    ...sized,
    nics,
    resolvers: [...new Set(inputs.networks.flatMap((n) => n.net.resolvers))],
    ...(Object.keys(metadata).length ? { customer_metadata: metadata } : {}),
    ...(Object.keys(tags).length ? { tags } : {}),
    ...(body.firewall_enabled !== undefined ? { firewall_enabled: body.firewall_enabled === true } : {}),
    ...(body.deletion_protection === true ? { indestructible_zoneroot: true } : {}),
    ...(body.delegate_dataset === true ? { delegate_dataset: true } : {}),
    autoboot: true,
  };
}

/** The networks CreateMachine names: UUIDs (or names), or `{ipv4_uuid, ipv4_ips}` objects. */
export function requestedNetworks(v: unknown): { id: string; ip?: string }[] | undefined {
  if (v === undefined) return undefined;
  const list = typeof v === 'string' ? v.split(',') : v;
  if (!Array.isArray(list)) throw invalid('networks must be an array of network UUIDs');
  return list.map((n: unknown) => {
    if (typeof n === 'string') return { id: n };
    if (n && typeof n === 'object' && typeof (n as { ipv4_uuid?: unknown }).ipv4_uuid === 'string') {
      const o = n as { ipv4_uuid: string; ipv4_ips?: unknown };
      const ips = Array.isArray(o.ipv4_ips) ? o.ipv4_ips : [];
      if (ips.length > 1) throw invalid('ipv4_ips: one address per network');
      return { id: o.ipv4_uuid, ...(typeof ips[0] === 'string' ? { ip: ips[0] } : {}) };
    }
    throw invalid(`networks: ${JSON.stringify(n)} is not a network`);
  });
}

export const requireField = (body: Record<string, unknown>, k: string): string => {
  const v = body[k];
  if (v === undefined || v === null || v === '') throw missing(`${k} is required`);
  if (typeof v !== 'string') throw invalid(`${k} must be a string`);
  return v;
};
