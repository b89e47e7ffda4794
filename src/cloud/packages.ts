/**
 * Packages, as Triton's PAPI has them: a name and the limits a machine created with it gets
 * (memory, swap, disk, vcpus, cpu_cap, lwps, zfs_io_priority). A built-in sample set, plus those
 * the operator adds (`zonix package add`), kept in the system pool. A package becomes vmadm
 * properties through `packagePayload`, which the VM property table then checks as any payload.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { DocStore } from '../storage/index.ts';
import { DocCache } from './doc-cache.ts';
import { invalid, notFound } from './errors.ts';

export interface Package {
  uuid: string;
  name: string;
  version: string;
  /** MiB. */
  memory: number;
  /** MiB. */
  swap: number;
  /** MiB (CloudAPI's unit; vmadm's quota is GiB). */
  disk: number;
  vcpus: number;
  /** Percent of one CPU; 0: no cap. */
  cpu_cap: number;
  lwps: number;
  zfs_io_priority: number;
  group: string;
  description: string;
  active: boolean;
  /** Built in: neither stored nor deletable. */
  builtin?: boolean;
}

/** The sample set every host has: its UUIDs are fixed so that machines keep naming them. */
export const BUILTIN_PACKAGES: readonly Package[] = (
  [
    ['5a8f1a36-5f70-4b3b-9a9c-0a0d3c9d1001', 'sample-256M', 256, 512, 5120, 25, 'a tiny zone'],
    ['5a8f1a36-5f70-4b3b-9a9c-0a0d3c9d1002', 'sample-512M', 512, 1024, 10240, 50, 'a small zone'],
    ['5a8f1a36-5f70-4b3b-9a9c-0a0d3c9d1003', 'sample-1G', 1024, 2048, 25600, 100, 'a zone of one CPU'],
    ['5a8f1a36-5f70-4b3b-9a9c-0a0d3c9d1004', 'sample-2G', 2048, 4096, 51200, 200, 'a zone of two CPUs'],
    ['5a8f1a36-5f70-4b3b-9a9c-0a0d3c9d1005', 'sample-4G', 4096, 8192, 102400, 400, 'a large zone'],
  ] as const
).map(([uuid, name, memory, swap, disk, cap, description]) => ({
  uuid,
  name,
  version: '1.0.0',
  memory,
  swap,
  disk,
  vcpus: Math.max(1, Math.round(cap / 100)),
  cpu_cap: cap,
  lwps: 4000,
  zfs_io_priority: 100,
  group: 'sample',
  description,
  active: true,
  builtin: true,
}));

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]{0,63}$/;

/** What `zonix package add` and the API take: every limit optional but memory. */
export interface PackageRequest {
  name: string;
  memory: number;
  swap?: number;
  disk?: number;
  vcpus?: number;
  cpu_cap?: number;
  lwps?: number;
  zfs_io_priority?: number;
  version?: string;
  group?: string;
  description?: string;
}

function int(field: string, v: unknown, min: number, max: number): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)
    throw invalid(`${field} must be an integer from ${min} to ${max}, not ${JSON.stringify(v)}`);
  return n;
}

export class Packages {
  private readonly cache: DocCache<Package>;

  constructor(private readonly docs: () => DocStore) {
    this.cache = new DocCache(docs);
  }

  /** Changes when a package is added or deleted. */
  version(): string {
    return this.cache.stamp();
  }

  list(): Package[] {
    return [...BUILTIN_PACKAGES, ...this.cache.all()].sort(
      (a, b) => a.memory - b.memory || a.name.localeCompare(b.name),
    );
  }

  /** By uuid or name (a name must be unique; the newest version wins when several share it). */
  find(id: string): Package | undefined {
    const all = this.list();
    return (
      all.find((p) => p.uuid === id) ??
      all
        .filter((p) => p.name === id)
        .sort((a, b) => b.version.localeCompare(a.version, 'en', { numeric: true }))[0]
    );
  }

  get(id: string): Package {
    const p = this.find(id);
    if (!p) throw notFound(`${id} not found`);
    return p;
  }

  add(req: PackageRequest): Package {
    if (typeof req.name !== 'string' || !NAME.test(req.name))
      throw invalid(`name ${JSON.stringify(req.name)} is invalid: letters, digits, _ . + -, at most 64`);
    const memory = int('memory', req.memory, 64, 1024 * 1024);
    const pkg: Package = {
      uuid: randomUUID(),
      name: req.name,
      version: req.version ?? '1.0.0',
      memory,
      swap: req.swap === undefined ? memory * 2 : int('swap', req.swap, memory, 4 * 1024 * 1024),
      disk: req.disk === undefined ? 10240 : int('disk', req.disk, 1024, 1024 * 1024 * 1024),
      vcpus: req.vcpus === undefined ? 1 : int('vcpus', req.vcpus, 1, 128),
      cpu_cap: req.cpu_cap === undefined ? 0 : int('cpu_cap', req.cpu_cap, 0, 12800),
      lwps: req.lwps === undefined ? 4000 : int('lwps', req.lwps, 1, 2_147_483_647),
      zfs_io_priority:
        req.zfs_io_priority === undefined ? 100 : int('zfs_io_priority', req.zfs_io_priority, 0, 16383),
      group: req.group ?? '',
      description: req.description ?? '',
      active: true,
    };
    if (this.list().some((p) => p.name === pkg.name && p.version === pkg.version))
      throw invalid(`package ${pkg.name} version ${pkg.version} already exists`);
    this.docs().put(pkg.uuid, pkg);
    return pkg;
  }

  delete(id: string): Package {
    const p = this.get(id);
    if (p.builtin) throw invalid(`package ${p.name} is built in and cannot be deleted`);
    this.docs().delete(p.uuid);
    return p;
  }
}

/**
 * The vmadm properties a package gives a machine (what CloudAPI sends VMAPI): memory and swap caps,
 * the disk as a quota in GiB (rounded up), CPU cap, LWPs, I/O priority, and the package's uuid as
 * billing_id. The VM property table checks them as any payload.
 */
export function packagePayload(p: Package): Record<string, unknown> {
  return {
    max_physical_memory: p.memory,
    max_locked_memory: p.memory,
    max_swap: Math.max(p.swap, p.memory, 256),
    quota: Math.ceil(p.disk / 1024),
    ...(p.cpu_cap > 0 ? { cpu_cap: p.cpu_cap } : {}),
    max_lwps: p.lwps,
    zfs_io_priority: p.zfs_io_priority,
    billing_id: p.uuid,
  };
}
