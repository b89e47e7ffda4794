/**
 * Small constructors that keep the property tables to about one line per property.
 * @module
 */
import type {
  BrandName,
  DefaultContext,
  DefaultSpec,
  JsonValue,
  ListColumn,
  PropertySpec,
  SubPropertySpec,
  UpdateMode,
  ValueType,
} from './types.ts';

type PropExtra = Partial<Omit<PropertySpec, 'type' | 'create' | 'updateMode' | 'doc'>>;
type SubExtra = Partial<Omit<SubPropertySpec, 'type' | 'add' | 'updateMode' | 'doc'>>;

/**
 * A top-level property. Unless `extra.update` says otherwise, the brands that may create it may also
 * update it (or use its derived `set_`/`add_`... keys), except in mode `no`.
 */
export function p(
  type: ValueType,
  create: readonly BrandName[],
  updateMode: UpdateMode,
  doc: string,
  extra: PropExtra = {},
): PropertySpec {
  return {
    type,
    create,
    updateMode,
    doc,
    ...extra,
    update: extra.update ?? (updateMode === 'no' ? [] : create),
  };
}

/** A read-only property: shown by `vmadm get`, never accepted in a payload. */
export function ro(type: ValueType, doc: string, extra: PropExtra = {}): PropertySpec {
  return p(type, [], 'no', doc, extra);
}

/** A sub-property of `nics`/`disks`/...; `add` brands may also give it in `update_*` unless mode is `no`. */
export function sp(
  type: ValueType,
  add: readonly BrandName[],
  updateMode: UpdateMode,
  doc: string,
  extra: SubExtra = {},
): SubPropertySpec {
  return { type, add, updateMode, doc, ...extra, update: extra.update ?? (updateMode === 'no' ? [] : add) };
}

export const col = (header: string, width: number): ListColumn => ({ header, width });

export const value = (v: JsonValue): DefaultSpec => ({ kind: 'value', value: v });

export const perBrand = (
  byBrand: Partial<Record<BrandName, JsonValue>>,
  otherwise?: JsonValue,
): DefaultSpec =>
  otherwise === undefined ? { kind: 'per-brand', byBrand } : { kind: 'per-brand', byBrand, otherwise };

export const derived = (doc: string, derive: (ctx: DefaultContext) => unknown): DefaultSpec => ({
  kind: 'derived',
  doc,
  derive,
});

/** Brands in `a` and not in `b`. */
export const except = (a: readonly BrandName[], ...b: BrandName[]): readonly BrandName[] =>
  a.filter((n) => !b.includes(n));
