/**
 * `vmadm list` and `vmadm lookup`.
 * @module
 */
import { ZonixError } from '../../common/errors.ts';
import { parseFilter, matchesAll } from '../../vm/filters.ts';
import {
  DEFAULT_ORDER,
  DEFAULT_SORT,
  formatVmList,
  resolveFields,
  sortVms,
  type ListField,
} from '../../vm/list.ts';
import { isFilterKey, listFieldFor, listGetter } from '../../vm/schema/list.ts';
import { readRecord, systemPoolPick } from '../../storage/registry.ts';
import { listCached } from '../../vm/view.ts';
import type { VmRecord } from '../../vm/store.ts';
import { DEFAULT_RUNTIME, ZoneStates } from '../../zones/state.ts';
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

/** Each VM as list rows see it: fake fields (type, ram) included. */
function rows(vms: Record<string, unknown>[], fields: string[]): Record<string, unknown>[] {
  const getters = fields.map((f) => [f, listGetter(f)] as const);
  return vms.map((vm) => {
    const row: Record<string, unknown> = {};
    for (const [f, get] of getters) row[f] = get(vm);
    return row;
  });
}

/**
 * The VMs of the system pool with (at least) the named fields: from the list cache when it can answer
 * (without loading the VM core), else from the core, which reads the pool and fills the cache.
 * Fields inside arrays or objects (nics.0.ip) need the whole VMs.
 */
async function vmsWith(fields: string[] | 'all'): Promise<VmRecord[]> {
  if (fields !== 'all' && !fields.some((n) => n.includes('.'))) {
    const rec = readRecord(systemPoolPick());
    const got = rec && listCached(rec, new ZoneStates(DEFAULT_RUNTIME), fields);
    if (got) return got;
  }
  return (await import('./common.ts')).core().list();
}

export async function list(args: string[], io: Io): Promise<number> {
  noOptimizer();
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
  const vms = (await vmsWith([...needed])).filter((vm) => matchesAll(vm, filters));
  const sorted = sortVms(rows(vms, names), sortSpec);
  writeOut(io, formatVmList(sorted, order, { parsable: has(p, 'p'), header: !has(p, 'H') && !has(p, 'p') }));
  return 0;
}

export async function lookup(args: string[], io: Io): Promise<number> {
  noOptimizer();
  const p = getopt(args, 'j1o:', USAGE);
  const filters = p.rest.map((a) => parseFilter(a, isFilterKey, 'lookup'));
  const fields = last(p, 'o')?.split(',');
  if (fields && !has(p, 'j')) throw new ZonixError('EINVAL', 'Cannot specify -o without -j');
  const vms = (await vmsWith('all')).filter((vm) => matchesAll(vm, filters));
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
