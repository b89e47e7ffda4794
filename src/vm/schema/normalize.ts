/**
 * The payload half of `vmadm create` and `vmadm update`, in SmartOS's order (smartos.md §3.2):
 * integer coercion → defaults and memory rules → validation (bad values and missing properties fail,
 * bad properties are dropped with a warning) → NIC and disk normalisation → boolean coercion → the
 * checks that need no host state. What needs the host (nic tags, conflicts with other VMs, lofs
 * sources, image lookups beyond `ctx.imageLookup`) is left to the vmadm core.
 * @module
 */
import type { BrandInfo } from '../brands/info.ts';
import { checkDisks, checkProperties, checkRoutes, checkStructure } from './checks.ts';
import { coerceBooleansAndEntries, coerceIntegersAndLists, requireBrand } from './coerce.ts';
import { applyComputedDefaults, applySettableDefaults, createBrandOf } from './defaults.ts';
import { payloadError } from './errors.ts';
import { checkMemory, fixPayloadMemory } from './memory.ts';
import {
  assignInterfaces,
  checkNics,
  normalizeAddedNics,
  normalizeUpdatedNic,
  type Nic,
  type RandomInt,
} from './nics.ts';
import { COMPOUND_PROPERTIES, isAllowed } from './payload-keys.ts';
import { PROPERTIES } from './properties.ts';
import type { Action, Payload } from './types.ts';
import { validatePayload, isBadBrand, type ValidateContext } from './validate.ts';
import { DEFAULT_RECSIZE, isPlainObject, normalizeMac, objectsOf } from './values.ts';

export { applyCreateDefaults, applyComputedDefaults, applySettableDefaults } from './defaults.ts';
export { fixPayloadMemory, checkMemory } from './memory.ts';
export { coerceIntegersAndLists, coerceBooleansAndEntries, toStoredForm } from './coerce.ts';
export { checkStructure, checkDisks, checkRoutes, checkProperties } from './checks.ts';
export { generateMac, vrrpMac, upgradeNic, assignInterfaces, checkNics } from './nics.ts';

export interface PrepareOptions extends ValidateContext {
  /** Random source for generated MACs (tests pass a fixed one). */
  readonly random?: RandomInt;
}

export interface Prepared {
  /** create: the new VM object (minus host state); update: the normalised update payload. */
  readonly payload: Payload;
  /** What SmartOS would only log: dropped properties, deprecated names. */
  readonly warnings: string[];
}

const SPICE = ['spice_opts', 'spice_password', 'spice_port'];

/** Validates and drops what the brand may not set, as `VM.validate` inside create/update does. */
function validateOrThrow(
  p: Payload,
  action: Action,
  brand: BrandInfo,
  ctx: ValidateContext,
  warnings: string[],
): Payload {
  const result = validatePayload(p, action, brand.name, ctx);
  if (isBadBrand(result)) throw payloadError('InvalidBrand', brand.name);
  if (result.bad_values.length > 0) throw payloadError('InvalidValues', result.bad_values);
  if (result.missing_properties.length > 0)
    throw payloadError('MissingProperties', result.missing_properties);
  const out: Payload = { ...p };
  for (const bad of result.bad_properties) {
    warnings.push(`Warning, invalid ${action} property: [${bad}] removing from payload.`);
    for (const prop of COMPOUND_PROPERTIES) {
      const sub = bad.startsWith(`${prop}.*.`) ? bad.slice(prop.length + 3) : undefined;
      if (sub === undefined) continue;
      for (const key of [prop, `add_${prop}`, `update_${prop}`]) {
        if (Array.isArray(out[key])) {
          out[key] = (out[key] as unknown[]).map((e) => {
            if (!isPlainObject(e)) return e;
            const copy = { ...e };
            delete copy[sub];
            return copy;
          });
        }
      }
    }
    delete out[bad];
  }
  return out;
}

/** Old property names (`dataset_uuid`, `zfs_storage_pool_name`) moved to their new names. */
function renameDeprecated(p: Payload, warnings: string[]): void {
  for (const [name, spec] of Object.entries(PROPERTIES)) {
    if (spec.renamedTo === undefined || !Object.hasOwn(p, name)) continue;
    const taken = Object.hasOwn(p, spec.renamedTo);
    warnings.push(
      `DEPRECATED option ${name} found, ${taken ? 'ignoring' : `replacing with ${spec.renamedTo}`}!`,
    );
    if (!taken) p[spec.renamedTo] = p[name];
    delete p[name];
  }
}

/** `zfs_root_*` without `zfs_data_*`: the data dataset keeps its value (or the default). */
function keepDataSettings(p: Payload, brand: BrandInfo, action: Action, old: Readonly<Payload> = {}): void {
  const pairs = [
    ['zfs_root_compression', 'zfs_data_compression', 'off'],
    ['zfs_root_recsize', 'zfs_data_recsize', DEFAULT_RECSIZE],
  ] as const;
  for (const [root, data, fallback] of pairs) {
    if (Object.hasOwn(p, root) && !Object.hasOwn(p, data) && isAllowed(data, brand.name, action)) {
      p[data] = Object.hasOwn(old, data) ? old[data] : fallback;
    }
  }
}

/** `zfs_*_recsize` of 0, "" or null means the default. */
function resetRecsizes(p: Payload): void {
  for (const prop of ['zfs_root_recsize', 'zfs_data_recsize']) {
    if (Object.hasOwn(p, prop) && (p[prop] === 0 || p[prop] === '' || p[prop] === undefined))
      p[prop] = DEFAULT_RECSIZE;
  }
}

/** Given MACs in canonical form (lower case, two digits per octet). */
function canonicalMacs(nics: Nic[]): Nic[] {
  return nics.map((n) => (typeof n.mac === 'string' ? { ...n, mac: normalizeMac(n.mac) } : n));
}

/**
 * `vmadm create`: turns a payload into the new VM object, or throws the PayloadError SmartOS would
 * give. The brand is `payload.brand` (joyent when absent).
 */
export function prepareCreate(input: unknown, opts: PrepareOptions = {}): Prepared {
  const warnings: string[] = [];
  let p = coerceIntegersAndLists(isPlainObject(input) ? input : {});
  const brand = requireBrand(createBrandOf(p));
  renameDeprecated(p, warnings);
  keepDataSettings(p, brand, 'create');
  p = applySettableDefaults({ ...p, brand: brand.name }, brand);
  p = validateOrThrow(p, 'create', brand, opts, warnings);
  checkStructure(p);
  resetRecsizes(p);
  if (Array.isArray(p.nics)) {
    p.nics = canonicalMacs(
      normalizeAddedNics(objectsOf(p.nics), { brand, nicDriver: p.nic_driver, random: opts.random }),
    );
  }
  p = coerceBooleansAndEntries(p);
  if (!Object.hasOwn(p, 'image_uuid') && SPICE.some((k) => Object.hasOwn(p, k))) {
    warnings.push('Creating with SPICE options requires image_uuid, REMOVING spice_*');
    for (const k of SPICE) delete p[k];
  }
  checkMemory(p, brand);
  checkDisks(p, brand);
  const nics = checkNics(p, brand);
  checkRoutes(p, nics);
  checkProperties(p);
  if (Array.isArray(p.nics)) {
    const list = objectsOf(p.nics);
    if (list.length > 0 && !list.some((n) => n.primary === true)) list[0] = { ...list[0], primary: true };
    p.nics = assignInterfaces(list, brand);
  }
  return { payload: applyComputedDefaults(p, brand), warnings };
}

/**
 * `vmadm update`: normalises an update payload against the VM as it is (`vm`, with its `brand`), or
 * throws. Properties the brand may not update are dropped with a warning, as SmartOS does.
 */
export function prepareUpdate(input: unknown, vm: Readonly<Payload>, opts: PrepareOptions = {}): Prepared {
  const warnings: string[] = [];
  const brand = requireBrand(vm.brand);
  let p = coerceIntegersAndLists(isPlainObject(input) ? input : {});
  p = fixPayloadMemory(p, brand, vm);
  p = validateOrThrow(p, 'update', brand, opts, warnings);
  checkStructure(p);
  keepDataSettings(p, brand, 'update', vm);
  resetRecsizes(p);
  if (Array.isArray(p.add_nics)) {
    const added = normalizeAddedNics(objectsOf(p.add_nics), { brand, old: vm, random: opts.random });
    p.add_nics = canonicalMacs(added);
  }
  if (Array.isArray(p.update_nics))
    p.update_nics = objectsOf(p.update_nics).map((n) => normalizeUpdatedNic(n, vm));
  p = coerceBooleansAndEntries(p);
  fillDiskModels(p, vm);
  checkMemory(p, brand, vm);
  checkDisks(p, brand, vm);
  const nics = checkNics(p, brand, vm);
  checkRoutes(p, nics, vm);
  checkProperties(p);
  if (Array.isArray(p.add_nics))
    p.add_nics = assignInterfaces(objectsOf(p.add_nics), brand, objectsOf(vm.nics));
  return { payload: p, warnings };
}

/** Disks added by an update without a model take the VM's `disk_driver` or its first disk's model. */
function fillDiskModels(p: Payload, vm: Readonly<Payload>): void {
  if (!Array.isArray(p.add_disks)) return;
  const model = vm.disk_driver ?? objectsOf(vm.disks)[0]?.model;
  if (model === undefined) return;
  p.add_disks = (p.add_disks as unknown[]).map((d) =>
    isPlainObject(d) && (d.model === undefined || d.model === 'undefined') ? { ...d, model } : d,
  );
}
