/**
 * `vmadm validate`: the static payload checks, answering with SmartOS's `bad_brand` or its three
 * arrays (`bad_values`, `bad_properties`, `missing_properties`). Everything here comes from the
 * property table; nothing depends on host state except what the caller passes in `ctx`.
 * @module
 */
import { getBrand, type BrandInfo } from '../brands/info.ts';
import { getPayloadKey, isSubAllowed } from './payload-keys.ts';
import { PROPERTIES } from './properties.ts';
import type { Action, BrandName, Payload, ValueSpec } from './types.ts';
import { BOOTROMS, fixBoolean, isPciSlot, isPlainObject, isUUID } from './values.ts';

/** What an image lookup tells the validator (the manifest fields it uses). */
export interface ImageInfo {
  readonly type: string;
  /** MiB, for zvol images. */
  readonly image_size?: number;
  readonly requirements?: { readonly bootrom?: string };
}

export interface ValidateContext {
  /** Installed image by UUID; when given, `image_uuid` and `disks.N.image_uuid` are checked against it. */
  readonly imageLookup?: (uuid: string) => ImageInfo | undefined;
  /** Existing pools; when given, `zpool` values must be one of them. */
  readonly zpools?: readonly string[];
}

export interface ValidationErrors {
  bad_values: string[];
  bad_properties: string[];
  missing_properties: string[];
}

export type ValidateResult = { readonly bad_brand: string } | ValidationErrors;

export function isBadBrand(r: ValidateResult): r is { readonly bad_brand: string } {
  return 'bad_brand' in r;
}

export function isValid(r: ValidateResult): boolean {
  return (
    !isBadBrand(r) &&
    r.bad_values.length === 0 &&
    r.bad_properties.length === 0 &&
    r.missing_properties.length === 0
  );
}

type TypeSpec = Pick<ValueSpec, 'type' | 'min' | 'max' | 'validator'>;

/** What JavaScript's `toString` gives for a JSON value (SmartOS tests emptiness that way). */
const text = (v: unknown): string => {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v))
    return v.map((e: unknown) => (e === null || e === undefined ? '' : text(e))).join(',');
  return '[object Object]';
};

const blank = (v: unknown): boolean => v === undefined || v === null || text(v).trim() === '';

/** Does `value` pass the check of its validation type (SmartOS `validateProperty`)? */
export function checkValue(spec: TypeSpec, value: unknown, zpools?: readonly string[]): boolean {
  switch (spec.type) {
    case 'uuid':
      return isUUID(value);
    case 'boolean':
      return value === 1 || value === '1' || typeof fixBoolean(value) === 'boolean';
    case 'string':
      if (blank(value)) return true;
      return typeof value === 'string' && (spec.validator === undefined || spec.validator(value));
    case 'integer': {
      if (blank(value)) return true;
      if (typeof value === 'boolean') return false;
      const n = Number(value);
      if (!Number.isInteger(n)) return false;
      return !(spec.min !== undefined && n < spec.min) && !(spec.max !== undefined && n > spec.max);
    }
    case 'zpool':
      return typeof value === 'string' && (zpools === undefined || zpools.includes(value));
    case 'flat-object':
      return (
        isPlainObject(value) &&
        Object.values(value).every(
          (v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean',
        )
      );
    case 'list': {
      const items = typeof value === 'string' ? value.split(',').filter((e) => e.length > 0) : value;
      if (!Array.isArray(items)) return false;
      return items.every(
        (e: unknown) =>
          (typeof e === 'string' || typeof e === 'number') &&
          (spec.validator === undefined || spec.validator(e)) &&
          !text(e).includes(','),
      );
    }
    case 'object-array':
      return Array.isArray(value) && value.every(isPlainObject);
  }
}

class Collector implements ValidationErrors {
  bad_values: string[] = [];
  bad_properties: string[] = [];
  missing_properties: string[] = [];
  add(list: keyof ValidationErrors, name: string): void {
    if (!this[list].includes(name)) this[list].push(name);
  }
  result(): ValidationErrors {
    return {
      bad_values: this.bad_values,
      bad_properties: this.bad_properties,
      missing_properties: this.missing_properties,
    };
  }
}

/**
 * Checks a payload for `action` on `brand` (for `create` SmartOS passes `payload.brand`). An unknown or
 * missing brand gives `{bad_brand}` (`"undefined"` when missing); otherwise all three arrays, empty
 * when the payload is valid. A payload that is not an object is checked as `{}`.
 */
export function validatePayload(
  payload: unknown,
  action: Action,
  brand: string | undefined,
  ctx: ValidateContext = {},
): ValidateResult {
  const info = getBrand(brand);
  if (info === undefined) return { bad_brand: brand === undefined || brand === '' ? 'undefined' : brand };
  const p: Payload = isPlainObject(payload) ? payload : {};
  const errors = new Collector();

  for (const [name, value] of Object.entries(p)) {
    checkKey(name, value, info.name, action, ctx, errors);
  }
  checkDiskSources(p, info, errors);
  checkPciDevices(p, info, errors);
  for (const [name, spec] of Object.entries(PROPERTIES)) {
    if (action === 'create' && spec.required?.includes(info.name) && !Object.hasOwn(p, name)) {
      errors.add('missing_properties', name);
    }
  }
  if (ctx.imageLookup) checkImages(p, info, ctx.imageLookup, errors);
  checkRefreservations(p, errors);
  return errors.result();
}

function checkKey(
  name: string,
  value: unknown,
  brand: BrandName,
  action: Action,
  ctx: ValidateContext,
  errors: Collector,
): void {
  const key = getPayloadKey(name);
  if (key === undefined || !key[action].includes(brand)) errors.add('bad_properties', name);
  if (key === undefined) return;
  if (!checkValue(key.spec, value, ctx.zpools)) errors.add('bad_values', name);
  if (key.entries === undefined || !Array.isArray(value)) return;
  const { prefix, table, action: subAction } = key.entries;
  for (const entry of value) {
    if (!isPlainObject(entry)) continue;
    for (const [sub, subValue] of Object.entries(entry)) {
      const name = `${prefix}.*.${sub}`;
      if (!isSubAllowed(table, sub, brand, subAction)) errors.add('bad_properties', name);
      const subSpec = Object.hasOwn(table.props, sub) ? table.props[sub] : undefined;
      if (subSpec !== undefined && !checkValue(subSpec, subValue, ctx.zpools)) errors.add('bad_values', name);
    }
  }
}

const entriesOf = (p: Payload, key: string): unknown[] => {
  const v = p[key];
  return Array.isArray(v) ? v : [];
};

/** A disk comes from an image (image_uuid + image_size) or is blank (size); cdroms are left alone. */
function checkDiskSources(p: Payload, brand: BrandInfo, errors: Collector): void {
  if (!PROPERTIES.disks!.create.includes(brand.name)) return;
  for (const key of ['disks', 'add_disks']) {
    entriesOf(p, key).forEach((disk, i) => {
      if (!isPlainObject(disk) || (Object.hasOwn(disk, 'media') && disk.media !== 'disk')) return;
      const at = `${key}.${i}`;
      const has = (k: string) => Object.hasOwn(disk, k);
      if (has('image_uuid')) {
        if (!has('image_size')) errors.add('missing_properties', `${at}.image_size`);
        if (has('size') && !Object.hasOwn(p, 'flexible_disk_size'))
          errors.add('bad_properties', `${at}.size`);
        if (has('block_size')) errors.add('bad_properties', `${at}.block_size`);
      } else {
        if (!has('size')) errors.add('missing_properties', `${at}.size`);
        if (has('image_name')) errors.add('bad_properties', `${at}.image_name`);
        if (has('image_size')) errors.add('bad_properties', `${at}.image_size`);
      }
    });
  }
}

function checkPciDevices(p: Payload, brand: BrandInfo, errors: Collector): void {
  if (!PROPERTIES.pci_devices!.create.includes(brand.name)) return;
  for (const key of ['pci_devices', 'add_pci_devices']) {
    entriesOf(p, key).forEach((dev, i) => {
      if (!isPlainObject(dev)) return;
      const at = `${key}.${i}`;
      if (!Object.hasOwn(dev, 'path')) errors.add('missing_properties', `${at}.path`);
      else if (typeof dev.path !== 'string' || !dev.path.startsWith('/devices'))
        errors.add('bad_values', `${at}.path`);
      if (!Object.hasOwn(dev, 'pci_slot')) errors.add('missing_properties', `${at}.pci_slot`);
      else if (!isPciSlot(dev.pci_slot)) errors.add('bad_values', `${at}.pci_slot`);
      if (Object.hasOwn(dev, 'model') && dev.model !== 'passthru') errors.add('bad_values', `${at}.model`);
    });
  }
}

/** Images must be installed and of a type the brand (zone root) or a disk (zvol) accepts. */
function checkImages(
  p: Payload,
  brand: BrandInfo,
  lookup: (uuid: string) => ImageInfo | undefined,
  errors: Collector,
): void {
  if (isUUID(p.image_uuid)) {
    const image = lookup(p.image_uuid);
    if (image === undefined || !brand.imageTypes.includes(image.type)) errors.add('bad_values', 'image_uuid');
  }
  for (const key of ['disks', 'add_disks']) {
    entriesOf(p, key).forEach((disk, i) => {
      if (!isPlainObject(disk) || !Object.hasOwn(disk, 'image_uuid')) return;
      const at = `${key}.${i}`;
      const image = typeof disk.image_uuid === 'string' ? lookup(disk.image_uuid) : undefined;
      if (image === undefined || !brand.diskImageTypes.includes(image.type)) {
        errors.add('bad_values', `${at}.image_uuid`);
        return;
      }
      if (image.image_size !== undefined) {
        if (!Object.hasOwn(disk, 'image_size')) {
          errors.missing_properties = errors.missing_properties.filter((m) => m !== `${at}.image_size`);
        } else if (disk.image_size !== image.image_size) {
          errors.add('bad_values', `${at}.image_size`);
        }
      }
      if (typeof p.bootrom === 'string' && p.bootrom !== '' && disk.boot === true) {
        const wanted = image.requirements?.bootrom;
        const ok =
          wanted !== undefined ? p.bootrom === wanted : (BOOTROMS as readonly string[]).includes(p.bootrom);
        if (!ok) errors.add('bad_values', 'bootrom');
      }
    });
  }
}

function checkRefreservations(p: Payload, errors: Collector): void {
  for (const key of ['disks', 'add_disks']) {
    entriesOf(p, key).forEach((disk, i) => {
      if (isPlainObject(disk) && typeof disk.refreservation === 'number' && disk.refreservation < 0) {
        errors.add('bad_values', `${key}.${i}.refreservation`);
      }
    });
  }
}

/** What `vmadm validate` prints (always on stderr) and its exit code. */
export function formatValidateResult(
  result: ValidateResult,
  action: Action,
  brand: string | undefined,
): { message: string; exitCode: 0 | 1 } {
  if (isValid(result)) {
    return { message: `VALID '${action}' payload for ${String(brand)} brand VMs.`, exitCode: 0 };
  }
  return { message: JSON.stringify(result, null, 2), exitCode: 1 };
}
