/**
 * Dataset properties: one table says which exist, their columns, which can be set or inherited, and
 * how values are checked and printed. Everything in zfs get/set/list reads it.
 * @module
 */
import { cannot } from './errors.ts';
import { niceNum, parseSize } from './units.ts';

export type EntityType = 'filesystem' | 'volume' | 'snapshot';

export interface PropDef {
  name: string;
  /** Header in zfs list. */
  column: string;
  settable: boolean;
  inheritable: boolean;
  types: EntityType[];
  /** A size in bytes: printed human-readable unless -p. */
  bytes?: boolean;
  /** The value when nothing sets it. */
  default?: string;
  /** Check and normalise a value for `zfs set`; throws with ZFS's message. */
  parse?: (value: string, dataset: string) => string;
  alignRight?: boolean;
}

const ALL: EntityType[] = ['filesystem', 'volume', 'snapshot'];
const DS: EntityType[] = ['filesystem', 'volume'];

export const COMPRESSION_VALUES = [
  'on',
  'off',
  'lzjb',
  'gzip',
  ...Array.from({ length: 9 }, (_, i) => `gzip-${i + 1}`),
  'zle',
  'lz4',
  'zstd',
  ...Array.from({ length: 19 }, (_, i) => `zstd-${i + 1}`),
];

const badValue = (prop: string, ds: string, why: string) =>
  cannot('EINVAL', 'set property for', ds, `'${prop}' ${why}`);

const parseQuota = (v: string, ds: string) => {
  if (v === 'none' || v === '0') return 'none';
  const n = parseSize(v);
  if (n === undefined) throw cannot('EINVAL', 'set property for', ds, `bad numeric value '${v}'`);
  return n === 0 ? 'none' : String(n);
};

const parseBool = (prop: string) => (v: string, ds: string) => {
  if (v === 'on' || v === 'off') return v;
  throw badValue(prop, ds, "must be one of 'on | off'");
};

const defs: PropDef[] = [
  { name: 'type', column: 'TYPE', settable: false, inheritable: false, types: ALL },
  { name: 'creation', column: 'CREATION', settable: false, inheritable: false, types: ALL },
  {
    name: 'used',
    column: 'USED',
    settable: false,
    inheritable: false,
    types: ALL,
    bytes: true,
    alignRight: true,
  },
  {
    name: 'available',
    column: 'AVAIL',
    settable: false,
    inheritable: false,
    types: DS,
    bytes: true,
    alignRight: true,
  },
  {
    name: 'referenced',
    column: 'REFER',
    settable: false,
    inheritable: false,
    types: ALL,
    bytes: true,
    alignRight: true,
  },
  {
    name: 'compressratio',
    column: 'RATIO',
    settable: false,
    inheritable: false,
    types: ALL,
    alignRight: true,
  },
  { name: 'mounted', column: 'MOUNTED', settable: false, inheritable: false, types: ['filesystem'] },
  { name: 'origin', column: 'ORIGIN', settable: false, inheritable: false, types: DS },
  {
    name: 'quota',
    column: 'QUOTA',
    settable: true,
    inheritable: false,
    types: ['filesystem'],
    bytes: true,
    default: 'none',
    parse: parseQuota,
    alignRight: true,
  },
  {
    name: 'mountpoint',
    column: 'MOUNTPOINT',
    settable: true,
    inheritable: true,
    types: ['filesystem'],
    parse: (v, ds) => {
      if (v === 'none' || v === 'legacy') return v;
      if (!v.startsWith('/'))
        throw badValue('mountpoint', ds, "must be an absolute path, 'none', or 'legacy'");
      return v.replace(/\/+$/, '') || '/';
    },
  },
  {
    name: 'compression',
    column: 'COMPRESS',
    settable: true,
    inheritable: true,
    types: DS,
    default: 'off',
    parse: (v, ds) => {
      if (COMPRESSION_VALUES.includes(v)) return v;
      throw badValue('compression', ds, `must be one of '${COMPRESSION_VALUES.join(' | ')}'`);
    },
  },
  {
    name: 'readonly',
    column: 'RDONLY',
    settable: true,
    inheritable: true,
    types: DS,
    default: 'off',
    parse: parseBool('readonly'),
  },
  {
    name: 'volsize',
    column: 'VOLSIZE',
    settable: true,
    inheritable: false,
    types: ['volume'],
    bytes: true,
    alignRight: true,
    parse: (v, ds) => {
      const n = parseSize(v);
      if (n === undefined || n <= 0)
        throw cannot('EINVAL', 'set property for', ds, `bad numeric value '${v}'`);
      return String(n);
    },
  },
  {
    name: 'usedbysnapshots',
    column: 'USEDSNAP',
    settable: false,
    inheritable: false,
    types: DS,
    bytes: true,
    alignRight: true,
  },
  {
    name: 'usedbydataset',
    column: 'USEDDS',
    settable: false,
    inheritable: false,
    types: DS,
    bytes: true,
    alignRight: true,
  },
  {
    name: 'usedbychildren',
    column: 'USEDCHILD',
    settable: false,
    inheritable: false,
    types: DS,
    bytes: true,
    alignRight: true,
  },
  {
    name: 'createtxg',
    column: 'CREATETXG',
    settable: false,
    inheritable: false,
    types: ALL,
    alignRight: true,
  },
  { name: 'guid', column: 'GUID', settable: false, inheritable: false, types: ALL, alignRight: true },
];

export const PROPS: ReadonlyMap<string, PropDef> = new Map(defs.map((d) => [d.name, d]));

const ALIASES: Record<string, string> = {
  avail: 'available',
  refer: 'referenced',
  rdonly: 'readonly',
  compress: 'compression',
  ratio: 'compressratio',
  usedsnap: 'usedbysnapshots',
  usedds: 'usedbydataset',
  usedchild: 'usedbychildren',
};

/** A user property: `module:name` (letters, digits, `_-.:`), as ZFS requires. */
export function isUserProp(name: string): boolean {
  // zprop_valid_char: lowercase letters, digits and `-_.:`; shorter than ZAP_MAXNAMELEN (256).
  return /^[a-z0-9_.-]+:[a-z0-9_.:-]*$/.test(name) && name.length < 256;
}

/** Canonical property name, or undefined when unknown. `name` is the pseudo-property for lists. */
export function resolveProp(name: string): string | undefined {
  const lower = name.toLowerCase();
  const canon = ALIASES[lower] ?? lower;
  if (canon === 'name' || PROPS.has(canon)) return canon;
  if (isUserProp(name)) return name;
  return undefined;
}

export function columnOf(prop: string): string {
  if (prop === 'name') return 'NAME';
  return PROPS.get(prop)?.column ?? prop.toUpperCase();
}

export function isRightAligned(prop: string): boolean {
  return PROPS.get(prop)?.alignRight ?? false;
}

/** Check a `zfs set`/`create -o` assignment; returns the stored value. */
export function parseAssignment(prop: string, value: string, dataset: string, type: EntityType): string {
  if (isUserProp(prop)) {
    if (value.length >= 8192) throw badValue(prop, dataset, 'is too long');
    return value;
  }
  const def = PROPS.get(prop);
  if (!def) throw cannot('EINVAL', 'set property for', dataset, `invalid property '${prop}'`);
  if (!def.settable) throw cannot('EINVAL', 'set property for', dataset, `'${prop}' is readonly`);
  if (!def.types.includes(type))
    throw cannot('EINVAL', 'set property for', dataset, `'${prop}' does not apply to datasets of this type`);
  return def.parse ? def.parse(value, dataset) : value;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Thu Nov 26 16:02 2026`, as zfs prints creation (local time). */
export function formatCreation(seconds: number): string {
  const d = new Date(seconds * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  // strftime "%a %b %e %k:%M %Y", as zfs_prop_get formats it: day and hour padded with a space.
  return `${DAYS[d.getDay()]!} ${MONTHS[d.getMonth()]!} ${String(d.getDate()).padStart(2, ' ')} ${String(d.getHours()).padStart(2, ' ')}:${pad(d.getMinutes())} ${d.getFullYear()}`;
}

/** How a raw value prints: sizes human-readable, creation as a date, unless parsable. */
export function formatValue(prop: string, raw: string, parsable: boolean): string {
  if (parsable) return raw === 'none' && PROPS.get(prop)?.bytes ? '0' : raw;
  const def = PROPS.get(prop);
  if (prop === 'creation' && /^\d+$/.test(raw)) return formatCreation(Number(raw));
  if (def?.bytes && /^\d+$/.test(raw)) return niceNum(Number(raw));
  return raw;
}

/** Property order for `zfs get all`. */
export function allPropsFor(type: EntityType): string[] {
  return defs.filter((d) => d.types.includes(type)).map((d) => d.name);
}
