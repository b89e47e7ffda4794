/**
 * `zonix account|package|network`: the cloud's accounts (with their SSH keys), packages and
 * networks, as the host's operator manages them (CloudAPI's users see them through `triton`).
 * Tables on a terminal, `-j` JSON for scripts.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { Cloud, LocalCompute, type CloudNetwork, type Package } from '../cloud/index.ts';
import { UsageError, ZonixError } from '../common/index.ts';
import { defaultHost } from '../host/index.ts';
import { hostUuid } from '../platform/index.ts';
import { formatTable } from './table.ts';

export const CLOUD_USAGE = `  account add LOGIN [--email E] [--name N] [--key FILE.pub]...
  account list|get|delete [LOGIN]
  account key add LOGIN FILE.pub [--name N]
  account key list LOGIN
  account key delete LOGIN NAME|FINGERPRINT
                                  accounts (CloudAPI's users) and their SSH keys
  package add NAME --memory MiB [--disk MiB] [--swap MiB] [--vcpus N] [--cpu-cap PCT]
              [--lwps N] [--io-priority N] [--version V] [--group G] [--description D]
  package list|get|delete [NAME|UUID]
                                  packages: the limits a machine is created with
  network add NAME --nic-tag TAG [--subnet CIDR] [--gateway IP] [--start IP] [--end IP]
              [--vlan N] [--resolver IP]... [--route DST=GW]... [--private] [--owner UUID]...
              [--description D]
  network list|get|delete [NAME|UUID]
                                  networks machines get their addresses from
  (list and get take -j for JSON)
`;

export interface Io {
  stdout: Writable;
  stderr: Writable;
}

let shared: Cloud | undefined;
function cloud(): Cloud {
  return (shared ??= new Cloud(new LocalCompute(defaultHost(), hostUuid), 'zonix'));
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

type Options = Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>;

function parse(args: string[], options: Options, usage: string): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({
      args,
      options: { ...options, json: { type: 'boolean', short: 'j' } },
      allowPositionals: true,
      strict: true,
    });
    return { values: r.values, positionals: r.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message, usage);
  }
}

const str = (v: Values, k: string) => {
  const x = v[k];
  return typeof x === 'string' ? x : undefined;
};
const strs = (v: Values, k: string) => (Array.isArray(v[k]) ? (v[k] as string[]) : []);
const num = (v: Values, k: string) => (str(v, k) === undefined ? undefined : Number(str(v, k)));

function readKey(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ZonixError(
      'ENOENT',
      `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}

function out(io: Io, json: boolean, value: unknown, table: () => string): number {
  io.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : table());
  return 0;
}

const need = (x: string | undefined, what: string, usage: string): string => {
  if (x === undefined) throw new UsageError(`${what} is required`, usage);
  return x;
};

export async function accountCommand(argv: string[], io: Io, usage: string): Promise<number> {
  const [verb, ...rest] = argv;
  const c = cloud();
  if (verb === 'key') {
    const [kverb, ...kargs] = rest;
    const p = parse(kargs, { name: { type: 'string' } }, usage);
    const [login, arg] = p.positionals;
    const l = need(login, 'LOGIN', usage);
    if (kverb === 'add') {
      const k = await c.accounts.addKey(l, readKey(need(arg, 'FILE.pub', usage)), str(p.values, 'name'));
      io.stderr.write(`Added key "${k.name}" (${k.fingerprint}) to account ${l}\n`);
      return 0;
    }
    if (kverb === 'list') {
      const keys = c.accounts.get(l).keys;
      return out(io, p.values.json === true, keys, () =>
        formatTable(
          [{ header: 'NAME' }, { header: 'FINGERPRINT' }, { header: 'SHA256' }],
          keys.map((k) => [k.name, k.fingerprint, k.sha256]),
        ),
      );
    }
    if (kverb === 'delete') {
      const k = await c.accounts.deleteKey(l, need(arg, 'NAME or FINGERPRINT', usage));
      io.stderr.write(`Deleted key "${k.name}" (${k.fingerprint}) from account ${l}\n`);
      return 0;
    }
    throw new UsageError(`unknown command 'account key ${kverb ?? ''}'`, usage);
  }
  const p = parse(
    rest,
    { email: { type: 'string' }, name: { type: 'string' }, key: { type: 'string', multiple: true } },
    usage,
  );
  const [login] = p.positionals;
  switch (verb) {
    case 'add': {
      const a = await c.accounts.add({
        login: need(login, 'LOGIN', usage),
        ...(str(p.values, 'email') ? { email: str(p.values, 'email')! } : {}),
        ...(str(p.values, 'name') ? { name: str(p.values, 'name')! } : {}),
        keys: strs(p.values, 'key').map((f) => ({ key: readKey(f) })),
      });
      io.stderr.write(`Created account ${a.login} (${a.uuid})\n`);
      return 0;
    }
    case 'list': {
      const all = c.accounts.list();
      return out(io, p.values.json === true, all, () =>
        formatTable(
          [
            { header: 'LOGIN' },
            { header: 'UUID' },
            { header: 'EMAIL' },
            { header: 'KEYS', right: true },
            { header: 'NAME' },
          ],
          all.map((a) => [a.login, a.uuid, a.email ?? '-', String(a.keys.length), a.name ?? '-']),
        ),
      );
    }
    case 'get': {
      const a = c.accounts.get(need(login, 'LOGIN', usage));
      io.stdout.write(JSON.stringify(a, null, 2) + '\n');
      return 0;
    }
    case 'delete': {
      const a = c.accounts.get(need(login, 'LOGIN', usage));
      const owned = (await c.compute.vms()).filter((vm) => vm.owner_uuid === a.uuid);
      if (owned.length)
        throw new ZonixError('EBUSY', `account ${a.login} owns ${owned.length} VM(s): delete them first`);
      await c.accounts.delete(a.login);
      io.stderr.write(`Deleted account ${a.login}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command 'account ${verb ?? ''}'`, usage);
  }
}

const pkgRow = (p: Package) => [
  p.name,
  p.uuid,
  p.version,
  String(p.memory),
  String(p.swap),
  String(p.disk),
  String(p.vcpus),
  p.cpu_cap ? String(p.cpu_cap) : '-',
  p.group || '-',
];

export async function packageCommand(argv: string[], io: Io, usage: string): Promise<number> {
  const [verb, ...rest] = argv;
  const c = cloud();
  const p = parse(
    rest,
    {
      memory: { type: 'string' },
      disk: { type: 'string' },
      swap: { type: 'string' },
      vcpus: { type: 'string' },
      'cpu-cap': { type: 'string' },
      lwps: { type: 'string' },
      'io-priority': { type: 'string' },
      version: { type: 'string' },
      group: { type: 'string' },
      description: { type: 'string' },
    },
    usage,
  );
  const [name] = p.positionals;
  const v = p.values;
  switch (verb) {
    case 'add': {
      const opt = (k: string, field: string) => (num(v, k) === undefined ? {} : { [field]: num(v, k) });
      const pkg = c.packages.add({
        name: need(name, 'NAME', usage),
        memory: num(v, 'memory') ?? NaN,
        ...opt('disk', 'disk'),
        ...opt('swap', 'swap'),
        ...opt('vcpus', 'vcpus'),
        ...opt('cpu-cap', 'cpu_cap'),
        ...opt('lwps', 'lwps'),
        ...opt('io-priority', 'zfs_io_priority'),
        ...(str(v, 'version') ? { version: str(v, 'version')! } : {}),
        ...(str(v, 'group') ? { group: str(v, 'group')! } : {}),
        ...(str(v, 'description') ? { description: str(v, 'description')! } : {}),
      });
      io.stderr.write(`Created package ${pkg.name} (${pkg.uuid})\n`);
      return 0;
    }
    case 'list': {
      const all = c.packages.list();
      return out(io, v.json === true, all, () =>
        formatTable(
          ['NAME', 'UUID', 'VERSION', 'MEMORY', 'SWAP', 'DISK', 'VCPUS', 'CPU_CAP', 'GROUP'].map((h, i) => ({
            header: h,
            right: i >= 3 && i <= 7,
          })),
          all.map(pkgRow),
        ),
      );
    }
    case 'get':
      io.stdout.write(JSON.stringify(c.packages.get(need(name, 'NAME', usage)), null, 2) + '\n');
      return 0;
    case 'delete': {
      const pkg = c.packages.delete(need(name, 'NAME', usage));
      io.stderr.write(`Deleted package ${pkg.name} (${pkg.uuid})\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command 'package ${verb ?? ''}'`, usage);
  }
}

const netRow = (n: CloudNetwork) => [
  n.name,
  n.uuid,
  n.nic_tag,
  String(n.vlan_id),
  n.subnet,
  n.gateway ?? '-',
  `${n.provision_start_ip}-${n.provision_end_ip}`,
  n.public ? 'yes' : 'no',
];

export async function networkCommand(argv: string[], io: Io, usage: string): Promise<number> {
  const [verb, ...rest] = argv;
  const c = cloud();
  const p = parse(
    rest,
    {
      'nic-tag': { type: 'string' },
      subnet: { type: 'string' },
      gateway: { type: 'string' },
      start: { type: 'string' },
      end: { type: 'string' },
      vlan: { type: 'string' },
      resolver: { type: 'string', multiple: true },
      route: { type: 'string', multiple: true },
      private: { type: 'boolean' },
      owner: { type: 'string', multiple: true },
      description: { type: 'string' },
    },
    usage,
  );
  const [name] = p.positionals;
  const v = p.values;
  switch (verb) {
    case 'add': {
      const routes: Record<string, string> = {};
      for (const r of strs(v, 'route')) {
        const [dst, gw] = r.split('=');
        if (!dst || !gw) throw new UsageError(`--route: expected DST=GW, not '${r}'`, usage);
        routes[dst] = gw;
      }
      const n = c.networks.add({
        name: need(name, 'NAME', usage),
        nic_tag: need(str(v, 'nic-tag'), '--nic-tag', usage),
        ...(str(v, 'subnet') ? { subnet: str(v, 'subnet')! } : {}),
        ...(str(v, 'gateway') ? { gateway: str(v, 'gateway')! } : {}),
        ...(str(v, 'start') ? { provision_start_ip: str(v, 'start')! } : {}),
        ...(str(v, 'end') ? { provision_end_ip: str(v, 'end')! } : {}),
        ...(str(v, 'vlan') ? { vlan_id: str(v, 'vlan')! } : {}),
        ...(strs(v, 'resolver').length ? { resolvers: strs(v, 'resolver') } : {}),
        ...(Object.keys(routes).length ? { routes } : {}),
        ...(v.private === true || strs(v, 'owner').length ? { public: false } : {}),
        ...(strs(v, 'owner').length ? { owner_uuids: strs(v, 'owner') } : {}),
        ...(str(v, 'description') ? { description: str(v, 'description')! } : {}),
      });
      io.stderr.write(
        `Created network ${n.name} (${n.uuid}): ${n.subnet} on ${n.nic_tag}, addresses ${n.provision_start_ip}-${n.provision_end_ip}\n`,
      );
      return 0;
    }
    case 'list': {
      const all = c.networks.list();
      return out(io, v.json === true, all, () =>
        formatTable(
          ['NAME', 'UUID', 'NIC_TAG', 'VLAN', 'SUBNET', 'GATEWAY', 'RANGE', 'PUBLIC'].map((h) => ({
            header: h,
          })),
          all.map(netRow),
        ),
      );
    }
    case 'get':
      io.stdout.write(JSON.stringify(c.networks.get(need(name, 'NAME', usage)), null, 2) + '\n');
      return 0;
    case 'delete': {
      const n = c.networks.get(need(name, 'NAME', usage));
      c.networks.delete(n.uuid, await c.addressesOn(n));
      io.stderr.write(`Deleted network ${n.name}\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command 'network ${verb ?? ''}'`, usage);
  }
}
