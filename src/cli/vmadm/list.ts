/**
 * `vmadm list` and `vmadm lookup`.
 * @module
 */
import { ZonixError } from '../../common/index.ts';
import { readRecord, systemPoolPick } from '../../storage/index.ts';
import {
  DEFAULT_ORDER,
  DEFAULT_SORT,
  fieldValue,
  formatColumns,
  isFilterKey,
  listColumns,
  listFieldFor,
  listGetter,
  matchesAll,
  parseFilter,
  refreshListCache,
  resolveFields,
  sortOrder,
  type ListFieldColumn as ListField,
  type VmColumns,
  type VmRecord,
} from '../../vm/index.ts';
import { ZoneStates } from '../../zones/index.ts';
import { getopt, has, last } from '../getopt.ts';
import { noOptimizer } from '../optimizer.ts';
import { writeOut, type Io } from './io.ts';
import { USAGE } from './usage.ts';

/** The fields the list's computed columns are made from. */
const FAKE_FIELDS: Record<string, string[]> = {
  type: ['brand'],
  ram: ['brand', 'ram', 'max_physical_memory'],
};

function describeField(name: string): ListField | undefined {
  const col = listFieldFor(name);
  return col ? { name, header: col.header, width: col.width } : undefined;
}

/** What `vmadm list` reads: the needed fields of every VM by column, and each VM whole if it has them. */
interface VmTable extends VmColumns {
  vms?: VmRecord[];
}

/** Hundreds of VMs make the list's loops hot: not worth optimizing in a process this short. */
const manyVms = (count: number) => {
  if (count > 200) noOptimizer();
};

/**
 * The needed fields of the system pool's VMs, from the list cache, filled from the pool first if it
 * is out of date; without loading the VM core, unless something needs recovering (then the core
 * does that, reads the pool and fills the cache). Fields inside arrays or objects (nics.0.ip) need
 * the whole VMs.
 */
async function vmTable(needed: string[]): Promise<VmTable> {
  if (!needed.some((n) => n.includes('.'))) {
    const rec = readRecord(systemPoolPick());
    const states = new ZoneStates();
    const got =
      rec &&
      (listColumns(rec, states, needed, manyVms) ??
        (refreshListCache(rec) ? listColumns(rec, states, needed, manyVms) : undefined));
    if (got) return got;
  }
  const vms = await (await import('./common.ts')).host().list();
  return {
    count: vms.length,
    columns: new Map(needed.map((n) => [n, vms.map((vm) => fieldValue(vm, n))])),
    vms,
  };
}

/**
 * The column `vmadm list` shows for `field`: the VMs' values, or for the fake fields (type, ram) the
 * value the schema computes from the fields they are made of.
 */
function shownColumn(table: VmTable, field: string): unknown[] {
  const from = FAKE_FIELDS[field];
  if (!from) return table.columns.get(field) ?? [];
  const get = listGetter(field);
  if (table.vms) return table.vms.map(get);
  const sources = from.map((f) => [f, table.columns.get(f) ?? []] as const);
  const vm: Record<string, unknown> = {};
  const out = new Array<unknown>(table.count);
  for (let i = 0; i < table.count; i++) {
    for (const [f, values] of sources) vm[f] = values[i];
    out[i] = get(vm);
  }
  return out;
}

export async function list(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'pHho:s:', USAGE);
  const filters = p.rest.map((a) => parseFilter(a, isFilterKey));
  const order = resolveFields(last(p, 'o') ?? DEFAULT_ORDER, describeField, 'order');
  const sortSpec = last(p, 's') ?? DEFAULT_SORT;
  const sortFields = resolveFields(sortSpec, describeField, 'sort');
  const names = [...new Set([...order, ...sortFields].map((f) => f.name))];
  // Only what is printed, sorted on or filtered by is read.
  const needed = new Set([...names, ...filters.map((f) => f.key)]);
  for (const [fake, from] of Object.entries(FAKE_FIELDS))
    if (needed.has(fake)) for (const f of from) needed.add(f);
  const table = await vmTable([...needed]);
  let rows = Array.from({ length: table.count }, (_, i) => i);
  if (filters.length) {
    // Filters see each VM as an object with the fields they name.
    const cols = [...table.columns];
    const vmAt = (i: number) =>
      table.vms?.[i] ?? Object.fromEntries(cols.flatMap(([n, v]) => (v[i] === undefined ? [] : [[n, v[i]]])));
    rows = rows.filter((i) => matchesAll(vmAt(i), filters));
  }
  const shown = new Map(names.map((n) => [n, shownColumn(table, n)]));
  writeOut(
    io,
    formatColumns(shown, sortOrder(shown, rows, sortSpec), order, {
      parsable: has(p, 'p'),
      header: !has(p, 'H') && !has(p, 'p'),
    }),
  );
  return 0;
}

export async function lookup(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'j1o:', USAGE);
  const filters = p.rest.map((a) => parseFilter(a, isFilterKey, 'lookup'));
  const fields = last(p, 'o')?.split(',');
  if (fields && !has(p, 'j')) throw new ZonixError('EINVAL', 'Cannot specify -o without -j');
  const vms = (await (await import('./common.ts')).host().list()).filter((vm) => matchesAll(vm, filters));
  if (has(p, '1') && vms.length !== 1)
    throw new ZonixError('EINVAL', `Requested unique lookup but found ${vms.length} results.`);
  if (has(p, 'j')) {
    const out = fields
      ? vms.map((vm) => Object.fromEntries(fields.filter((f) => f in vm).map((f) => [f, vm[f]])))
      : vms;
    writeOut(io, JSON.stringify(out, null, 2) + '\n');
  } else writeOut(io, vms.map((vm) => `${vm.uuid}\n`).join(''));
  return 0;
}
