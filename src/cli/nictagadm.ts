/**
 * `nictagadm`: nic tags and etherstubs, with SmartOS's subcommands, options, output (`list`'s
 * columns, `-p` with `-d`) and messages (`Error: ...`, exit 1; usage, exit 2). Local tags (`-l`) may
 * also be host networks, Zonix's extension: `-p gateway=10.88.0.1/24` gives the host that address on
 * the etherstub, NAT out (`nat=false` to leave it off) and DHCP (`dhcp=false`; `dhcp_range=a-b`).
 * @module
 */
import type { Writable } from 'node:stream';
import { ZonixError } from '../common/index.ts';
import { defaultHost } from '../host/index.ts';
import { isMac, links, Network, normalizeMac, tagError, validMtu } from '../net/index.ts';
import { getopt, has, last, values, type Parsed } from './getopt.ts';

const USAGE = `Manage nic tags

Usage:
        nictagadm [OPTIONS] <subcommand> <args...> ...

General Options:
        -v
            Verbose output

        -h
            Print help and exit

        -?
            Print help and exit

Subcommands:
        add             [-l] [-p prop=value,...] <name> [mac]
        delete          [-f] <name>
        exists          [-l] <name>
        list            [-l | -L] [-p] [-d delim]
        update          [-l] [-p prop=value,...] <name> [mac]
        vms             <name>

See nictagadm(8) for more information
`;

export interface Io {
  stdout: Pick<Writable, 'write'>;
  stderr: Pick<Writable, 'write'>;
}

class Exit extends Error {
  constructor(
    readonly code: number,
    readonly text = '',
  ) {
    super(text);
  }
}

const usage = (code = 2, msg = ''): never => {
  throw new Exit(code, (msg ? `${msg}\n` : '') + USAGE);
};

function opts(argv: string[], spec: string): Parsed {
  try {
    return getopt(argv, spec);
  } catch (err) {
    return usage(2, `invalid option: ${(err as Error).message}`);
  }
}

function parseProps(p: Parsed): Map<string, string> {
  const props = new Map<string, string>();
  for (const list of values(p, 'p')) {
    for (const prop of list.split(',')) {
      const i = prop.indexOf('=');
      const key = i > 0 ? prop.slice(0, i) : '';
      const value = i > 0 ? prop.slice(i + 1) : '';
      if (!key || !value) throw tagError(`invalid property: ${prop}`);
      props.set(key, value);
    }
  }
  return props;
}

async function add(net: Network, p: Parsed, io: Io): Promise<number> {
  const props = parseProps(p);
  const [name, macArg] = p.rest;
  if (!name) return usage();
  if (macArg && props.has('mac')) throw tagError('mac address specified twice');
  const mac = props.get('mac') ?? macArg;
  await net.addTag({ ...Object.fromEntries(props), name, local: has(p, 'l'), ...(mac ? { mac } : {}) });
  if (props.has('mtu')) io.stderr.write('MTU changes will not take effect until next reboot\n');
  return 0;
}

async function update(net: Network, p: Parsed, io: Io): Promise<number> {
  const props = parseProps(p);
  const [name, macArg] = p.rest;
  if (!name) return usage();
  if (has(p, 'l')) throw tagError('cannot update a local tag');
  if (macArg && props.has('mac')) throw tagError('mac address specified twice');
  const mac = props.get('mac') ?? macArg;
  const mtuText = props.get('mtu');
  const mtu = mtuText === undefined ? undefined : validMtu(mtuText);
  if (mac === undefined && mtu === undefined) throw tagError('nothing to update');
  const tag = net.tags.get(name);
  if (!tag) throw tagError(`nic tag '${name}' does not exist`);
  if (tag.kind === 'etherstub') throw tagError('cannot update a local tag');
  const change: { mac?: string; link?: string; mtu?: number } = {};
  if (mac !== undefined) {
    if (!isMac(mac) && /^[0-9a-fA-F:]+$/.test(mac)) throw tagError(`MAC address '${mac}' is invalid`);
    const up = await net.tags.findUplink(mac);
    change.mac = normalizeMac(up.address ?? '');
    if (!isMac(mac)) change.link = up.ifname;
  }
  if (mtu !== undefined) change.mtu = mtu;
  await net.tags.update(name, change);
  if (mtu !== undefined) io.stderr.write('MTU changes will not take effect until next reboot\n');
  return 0;
}

async function del(net: Network, p: Parsed): Promise<number> {
  const [name] = p.rest;
  if (!name) return usage();
  await net.deleteTag(name, { force: has(p, 'f'), vms: () => defaultHost().allVms() });
  return 0;
}

async function list(net: Network, p: Parsed, io: Io): Promise<number> {
  const onlyStubs = has(p, 'l');
  const noStubs = has(p, 'L');
  const parsable = has(p, 'p');
  const delim = last(p, 'd');
  if (onlyStubs && noStubs) throw tagError('Cannot specify both local and non-local options');
  if (delim !== undefined && !parsable) throw tagError('Delimiter option requires parsable option to be set');
  const d = delim ?? ':';
  const all = await links();
  const rows: [string, string, string, string][] = [];
  const tags = net.tags.list();
  if (!onlyStubs) {
    for (const t of tags.filter((x) => x.kind === 'normal'))
      rows.push([t.name, t.mac ?? '-', net.tags.uplinkOf(t, all)?.ifname ?? '-', 'normal']);
  }
  if (!noStubs)
    for (const t of tags.filter((x) => x.kind === 'etherstub')) rows.push([t.name, '-', '-', 'etherstub']);
  const pad = (s: string, n: number) => s.padEnd(n);
  if (!parsable)
    io.stdout.write(`${pad('NAME', 14)} ${pad('MACADDRESS', 18)} ${pad('LINK', 14)} ${pad('TYPE', 16)}\n`);
  for (const [name, mac, link, type] of rows) {
    if (parsable)
      io.stdout.write([name, d === ':' ? mac.replace(/:/g, '\\:') : mac, link, type].join(d) + '\n');
    else io.stdout.write(`${pad(name, 14)} ${pad(mac, 18)} ${pad(link, 14)} ${pad(type, 16)}\n`);
  }
  return 0;
}

async function exists(net: Network, p: Parsed, io: Io): Promise<number> {
  if (p.rest.length < 1) throw tagError('tag_exists: no tag specified');
  let code = 0;
  for (const name of p.rest) {
    if (!net.tags.get(name)) {
      io.stderr.write(has(p, 'l') ? `${name}\n` : `invalid tag: ${name}\n`);
      code = 1;
    }
  }
  return code;
}

async function vms(p: Parsed, io: Io): Promise<number> {
  const [name] = p.rest;
  if (!name) return usage();
  const uuids = Network.vmsUsing(name, await defaultHost().allVms()).sort();
  io.stdout.write(uuids.map((u) => `${u}\n`).join(''));
  return 0;
}

export async function main(
  argv: string[],
  io: Io = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  try {
    if (process.getuid?.() !== 0) throw tagError('This program can only be run as root.');
    const g = opts(argv, 'vh?');
    if (has(g, 'h') || has(g, '?')) return usage(0);
    const [cmd, ...rest] = g.rest;
    if (!cmd) return usage(2, 'no subcommand given');
    const net = defaultHost().net;
    switch (cmd) {
      case 'add':
        return await add(net, opts(rest, 'lp:'), io);
      case 'update':
        return await update(net, opts(rest, 'lp:'), io);
      case 'delete':
        return await del(net, opts(rest, 'f'));
      case 'list':
        return await list(net, opts(rest, 'lLpd:'), io);
      case 'exists':
        return await exists(net, opts(rest, 'l'), io);
      case 'vms':
        return await vms(opts(rest, ''), io);
      case 'help':
        return usage(0);
      default:
        return usage(2);
    }
  } catch (err) {
    if (err instanceof Exit) {
      io.stderr.write(err.text);
      return err.code;
    }
    if (err instanceof ZonixError) {
      io.stderr.write(`Error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
