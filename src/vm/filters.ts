/**
 * `vmadm list` and `lookup` filters, as VM.js matches them: `key=value` compares String(value)
 * exactly; `key=~re` is a case-insensitive, unanchored RegExp; `nics.*.ip` matches when any element
 * does; MACs are normalised (`1:2:3:4:5:6` equals `01:02:03:04:05:06`). All filters must match.
 * @module
 */
import { UsageError } from '../common/index.ts';

/** String(value) as VM.js compares it (objects as JSON). */
const str = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

export interface Filter {
  key: string;
  test: (vm: Record<string, unknown>) => boolean;
}

function normalizeMac(s: string): string {
  return s
    .split(':')
    .map((p) => p.padStart(2, '0').toLowerCase())
    .join(':');
}

/** Values at a dotted path; `*` or an index walks arrays. */
export function valuesAt(obj: unknown, path: string[]): unknown[] {
  if (path.length === 0) return [obj];
  if (obj === null || typeof obj !== 'object') return [];
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(obj)) {
    if (head === '*') return obj.flatMap((e) => valuesAt(e, rest));
    const i = Number(head);
    return Number.isInteger(i) ? valuesAt(obj[i], rest) : [];
  }
  return valuesAt((obj as Record<string, unknown>)[head], rest);
}

export function parseFilter(arg: string, isValidKey: (key: string) => boolean, what = 'filter'): Filter {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new UsageError(`Invalid ${what}: "${arg}"`);
  const key = arg.slice(0, eq);
  let want = arg.slice(eq + 1);
  if (!isValidKey(key)) throw new UsageError(`Invalid ${what} key: "${key}"`);
  const isMac = /(^|\.)mac$/.test(key);
  if (want.startsWith('~')) {
    const re = new RegExp(want.slice(1), 'i');
    return {
      key,
      test: (vm) => valuesAt(vm, key.split('.')).some((v) => v !== undefined && re.test(str(v))),
    };
  }
  if (isMac) want = normalizeMac(want);
  return {
    key,
    test: (vm) =>
      valuesAt(vm, key.split('.')).some((v) => {
        if (v === undefined) return false;
        const s = str(v);
        return (isMac ? normalizeMac(s) : s) === want;
      }),
  };
}

export function matchesAll(vm: Record<string, unknown>, filters: Filter[]): boolean {
  return filters.every((f) => f.test(vm));
}
