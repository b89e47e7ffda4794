/**
 * `vmadm list` output, exactly as VM.js prints it: each column `%-<width>s`, columns joined by two
 * spaces, lines right-trimmed, values never truncated, `-` for a missing value; `-p` is `:`-separated
 * without header or padding; `-H` drops the header.
 * @module
 */
import { ZonixError } from '../common/index.ts';
import { valuesAt } from './filters.ts';

export interface ListField {
  name: string;
  header: string;
  width: number;
}

export const DEFAULT_ORDER = 'uuid,type,ram,state,alias';
export const DEFAULT_SORT = 'ram,uuid';

/** A field's value for display, dotted paths included (`nics.0.ip`, `tags.role`). */
export function fieldValue(vm: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(vm, name)) return vm[name];
  return name.includes('.') ? valuesAt(vm, name.split('.'))[0] : undefined;
}

const cell = (v: unknown): string | undefined =>
  v === undefined || v === null ? undefined : typeof v === 'string' ? v : JSON.stringify(v);

/** Resolve `-o`/`-s` names to columns; `describe` answers for the table's fields and dotted paths. */
export function resolveFields(
  names: string,
  describe: (name: string) => ListField | undefined,
  kind: 'order' | 'sort',
): ListField[] {
  return names.split(',').map((raw) => {
    const name = kind === 'sort' ? raw.replace(/^[+-]/, '') : raw;
    const f = describe(name);
    if (!f) throw new ZonixError('EINVAL', `invalid ${kind} field: ${name}`);
    return f;
  });
}

/** A list's values by column (index = VM): what sortOrder and formatColumns read. */
export type ListColumns = ReadonlyMap<string, readonly unknown[]>;

/** The columns of `vms` for the named fields. */
export function columnsOf(vms: readonly Record<string, unknown>[], names: readonly string[]): ListColumns {
  return new Map(names.map((n) => [n, vms.map((vm) => fieldValue(vm, n))]));
}

/**
 * The rows `rows` (indexes into the columns) in the order of the `sort` keys (`-` before a key:
 * descending); a missing value sorts last, ties keep their order.
 */
export function sortOrder(columns: ListColumns, rows: readonly number[], sort: string): number[] {
  const keys = sort
    .split(',')
    .filter(Boolean)
    .map((k) => ({ values: columns.get(k.replace(/^[+-]/, '')) ?? [], desc: k.startsWith('-') }));
  return [...rows].sort((a, b) => {
    for (const { values, desc } of keys) {
      const va = values[a];
      const vb = values[b];
      if (va === vb) continue;
      if (va === undefined || va === null) return 1;
      if (vb === undefined || vb === null) return -1;
      const c =
        (va as number | string) < (vb as number | string)
          ? -1
          : (va as number | string) > (vb as number | string)
            ? 1
            : 0;
      if (c !== 0) return desc ? -c : c;
    }
    return a - b;
  });
}

/** `vms` sorted (see sortOrder). */
export function sortVms<T extends Record<string, unknown>>(vms: T[], sort: string): T[] {
  const names = sort
    .split(',')
    .filter(Boolean)
    .map((k) => k.replace(/^[+-]/, ''));
  return sortOrder(
    columnsOf(vms, names),
    vms.map((_, i) => i),
    sort,
  ).map((i) => vms[i]!);
}

/** The rows `rows` of the columns as `vmadm list` prints them. */
export function formatColumns(
  columns: ListColumns,
  rows: readonly number[],
  fields: readonly ListField[],
  opts: { parsable?: boolean; header?: boolean } = {},
): string {
  const last = fields.length - 1;
  const values = fields.map((f) => columns.get(f.name) ?? []);
  if (opts.parsable) {
    let out = '';
    for (const r of rows)
      for (let i = 0; i <= last; i++) out += (cell(values[i]![r]) ?? '') + (i < last ? ':' : '\n');
    return out;
  }
  // Each cell padded to its column's width (never cut), two spaces between, the line right-trimmed.
  const pads = [''];
  const pad = (n: number) => (n > 0 ? (pads[n] ??= ' '.repeat(n)) : '');
  const line = (cells: (i: number) => string) => {
    let text = '';
    for (let i = 0; i < last; i++) {
      const c = cells(i);
      text += c + pad(fields[i]!.width - c.length) + '  ';
    }
    text += cells(last);
    return text.trimEnd() + '\n';
  };
  let out = opts.header === false ? '' : line((i) => fields[i]!.header);
  for (const r of rows) out += line((i) => cell(values[i]![r]) ?? '-');
  return out;
}

export function formatVmList(
  vms: Record<string, unknown>[],
  fields: ListField[],
  opts: { parsable?: boolean; header?: boolean } = {},
): string {
  return formatColumns(
    columnsOf(
      vms,
      fields.map((f) => f.name),
    ),
    vms.map((_, i) => i),
    fields,
    opts,
  );
}
