/**
 * Metrics, read from the zones' cgroups (v1 or v2), the VMs' veth counters and the pools, taken at
 * most once a second however many scrapes come (dataset space, which costs a pool walk, every 15 s).
 * The same sample answers `/metrics` (Prometheus text, prom-client) and the console's charts.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Host } from '../host/index.ts';
import { vnicCounters } from '../net/index.ts';
import { listPools } from '../storage/index.ts';
import { zoneCgroupPath } from '../zones/index.ts';
import type { VmRecord } from '../vm/index.ts';

export interface VmSample {
  uuid: string;
  alias: string;
  brand: string;
  state: string;
  cpuSeconds?: number;
  cpuCap?: number;
  throttledPeriods?: number;
  throttledSeconds?: number;
  memoryBytes?: number;
  memoryLimitBytes?: number;
  swapBytes?: number;
  swapLimitBytes?: number;
  pids?: number;
  pidsLimit?: number;
  nics: { iface: string; rxBytes: number; txBytes: number; rxPackets: number; txPackets: number }[];
  datasetUsedBytes?: number;
  quotaBytes?: number;
}

export interface Sample {
  time: number;
  vms: VmSample[];
  pools: { name: string; sizeBytes: number; allocBytes: number }[];
}

const CG = '/sys/fs/cgroup';

function readNum(path: string): number | undefined {
  try {
    const t = readFileSync(path, 'utf8').trim();
    if (t === 'max') return Infinity;
    const n = Number(t);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function readKv(path: string): Record<string, number> {
  const out: Record<string, number> = {};
  try {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      const [k, v] = line.split(' ');
      if (k && v !== undefined) out[k] = Number(v);
    }
  } catch {
    /* not there: the zone is not running */
  }
  return out;
}

/** A "no limit" value of cgroup v1 (a page-rounded LONG_MAX) or v2 ("max"). */
const limit = (n: number | undefined) => (n === undefined || n === Infinity || n >= 2 ** 62 ? undefined : n);

/** What the kernel counts for a running zone's cgroup. */
function cgroupSample(uuid: string, v2: boolean): Partial<VmSample> {
  const rel = zoneCgroupPath(uuid);
  if (v2) {
    const dir = join(CG, rel);
    const cpu = readKv(join(dir, 'cpu.stat'));
    const mem = readNum(join(dir, 'memory.current'));
    return {
      ...(cpu.usage_usec !== undefined ? { cpuSeconds: cpu.usage_usec / 1e6 } : {}),
      ...(cpu.nr_throttled !== undefined ? { throttledPeriods: cpu.nr_throttled } : {}),
      ...(cpu.throttled_usec !== undefined ? { throttledSeconds: cpu.throttled_usec / 1e6 } : {}),
      ...(mem !== undefined ? { memoryBytes: mem } : {}),
      ...opt('memoryLimitBytes', limit(readNum(join(dir, 'memory.max')))),
      ...opt('swapBytes', readNum(join(dir, 'memory.swap.current'))),
      ...opt('swapLimitBytes', limit(readNum(join(dir, 'memory.swap.max')))),
      ...opt('pids', readNum(join(dir, 'pids.current'))),
      ...opt('pidsLimit', limit(readNum(join(dir, 'pids.max')))),
    };
  }
  const acct =
    readNum(join(CG, 'cpuacct', rel, 'cpuacct.usage')) ??
    readNum(join(CG, 'cpu,cpuacct', rel, 'cpuacct.usage'));
  const cpu = readKv(join(CG, 'cpu', rel, 'cpu.stat'));
  const mem = readNum(join(CG, 'memory', rel, 'memory.usage_in_bytes'));
  const memsw = readNum(join(CG, 'memory', rel, 'memory.memsw.usage_in_bytes'));
  const memLimit = limit(readNum(join(CG, 'memory', rel, 'memory.limit_in_bytes')));
  const swLimit = limit(readNum(join(CG, 'memory', rel, 'memory.memsw.limit_in_bytes')));
  return {
    ...opt('cpuSeconds', acct === undefined ? undefined : acct / 1e9),
    ...opt('throttledPeriods', cpu.nr_throttled),
    ...opt('throttledSeconds', cpu.throttled_time === undefined ? undefined : cpu.throttled_time / 1e9),
    ...opt('memoryBytes', mem),
    ...opt('memoryLimitBytes', memLimit),
    ...opt('swapBytes', memsw !== undefined && mem !== undefined ? Math.max(0, memsw - mem) : undefined),
    ...opt(
      'swapLimitBytes',
      swLimit !== undefined && memLimit !== undefined ? swLimit - memLimit : undefined,
    ),
    ...opt('pids', readNum(join(CG, 'pids', rel, 'pids.current'))),
    ...opt('pidsLimit', limit(readNum(join(CG, 'pids', rel, 'pids.max')))),
  };
}

function opt<K extends string>(key: K, v: number | undefined): { [k in K]?: number } {
  return (v === undefined ? {} : { [key]: v }) as { [k in K]?: number };
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Histogram<'method' | 'route' | 'status'>;
  private last: Promise<Sample> | undefined;
  private lastAt = 0;
  private space = new Map<string, number>();
  private spaceAt = 0;
  private readonly v2: boolean;

  /** `vms`: every VM as the API lists them (default: read from the pools each time). */
  constructor(
    private readonly host: Host,
    private readonly vms: () => Promise<VmRecord[]> = () => host.allVms(),
  ) {
    this.v2 = existsController();
    collectDefaultMetrics({ register: this.registry, prefix: 'zonixd_' });
    this.requests = new Histogram({
      name: 'zonix_api_request_duration_seconds',
      help: 'API requests by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [this.registry],
    });
    const vmLabels = ['uuid', 'alias', 'brand'] as const;
    const sample = () => this.sample();
    type Pick = (v: VmSample) => number | undefined;
    /** Each VM's `pick`ed figure, with its labels. */
    const perVm = async (
      pick: Pick,
      put: (labels: Record<(typeof vmLabels)[number], string>, n: number) => void,
    ) => {
      for (const v of (await sample()).vms) {
        const n = pick(v);
        if (n !== undefined) put({ uuid: v.uuid, alias: v.alias, brand: v.brand }, n);
      }
    };
    const gauge = (name: string, help: string, pick: Pick) =>
      new Gauge({
        name,
        help,
        labelNames: vmLabels,
        registers: [this.registry],
        async collect() {
          this.reset();
          await perVm(pick, (l, n) => this.set(l, n));
        },
      });
    const counter = (name: string, help: string, pick: Pick) =>
      new Counter({
        name,
        help,
        labelNames: vmLabels,
        registers: [this.registry],
        async collect() {
          this.reset();
          await perVm(pick, (l, n) => this.inc(l, n));
        },
      });
    counter('zonix_vm_cpu_seconds_total', 'CPU time used by the zone', (v) => v.cpuSeconds);
    gauge('zonix_vm_cpu_cap_ratio', 'CPU cap (cpu_cap / 100: CPUs the zone may use)', (v) => v.cpuCap);
    counter(
      'zonix_vm_cpu_throttled_periods_total',
      'Periods the CPU cap throttled the zone',
      (v) => v.throttledPeriods,
    );
    counter(
      'zonix_vm_cpu_throttled_seconds_total',
      'Time the CPU cap held the zone back',
      (v) => v.throttledSeconds,
    );
    gauge('zonix_vm_memory_bytes', 'Memory the zone uses', (v) => v.memoryBytes);
    gauge('zonix_vm_memory_limit_bytes', 'Memory cap (max_physical_memory)', (v) => v.memoryLimitBytes);
    gauge('zonix_vm_swap_bytes', 'Swap the zone uses', (v) => v.swapBytes);
    gauge(
      'zonix_vm_swap_limit_bytes',
      'Swap cap (max_swap beyond max_physical_memory)',
      (v) => v.swapLimitBytes,
    );
    gauge('zonix_vm_pids', 'Processes and threads in the zone', (v) => v.pids);
    gauge('zonix_vm_pids_limit', 'Cap on processes and threads (max_lwps)', (v) => v.pidsLimit);
    gauge('zonix_vm_dataset_used_bytes', "Space the VM's dataset uses", (v) => v.datasetUsedBytes);
    gauge('zonix_vm_dataset_quota_bytes', "Quota of the VM's dataset", (v) => v.quotaBytes);
    const nicCounter = (name: string, help: string, key: 'rxBytes' | 'txBytes' | 'rxPackets' | 'txPackets') =>
      new Counter({
        name,
        help,
        labelNames: ['uuid', 'alias', 'iface'],
        registers: [this.registry],
        async collect() {
          this.reset();
          for (const v of (await sample()).vms)
            for (const n of v.nics) this.inc({ uuid: v.uuid, alias: v.alias, iface: n.iface }, n[key]);
        },
      });
    nicCounter('zonix_vm_network_receive_bytes_total', 'Bytes the VNIC received', 'rxBytes');
    nicCounter('zonix_vm_network_transmit_bytes_total', 'Bytes the VNIC sent', 'txBytes');
    nicCounter('zonix_vm_network_receive_packets_total', 'Packets the VNIC received', 'rxPackets');
    nicCounter('zonix_vm_network_transmit_packets_total', 'Packets the VNIC sent', 'txPackets');
    new Gauge({
      name: 'zonix_vms',
      help: 'VMs by state',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        const by = new Map<string, number>();
        for (const v of (await sample()).vms) by.set(v.state, (by.get(v.state) ?? 0) + 1);
        for (const [state, n] of by) this.set({ state }, n);
      },
    });
    for (const [name, help, key] of [
      ['zonix_pool_size_bytes', 'Size of the pool', 'sizeBytes'],
      ['zonix_pool_allocated_bytes', 'Space used in the pool', 'allocBytes'],
    ] as const)
      new Gauge({
        name,
        help,
        labelNames: ['pool'],
        registers: [this.registry],
        async collect() {
          this.reset();
          for (const p of (await sample()).pools) this.set({ pool: p.name }, p[key]);
        },
      });
  }

  /** The figures, at most a second old. */
  sample(): Promise<Sample> {
    const now = Date.now();
    if (this.last && now - this.lastAt < 1000) return this.last;
    this.lastAt = now;
    this.last = this.take().catch((err: unknown) => {
      this.last = undefined;
      throw err;
    });
    return this.last;
  }

  /** One VM's figures (the console's charts). */
  async vm(uuid: string): Promise<VmSample | undefined> {
    return (await this.sample()).vms.find((v) => v.uuid === uuid);
  }

  private async take(): Promise<Sample> {
    let vms: VmRecord[] = [];
    try {
      vms = await this.vms();
    } catch {
      /* no pool yet */
    }
    const pools = await listPools().catch(() => []);
    await this.refreshSpace(vms);
    const nics = new Map<string, VmSample['nics']>();
    for (const c of vnicCounters()) {
      const list = nics.get(c.uuid) ?? [];
      list.push({
        iface: c.iface,
        rxBytes: c.rxBytes,
        txBytes: c.txBytes,
        rxPackets: c.rxPackets,
        txPackets: c.txPackets,
      });
      nics.set(c.uuid, list);
    }
    return {
      time: Date.now(),
      pools: pools.map((p) => ({ name: p.name, sizeBytes: p.sizeBytes, allocBytes: p.allocBytes })),
      vms: vms.map((vm) => {
        const uuid = vm.uuid;
        const state = typeof vm.state === 'string' ? vm.state : 'unknown';
        const quota = typeof vm.quota === 'number' && vm.quota > 0 ? vm.quota * 2 ** 30 : undefined;
        const cap = typeof vm.cpu_cap === 'number' && vm.cpu_cap > 0 ? vm.cpu_cap / 100 : undefined;
        const used = this.space.get(uuid);
        return {
          uuid,
          alias: typeof vm.alias === 'string' ? vm.alias : '',
          brand: String(vm.brand),
          state,
          ...(state === 'running' ? cgroupSample(uuid, this.v2) : {}),
          ...opt('cpuCap', cap),
          ...opt('quotaBytes', quota),
          ...opt('datasetUsedBytes', used),
          nics: nics.get(uuid) ?? [],
        };
      }),
    };
  }

  /** Space used by each VM's dataset, every 15 s. */
  private async refreshSpace(vms: VmRecord[]) {
    if (Date.now() - this.spaceAt < 15_000) return;
    this.spaceAt = Date.now();
    const space = new Map<string, number>();
    const byPool = new Map<string, string[]>();
    for (const vm of vms) {
      const pool = typeof vm.zpool === 'string' ? vm.zpool : undefined;
      if (pool) byPool.set(pool, [...(byPool.get(pool) ?? []), vm.uuid]);
    }
    for (const [name, uuids] of byPool) {
      try {
        const core = this.host.core(name);
        const meta = core.pool.meta();
        const byDataset = new Map(uuids.map((u) => [core.store.dataset(u), u]));
        const names = [...byDataset.keys()].filter((n) => meta.datasets[n] !== undefined);
        const m = await core.pool.spaceOf(meta, names);
        for (const [ds, v] of m) {
          const u = byDataset.get(ds);
          if (u && typeof v.used === 'number') space.set(u, v.used);
        }
      } catch {
        /* a pool going away meanwhile */
      }
    }
    this.space = space;
  }

  private rendered: { at: number; body: Buffer } | undefined;
  private rendering: Promise<Buffer> | undefined;

  /**
   * The Prometheus text, made at most once a second (as the sample it shows). A scrape that finds it
   * older gets it as it is, at most a few seconds old, while the next one is made; only the first
   * scrape, or one after a quiet while, waits for it.
   */
  async text(): Promise<Buffer> {
    const now = Date.now();
    const r = this.rendered;
    if (r && now - r.at < 1000) return r.body;
    const next = (this.rendering ??= this.registry
      .metrics()
      .then((t) => {
        const body = Buffer.from(t);
        this.rendered = { at: Date.now(), body };
        return body;
      })
      .finally(() => (this.rendering = undefined)));
    if (r && now - r.at < 5000) {
      next.catch(() => undefined);
      return r.body;
    }
    return next;
  }
}

function existsController(): boolean {
  try {
    readFileSync(join(CG, 'cgroup.controllers'));
    return true;
  } catch {
    return false;
  }
}
