/**
 * Type coercion of payload values, driven by the table's validation types: numeric strings to
 * numbers, `"true"`/`"false"` to booleans, comma strings to lists, and back to the stored forms.
 * @module
 */
import { BRANDS, getBrand, type BrandInfo } from '../brands/info.ts';
import { payloadError } from './errors.ts';
import { PAYLOAD_KEYS, getPayloadKey } from './payload-keys.ts';
import { PROPERTIES } from './properties.ts';
import type { Payload, SubTable } from './types.ts';
import { fixBooleanLoose, isPlainObject } from './values.ts';

const splitList = (s: string): string[] => s.split(',').filter((e) => e.length > 0);

/**
 * The first step of create and update (SmartOS `normalizePayload`): every top-level integer becomes a
 * number (`''` and `null` become `undefined`, which means "unset"; anything `Number()` cannot read
 * throws `Invalid value for <prop>: <JSON of the converted value>:<its typeof>`, which is
 * `null:number` as SmartOS prints it); comma-separated lists become arrays; an unset quota becomes 0.
 */
export function coerceIntegersAndLists(payload: Readonly<Payload>): Payload {
  const out: Payload = { ...payload };
  for (const [name, v] of Object.entries(out)) {
    const type = getPayloadKey(name)?.spec.type;
    if (type === 'integer' && v !== undefined) {
      if (v === '' || v === null) {
        out[name] = undefined;
        continue;
      }
      const n = Number(v);
      if (Number.isNaN(n)) throw payloadError('InvalidValue', name, n);
      out[name] = n;
    } else if (type === 'list' && typeof v === 'string') {
      out[name] = splitList(v);
    }
  }
  if (Object.hasOwn(out, 'quota') && out.quota === undefined) out.quota = 0;
  return out;
}

function toBoolean(name: string, v: unknown): unknown {
  if (v === undefined) return v;
  const b = fixBooleanLoose(v);
  if (typeof b !== 'boolean') throw payloadError('InvalidValue', name, v);
  return b;
}

function coerceEntry(
  entry: Record<string, unknown>,
  table: SubTable,
  prefix: string,
): Record<string, unknown> {
  const out = { ...entry };
  for (const [sub, v] of Object.entries(out)) {
    const spec = Object.hasOwn(table.props, sub) ? table.props[sub] : undefined;
    if (spec === undefined || v === undefined) continue;
    if (spec.type === 'boolean') out[sub] = toBoolean(`${prefix}.*.${sub}`, v);
    else if (
      spec.type === 'integer' &&
      typeof v === 'string' &&
      v.trim() !== '' &&
      !Number.isNaN(Number(v))
    ) {
      out[sub] = Number(v);
    } else if (spec.type === 'list' && typeof v === 'string') out[sub] = splitList(v);
  }
  return out;
}

/**
 * After validation: booleans given as `"true"`/`"false"`/1/0 become booleans (top level and inside
 * `nics`, `disks`, ...), and numeric strings and comma lists inside those entries become numbers and
 * arrays. A boolean that still is not one throws `Invalid value for <prop>: <JSON>:<typeof>`.
 */
export function coerceBooleansAndEntries(payload: Readonly<Payload>): Payload {
  const out: Payload = { ...payload };
  for (const [name, v] of Object.entries(out)) {
    const key = PAYLOAD_KEYS.get(name);
    if (key === undefined) continue;
    if (key.spec.type === 'boolean') out[name] = toBoolean(name, v);
    const entries = key.entries;
    if (entries !== undefined && Array.isArray(v)) {
      out[name] = v.map((e: unknown) =>
        isPlainObject(e) ? coerceEntry(e, entries.table, entries.prefix) : e,
      );
    }
  }
  return out;
}

/** The VM object form: lists marked `storeAsString` are joined with commas (`limit_priv: "default"`). */
export function toStoredForm(vm: Readonly<Payload>): Payload {
  const out: Payload = { ...vm };
  for (const [name, spec] of Object.entries(PROPERTIES)) {
    const v = out[name];
    if (spec.storeAsString && Array.isArray(v)) out[name] = v.map(String).join(',');
  }
  return out;
}

/** The brand record for a brand name (or a brand record), else `Unsupported brand: <name>`. */
export function requireBrand(brand: unknown): BrandInfo {
  const info = Object.values(BRANDS).find((b) => b === brand) ?? getBrand(brand);
  if (info === undefined) throw payloadError('UnsupportedBrand', brand);
  return info;
}
