/**
 * JSON Schema (draft 2020-12) for create payloads, derived from the property table for the API.
 * Values are given in their canonical JSON types (booleans as booleans, lists as arrays), although
 * `vmadm` also accepts `"true"` and comma strings.
 * @module
 */
import { BRAND_NAMES } from '../brands/info.ts';
import { PAYLOAD_KEYS } from './payload-keys.ts';
import { PROPERTIES } from './properties.ts';
import type { BrandName, DefaultSpec, JsonValue, SubTable, ValueSpec } from './types.ts';
import { UUID_RE } from './values.ts';

export type JsonSchema = { [key: string]: JsonValue };

export const JSON_SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';

function typeSchema(spec: ValueSpec): JsonSchema {
  switch (spec.type) {
    case 'uuid':
      return { type: 'string', pattern: UUID_RE.source };
    case 'string':
      return spec.choices ? { type: 'string', enum: [...spec.choices] } : { type: 'string' };
    case 'zpool':
      return { type: 'string', minLength: 1 };
    case 'boolean':
      return { type: 'boolean' };
    case 'integer': {
      const s: JsonSchema = { type: 'integer' };
      if (spec.min !== undefined) s.minimum = spec.min;
      if (spec.max !== undefined) s.maximum = spec.max;
      return s;
    }
    case 'list':
      return { type: 'array', items: { type: ['string', 'number'], not: { type: 'string', pattern: ',' } } };
    case 'flat-object':
      return { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } };
    case 'object-array':
      return { type: 'array', items: { type: 'object' } };
  }
}

function entrySchema(table: SubTable, brands: readonly BrandName[]): JsonSchema {
  const properties: JsonSchema = {};
  for (const [name, spec] of Object.entries(table.props)) {
    if (!spec.add.some((b) => brands.includes(b))) continue;
    properties[name] = describe(typeSchema(spec), spec, undefined, brands);
  }
  return { type: 'object', properties, additionalProperties: false };
}

function defaultFor(d: DefaultSpec | undefined, brands: readonly BrandName[]): JsonValue | undefined {
  if (d === undefined) return undefined;
  if (d.kind === 'value') return d.value;
  if (d.kind === 'per-brand') {
    const values = brands.map((b) => d.byBrand[b] ?? d.otherwise);
    return values.every((v) => JSON.stringify(v) === JSON.stringify(values[0])) ? values[0] : undefined;
  }
  return undefined;
}

function describe(
  schema: JsonSchema,
  spec: ValueSpec,
  d: DefaultSpec | undefined,
  brands: readonly BrandName[],
): JsonSchema {
  const out: JsonSchema = { ...schema, description: spec.doc };
  const dflt = defaultFor(d, brands) ?? spec.implied;
  if (dflt !== undefined) out.default = dflt;
  else if (d?.kind === 'derived') out.description = `${spec.doc} (default: ${d.doc})`;
  if (spec.deprecated !== undefined) out.deprecated = true;
  return out;
}

/**
 * The schema of a create payload: for one brand (only what it may set, and what it must), or for any
 * brand (every property some brand may set; an `allOf` of per-brand rules on `brand`).
 */
export function createPayloadJsonSchema(brand?: BrandName): JsonSchema {
  const brands = brand === undefined ? BRAND_NAMES : [brand];
  const properties: JsonSchema = {};
  for (const key of PAYLOAD_KEYS.values()) {
    const spec = PROPERTIES[key.name];
    if (spec === undefined || !key.create.some((b) => brands.includes(b))) continue;
    const allowed = key.create.filter((b) => brands.includes(b));
    let s = typeSchema(spec);
    if (spec.sub) s = { type: 'array', items: entrySchema(spec.sub, allowed) };
    if (key.name === 'brand') s = { type: 'string', enum: [...brands] };
    s = describe(s, spec, spec.default, allowed);
    if (brand === undefined) s['x-brands'] = [...allowed];
    s['x-update'] = spec.updateMode;
    properties[key.name] = s;
  }
  const requiredFor = (b: BrandName) =>
    Object.entries(PROPERTIES)
      .filter(([, spec]) => spec.required?.includes(b))
      .map(([name]) => name);
  const base: JsonSchema = {
    $schema: JSON_SCHEMA_DIALECT,
    title: brand === undefined ? 'VM create payload' : `VM create payload (${brand})`,
    type: 'object',
    properties,
    additionalProperties: false,
  };
  if (brand !== undefined) return { ...base, required: requiredFor(brand) };
  return {
    ...base,
    required: ['brand'],
    allOf: BRAND_NAMES.map((b) => ({
      if: { properties: { brand: { const: b } }, required: ['brand'] },
      then: {
        required: requiredFor(b),
        propertyNames: {
          enum: [...PAYLOAD_KEYS.values()].filter((k) => k.create.includes(b)).map((k) => k.name),
        },
      },
    })),
  };
}

/**
 * The schema of an update payload (any brand): each key some brand may change, with `set_`/`remove_`
 * and `add_`/`update_`/`remove_` keys for the properties changed through them.
 */
export function updatePayloadJsonSchema(): JsonSchema {
  const properties: JsonSchema = {};
  for (const key of PAYLOAD_KEYS.values()) {
    if (key.update.length === 0) continue;
    const spec = PROPERTIES[key.property];
    if (spec === undefined) continue;
    let s = typeSchema(key.spec as ValueSpec);
    if (key.entries) s = { type: 'array', items: entrySchema(key.entries.table, key.update) };
    const doc =
      key.name === key.property
        ? spec.doc
        : `${key.name.slice(0, key.name.indexOf('_'))}: ${spec.doc}`.replace(/^(\w)/, (c) => c.toUpperCase());
    s = { ...s, description: doc, 'x-brands': [...key.update] };
    if (key.name === key.property) s['x-update'] = spec.updateMode;
    properties[key.name] = s;
  }
  return {
    $schema: JSON_SCHEMA_DIALECT,
    title: 'VM update payload',
    type: 'object',
    properties,
    additionalProperties: false,
  };
}

/**
 * A VM as `vmadm get` shows it: every property of the table with its JSON type where the stored form
 * has one fixed type (others are left open), and what the table does not name allowed too.
 */
export function vmJsonSchema(): JsonSchema {
  const properties: JsonSchema = {};
  for (const [name, spec] of Object.entries(PROPERTIES)) {
    const t: JsonSchema =
      spec.type === 'boolean'
        ? { type: 'boolean' }
        : spec.type === 'integer'
          ? { type: 'number' }
          : spec.type === 'uuid' || spec.type === 'zpool'
            ? { type: 'string' }
            : spec.type === 'object-array'
              ? { type: 'array', items: { type: 'object' } }
              : {};
    properties[name] = { ...t, description: spec.doc };
  }
  return {
    title: 'VM',
    type: 'object',
    required: ['uuid', 'brand', 'state'],
    properties,
    additionalProperties: true,
  };
}
