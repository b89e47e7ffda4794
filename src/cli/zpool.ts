/**
 * `zpool`: create, list, status, import, export and destroy pools, with zpool(8)'s arguments and
 * output.
 * @module
 */
import type { Writable } from 'node:stream';
import { UsageError } from '../common/index.ts';
import {
  createPool,
  destroyPool,
  exportPool,
  findImportable,
  importPool,
  importedPoolNames,
  listPools,
  niceNum,
  openPool,
  poolStatus,
  type PoolStatus,
} from '../storage/index.ts';
import { getopt, has, last, values } from './getopt.ts';
import { formatTable } from './table.ts';

const USAGE: Record<string, string> = {
  create: 'create [-f] [-m mountpoint] [-o property=value] ... <pool> <vdev>',
  destroy: 'destroy [-f] <pool>',
  list: 'list [-Hp] [-o property[,...]] [pool] ...',
  status: 'status [-x] [pool] ...',
  import: 'import [-d dir] [-a]\n\timport [-d dir] [-f] <pool | id>',
  export: 'export [-f] <pool> ...',
};
const ORDER = ['create', 'destroy', 'list', 'status', 'import', 'export'];

function fullUsage(): string {
  return (
    ['usage: zpool command args ...', "where 'command' is one of the following:", '']
      .concat(ORDER.map((c) => `\t${USAGE[c]!}`))
      .join('\n') + '\n'
  );
}
const usage = (cmd: string) => `usage:\n\t${USAGE[cmd]!}\n`;
const usageError = (cmd: string, msg: string) => new UsageError(msg, usage(cmd));

export interface Io {
  stdout: Writable;
  stderr: Writable;
}

export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr }) {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new UsageError('missing command', fullUsage());
  if (cmd === '-?' || cmd === '-h' || cmd === 'help') {
    io.stdout.write(fullUsage());
    return 0;
  }
  switch (cmd) {
    case 'create':
      return create(args);
    case 'destroy':
      return destroy(args);
    case 'list':
      return list(args, io);
    case 'status':
      return status(args, io);
    case 'import':
      return doImport(args, io);
    case 'export':
      return doExport(args);
    default:
      throw new UsageError(`unrecognized command '${cmd}'`, fullUsage());
  }
}

async function create(args: string[]): Promise<number> {
  const p = getopt(args, 'fnm:o:O:', usage('create'));
  if (p.rest.length === 0) throw usageError('create', 'missing pool name argument');
  if (p.rest.length === 1) throw usageError('create', 'missing vdev specification');
  if (p.rest.length > 2) throw usageError('create', 'only a single vdev is supported');
  const [name, vdev] = p.rest as [string, string];
  const opts: Record<string, string> = {};
  for (const kv of [...values(p, 'o'), ...values(p, 'O')]) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw usageError('create', `missing '=' for -o option`);
    const k = kv.slice(0, eq);
    if (!['size', 'driver', 'mountpoint'].includes(k))
      throw usageError('create', `property '${k}' is not a valid pool property`);
    opts[k] = kv.slice(eq + 1);
  }
  const mountpoint = last(p, 'm') ?? opts.mountpoint;
  await createPool(name, vdev, {
    ...(mountpoint !== undefined ? { mountpoint } : {}),
    ...(opts.size !== undefined ? { size: opts.size } : {}),
    ...(opts.driver !== undefined ? { driver: opts.driver } : {}),
    force: has(p, 'f'),
  });
  return 0;
}

async function destroy(args: string[]): Promise<number> {
  const p = getopt(args, 'f', usage('destroy'));
  if (p.rest.length === 0) throw usageError('destroy', 'missing pool argument');
  if (p.rest.length > 1) throw usageError('destroy', 'too many arguments');
  await destroyPool(p.rest[0]!, { force: has(p, 'f') });
  return 0;
}

const LIST_PROPS: Record<string, { header: string; right?: boolean }> = {
  name: { header: 'NAME' },
  size: { header: 'SIZE', right: true },
  alloc: { header: 'ALLOC', right: true },
  allocated: { header: 'ALLOC', right: true },
  free: { header: 'FREE', right: true },
  ckpoint: { header: 'CKPOINT', right: true },
  expandsz: { header: 'EXPANDSZ', right: true },
  frag: { header: 'FRAG', right: true },
  cap: { header: 'CAP', right: true },
  capacity: { header: 'CAP', right: true },
  dedup: { header: 'DEDUP', right: true },
  health: { header: 'HEALTH' },
  altroot: { header: 'ALTROOT' },
  guid: { header: 'GUID', right: true },
};

function poolValue(s: PoolStatus, prop: string, parsable: boolean): string {
  const bytes = (n: number) => (parsable ? String(n) : niceNum(n));
  switch (prop) {
    case 'name':
      return s.name;
    case 'size':
      return bytes(s.sizeBytes);
    case 'alloc':
    case 'allocated':
      return bytes(s.allocBytes);
    case 'free':
      return bytes(s.freeBytes);
    case 'cap':
    case 'capacity': {
      const pct = s.sizeBytes ? Math.round((s.allocBytes * 100) / s.sizeBytes) : 0;
      return parsable ? String(pct) : `${pct}%`;
    }
    case 'dedup':
      return parsable ? '1.00' : '1.00x';
    case 'health':
      return s.health;
    case 'guid':
      return s.guid;
    default:
      return '-';
  }
}

async function list(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'Hpo:T:v', usage('list'));
  const props = (last(p, 'o') ?? 'name,size,alloc,free,ckpoint,expandsz,frag,cap,dedup,health,altroot').split(
    ',',
  );
  for (const prop of props) if (!LIST_PROPS[prop]) throw usageError('list', `invalid property '${prop}'`);
  const names = p.rest.length ? p.rest : importedPoolNames();
  if (names.length === 0) {
    io.stderr.write('no pools available\n');
    return 0;
  }
  const stats = await Promise.all(names.map((n) => poolStatus(n)));
  const rows = stats.map((s) => props.map((prop) => poolValue(s, prop, has(p, 'p'))));
  io.stdout.write(
    formatTable(
      props.map((x) => LIST_PROPS[x]!),
      rows,
      { scripted: has(p, 'H') },
    ),
  );
  return 0;
}

async function status(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'xvP', usage('status'));
  const names = p.rest.length ? p.rest : importedPoolNames();
  if (names.length === 0) {
    io.stdout.write('no pools available\n');
    return 0;
  }
  if (has(p, 'x')) {
    const all = await listPools();
    const bad = all.filter((s) => s.health !== 'ONLINE');
    io.stdout.write(
      bad.length ? bad.map((s) => `pool '${s.name}' is ${s.health}\n`).join('') : 'all pools are healthy\n',
    );
    return 0;
  }
  const blocks: string[] = [];
  for (const n of names) {
    const s = await poolStatus(n);
    const pool = openPool(n);
    const errs: Map<string, { read: number; write: number; cksum: number }> =
      s.health === 'ONLINE'
        ? await pool.driver.deviceErrors(pool.top)
        : new Map<string, { read: number; write: number; cksum: number }>();
    const rows: string[][] = [[s.name, s.health, '0', '0', '0']];
    let total = 0;
    for (const dev of s.devices) {
      const e = errs.get(dev) ?? { read: 0, write: 0, cksum: 0 };
      total += e.read + e.write + e.cksum;
      rows.push([`  ${dev}`, s.health, String(e.read), String(e.write), String(e.cksum)]);
    }
    const table = formatTable(
      [
        { header: 'NAME' },
        { header: 'STATE' },
        { header: 'READ', right: true },
        { header: 'WRITE', right: true },
        { header: 'CKSUM', right: true },
      ],
      rows,
    )
      .trimEnd()
      .split('\n')
      .map((l) => `\t${l}`)
      .join('\n');
    blocks.push(
      `  pool: ${s.name}\n state: ${s.health}\n  scan: none requested\nconfig:\n\n${table}\n\nerrors: ${total ? `${total} data errors, use '-v' for a list` : 'No known data errors'}\n`,
    );
  }
  io.stdout.write(blocks.join('\n'));
  return 0;
}

async function doImport(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'd:afFN', usage('import'));
  const dirs = values(p, 'd');
  if (p.rest.length > 1) throw usageError('import', 'too many arguments');
  if (has(p, 'a')) {
    for (const c of await findImportable(dirs)) await importPool(c.name, dirs);
    return 0;
  }
  if (p.rest.length === 1) {
    await importPool(p.rest[0]!, dirs);
    return 0;
  }
  const cands = await findImportable(dirs);
  if (cands.length === 0) {
    io.stderr.write('no pools available to import\n');
    return 1;
  }
  const blocks = cands.map(
    (c) =>
      `   pool: ${c.name}\n     id: ${c.id}\n  state: ONLINE\n action: The pool can be imported using its name or numeric identifier.\n config:\n\n\t${c.name}\tONLINE\n\t  ${c.source.path}\tONLINE\n`,
  );
  io.stdout.write(blocks.join('\n'));
  return 0;
}

async function doExport(args: string[]): Promise<number> {
  const p = getopt(args, 'f', usage('export'));
  if (p.rest.length === 0) throw usageError('export', 'missing pool argument');
  for (const n of p.rest) await exportPool(n);
  return 0;
}
