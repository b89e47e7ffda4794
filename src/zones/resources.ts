/**
 * The one set of rules that turns a zone's resource limits into cgroup settings: used for the spec a
 * zone starts with and for a running zone's live update (`runc update`), so the two always agree.
 * @module
 */
import { cgroupParent } from '../platform/index.ts';

export interface ZoneResources {
  /** max_physical_memory, bytes. */
  memoryBytes?: number;
  /** max_swap: memory plus swap, bytes. */
  swapBytes?: number;
  /** cpu_cap: percent of one CPU (100 = one CPU). */
  cpuCap?: number;
  cpuShares?: number;
  /** max_lwps. */
  pids?: number;
  /** max_locked_memory, bytes (RLIMIT_MEMLOCK: an rlimit, not a cgroup setting). */
  lockedBytes?: number;
}

/** The OCI `linux.resources` subset Zonix sets (bytes for memory; -1 is unlimited). */
export interface CgroupLimits {
  memory?: { limit: number; swap: number };
  cpu?: { shares?: number; quota?: number; period?: number };
  pids?: { limit: number };
}

/** Which limits to work out: memory (with swap), the CPU cap, CPU shares, the process cap. */
export type CgroupField = 'memory' | 'cpuCap' | 'cpuShares' | 'pids';
export const CGROUP_FIELDS: readonly CgroupField[] = ['memory', 'cpuCap', 'cpuShares', 'pids'];

/** The CFS period a CPU cap is a quota of (100 ms). */
/** A zone's cgroup, absolute (so it never nests under the caller's), the same under every controller. */
export function zoneCgroupPath(uuid: string): string {
  return `/${cgroupParent()}/${uuid}`;
}

export const CPU_PERIOD = 100_000;
/** The kernel's CPU shares when none are given. */
export const DEFAULT_CPU_SHARES = 1024;

const positive = (v: number | undefined): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;

/**
 * The cgroup settings of `r` for `fields` (all by default). Memory and swap go together, swap at
 * least memory; a CPU cap is a CFS quota over a 100 ms period; shares are at least 2. A limit that is
 * unset or 0 is unlimited (-1), shares unset are the kernel's 1024: so a zone started without a
 * limit and a running zone whose limit was removed end up the same.
 */
export function cgroupLimits(
  r: Readonly<ZoneResources>,
  fields: readonly CgroupField[] = CGROUP_FIELDS,
): CgroupLimits {
  const out: CgroupLimits = {};
  if (fields.includes('memory')) {
    const mem = positive(r.memoryBytes);
    const swap = positive(r.swapBytes);
    out.memory =
      mem === undefined
        ? { limit: -1, swap: -1 }
        : { limit: mem, swap: swap === undefined ? -1 : Math.max(swap, mem) };
  }
  if (fields.includes('cpuCap') || fields.includes('cpuShares')) {
    out.cpu = {};
    if (fields.includes('cpuCap')) {
      const cap = positive(r.cpuCap);
      out.cpu.quota = cap === undefined ? -1 : Math.round((cap / 100) * CPU_PERIOD);
      out.cpu.period = CPU_PERIOD;
    }
    if (fields.includes('cpuShares'))
      out.cpu.shares =
        typeof r.cpuShares === 'number' && Number.isFinite(r.cpuShares)
          ? Math.max(2, r.cpuShares)
          : DEFAULT_CPU_SHARES;
  }
  if (fields.includes('pids')) out.pids = { limit: positive(r.pids) ?? -1 };
  return out;
}
