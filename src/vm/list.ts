/**
 * `vmadm list` output, exactly as VM.js prints it: each column `%-<width>s`, columns joined by two
 * spaces, lines right-trimmed, values never truncated, `-` for a missing value; `-p` is `:`-separated
 * without header or padding; `-H` drops the header.
 * @module
 */
import { ZonixError } from '../common/errors.ts';
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

export function sortVms(vms: Record<string, unknown>[], sort: string): Record<string, unknown>[] {
  const keys = sort
    .split(',')
    .filter(Boolean)
    .map((k) => ({ name: k.replace(/^[+-]/, ''), desc: k.startsWith('-') }));
  return [...vms].sort((a, b) => {
    for (const { name, desc } of keys) {
      const va = fieldValue(a, name);
      const vb = fieldValue(b, name);
      if (va === vb) continue;
      if (va === undefined) return 1;
      if (vb === undefined) return -1;
      const c =
        (va as number | string) < (vb as number | string)
          ? -1
          : (va as number | string) > (vb as number | string)
            ? 1
            : 0;
      if (c !== 0) return desc ? -c : c;
    }
    return 0;
  });
}

export function formatVmList(
  vms: Record<string, unknown>[],
  fields: ListField[],
  opts: { parsable?: boolean; header?: boolean } = {},
): string {
  if (opts.parsable)
    return vms.map((vm) => fields.map((f) => cell(fieldValue(vm, f.name)) ?? '').join(':') + '\n').join('');
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(fields[i]!.width))
      .join('  ')
      .trimEnd() + '\n';
  const rows = vms.map((vm) => line(fields.map((f) => cell(fieldValue(vm, f.name)) ?? '-')));
  return (opts.header === false ? '' : line(fields.map((f) => f.header))) + rows.join('');
}
