/**
 * `dladm`: the host's data links as illumos shows them: physical links (`show-phys`), VM NICs
 * (`show-vnic`: the host ends of their veth pairs, over their nic tag), etherstubs (`show-etherstub`,
 * `create-etherstub`, `delete-etherstub`: the same local tags `nictagadm -l` keeps), all of them
 * (`show-link`), and link properties (`show-linkprop`, `set-linkprop -p maxbw=`, `reset-linkprop`;
 * maxbw is the VM NIC's own property, so it lasts). Columns and widths are illumos's (ofmt: a field's
 * width includes the space after it); `-p -o` (`-c -o` for show-linkprop) gives ':'-separated values
 * with ':' escaped. Errors: `dladm: ...`, exit 1.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { ZonixError } from '../common/index.ts';
import { defaultHost } from '../host/index.ts';
import {
  isUplinkCandidate,
  links,
  Network,
  parseMaxbw,
  validStubName,
  type LinkInfo,
  type NicTag,
  type Vnic,
} from '../net/index.ts';
import { getopt, has, last, type Parsed } from './getopt.ts';

export interface Io {
  stdout: Pick<Writable, 'write'>;
  stderr: Pick<Writable, 'write'>;
}

const USAGE = `usage:  dladm <subcommand> <args> ...
    show-link       [-p] [-o <field>,...] [<link>]
    show-phys       [-p] [-o <field>,...] [<link>]
    show-vnic       [-p] [-o <field>,...] [<link>]
    create-etherstub [-t] <link>
    delete-etherstub [-t] <link>
    show-etherstub  [-p] [-o <field>,...] [<link>]
    set-linkprop    [-t] -p <prop>=<value>[,...] [-z <zone>] <name>
    reset-linkprop  [-t] [-p <prop>,...] [-z <zone>] <name>
    show-linkprop   [-c] [-o <field>,...] [-p <prop>,...] [-z <zone>] [<name>]
`;

class Fail extends Error {
  constructor(
    message: string,
    readonly withUsage = false,
  ) {
    super(message);
  }
}

const fail = (msg: string, withUsage = false): never => {
  throw new Fail(msg, withUsage);
};

// ---- ofmt -----------------------------------------------------------------------------------------

type Row = Record<string, string>;
interface Field {
  name: string;
  width: number;
}

/** The fields `-o` picks (`all`, or a comma list, in any case), or the defaults. */
function pick(all: readonly Field[], o: string | undefined, defaults = all): Field[] {
  if (o === undefined) return [...defaults];
  if (o.toLowerCase() === 'all') return [...all];
  return o.split(',').map((n) => {
    const f = all.find((x) => x.name === n.toUpperCase());
    if (!f) return fail(`invalid field(s) specified`);
    return f;
  });
}

/** illumos ofmt: a header, then rows, each field left-aligned in its width (which holds its blank). */
function ofmt(fields: readonly Field[], rows: readonly Row[], parseable: boolean): string {
  if (parseable) {
    const esc = (v: string) => (fields.length > 1 ? v.replace(/([:\\])/g, '\\$1') : v);
    return rows.map((r) => fields.map((f) => esc(r[f.name] ?? '')).join(':') + '\n').join('');
  }
  const line = (vals: string[]) => {
    let out = '';
    let over = 0; // how far earlier fields ran past their width: later ones give it back
    vals.forEach((v, i) => {
      const w = fields[i]!.width;
      if (i === vals.length - 1) {
        out += v;
        return;
      }
      const room = Math.max(w - 1 - over, v.length);
      out += v.padEnd(room) + ' ';
      over = Math.max(0, over + room + 1 - w);
    });
    return out.trimEnd() + '\n';
  };
  return line(fields.map((f) => f.name)) + rows.map((r) => line(fields.map((f) => r[f.name] ?? ''))).join('');
}

function showOpts(p: Parsed): { parseable: boolean; fields?: string } {
  const parseable = has(p, 'p');
  const fields = last(p, 'o');
  if (parseable && fields === undefined) fail('-p requires -o');
  if (parseable && fields?.toLowerCase() === 'all') fail('"-o all" is invalid with -p');
  return { parseable, ...(fields !== undefined ? { fields } : {}) };
}

// ---- what the host has ----------------------------------------------------------------------------

function sysfs(link: string, what: string): string | undefined {
  try {
    return readFileSync(`/sys/class/net/${link}/${what}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const state = (l: LinkInfo) => {
  const s = (l.operstate ?? 'unknown').toLowerCase();
  return s === 'up' || s === 'down' ? s : l.flags?.includes('UP') ? 'up' : 'unknown';
};
const speedOf = (link: string) => {
  const s = Number(sysfs(link, 'speed'));
  return Number.isFinite(s) && s > 0 ? String(s) : '0';
};
/** illumos writes MACs without leading zeros (`2:8:20:a:b:c`). */
const illumosMac = (mac: string) =>
  mac
    .split(':')
    .map((b) => b.replace(/^0(?=.)/, ''))
    .join(':');
/** maxbw as illumos shows it: megabits. */
const mbits = (maxbw: string) => String(Math.round(parseMaxbw(maxbw) / 1e4) / 100);

/** The host's links, VM NICs and etherstubs; with no pool imported, only its links. */
async function hostView() {
  const host = defaultHost();
  const [all, vms] = await Promise.all([links(), host.allVms().catch(() => [])]);
  let stubs: NicTag[] = [];
  try {
    stubs = host.net.tags.list().filter((t) => t.kind === 'etherstub');
  } catch {
    /* no pool: no tags */
  }
  return { host, all, vnics: Network.vnics(vms), stubs };
}

function only<T extends { link: string }>(rows: T[], name: string | undefined, what = 'link'): T[] {
  if (name === undefined) return rows;
  const r = rows.filter((x) => x.link === name);
  if (r.length === 0) fail(`invalid ${what}: '${name}'`);
  return r;
}

// ---- subcommands ----------------------------------------------------------------------------------

const PHYS: Field[] = [
  { name: 'LINK', width: 13 },
  { name: 'MEDIA', width: 21 },
  { name: 'STATE', width: 11 },
  { name: 'SPEED', width: 7 },
  { name: 'DUPLEX', width: 10 },
  { name: 'DEVICE', width: 13 },
];

async function showPhys(p: Parsed, io: Io): Promise<number> {
  const o = showOpts(p);
  const fields = pick(PHYS, o.fields);
  const { all } = await hostView();
  const rows = only(
    all.filter(isUplinkCandidate).map((l) => ({
      link: l.ifname,
      LINK: l.ifname,
      MEDIA: 'Ethernet',
      STATE: state(l),
      SPEED: speedOf(l.ifname),
      DUPLEX: sysfs(l.ifname, 'duplex') ?? 'unknown',
      DEVICE: l.ifname,
    })),
    p.rest[0],
  );
  io.stdout.write(ofmt(fields, rows, o.parseable));
  return 0;
}

const VNIC: Field[] = [
  { name: 'LINK', width: 13 },
  { name: 'OVER', width: 13 },
  { name: 'SPEED', width: 7 },
  { name: 'MACADDRESS', width: 18 },
  { name: 'MACADDRTYPE', width: 20 },
  { name: 'VID', width: 7 },
  { name: 'ZONE', width: 37 },
];

function vnicRow(v: Vnic) {
  return {
    link: v.link,
    LINK: v.link,
    OVER: v.tag,
    SPEED: v.maxbw ? mbits(v.maxbw) : '0',
    MACADDRESS: illumosMac(v.mac),
    MACADDRTYPE: 'fixed',
    VID: String(v.vlan),
    ZONE: v.uuid,
  };
}

async function showVnic(p: Parsed, io: Io): Promise<number> {
  const o = showOpts(p);
  const fields = pick(VNIC, o.fields, VNIC.slice(0, 6));
  const { vnics } = await hostView();
  io.stdout.write(ofmt(fields, only(vnics.map(vnicRow), p.rest[0]), o.parseable));
  return 0;
}

const STUB: Field[] = [{ name: 'LINK', width: 17 }];

async function showEtherstub(p: Parsed, io: Io): Promise<number> {
  const o = showOpts(p);
  const fields = pick(STUB, o.fields);
  const stubs = defaultHost()
    .net.tags.list()
    .filter((t) => t.kind === 'etherstub');
  const rows = only(
    stubs.map((t) => ({ link: t.name, LINK: t.name })),
    p.rest[0],
    'etherstub',
  );
  io.stdout.write(ofmt(fields, rows, o.parseable));
  return 0;
}

async function createEtherstub(p: Parsed): Promise<number> {
  const [name] = p.rest;
  if (!name || p.rest.length > 1) return fail('', true);
  const net = defaultHost().net;
  if (!validStubName(name)) return fail(`etherstub creation failed: '${name}' is not a valid link name`);
  if (net.tags.get(name)) return fail('etherstub creation failed: object already exists');
  await net.tags.add({ name, kind: 'etherstub' });
  return 0;
}

async function deleteEtherstub(p: Parsed): Promise<number> {
  const [name] = p.rest;
  if (!name || p.rest.length > 1) return fail('', true);
  const host = defaultHost();
  const tag = host.net.tags.get(name);
  if (tag?.kind !== 'etherstub') return fail('etherstub deletion failed: object not found');
  if (Network.vmsUsing(name, await host.allVms()).length > 0)
    return fail('etherstub deletion failed: link busy');
  await host.net.hostnets.remove(tag);
  await host.net.tags.delete(name);
  return 0;
}

const LINK: Field[] = [
  { name: 'LINK', width: 12 },
  { name: 'CLASS', width: 10 },
  { name: 'MTU', width: 7 },
  { name: 'STATE', width: 9 },
  { name: 'BRIDGE', width: 11 },
  { name: 'OVER', width: 30 },
];

async function showLink(p: Parsed, io: Io): Promise<number> {
  const o = showOpts(p);
  const fields = pick(LINK, o.fields);
  const { all, vnics, stubs } = await hostView();
  const byName = new Map(all.map((l) => [l.ifname, l]));
  const row = (link: string, cls: string, over: string) => {
    const l = byName.get(link);
    return {
      link,
      LINK: link,
      CLASS: cls,
      MTU: String(l?.mtu ?? ''),
      STATE: l ? state(l) : 'unknown',
      BRIDGE: '--',
      OVER: over,
    };
  };
  const rows = [
    ...all.filter(isUplinkCandidate).map((l) => row(l.ifname, 'phys', '--')),
    ...stubs.map((t) => row(t.name, 'etherstub', '--')),
    ...vnics.map((v) => row(v.link, 'vnic', v.tag)),
  ];
  io.stdout.write(ofmt(fields, only(rows, p.rest[0]), o.parseable));
  return 0;
}

const PROP: Field[] = [
  { name: 'LINK', width: 13 },
  { name: 'PROPERTY', width: 16 },
  { name: 'PERM', width: 5 },
  { name: 'VALUE', width: 15 },
  { name: 'DEFAULT', width: 15 },
  { name: 'POSSIBLE', width: 20 },
];

/** A VM NIC by its host link, or by `-z <VM uuid>` and its interface (`-z <uuid> net0`). */
function findVnic(vnics: readonly Vnic[], name: string, zone: string | undefined): Vnic {
  const v = zone
    ? vnics.find((x) => x.uuid === zone && x.iface === name)
    : vnics.find((x) => x.link === name);
  return v ?? fail(`invalid link name '${name}'`);
}

async function showLinkprop(p: Parsed, io: Io): Promise<number> {
  const parseable = has(p, 'c');
  const fieldsArg = last(p, 'o');
  if (parseable && fieldsArg === undefined) fail('-c requires -o');
  const fields = pick(PROP, fieldsArg);
  const want = last(p, 'p')?.split(',');
  const { all, vnics, stubs } = await hostView();
  const zone = last(p, 'z');
  const name = p.rest[0];
  const rows: Row[] = [];
  const add = (link: string, prop: string, perm: string, value: string, def: string, possible = '--') => {
    if (!want || want.includes(prop))
      rows.push({ LINK: link, PROPERTY: prop, PERM: perm, VALUE: value, DEFAULT: def, POSSIBLE: possible });
  };
  const byName = new Map(all.map((l) => [l.ifname, l]));
  const mtu = (link: string) => String(byName.get(link)?.mtu ?? '--');
  const chosen = name !== undefined ? [findVnicOrLink(vnics, all, stubs, name, zone)] : undefined;
  const vlist = chosen ? chosen.filter((c): c is Vnic => 'uuid' in c) : vnics;
  const others = chosen
    ? chosen.filter((c): c is { link: string } => !('uuid' in c)).map((c) => c.link)
    : [...all.filter(isUplinkCandidate).map((l) => l.ifname), ...stubs.map((t) => t.name)];
  for (const l of others) {
    add(l, 'mtu', 'rw', mtu(l), '1500', '1500-9000');
    if (byName.get(l) && isUplinkCandidate(byName.get(l)!)) add(l, 'speed', 'r-', speedOf(l), '--');
  }
  for (const v of vlist) {
    const label = zone ? v.iface : v.link;
    add(label, 'maxbw', 'rw', v.maxbw ? mbits(v.maxbw) : '--', '--');
    add(label, 'mtu', 'r-', mtu(v.link), '1500', '--');
    add(label, 'zone', 'r-', v.uuid, '--');
  }
  if (want)
    for (const w of want)
      if (!['maxbw', 'mtu', 'speed', 'zone'].includes(w)) fail(`invalid link property '${w}'`);
  io.stdout.write(ofmt(fields, rows, parseable));
  return 0;
}

function findVnicOrLink(
  vnics: readonly Vnic[],
  all: readonly LinkInfo[],
  stubs: readonly { name: string }[],
  name: string,
  zone: string | undefined,
): Vnic | { link: string } {
  if (zone) return findVnic(vnics, name, zone);
  const v = vnics.find((x) => x.link === name);
  if (v) return v;
  if (all.some((l) => l.ifname === name && isUplinkCandidate(l)) || stubs.some((s) => s.name === name))
    return { link: name };
  return fail(`invalid link name '${name}'`);
}

/** `set-linkprop -p maxbw=20M <link>` and `reset-linkprop -p maxbw <link>`: the NIC's maxbw. */
async function setLinkprop(p: Parsed, reset: boolean): Promise<number> {
  const name = p.rest[0];
  const spec = last(p, 'p');
  if (!name || (!spec && !reset)) return fail('', true);
  const props = new Map<string, string>();
  for (const kv of (spec ?? 'maxbw').split(',')) {
    const [k, v] = kv.split('=', 2) as [string, string | undefined];
    if (!reset && v === undefined) fail(`link property '${k}' must have a value`);
    props.set(k, reset ? '' : v!);
  }
  const { host, vnics } = await hostView();
  const vnic = findVnic(vnics, name, last(p, 'z'));
  for (const k of props.keys())
    if (k !== 'maxbw')
      fail(
        `warning: cannot ${reset ? 'reset' : 'set'} link property '${k}' on '${name}': operation not supported`,
      );
  const maxbw = props.get('maxbw')!;
  if (maxbw !== '') {
    try {
      parseMaxbw(maxbw);
    } catch {
      fail(`warning: invalid link property value '${maxbw}' for 'maxbw'`);
    }
  }
  await host.update(vnic.uuid, { update_nics: [{ mac: vnic.mac, maxbw }] });
  return 0;
}

export async function main(
  argv: string[],
  io: Io = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (process.getuid?.() !== 0) fail('insufficient privileges');
    const args = (spec: string) => {
      try {
        return getopt(rest, spec);
      } catch (err) {
        return fail((err as Error).message, true);
      }
    };
    switch (cmd) {
      case 'show-phys':
        return await showPhys(args('po:'), io);
      case 'show-vnic':
        return await showVnic(args('po:'), io);
      case 'show-etherstub':
        return await showEtherstub(args('po:'), io);
      case 'create-etherstub':
        return await createEtherstub(args('t'));
      case 'delete-etherstub':
        return await deleteEtherstub(args('t'));
      case 'show-link':
        return await showLink(args('po:'), io);
      case 'show-linkprop':
        return await showLinkprop(args('co:p:z:'), io);
      case 'set-linkprop':
        return await setLinkprop(args('tp:z:'), false);
      case 'reset-linkprop':
        return await setLinkprop(args('tp:z:'), true);
      case undefined:
      case 'help':
      case '-?':
        io.stderr.write(USAGE);
        return cmd === undefined ? 1 : 0;
      default:
        return fail(`unknown subcommand '${cmd}'`, true);
    }
  } catch (err) {
    if (err instanceof Fail) {
      if (err.message) io.stderr.write(`dladm: ${err.message}\n`);
      if (err.withUsage) io.stderr.write(USAGE);
      return 1;
    }
    if (err instanceof ZonixError) {
      io.stderr.write(`dladm: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
