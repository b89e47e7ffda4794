/**
 * The keys a payload may carry, derived from the property table: each property itself, plus
 * `set_<p>`/`remove_<p>` for `via-set-remove` properties and `add_<p>`/`update_<p>`/`remove_<p>` for
 * `via-add-update-remove` ones.
 * @module
 */
import { PROPERTIES } from './properties.ts';
import type { Action, BrandName, SubAction, SubTable, ValueSpec } from './types.ts';

export interface PayloadKey {
  readonly name: string;
  /** The table property this key belongs to (`nics` for `add_nics`). */
  readonly property: string;
  /** Type and limits the value is checked against. */
  readonly spec: Pick<ValueSpec, 'type' | 'min' | 'max' | 'validator'>;
  readonly create: readonly BrandName[];
  readonly update: readonly BrandName[];
  /** For arrays of objects: the prefix of their sub-property names and the action they are checked as. */
  readonly entries?: { readonly prefix: string; readonly table: SubTable; readonly action: SubAction };
}

const LIST = { type: 'list' } as const;

function keysOf(name: string): PayloadKey[] {
  const spec = PROPERTIES[name]!;
  const viaKeys = spec.updateMode === 'via-set-remove' || spec.updateMode === 'via-add-update-remove';
  const own: PayloadKey = {
    name,
    property: name,
    spec,
    create: spec.create,
    update: viaKeys ? [] : spec.update,
    ...(spec.sub ? { entries: { prefix: name, table: spec.sub, action: 'add' as const } } : {}),
  };
  const derived = (
    key: string,
    keySpec: PayloadKey['spec'],
    entries?: PayloadKey['entries'],
  ): PayloadKey => ({
    name: key,
    property: name,
    spec: keySpec,
    create: [],
    update: spec.update,
    ...(entries ? { entries } : {}),
  });
  if (spec.updateMode === 'via-set-remove') {
    return [own, derived(`set_${name}`, { type: 'flat-object' }), derived(`remove_${name}`, LIST)];
  }
  if (spec.updateMode === 'via-add-update-remove' && spec.sub) {
    const arr = { type: 'object-array' } as const;
    return [
      own,
      derived(`add_${name}`, arr, { prefix: name, table: spec.sub, action: 'add' }),
      derived(`update_${name}`, arr, { prefix: name, table: spec.sub, action: 'update' }),
      derived(`remove_${name}`, LIST),
    ];
  }
  return [own];
}

export const PAYLOAD_KEYS: ReadonlyMap<string, PayloadKey> = new Map(
  Object.keys(PROPERTIES).flatMap((name) => keysOf(name).map((k) => [k.name, k] as const)),
);

export function getPayloadKey(name: string): PayloadKey | undefined {
  return PAYLOAD_KEYS.get(name);
}

/** May `brand` give `name` in a payload for `action`? */
export function isAllowed(name: string, brand: BrandName, action: Action): boolean {
  const key = PAYLOAD_KEYS.get(name);
  return key !== undefined && key[action].includes(brand);
}

/** May `brand` give sub-property `sub` in an entry of `table` for `action`? */
export function isSubAllowed(table: SubTable, sub: string, brand: BrandName, action: SubAction): boolean {
  const spec = Object.hasOwn(table.props, sub) ? table.props[sub] : undefined;
  return spec !== undefined && spec[action].includes(brand);
}

/** Array properties whose entries have sub-properties (`nics`, `disks`, ...). */
export const COMPOUND_PROPERTIES: readonly string[] = Object.keys(PROPERTIES).filter(
  (n) => PROPERTIES[n]!.sub,
);
