/**
 * Defaults of a new VM, all read from the property table. Settable defaults go in before validation
 * (as SmartOS's `applyZoneDefaults` does), computed read-only ones after it.
 * @module
 */
import type { BrandInfo } from '../brands/info.ts';
import { requireBrand, toStoredForm } from './coerce.ts';
import { fixPayloadMemory } from './memory.ts';
import { PROPERTIES, isReadOnly } from './properties.ts';
import type { DefaultSpec, Payload, PropertySpec } from './types.ts';
import { isPlainObject } from './values.ts';

const MAX_CPU_SHARES = 65535;

function defaultValue(
  spec: DefaultSpec,
  ctx: { payload: Payload; input: Readonly<Payload>; brand: BrandInfo },
): unknown {
  switch (spec.kind) {
    case 'value':
      return structuredClone(spec.value);
    case 'per-brand':
      return structuredClone(spec.byBrand[ctx.brand.name] ?? spec.otherwise);
    case 'derived':
      return spec.derive(ctx);
  }
}

function applyDefaults(
  p: Payload,
  input: Readonly<Payload>,
  brand: BrandInfo,
  which: (spec: PropertySpec) => boolean,
): void {
  for (const [name, spec] of Object.entries(PROPERTIES)) {
    if (spec.default === undefined || Object.hasOwn(p, name) || !which(spec)) continue;
    const v = defaultValue(spec.default, { payload: p, input, brand });
    if (v !== undefined) p[name] = v;
  }
}

/**
 * The defaults that go in before validation: `ram` (256), then the memory rules, then every settable
 * property's default for this brand, in table order. `cpu_shares` above 65535 is capped, new disks get
 * `media: "disk"` and `model` from `disk_driver`, new NICs `model` from `nic_driver`.
 */
export function applySettableDefaults(
  payload: Readonly<Payload>,
  brand: string | BrandInfo | undefined,
): Payload {
  const b = requireBrand(brand);
  const input = payload;
  const ramSpec = PROPERTIES.ram!;
  const p: Payload = { ...payload };
  if (!Object.hasOwn(p, 'ram') && ramSpec.default !== undefined) {
    p.ram = defaultValue(ramSpec.default, { payload: p, input, brand: b });
  }
  const fixed = fixPayloadMemory(p, b);
  applyDefaults(fixed, input, b, (spec) => spec.create.includes(b.name));
  if (typeof fixed.cpu_shares === 'number' && fixed.cpu_shares > MAX_CPU_SHARES)
    fixed.cpu_shares = MAX_CPU_SHARES;
  fillEntryModels(fixed);
  return fixed;
}

function fillEntryModels(p: Payload): void {
  if (Array.isArray(p.disks)) {
    p.disks = (p.disks as unknown[]).map((d) => {
      if (!isPlainObject(d)) return d;
      const disk = { ...d };
      if (!Object.hasOwn(disk, 'model') && Object.hasOwn(p, 'disk_driver')) disk.model = p.disk_driver;
      if (!Object.hasOwn(disk, 'media')) disk.media = 'disk';
      return disk;
    });
  }
  if (Array.isArray(p.nics) && Object.hasOwn(p, 'nic_driver')) {
    p.nics = (p.nics as unknown[]).map((n) =>
      isPlainObject(n) && !Object.hasOwn(n, 'model') ? { ...n, model: p.nic_driver } : n,
    );
  }
}

/**
 * What a new VM gets after validation: the computed read-only properties (`hvm`, `zfs_filesystem`,
 * `zonepath`, `datasets`, `snapshots`, `init_restarts`, `v`), without properties the brand does not
 * keep (`ram` on OS brands) or that were unset (`""`/`null` integers), and lists such as `limit_priv`
 * in their stored comma form.
 */
export function applyComputedDefaults(
  payload: Readonly<Payload>,
  brand: string | BrandInfo | undefined,
): Payload {
  const b = requireBrand(brand);
  const p: Payload = { ...payload };
  applyDefaults(p, payload, b, isReadOnly);
  for (const [name, spec] of Object.entries(PROPERTIES)) {
    if (spec.keep !== undefined && !spec.keep.includes(b.name)) delete p[name];
  }
  for (const [name, v] of Object.entries(p)) if (v === undefined) delete p[name];
  return toStoredForm(p);
}

/**
 * A new VM as `vmadm get` shows it, minus host state (timestamps, server_uuid, state, pid, ...): every
 * table default for the brand (`brand` argument, else `payload.brand`, else joyent) applied to the
 * payload. Values the payload gives are kept; no validation is done here.
 */
export function applyCreateDefaults(payload: Readonly<Payload>, brand?: string): Payload {
  const b = requireBrand(brand ?? createBrandOf(payload));
  return applyComputedDefaults(applySettableDefaults({ ...payload, brand: b.name }, b), b);
}

/** The brand a create payload is for: its `brand`, else the table default (joyent). */
export function createBrandOf(payload: Readonly<Payload>): unknown {
  if (Object.hasOwn(payload, 'brand')) return payload.brand;
  const d = PROPERTIES.brand?.default;
  return d?.kind === 'value' ? d.value : undefined;
}
