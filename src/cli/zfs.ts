/**
 * `zfs`: datasets, snapshots, clones, properties, send and receive, with zfs(8)'s arguments, output
 * and exit codes (1 for errors, 2 for usage).
 * @module
 */
import { createReadStream, fstatSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { UsageError } from '../common/index.ts';
import {
  allPropsFor,
  cannot,
  columnOf,
  formatValue,
  importedPoolNames,
  isImported,
  isRightAligned,
  openPool,
  parseName,
  PROPS,
  resolveProp,
  type Entity,
  type Pool,
} from '../storage/index.ts';
import { getopt, has, last, values, type Parsed } from './getopt.ts';
import { progressMeter } from './progress.ts';
import { formatTable } from './table.ts';

const USAGE: Record<string, string> = {
  create:
    'create [-p] [-o property=value] ... <filesystem>\n\tcreate [-ps] [-b blocksize] [-o property=value] ... -V <size> <volume>',
  destroy: 'destroy [-fnpRrv] <filesystem|volume>\n\tdestroy [-dnpRrv] <filesystem|volume>@<snap>',
  snapshot: 'snapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...',
  rollback: 'rollback [-rRf] <snapshot>',
  clone: 'clone [-p] [-o property=value] ... <snapshot> <filesystem|volume>',
  list: 'list [-Hp] [-r|-d max] [-o property[,...]] [-s property]...\n\t    [-S property]... [-t type[,...]] [filesystem|volume|snapshot] ...',
  set: 'set <property=value> ... <filesystem|volume|snapshot> ...',
  get: 'get [-rHp] [-d max] [-o "all" | field[,...]]\n\t    [-t type[,...]] [-s source[,...]]\n\t    <"all" | property[,...]> [filesystem|volume|snapshot] ...',
  inherit: 'inherit [-r] <property> <filesystem|volume|snapshot> ...',
  send: 'send [-v] [-i snapshot] <snapshot>',
  receive: 'receive [-Fv] <filesystem|volume|snapshot>',
};

const ORDER = [
  'create',
  'destroy',
  'snapshot',
  'rollback',
  'clone',
  'list',
  'set',
  'get',
  'inherit',
  'send',
  'receive',
];

function fullUsage(): string {
  const lines = ['usage: zfs command args ...', "where 'command' is one of the following:", ''];
  for (const c of ORDER) lines.push(`\t${USAGE[c]!}`);
  return lines.join('\n') + '\n';
}

const usage = (cmd: string) => `usage:\n\t${USAGE[cmd]!}\n`;
const usageError = (cmd: string, msg: string) => new UsageError(msg, usage(cmd));

export interface Io {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
}

const defaultIo = (): Io => ({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });

export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new UsageError('', fullUsage());
  if (cmd === '-?' || cmd === '-h' || cmd === 'help') {
    io.stdout.write(fullUsage());
    return 0;
  }
  const aliases: Record<string, string> = { snap: 'snapshot', recv: 'receive' };
  const name = aliases[cmd] ?? cmd;
  switch (name) {
    case 'create':
      return create(args);
    case 'destroy':
      return destroy(args, io);
    case 'snapshot':
      return snapshot(args);
    case 'rollback':
      return rollback(args);
    case 'clone':
      return clone(args);
    case 'list':
      return list(args, io);
    case 'get':
      return get(args, io);
    case 'set':
      return set(args);
    case 'inherit':
      return inherit(args);
    case 'send':
      return send(args, io);
    case 'receive':
      return receive(args, io);
    default:
      throw new UsageError(`unrecognized command '${cmd}'`, fullUsage());
  }
}

/** The pool a dataset name lives in, or ZFS's error for the action. */
function poolFor(name: string, action: string): Pool {
  const p = parseName(name).pool;
  if (!isImported(p)) {
    if (action === 'create') throw cannot('ENOENT', action, name, `no such pool '${p}'`);
    throw cannot('ENOENT', action, name, 'dataset does not exist');
  }
  return openPool(p);
}

function propAssignments(p: Parsed, cmd: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of values(p, 'o')) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw usageError(cmd, `missing '=' for property=value argument`);
    const k = kv.slice(0, eq);
    if (k in out) throw usageError(cmd, `property '${k}' specified multiple times`);
    out[k] = kv.slice(eq + 1);
  }
  return out;
}

async function create(args: string[]): Promise<number> {
  const p = getopt(args, 'pso:V:b:', usage('create'));
  if (p.rest.length === 0) throw usageError('create', 'missing filesystem argument');
  if (p.rest.length > 1) throw usageError('create', 'too many arguments');
  const name = p.rest[0]!;
  const props = propAssignments(p, 'create');
  const vol = last(p, 'V');
  let volsize: number | undefined;
  if (vol !== undefined) {
    const { parseSize } = await import('../storage/index.ts');
    volsize = parseSize(vol);
    if (volsize === undefined || volsize <= 0)
      throw cannot('EINVAL', 'create', name, `bad volume size '${vol}'`);
  }
  await poolFor(name, 'create').create(name, {
    props,
    parents: has(p, 'p'),
    ...(volsize !== undefined ? { volsize } : {}),
  });
  return 0;
}

async function destroy(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'fnpRrvd', usage('destroy'));
  if (p.rest.length === 0) throw usageError('destroy', 'missing dataset argument');
  if (p.rest.length > 1) throw usageError('destroy', 'too many arguments');
  const name = p.rest[0]!;
  const dry = has(p, 'n');
  const res = await poolFor(name, 'open').destroy(name, {
    recursive: has(p, 'r'),
    dependents: has(p, 'R'),
    dryRun: dry,
  });
  if (has(p, 'v') || dry) {
    for (const n of [...res.snapshots, ...res.datasets])
      io.stdout.write(`${dry ? 'would destroy' : 'will destroy'} ${n}\n`);
  }
  return 0;
}

async function snapshot(args: string[]): Promise<number> {
  const p = getopt(args, 'ro:', usage('snapshot'));
  if (p.rest.length === 0) throw usageError('snapshot', 'missing snapshot argument');
  const byPool = new Map<string, string[]>();
  for (const n of p.rest) {
    if (!n.includes('@'))
      throw cannot('EINVAL', 'create snapshot', n, "missing '@' delimiter in snapshot name");
    const pool = parseName(n).pool;
    byPool.set(pool, [...(byPool.get(pool) ?? []), n]);
  }
  for (const [, names] of byPool)
    await poolFor(names[0]!, 'open').snapshot(names, {
      recursive: has(p, 'r'),
      props: propAssignments(p, 'snapshot'),
    });
  return 0;
}

async function rollback(args: string[]): Promise<number> {
  const p = getopt(args, 'rRf', usage('rollback'));
  if (p.rest.length === 0) throw usageError('rollback', 'missing dataset argument');
  if (p.rest.length > 1) throw usageError('rollback', 'too many arguments');
  const name = p.rest[0]!;
  if (!name.includes('@')) throw cannot('EINVAL', 'open', name, 'operation only applies to snapshots');
  await poolFor(name, 'open').rollback(name, { destroyNewer: has(p, 'r'), destroyClones: has(p, 'R') });
  return 0;
}

async function clone(args: string[]): Promise<number> {
  const p = getopt(args, 'po:', usage('clone'));
  if (p.rest.length < 1) throw usageError('clone', 'missing source dataset argument');
  if (p.rest.length < 2) throw usageError('clone', 'missing target dataset argument');
  if (p.rest.length > 2) throw usageError('clone', 'too many arguments');
  const [src, dst] = p.rest as [string, string];
  await poolFor(src, 'open').clone(src, dst, { props: propAssignments(p, 'clone'), parents: has(p, 'p') });
  return 0;
}

// ---- list / get ------------------------------------------------------------------------------------

const TYPES = new Set(['filesystem', 'volume', 'snapshot', 'all', 'snap', 'fs', 'vol', 'bookmark']);

function parseTypes(text: string | undefined, cmd: string, fallback: string[]): Set<string> {
  if (text === undefined) return new Set(fallback);
  const out = new Set<string>();
  for (const t of text.split(',')) {
    if (!TYPES.has(t)) throw usageError(cmd, `invalid type '${t}'`);
    if (t === 'all') ['filesystem', 'volume', 'snapshot'].forEach((x) => out.add(x));
    else if (t === 'snap') out.add('snapshot');
    else if (t === 'fs') out.add('filesystem');
    else if (t === 'vol') out.add('volume');
    else if (t !== 'bookmark') out.add(t);
  }
  return out;
}

interface Walk {
  types: Set<string>;
  depth: number;
  /** List an operand's own snapshots even without -r (zfs list -t snapshot fs). */
  operandSnapshots: boolean;
}

/** Entities to show: each operand, and its descendants down to `depth`, in zfs order. */
function collect(pool: Pool, root: string, w: Walk, out: Entity[], explicit: boolean): void {
  const meta = pool.meta();
  const visit = (name: string, depth: number) => {
    const e = pool.entity(meta, name);
    if (w.types.has(e.type) || (explicit && depth === 0 && !w.types.has('snapshot'))) out.push(e);
    if (w.types.has('snapshot') && (depth > 0 || w.depth > 0 || w.operandSnapshots)) {
      const snaps = Object.entries(e.ds.snapshots).sort((a, b) => a[1].createtxg - b[1].createtxg);
      for (const [s] of snaps) out.push(pool.entity(meta, `${name}@${s}`));
    }
    if (depth >= w.depth) return;
    for (const c of pool.children(meta, name)) visit(c, depth + 1);
  };
  if (root.includes('@')) {
    out.push(pool.entity(meta, root));
    return;
  }
  visit(root, 0);
}

interface Row {
  pool: Pool;
  e: Entity;
}

async function gather(operands: string[], w: Walk, recursive: boolean): Promise<Row[]> {
  const rows: Row[] = [];
  const roots = operands.length ? operands : importedPoolNames();
  for (const r of roots) {
    const pool = poolFor(r, 'open');
    const ents: Entity[] = [];
    const walk = recursive || operands.length === 0 ? w : { ...w, depth: 0 };
    collect(pool, r, walk, ents, operands.length > 0);
    for (const e of ents) rows.push({ pool, e });
  }
  return rows;
}

const SPACE = new Set([
  'used',
  'available',
  'referenced',
  'usedbydataset',
  'usedbysnapshots',
  'usedbychildren',
]);

async function valuesFor(rows: Row[], props: string[]) {
  const needSpace = props.some((p) => SPACE.has(p));
  const spaces = new Map<string, Record<string, number>>();
  if (needSpace) {
    const byPool = new Map<Pool, string[]>();
    for (const r of rows) byPool.set(r.pool, [...(byPool.get(r.pool) ?? []), r.e.name]);
    for (const [pool, names] of byPool) {
      const m = await pool.spaceOf(pool.meta(), names);
      for (const [k, v] of m) spaces.set(k, v);
    }
  }
  return rows.map((r) => {
    const meta = r.pool.meta();
    return props.map((p) => r.pool.property(meta, r.e, p, spaces.get(r.e.name)));
  });
}

function parseProps(text: string, cmd: string): string[] {
  return text.split(',').map((p) => {
    const canon = resolveProp(p);
    if (canon === undefined) throw usageError(cmd, `invalid property '${p}'`);
    return canon;
  });
}

async function list(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'Hprd:o:s:S:t:', usage('list'));
  const props = parseProps(last(p, 'o') ?? 'name,used,available,referenced,mountpoint', 'list');
  const explicitSnaps = p.rest.some((n) => n.includes('@'));
  const types = parseTypes(
    last(p, 't'),
    'list',
    explicitSnaps ? ['filesystem', 'volume', 'snapshot'] : ['filesystem', 'volume'],
  );
  const d = last(p, 'd');
  if (d !== undefined && !/^\d+$/.test(d)) throw usageError('list', `invalid depth '${d}'`);
  const recursive = has(p, 'r') || d !== undefined;
  const depth = d !== undefined ? Number(d) : Infinity;
  const tGiven = last(p, 't') !== undefined;
  const rows = await gather(p.rest, { types, depth, operandSnapshots: tGiven }, recursive);
  const sortKeys = [
    ...values(p, 's').map((k) => ({ prop: parseProps(k, 'list')[0]!, desc: false })),
    ...values(p, 'S').map((k) => ({ prop: parseProps(k, 'list')[0]!, desc: true })),
  ];
  const allProps = [...new Set([...props, ...sortKeys.map((k) => k.prop)])];
  const vals = await valuesFor(rows, allProps);
  let order = rows.map((_, i) => i);
  if (sortKeys.length) {
    const idx = (prop: string) => allProps.indexOf(prop);
    order = order.sort((a, b) => {
      for (const k of sortKeys) {
        const va = vals[a]![idx(k.prop)]!.value;
        const vb = vals[b]![idx(k.prop)]!.value;
        const na = Number(va);
        const nb = Number(vb);
        const c =
          Number.isFinite(na) && Number.isFinite(nb) && va !== '' && vb !== ''
            ? na - nb
            : va < vb
              ? -1
              : va > vb
                ? 1
                : 0;
        if (c !== 0) return k.desc ? -c : c;
      }
      return 0;
    });
  }
  if (rows.length === 0 && p.rest.length === 0) {
    io.stderr.write('no datasets available\n');
    return 0;
  }
  const parsable = has(p, 'p');
  const table = order.map((i) => props.map((prop, j) => formatValue(prop, vals[i]![j]!.value, parsable)));
  const cols = props.map((prop) => ({ header: columnOf(prop), right: isRightAligned(prop) }));
  io.stdout.write(formatTable(cols, table, { scripted: has(p, 'H') }));
  return 0;
}

async function get(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'rHpd:o:t:s:', usage('get'));
  if (p.rest.length === 0) throw usageError('get', 'missing property argument');
  const [propText, ...names] = p.rest as [string, ...string[]];
  const fields = (last(p, 'o') ?? 'name,property,value,source').split(',');
  for (const f of fields)
    if (!['name', 'property', 'value', 'received', 'source', 'all'].includes(f))
      throw usageError('get', `invalid field '${f}'`);
  const cols = fields.includes('all') ? ['name', 'property', 'value', 'received', 'source'] : fields;
  const sources = last(p, 's')?.split(',');
  const all = propText === 'all';
  const props = all ? [] : parseProps(propText, 'get');
  const d = last(p, 'd');
  const recursive = has(p, 'r') || d !== undefined;
  const types = parseTypes(last(p, 't'), 'get', ['filesystem', 'volume', 'snapshot']);
  const depth = d !== undefined ? Number(d) : Infinity;
  const rows = await gather(names, { types, depth, operandSnapshots: false }, recursive);
  const out: string[][] = [];
  const parsable = has(p, 'p');
  for (const r of rows) {
    const meta = r.pool.meta();
    let list = props;
    if (all) {
      const user = new Set<string>();
      for (
        let n: string | undefined = r.e.dataset;
        n;
        n = n.includes('/') ? n.slice(0, n.lastIndexOf('/')) : undefined
      ) {
        for (const k of Object.keys(meta.datasets[n]?.props ?? {})) if (k.includes(':')) user.add(k);
      }
      for (const k of Object.keys(r.e.snap?.user ?? {})) user.add(k);
      list = [...allPropsFor(r.e.type), ...[...user].sort()];
    }
    const [vals] = await valuesFor([r], list);
    list.forEach((prop, i) => {
      const v = vals![i]!;
      if (
        sources &&
        !sources.some((s) => v.source === s || (s === 'inherited' && v.source.startsWith('inherited')))
      )
        return;
      const def = PROPS.get(prop);
      if (def && !def.types.includes(r.e.type)) return;
      const cell: Record<string, string> = {
        name: r.e.name,
        property: prop,
        value: formatValue(prop, v.value, parsable),
        received: '-',
        source: v.source,
      };
      out.push(cols.map((c) => cell[c]!));
    });
  }
  const headers: Record<string, string> = {
    name: 'NAME',
    property: 'PROPERTY',
    value: 'VALUE',
    received: 'RECEIVED',
    source: 'SOURCE',
  };
  io.stdout.write(
    formatTable(
      cols.map((c) => ({ header: headers[c]! })),
      out,
      { scripted: has(p, 'H') },
    ),
  );
  return 0;
}

async function set(args: string[]): Promise<number> {
  const p = getopt(args, '', usage('set'));
  const assigns = p.rest.filter((a) => a.includes('='));
  const names = p.rest.filter((a) => !a.includes('='));
  if (assigns.length === 0) throw usageError('set', 'missing property=value argument(s)');
  if (names.length === 0) throw usageError('set', 'missing dataset name(s)');
  const props: Record<string, string> = {};
  for (const a of assigns) {
    const eq = a.indexOf('=');
    if (eq === 0) throw usageError('set', `missing property in property=value argument`);
    props[a.slice(0, eq)] = a.slice(eq + 1);
  }
  for (const n of names) await poolFor(n, 'open').set(n, props);
  return 0;
}

async function inherit(args: string[]): Promise<number> {
  const p = getopt(args, 'rS', usage('inherit'));
  if (p.rest.length === 0) throw usageError('inherit', 'missing property argument');
  if (p.rest.length === 1) throw usageError('inherit', 'missing dataset argument');
  const [prop, ...names] = p.rest as [string, ...string[]];
  for (const n of names) await poolFor(n, 'open').inherit(n, prop, { recursive: has(p, 'r') });
  return 0;
}

// ---- send / receive --------------------------------------------------------------------------------

function isTty(s: Readable | Writable): boolean {
  return Boolean((s as { isTTY?: boolean }).isTTY);
}

async function send(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'vi:I:pRP', usage('send'));
  if (p.rest.length === 0) throw usageError('send', 'missing snapshot argument');
  if (p.rest.length > 1) throw usageError('send', 'too many arguments');
  if (isTty(io.stdout)) {
    io.stderr.write('Error: Stream can not be written to a terminal.\nYou must redirect standard output.\n');
    return 1;
  }
  const snap = p.rest[0]!;
  const from = last(p, 'i') ?? last(p, 'I');
  const meter = progressMeter(io.stderr, has(p, 'v') || isTty(io.stderr), 'sent');
  const out = meter.wrap(io.stdout);
  try {
    await poolFor(snap, 'open').send(snap, out, from !== undefined ? { from } : {});
  } finally {
    meter.done();
  }
  return 0;
}

async function receive(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'Fvnu', usage('receive'));
  if (p.rest.length === 0) throw usageError('receive', 'missing snapshot argument');
  if (p.rest.length > 1) throw usageError('receive', 'too many arguments');
  if (isTty(io.stdin)) {
    io.stderr.write(
      'Error: Backup stream can not be read from a terminal.\nYou must redirect standard input.\n',
    );
    return 1;
  }
  const target = p.rest[0]!;
  const meter = progressMeter(io.stderr, has(p, 'v') || isTty(io.stderr), 'received');
  try {
    // A file on stdin is read in large blocks; pipes and sockets through process.stdin.
    const input =
      io.stdin === process.stdin && fstatSync(0).isFile()
        ? createReadStream('', { fd: 0, highWaterMark: 1 << 20 })
        : io.stdin;
    const got = await poolFor(target, 'open').receive(target, meter.tap(input), { force: has(p, 'F') });
    if (has(p, 'v')) io.stderr.write(`received ${got}\n`);
  } finally {
    meter.done();
  }
  return 0;
}
