/**
 * The shapes of the property table: what one entry says about a VM property, and the names it uses.
 * @module
 */
import type { BrandInfo } from '../brands/info.ts';

export type BrandName = 'joyent' | 'joyent-minimal' | 'builder' | 'lx' | 'kvm' | 'bhyve';

/** The two payload actions the table answers for (SmartOS's `receive` is left out). */
export type Action = 'create' | 'update';

/** What an entry of `nics`, `disks`, ... may do: be given when the array entry is added, or in `update_*`. */
export type SubAction = 'add' | 'update';

/** Validation types, as SmartOS's `validateProperty` knows them. */
export type ValueType =
  'uuid' | 'string' | 'boolean' | 'integer' | 'list' | 'flat-object' | 'object-array' | 'zpool';

/**
 * How `vmadm update` treats a property:
 * `live` takes effect at once, `reboot` at the next boot, `yes` is stored (effect depends on the
 * property), `no` is dropped from an update, `via-set-remove` goes through `set_<p>`/`remove_<p>`, and
 * `via-add-update-remove` through `add_<p>`/`update_<p>`/`remove_<p>`.
 */
export type UpdateMode = 'live' | 'reboot' | 'yes' | 'no' | 'via-set-remove' | 'via-add-update-remove';

export type JsonValue =
  string | number | boolean | null | readonly JsonValue[] | { readonly [k: string]: JsonValue };

/** A payload or VM object as it moves through the pipeline: JSON, plus `undefined` meaning "unset". */
export type Payload = Record<string, unknown>;

export interface DefaultContext {
  /** The payload so far (defaults are applied in table order, so earlier ones are visible). */
  readonly payload: Readonly<Payload>;
  /** The payload as the caller gave it, before any default. */
  readonly input: Readonly<Payload>;
  readonly brand: BrandInfo;
}

/**
 * A default the create path writes into the new VM when the payload has no value.
 * `derived` returns `undefined` when it has nothing to add for this payload.
 */
export type DefaultSpec =
  | { readonly kind: 'value'; readonly value: JsonValue }
  | {
      readonly kind: 'per-brand';
      readonly byBrand: Partial<Record<BrandName, JsonValue>>;
      readonly otherwise?: JsonValue;
    }
  | { readonly kind: 'derived'; readonly doc: string; readonly derive: (ctx: DefaultContext) => unknown };

/** A column of `vmadm list` (SmartOS's LIST_FIELDS). */
export interface ListColumn {
  readonly header: string;
  readonly width: number;
}

/** How `VM.flatten`/lookup reach inside a value: `resolvers.0`, `nics.0.ip`, `tags.foo`. */
export type Flatten = 'array' | 'array-hash-key' | 'hash-key';

/** What both top-level and sub-property entries share. */
export interface ValueSpec {
  readonly type: ValueType;
  readonly min?: number;
  readonly max?: number;
  /** Checks a string value, or each element of a list (only non-empty strings reach it). */
  readonly validator?: (value: string | number) => boolean;
  /** The fixed set of accepted strings, when there is one (used by the checks and the JSON Schema). */
  readonly choices?: readonly string[];
  readonly updateMode: UpdateMode;
  /** One line for `vmadm` docs, the man page and the JSON Schema. */
  readonly doc: string;
  /** The value SmartOS assumes when the property is absent but does not store. */
  readonly implied?: JsonValue;
  /** Set when the property is deprecated; names what to use instead. */
  readonly deprecated?: string;
}

export interface PropertySpec extends ValueSpec {
  /** Brands that may give it on create (empty for read-only properties). */
  readonly create: readonly BrandName[];
  /**
   * Brands that may change it on update. For `via-*` modes this is who may use the derived
   * `set_`/`remove_` or `add_`/`update_`/`remove_` keys; the property itself is then create-only.
   */
  readonly update: readonly BrandName[];
  /** Brands for which a create without it fails with `missing_properties`. */
  readonly required?: readonly BrandName[];
  /** Written into a new VM when absent (only for brands that may set it, or for read-only ones). */
  readonly default?: DefaultSpec;
  /** Brands whose VM object keeps it; others only use it on the way in (`ram` on OS brands). */
  readonly keep?: readonly BrandName[];
  /** Stored as a comma-joined string although the payload may give an array (`limit_priv`). */
  readonly storeAsString?: boolean;
  /** `integer` that stays on the VM at 0 instead of being unset (`tmpfs`). */
  readonly keepZero?: boolean;
  /** A deprecated alias moved to this property before validation (`dataset_uuid` → `image_uuid`). */
  readonly renamedTo?: string;
  readonly list?: ListColumn;
  /** The value `vmadm list`/`lookup` show when it is not the stored one (`type`, `ram`). */
  readonly listValue?: (vm: Readonly<Payload>, brand: BrandInfo | undefined) => unknown;
  readonly flatten?: Flatten;
  /** `<property>.<key>` is a `vmadm list`/`lookup` filter key (`tags.role=db`). */
  readonly filterKeys?: boolean;
  /** Entries of an `object-array`: `nics`, `disks`, `filesystems`, `pci_devices`. */
  readonly sub?: SubTable;
}

export interface SubPropertySpec extends ValueSpec {
  /** Brands that may give it when the entry is added (on create or in `add_*`). */
  readonly add: readonly BrandName[];
  /** Brands that may give it in `update_*`. */
  readonly update: readonly BrandName[];
  /** Accepted as a `vmadm list`/`lookup` filter key (`nics.*.nic_tag`). */
  readonly filter?: boolean;
}

export interface SubTable {
  /** The field that identifies an entry in `update_*`/`remove_*` (`mac`, `path`, `target`). */
  readonly key: string;
  readonly props: Readonly<Record<string, SubPropertySpec>>;
}
