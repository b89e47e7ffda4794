/**
 * `vmadm list` and `lookup` facts, read from the property table: columns (SmartOS's LIST_FIELDS),
 * dynamic columns such as `nics.0.ip` and `tags.role`, filter keys, and the values shown for the
 * fake fields `type` and `ram`.
 * @module
 */
import { getBrand } from '../brands/info.ts';
import { PROPERTIES, getProperty } from './properties.ts';
import type { ListColumn, Payload } from './types.ts';
import { isPlainObject } from './values.ts';

export interface ListField extends ListColumn {
  readonly name: string;
}

/** `vmadm list` without `-o`. */
export const DEFAULT_LIST_ORDER = ['uuid', 'type', 'ram', 'state', 'alias'] as const;
/** `vmadm list` without `-s`. */
export const DEFAULT_LIST_SORT = ['ram', 'uuid'] as const;

/** Every property `vmadm list` can show, with its header and width, in table order. */
export function listFields(): ListField[] {
  return Object.entries(PROPERTIES).flatMap(([name, spec]) => (spec.list ? [{ name, ...spec.list }] : []));
}

/**
 * The column for `-o`/`-s` `field`: a listable property, `<array>.<N>.<key>` for `nics`/`disks`/
 * `pci_devices`, or `<object>.<key>` for `tags`/`customer_metadata`/`internal_metadata`/`routes`
 * (header = the field upper-cased, width 20). Undefined when the field cannot be listed.
 */
export function listFieldFor(field: string): ListColumn | undefined {
  const spec = getProperty(field);
  if (spec?.list) return spec.list;
  const parts = field.split('.');
  const flatten = getProperty(parts[0]!)?.flatten;
  if (
    (parts.length === 3 && flatten === 'array-hash-key') ||
    (parts.length === 2 && flatten === 'hash-key')
  ) {
    return { header: field.toUpperCase(), width: 20 };
  }
  return undefined;
}

/**
 * A valid `k=v` key for `vmadm list`/`lookup` filters: a listable property, `nics.[N|*].<x>` or
 * `disks.[N|*].<x>` for sub-properties marked `filter` (`nics.*.ips` is not one), or
 * `tags.<k>`/`customer_metadata.<k>`/`internal_metadata.<k>`.
 */
export function isFilterKey(key: string): boolean {
  if (getProperty(key)?.list) return true;
  const sub = /^([a-z_]+)\.(\*|\d*)\.([a-z_]+)$/.exec(key);
  if (sub) {
    const table = getProperty(sub[1]!)?.sub;
    const spec = table && Object.hasOwn(table.props, sub[3]!) ? table.props[sub[3]!] : undefined;
    return spec?.filter === true;
  }
  const dot = key.indexOf('.');
  return dot > 0 && getProperty(key.slice(0, dot))?.filterKeys === true;
}

/**
 * The value `vmadm list`/`lookup` use for `field` of `vm`: the fake fields (`type` = OS/LX/KVM/BHYV,
 * `ram` = max_physical_memory on OS brands), else the property, else the flattened path
 * (`nics.0.ip`, `tags.role`, `resolvers.1`).
 */
export function listValue(vm: Readonly<Payload>, field: string): unknown {
  return listGetter(field)(vm);
}

/** listValue for one field, looked up once: for reading that field of many VMs. */
export function listGetter(field: string): (vm: Readonly<Payload>) => unknown {
  const spec = getProperty(field);
  const fake = spec?.listValue;
  if (fake) return (vm) => fake(vm, getBrand(vm.brand));
  const parts = field.split('.');
  return (vm) => {
    if (Object.hasOwn(vm, field)) return vm[field];
    let cur: unknown = vm;
    for (const part of parts) {
      if (Array.isArray(cur)) cur = /^\d+$/.test(part) ? (cur as unknown[])[Number(part)] : undefined;
      else if (isPlainObject(cur)) cur = Object.hasOwn(cur, part) ? cur[part] : undefined;
      else return undefined;
    }
    return cur;
  };
}
