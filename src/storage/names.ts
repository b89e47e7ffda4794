/**
 * ZFS naming rules: pools, datasets (`pool/a/b`) and snapshots (`pool/a@snap`).
 * @module
 */

export const MAX_NAME_LEN = 255;
const VALID = /^[A-Za-z0-9_\-.:]$/;
const RESERVED_POOL = new Set([
  'mirror',
  'raidz',
  'raidz1',
  'raidz2',
  'raidz3',
  'spare',
  'log',
  'cache',
  'draid',
]);

export interface ParsedName {
  pool: string;
  dataset: string;
  snapshot?: string;
}

/** The first problem with `name`, phrased as ZFS does after "cannot <op> '<name>': ", or undefined. */
export function datasetNameProblem(name: string, opts: { snapshot?: 'forbid' | 'require' | 'allow' } = {}) {
  const snapMode = opts.snapshot ?? 'forbid';
  if (name.length === 0) return "empty component or misplaced '@' or '#' delimiter in name";
  if (name.length > MAX_NAME_LEN) return 'name is too long';
  const at = name.indexOf('@');
  if (at >= 0 && snapMode === 'forbid') return "snapshot delimiter '@' is not expected here";
  if (at < 0 && snapMode === 'require') return "missing '@' delimiter in snapshot name";
  if (name.indexOf('@', at + 1) > at && at >= 0) return "multiple '@' delimiters in name";
  const ds = at >= 0 ? name.slice(0, at) : name;
  const snap = at >= 0 ? name.slice(at + 1) : undefined;
  if (name.startsWith('/')) return 'leading slash in name';
  if (ds.endsWith('/')) return 'trailing slash in name';
  const parts = ds.split('/');
  for (const part of parts) {
    if (part.length === 0) return "empty component or misplaced '@' or '#' delimiter in name";
    if (part === '.' || part === '..') return `invalid component '${part}' in name`;
    for (const ch of part) if (!VALID.test(ch)) return `invalid character '${ch}' in name`;
  }
  const poolProblem = poolNameProblem(parts[0]!);
  if (poolProblem) return poolProblem;
  if (snap !== undefined) {
    if (snap.length === 0) return "empty component or misplaced '@' or '#' delimiter in name";
    for (const ch of snap) if (!VALID.test(ch)) return `invalid character '${ch}' in name`;
  }
  return undefined;
}

export function poolNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'name is too short';
  if (name.length > MAX_NAME_LEN) return 'name is too long';
  if (!/^[A-Za-z]/.test(name)) return 'name must begin with a letter';
  for (const ch of name) if (!VALID.test(ch)) return `invalid character '${ch}' in pool name`;
  if (RESERVED_POOL.has(name) || /^(mirror|raidz|draid|spare)/.test(name)) return 'name is reserved';
  if (/^c[0-9]/.test(name)) return 'pool name is reserved';
  return undefined;
}

/** Split a syntactically valid name. */
export function parseName(name: string): ParsedName {
  const at = name.indexOf('@');
  const dataset = at >= 0 ? name.slice(0, at) : name;
  const pool = dataset.split('/')[0]!;
  return at >= 0 ? { pool, dataset, snapshot: name.slice(at + 1) } : { pool, dataset };
}

export function parentName(dataset: string): string | undefined {
  const i = dataset.lastIndexOf('/');
  return i < 0 ? undefined : dataset.slice(0, i);
}

export function isDescendant(name: string, ancestor: string): boolean {
  return name.startsWith(ancestor + '/');
}
