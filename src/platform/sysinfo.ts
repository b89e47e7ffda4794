/**
 * The SmartOS `sysinfo` object for this host: the same keys, in the same order, with the same types,
 * filled from /proc, /sys, `ip -j` and the host probe. Reading the host (`readHostFacts`) is kept apart
 * from assembling the object (`buildSysinfo`) and the parsers, which are pure and tested on recorded text.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { hostname, type as osType } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomicSync } from '../common/index.ts';
import { run } from './exec.ts';
import { configDir, systemPoolName } from './paths.ts';
import type { HostProbe } from './probe.ts';

/** One storage pool as the storage layer reports it; sysinfo shows the system pool from these. */
export interface PoolSummary {
  name: string;
  mountpoint: string;
  devices: string[];
  sizeBytes: number;
  allocBytes: number;
  freeBytes: number;
  health: string;
  profile: string;
  /** Seconds since the epoch. */
  creation?: number;
}

/** Subset of `ip -j -d addr` output that sysinfo reads. */
export interface IpLink {
  ifname: string;
  address?: string;
  operstate?: string;
  flags?: string[];
  master?: string;
  /** Parent link of a vlan/macvlan. */
  link?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
  addr_info?: { family: string; local: string }[];
}

export interface CpuInfo {
  model: string;
  /** Logical CPUs listed. */
  count: number;
  /** Distinct physical ids (sockets). */
  sockets: number;
  /** Distinct (physical id, core id) pairs. */
  cores: number;
}

export interface DmiInfo {
  manufacturer: string;
  product: string;
  serial: string;
  sku: string;
  version: string;
  family: string;
}

/** Everything sysinfo reads from the host, gathered in one place so `buildSysinfo` stays pure. */
export interface HostFacts {
  version: string;
  buildstamp: string;
  systemType: string;
  bootTime: string;
  dmi: DmiInfo;
  cpu: CpuInfo;
  onlineCpus: number;
  uuid: string;
  hostname: string;
  memoryMiB: number;
  /** Disk name → size in bytes. */
  disks: Record<string, number>;
  bootParams: Record<string, string>;
  links: IpLink[];
  /** Names of links backed by a device (/sys/class/net/<name>/device exists). */
  physical: string[];
}

const GIB = 1024 ** 3;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** SMBIOS placeholders that firmware leaves in place of a real UUID. */
const BOGUS_UUIDS = new Set([
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '03000200-0400-0500-0006-000700080009',
]);
const DMI_DIR = '/sys/class/dmi/id';
const VIRTUAL_NIC_KINDS = new Set(['macvlan', 'macvtap', 'ipvlan', 'vlan']);

// ---------------------------------------------------------------------------------------------------
// Pure parsers

/** Model name, CPU count, sockets and cores from /proc/cpuinfo. */
export function parseCpuInfo(text: string): CpuInfo {
  let model = '';
  let count = 0;
  const sockets = new Set<string>();
  const cores = new Set<string>();
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of block.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
    }
    if (!fields.has('processor')) continue;
    count++;
    model ||= fields.get('model name') ?? '';
    const socket = fields.get('physical id') ?? '0';
    sockets.add(socket);
    cores.add(`${socket}:${fields.get('core id') ?? String(count)}`);
  }
  return { model: model || 'Unknown', count, sockets: count ? sockets.size : 0, cores: cores.size };
}

/** MemTotal from /proc/meminfo, in MiB (rounded down). */
export function parseMemTotalMiB(text: string): number {
  const m = /^MemTotal:\s+(\d+)\s*kB/m.exec(text);
  return m ? Math.floor(Number(m[1]) / 1024) : 0;
}

/** Boot time (seconds since the epoch, as a string) from the `btime` line of /proc/stat. */
export function parseBootTime(text: string): string {
  return /^btime\s+(\d+)/m.exec(text)?.[1] ?? '0';
}

/** Count CPUs in a kernel cpu list such as `0-3,8,10-11`. */
export function countCpuList(text: string): number {
  let n = 0;
  for (const part of text.trim().split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number);
    if (a === undefined || Number.isNaN(a)) continue;
    n += b === undefined || Number.isNaN(b) ? 1 : b - a + 1;
  }
  return n;
}

/** SmartOS's key mangling: anything outside [A-Za-z0-9_] becomes `_`. */
export function sanitizeKey(key: string): string {
  return key.replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * `key=value` pairs of the kernel command line (before a `--`), keys mangled as SmartOS does. Double
 * quotes group words; flags without `=` are left out; a repeated key keeps its last value.
 */
export function parseCmdline(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const tokens = text.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
  for (const token of tokens) {
    if (token === '--') break;
    const eq = token.indexOf('=');
    if (eq <= 0) continue;
    out[sanitizeKey(token.slice(0, eq))] = token.slice(eq + 1).replace(/"/g, '');
  }
  return out;
}

/** A usable host UUID from SMBIOS text, lowercased; undefined for malformed or placeholder values. */
export function validHostUuid(text: string): string | undefined {
  const uuid = text.trim().toLowerCase();
  return UUID_RE.test(uuid) && !BOGUS_UUIDS.has(uuid) ? uuid : undefined;
}

/** /etc/machine-id (32 hex digits) written as a UUID. */
export function machineIdToUuid(text: string): string | undefined {
  const id = text.trim().toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(id)) return undefined;
  return validHostUuid(
    `${id.slice(0, 8)}-${id.slice(8, 12)}-${id.slice(12, 16)}-${id.slice(16, 20)}-${id.slice(20)}`,
  );
}

/** SmartOS's build stamp format: `20261126T160000Z` (UTC). */
export function formatBuildstamp(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Whole-disk block devices sysinfo lists: not loop, ram, zram or nbd devices, not partitions. */
export function isListedDisk(name: string): boolean {
  return !/^(loop|ram|zram|nbd)\d+$/.test(name);
}

function linkStatus(link: IpLink): string {
  switch (link.operstate) {
    case 'UP':
      return 'up';
    case 'DOWN':
    case 'LOWERLAYERDOWN':
    case 'NOTPRESENT':
      return 'down';
    default:
      return link.flags?.includes('LOWER_UP') ? 'up' : 'down';
  }
}

function ip4addr(link: IpLink): string {
  return link.addr_info?.find((a) => a.family === 'inet')?.local ?? '';
}

function lacpMode(data: Record<string, unknown> | undefined): string {
  if (data?.mode !== '802.3ad') return 'off';
  return data.ad_lacp_active === 'off' ? 'passive' : 'active';
}

export interface NetworkSections {
  'Network Interfaces': Record<string, unknown>;
  'Virtual Network Interfaces': Record<string, unknown>;
  'Link Aggregations': Record<string, unknown>;
}

/**
 * The three network sections of sysinfo from `ip -j -d addr`. Physical NICs are links with a device;
 * virtual NICs are host-side vlan/macvlan/ipvlan links (SmartOS lists only the global zone's vnics, so
 * zone veths and nic-tag bridges are not shown); aggregations are bonds.
 */
export function networkSections(links: IpLink[], physical: string[]): NetworkSections {
  const phys = new Set(physical);
  const nics: Record<string, unknown> = {};
  const vnics: Record<string, unknown> = {};
  const aggrs: Record<string, unknown> = {};
  for (const link of links) {
    const kind = link.linkinfo?.info_kind;
    const common = {
      'MAC Address': (link.address ?? '').toLowerCase(),
      ip4addr: ip4addr(link),
      'Link Status': linkStatus(link),
    };
    if (kind === 'bond') {
      aggrs[link.ifname] = {
        'LACP mode': lacpMode(link.linkinfo?.info_data),
        Interfaces: links.filter((l) => l.master === link.ifname).map((l) => l.ifname),
      };
    } else if (kind !== undefined && VIRTUAL_NIC_KINDS.has(kind)) {
      const vlan = kind === 'vlan' ? link.linkinfo?.info_data?.id : 0;
      vnics[link.ifname] = {
        ...common,
        'Host Interface': link.link ?? '',
        VLAN: typeof vlan === 'number' ? String(vlan) : '0',
      };
    } else if (phys.has(link.ifname)) {
      nics[link.ifname] = { ...common, 'NIC Names': [] };
    }
  }
  return { 'Network Interfaces': nics, 'Virtual Network Interfaces': vnics, 'Link Aggregations': aggrs };
}

/** The sysinfo pool: the system pool (`zones`), else the first. */
export function systemPool(pools: PoolSummary[], name = systemPoolName()): PoolSummary | undefined {
  return pools.find((p) => p.name === name) ?? pools[0];
}

function zpoolFields(pool: PoolSummary | undefined): Record<string, unknown> {
  if (!pool) return {};
  return {
    Zpool: pool.name,
    'Zpool Disks': pool.devices.map((d) => d.replace(/^\/dev\//, '')).join(','),
    'Zpool Profile': pool.profile,
    ...(pool.creation === undefined ? {} : { 'Zpool Creation': pool.creation }),
    'Zpool Size in GiB': Math.floor(pool.sizeBytes / GIB),
  };
}

export interface BuildOptions {
  probe: HostProbe;
  pools: PoolSummary[];
  datacenterName?: string;
}

/** Assemble the sysinfo object, keys in SmartOS's order. */
export function buildSysinfo(facts: HostFacts, opts: BuildOptions): Record<string, unknown> {
  const { probe } = opts;
  const disks = Object.fromEntries(
    Object.entries(facts.disks).map(([name, bytes]) => [name, { 'Size in GB': Math.floor(bytes / 1e9) }]),
  );
  return {
    'Live Image': facts.buildstamp,
    'System Type': facts.systemType,
    'Boot Time': facts.bootTime,
    ...(opts.datacenterName ? { 'Datacenter Name': opts.datacenterName } : {}),
    'SDC Version': '7.0',
    Manufacturer: facts.dmi.manufacturer,
    Product: facts.dmi.product,
    'Serial Number': facts.dmi.serial,
    'SKU Number': facts.dmi.sku,
    'HW Version': facts.dmi.version,
    'HW Family': facts.dmi.family,
    Setup: 'false',
    'VM Capable': probe.kvm.usable || probe.tcg.usable,
    'Bhyve Capable': false,
    'HVM API': false,
    'CPU Type': facts.cpu.model,
    'CPU Virtualization': probe.kvm.usable ? 'kvm' : 'none',
    'CPU Physical Cores': facts.cpu.sockets,
    'Admin NIC Tag': 'admin',
    UUID: facts.uuid,
    Hostname: facts.hostname,
    'CPU Total Cores': facts.cpu.count,
    'CPU Socket Count': facts.cpu.sockets,
    'CPU Core Count': facts.cpu.cores,
    'CPU Online Count': facts.onlineCpus,
    'CPU Count': facts.cpu.count,
    'MiB of Memory': String(facts.memoryMiB),
    ...zpoolFields(systemPool(opts.pools)),
    Disks: disks,
    'Boot Parameters': facts.bootParams,
    ...networkSections(facts.links, facts.physical),
    Zonix: { version: facts.version, ...probe },
  };
}

// ---------------------------------------------------------------------------------------------------
// `sysinfo -p`

/** Values SmartOS prints without quotes although they are strings. */
const UNQUOTED = new Set(['MiB of Memory', 'Admin NIC Tag']);

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function scalar(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(scalar).join(',');
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function line(key: string, value: unknown, quoted = typeof value !== 'number'): string {
  return `${sanitizeKey(key)}=${quoted ? shellQuote(scalar(value)) : scalar(value)}`;
}

function entries(value: unknown): [string, Record<string, unknown>][] {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, Record<string, unknown>>);
}

/** Generic flattening for keys SmartOS has no convention for: `a_b_c='v'`, arrays comma-joined. */
function flatten(prefix: string, value: unknown): string[] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => flatten(`${prefix}_${k}`, v));
  }
  return [line(prefix, value)];
}

function nicLines(prefix: string, name: string, nic: Record<string, unknown>): string[] {
  const p = `${prefix}_${name}_`;
  const out = [line(`${p}MAC_Address`, nic['MAC Address']), line(`${p}IPv4_Address`, nic.ip4addr)];
  if ('NIC Names' in nic) out.push(line(`${p}NIC_Names`, nic['NIC Names']));
  out.push(line(`${p}Link_Status`, nic['Link Status']));
  if ('VLAN' in nic) out.push(line(`${p}VLAN`, nic.VLAN));
  if ('Host Interface' in nic) out.push(line(`${p}Host_Interface`, nic['Host Interface']));
  return out;
}

const SECTION_FORMATS: Record<string, (value: unknown) => string[]> = {
  Disks: (v) => entries(v).map(([name, d]) => line(`Disk_${name}_size_in_GB`, d['Size in GB'])),
  'Boot Parameters': (v) =>
    Object.entries(v as Record<string, string>).map(([k, val]) => line(`Bootparam_${k}`, val)),
  'Network Interfaces': (v) => entries(v).flatMap(([n, nic]) => nicLines('Network_Interface', n, nic)),
  'Virtual Network Interfaces': (v) =>
    entries(v).flatMap(([n, nic]) => nicLines('Virtual_Network_Interface', n, nic)),
  'Link Aggregations': (v) => {
    const aggrs = entries(v);
    if (!aggrs.length) return [];
    return [
      line('Aggregations', aggrs.map(([n]) => n).join(','), false),
      ...aggrs.flatMap(([n, a]) => [
        line(`Aggregation_${n}_LACP_mode`, a['LACP mode'], false),
        line(`Aggregation_${n}_Interfaces`, a.Interfaces, false),
      ]),
    ];
  },
};

/**
 * `sysinfo -p`: one `key='value'` line per field as SmartOS prints them (`Network_Interface_eth0_MAC_Address`,
 * `Disk_vda_size_in_GB`, `Bootparam_console`); other nested objects flatten with `_`. Values are
 * single-quoted for the shell, except numbers.
 */
export function formatParsable(obj: Record<string, unknown>): string {
  const lines = Object.entries(obj).flatMap(([key, value]) => {
    const special = SECTION_FORMATS[key];
    if (special) return special(value);
    if (UNQUOTED.has(key)) return [line(key, value, false)];
    return flatten(key, value);
  });
  return lines.map((l) => `${l}\n`).join('');
}

// ---------------------------------------------------------------------------------------------------
// Reading the host

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

interface PackageInfo {
  root: string;
  version: string;
}

let packageInfo: PackageInfo | undefined;

/** The nearest package.json above this module (works from src/ under tsx and from a dist/ bundle). */
function findPackage(): PackageInfo {
  if (packageInfo) return packageInfo;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const { version } = JSON.parse(readFileSync(file, 'utf8')) as { version?: string };
      return (packageInfo = { root: dir, version: version ?? '0.0.0' });
    }
    const up = dirname(dir);
    if (up === dir) return (packageInfo = { root: dir, version: '0.0.0' });
    dir = up;
  }
}

/** `dist/buildstamp` when the build wrote one, else the package.json mtime. */
function readBuildstamp(root: string): string {
  const stamp = (() => {
    try {
      return readFileSync(join(root, 'dist', 'buildstamp'), 'utf8').trim();
    } catch {
      return '';
    }
  })();
  if (/^\d{8}T\d{6}Z$/.test(stamp)) return stamp;
  try {
    return formatBuildstamp(statSync(join(root, 'package.json')).mtime);
  } catch {
    return formatBuildstamp(new Date(0));
  }
}

async function readDmi(): Promise<DmiInfo> {
  const read = async (f: string) => (await readText(join(DMI_DIR, f))).trim();
  const [manufacturer, product, serial, sku, version, family] = await Promise.all(
    ['sys_vendor', 'product_name', 'product_serial', 'product_sku', 'product_version', 'product_family'].map(
      read,
    ),
  );
  return {
    manufacturer: manufacturer ?? '',
    product: product ?? '',
    serial: serial ?? '',
    sku: sku ?? '',
    version: version ?? '',
    family: family ?? '',
  };
}

/**
 * The host UUID, stable across runs: SMBIOS product_uuid when it is real, else /etc/machine-id as a
 * UUID, else a random one kept in `<configDir>/host-uuid`.
 */
export async function hostUuid(): Promise<string> {
  const smbios = validHostUuid(await readText(join(DMI_DIR, 'product_uuid')));
  if (smbios) return smbios;
  const machine = machineIdToUuid(await readText('/etc/machine-id'));
  if (machine) return machine;
  const file = join(configDir(), 'host-uuid');
  const kept = validHostUuid(await readText(file));
  if (kept) return kept;
  const fresh = randomUUID();
  try {
    mkdirSync(configDir(), { recursive: true });
    writeFileAtomicSync(file, `${fresh}\n`);
  } catch {
    /* unwritable config dir: the UUID is not stable, but sysinfo still answers */
  }
  return fresh;
}

async function readDisks(): Promise<Record<string, number>> {
  const names = (await readdir('/sys/block').catch(() => [] as string[])).filter(isListedDisk).sort();
  const sizes = await Promise.all(
    names.map(async (n) => Number((await readText(`/sys/block/${n}/size`)).trim())),
  );
  return Object.fromEntries(names.map((n, i) => [n, (sizes[i] || 0) * 512]));
}

async function readLinks(): Promise<{ links: IpLink[]; physical: string[] }> {
  let links: IpLink[] = [];
  try {
    const { stdout } = await run('ip', ['-j', '-d', 'addr', 'show'], { timeoutMs: 5_000 });
    const parsed: unknown = JSON.parse(stdout);
    if (Array.isArray(parsed)) links = parsed as IpLink[];
  } catch {
    /* no iproute2: no network sections */
  }
  const physical = links.map((l) => l.ifname).filter((n) => existsSync(`/sys/class/net/${n}/device`));
  return { links, physical };
}

/** Read everything sysinfo needs from this host. */
export async function readHostFacts(): Promise<HostFacts> {
  const pkg = findPackage();
  const [cpuinfo, meminfo, stat, cmdline, online, dmi, uuid, disks, net] = await Promise.all([
    readText('/proc/cpuinfo'),
    readText('/proc/meminfo'),
    readText('/proc/stat'),
    readText('/proc/cmdline'),
    readText('/sys/devices/system/cpu/online'),
    readDmi(),
    hostUuid(),
    readDisks(),
    readLinks(),
  ]);
  const cpu = parseCpuInfo(cpuinfo);
  return {
    version: pkg.version,
    buildstamp: readBuildstamp(pkg.root),
    systemType: osType(),
    bootTime: parseBootTime(stat),
    dmi,
    cpu,
    onlineCpus: countCpuList(online) || cpu.count,
    uuid,
    hostname: hostname(),
    memoryMiB: parseMemTotalMiB(meminfo),
    disks,
    bootParams: parseCmdline(cmdline),
    links: net.links,
    physical: net.physical,
  };
}

/** The SmartOS sysinfo object for this host. */
export async function collectSysinfo(opts: BuildOptions): Promise<Record<string, unknown>> {
  return buildSysinfo(await readHostFacts(), opts);
}
