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
import { isFilterKey, listFieldFor, listValue } from '../../vm/schema/list.ts';
import { getopt, has, last } from '../getopt.ts';
import { core, USAGE, type Io } from './common.ts';

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
  return vms.map((vm) => {
    const row: Record<string, unknown> = {};
    for (const f of fields) row[f] = listValue(vm, f);
    return row;
  });
}

export async function list(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'pHho:s:', USAGE);
  const filters = p.rest.map((a) => parseFilter(a, isFilterKey));
  const order = resolveFields(last(p, 'o') ?? DEFAULT_ORDER, describeField, 'order');
  const sortSpec = last(p, 's') ?? DEFAULT_SORT;
  const sortFields = resolveFields(sortSpec, describeField, 'sort');
  const names = [...new Set([...order, ...sortFields].map((f) => f.name))];
  // Only what is printed, sorted on or filtered by is read (from the list cache's columns when it can
  // answer); fields inside arrays or objects (nics.0.ip) need the whole VMs.
  const needed = new Set([...names, ...filters.map((f) => f.key)]);
  for (const [fake, from] of Object.entries(FAKE_FIELDS))
    if (needed.has(fake)) for (const f of from) needed.add(f);
  const c = core();
  const vms = (
    ([...needed].some((n) => n.includes('.')) ? undefined : await c.listFields([...needed])) ??
    (await c.list())
  ).filter((vm) => matchesAll(vm, filters));
  const sorted = sortVms(rows(vms, names), sortSpec);
  io.stdout.write(
    formatVmList(sorted, order, { parsable: has(p, 'p'), header: !has(p, 'H') && !has(p, 'p') }),
  );
  return 0;
}

export async function lookup(args: string[], io: Io): Promise<number> {
  const p = getopt(args, 'j1o:', USAGE);
  const filters = p.rest.map((a) => parseFilter(a, isFilterKey, 'lookup'));
  const fields = last(p, 'o')?.split(',');
  if (fields && !has(p, 'j')) throw new ZonixError('EINVAL', 'Cannot specify -o without -j');
  const vms = (await core().list()).filter((vm) => matchesAll(vm, filters));
  if (has(p, '1') && vms.length !== 1)
    throw new ZonixError('EINVAL', `Requested unique lookup but found ${vms.length} results.`);
  if (has(p, 'j')) {
    const out = fields
      ? vms.map((vm) => Object.fromEntries(fields.filter((f) => f in vm).map((f) => [f, vm[f]])))
      : vms;
    io.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else io.stdout.write(vms.map((vm) => `${vm.uuid}\n`).join(''));
  return 0;
}
