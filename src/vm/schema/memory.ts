/**
 * How the memory caps move together (SmartOS `fixPayloadMemory`, smartos.md §2.4), and the memory
 * errors of §3.2. The brand's overheads come from its record, never from its name.
 * @module
 */
import type { BrandInfo } from '../brands/info.ts';
import { requireBrand } from './coerce.ts';
import { payloadError } from './errors.ts';
import type { Payload } from './types.ts';
import { DEFAULT_IPC_IDS, MINIMUM_MAX_SWAP } from './values.ts';

const num = (o: Readonly<Payload>, k: string): number | undefined => {
  const v = o[k];
  return typeof v === 'number' && !Number.isNaN(v) ? v : undefined;
};
const has = (o: Readonly<Payload>, k: string): boolean => Object.hasOwn(o, k);

/**
 * Derives the memory properties a payload leaves out, for create (`old` absent) or update (`old` = the
 * VM as it is), and returns the fixed copy:
 * 1. `ram` without `max_physical_memory`: max_physical_memory = ram + the brand overhead.
 * 2. max_physical_memory without `max_locked_memory`: keep the old gap (update) or the same value.
 * 3. max_physical_memory without `max_swap`: keep the old gap, except that a swap at the 256 floor
 *    follows max_physical_memory; never below 256.
 * 4. `tmpfs` (brands with tmpfs): scaled by the old tmpfs/max_physical_memory ratio (update) or equal to
 *    max_physical_memory (create); never above max_physical_memory.
 * 5. The first time max_physical_memory is set, max_shm_memory follows it and the IPC id caps get 4096.
 * 6. HVM: max_physical_memory and max_locked_memory at least ram + the minimum overhead (256).
 * 7. max_locked_memory ≤ max_physical_memory; max_swap ≥ max_physical_memory.
 */
export function fixPayloadMemory(
  payload: Readonly<Payload>,
  brand: string | BrandInfo | undefined,
  old: Readonly<Payload> = {},
): Payload {
  const b = requireBrand(brand);
  const p: Payload = { ...payload };

  // 1
  const ram = num(p, 'ram');
  if (ram !== undefined && !has(p, 'max_physical_memory')) p.max_physical_memory = ram + b.memoryOverhead;

  const phys = num(p, 'max_physical_memory');
  const oldPhys = num(old, 'max_physical_memory');
  if (phys !== undefined) {
    // 2
    if (!has(p, 'max_locked_memory')) {
      const oldLocked = num(old, 'max_locked_memory');
      p.max_locked_memory =
        oldLocked !== undefined && oldPhys !== undefined ? phys - (oldPhys - oldLocked) : phys;
    }
    // 3
    if (!has(p, 'max_swap')) {
      const oldSwap = num(old, 'max_swap');
      let swap = phys;
      if (oldSwap !== undefined && oldPhys !== undefined) {
        swap = oldSwap === MINIMUM_MAX_SWAP && phys >= MINIMUM_MAX_SWAP ? phys : phys + (oldSwap - oldPhys);
      }
      p.max_swap = Math.max(swap, MINIMUM_MAX_SWAP);
    }
  }

  // 4
  fixTmpfs(p, b, old);

  // 5
  if (phys !== undefined) {
    if (!has(old, 'max_shm_memory') && !has(p, 'max_shm_memory')) p.max_shm_memory = phys;
    for (const ids of ['max_msg_ids', 'max_sem_ids', 'max_shm_ids']) {
      if (!has(old, ids) && !has(p, ids)) p[ids] = DEFAULT_IPC_IDS;
    }
  }

  // 6
  if (b.minMemoryOverhead > 0) {
    const floor = (num(p, 'ram') ?? num(old, 'ram') ?? Number.NaN) + b.minMemoryOverhead;
    const curPhys = num(p, 'max_physical_memory') ?? oldPhys;
    const curLocked = num(p, 'max_locked_memory') ?? num(old, 'max_locked_memory');
    if (curPhys !== undefined && floor > curPhys) p.max_physical_memory = floor;
    if (curLocked !== undefined && floor > curLocked) p.max_locked_memory = floor;
  }

  // 7
  const capPhys = num(p, 'max_physical_memory') ?? oldPhys;
  const locked = num(p, 'max_locked_memory');
  if (locked !== undefined && capPhys !== undefined && locked > capPhys) p.max_locked_memory = capPhys;
  const swap = num(p, 'max_swap');
  if (swap !== undefined && capPhys !== undefined && swap < capPhys) p.max_swap = capPhys;
  return p;
}

function fixTmpfs(p: Payload, b: BrandInfo, old: Readonly<Payload>): void {
  const phys = num(p, 'max_physical_memory');
  const oldPhys = num(old, 'max_physical_memory');
  const tmpfs = num(p, 'tmpfs');
  if (tmpfs !== undefined) {
    const cap = phys ?? oldPhys;
    if (cap !== undefined && tmpfs > cap) p.tmpfs = cap;
    return;
  }
  if (phys === undefined || !b.usesTmpfs || has(p, 'tmpfs')) return;
  const oldTmpfs = num(old, 'tmpfs');
  p.tmpfs =
    oldTmpfs !== undefined && oldPhys !== undefined && oldPhys > 0
      ? Math.round((oldTmpfs / oldPhys) * phys)
      : phys;
}

/**
 * The memory errors of create and update, checked after `fixPayloadMemory`:
 * create: `max_locked_memory must be <= max_physical_memory`, `max_swap must be >= max_physical_memory`;
 * update of a brand with a minimum overhead: `vm.<prop> (X) cannot be lower than vm.ram (Y)` and
 * `vm.max_swap (X) cannot be lower than 256MiB`.
 */
export function checkMemory(
  payload: Readonly<Payload>,
  brand: string | BrandInfo | undefined,
  old?: Readonly<Payload>,
): void {
  const b = requireBrand(brand);
  const phys = num(payload, 'max_physical_memory');
  const locked = num(payload, 'max_locked_memory');
  const swap = num(payload, 'max_swap');
  if (old === undefined) {
    if (locked !== undefined && phys !== undefined && locked > phys)
      throw payloadError('MaxLockedAboveMaxPhys');
    if (swap !== undefined && phys !== undefined && swap < phys) throw payloadError('MaxSwapBelowMaxPhys');
    return;
  }
  if (b.minMemoryOverhead === 0) return;
  const ram = num(payload, 'ram') ?? num(old, 'ram');
  if (ram === undefined) return;
  for (const [prop, v] of [
    ['max_physical_memory', phys],
    ['max_locked_memory', locked],
    ['max_swap', swap],
  ] as const) {
    if (v !== undefined && v < ram) throw payloadError('BelowRam', prop, v, ram);
  }
  if (swap !== undefined && swap < MINIMUM_MAX_SWAP) throw payloadError('SwapBelowMinimum', swap);
}
