/**
 * An HVM VM's disks: each is a volume (zvol) of its pool, a child of the VM's dataset
 * (`zones/<uuid>/disk<N>`, seen as `/dev/zvol/rdsk/zones/<uuid>/disk<N>`). A disk with `image_uuid`
 * is a clone of the image's `@final` (constant time), grown to `size` when that is larger; the
 * others are made empty at `size`. Disks given with `nocreate` (a path the admin made) and cdroms
 * are left as they are.
 * @module
 */
import { reportProgress, type Operation } from '../common/index.ts';
import type { Pool } from '../storage/index.ts';
import { VmError } from './errors.ts';

const MiB = 1024 * 1024;

/** The images disks are cloned from (the VM core's ImageCatalogue). */
interface DiskImages {
  lookup(uuid: string): { image_size?: number } | undefined;
  origin(uuid: string): string;
}

export const diskDataset = (vmDataset: string, index: number): string => `${vmDataset}/disk${index}`;
export const diskPath = (dataset: string): string => `/dev/zvol/rdsk/${dataset}`;

/** The pool dataset behind a disk path of this host, or undefined (a host file given with nocreate). */
export function datasetOfPath(path: string): string | undefined {
  return path.startsWith('/dev/zvol/rdsk/') ? path.slice('/dev/zvol/rdsk/'.length) : undefined;
}

/**
 * Make the volumes of a new VM's disks under `vmDataset` (made already); resolves to the disks as
 * the manifest keeps them (path, size, zfs_filesystem, zpool filled in).
 */
export async function makeDisks(
  pool: Pool,
  vmDataset: string,
  disks: Record<string, unknown>[],
  opts: { images?: DiskImages | undefined; op?: Operation; firstIndex?: number },
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let index = opts.firstIndex ?? 0;
  for (const d of disks) {
    if (d.media === 'cdrom' || d.nocreate === true) {
      out.push({ ...d });
      continue;
    }
    const ds = diskDataset(vmDataset, index++);
    const image = typeof d.image_uuid === 'string' ? d.image_uuid : undefined;
    const imageSize =
      typeof d.image_size === 'number'
        ? d.image_size
        : image
          ? opts.images?.lookup(image)?.image_size
          : undefined;
    const size = typeof d.size === 'number' ? d.size : imageSize;
    if (size === undefined) throw new VmError('EINVAL', 'missing properties: disks.size');
    reportProgress(opts.op, { phase: 'disks', subject: ds });
    if (image) {
      const origin = opts.images?.lookup(image) ? opts.images.origin(image) : undefined;
      if (!origin) throw new VmError('EINVAL', `image ${image} is not installed`);
      await pool.clone(origin, ds);
      if (size > (imageSize ?? 0)) await pool.set(ds, { volsize: String(size * MiB) });
    } else {
      await pool.create(ds, { volsize: size * MiB });
    }
    const { media: _m, ...rest } = d;
    out.push({
      ...rest,
      ...(image && imageSize !== undefined ? { image_size: imageSize } : {}),
      path: diskPath(ds),
      size,
      media: 'disk',
      boot: d.boot === true,
      zfs_filesystem: ds,
      zpool: pool.name,
    });
  }
  return out;
}

type Disk = Record<string, unknown>;

const indexOf = (d: Disk): number => {
  const m = typeof d.path === 'string' ? /[-/]disk(\d+)$/.exec(d.path) : null;
  return m ? Number(m[1]) : -1;
};

/**
 * What an update does to a stopped VM's volumes (`add_disks`, `update_disks` sizes, `remove_disks`):
 * disks added without a path get volumes (numbered after the highest one), grown or shrunk disks
 * get their new `volsize` (shrinking only with `dangerous_allow_shrink` in the update's entry).
 * Resolves to the disk list to store; `undo` gets what puts the volumes back, and `removed` the
 * volumes to destroy once the manifest no longer names them.
 */
export async function changeDiskVolumes(
  pool: Pool,
  vmDataset: string,
  before: readonly Disk[],
  after: readonly Disk[],
  updates: readonly Disk[],
  undo: { add(fn: () => Promise<unknown>): void },
  images: DiskImages | undefined,
): Promise<{ disks: Disk[]; removed: string[] }> {
  const volumeOf = (d: Disk) => (typeof d.zfs_filesystem === 'string' ? d.zfs_filesystem : undefined);
  const kept = new Set(after.map((d) => d.path));
  const removed = before.filter((d) => !kept.has(d.path)).flatMap((d) => volumeOf(d) ?? []);
  // Sizes first: a refused shrink changes nothing.
  const resizes: { ds: string; from: number; to: number }[] = [];
  for (const d of after) {
    const ds = volumeOf(d);
    const old = before.find((b) => b.path === d.path);
    if (!ds || !old || typeof d.size !== 'number' || d.size === old.size) continue;
    const from = Number(old.size);
    if (d.size < from && !updates.some((u) => u.path === d.path && u.dangerous_allow_shrink === true))
      throw new VmError(
        'EINVAL',
        `cannot resize ${String(d.path)}: new size ${d.size} MiB is smaller than ${from} MiB ` +
          '(set dangerous_allow_shrink to shrink it)',
      );
    resizes.push({ ds, from, to: d.size });
  }
  for (const r of resizes) {
    await pool.set(r.ds, { volsize: String(r.to * MiB) });
    undo.add(() => pool.set(r.ds, { volsize: String(r.from * MiB) }));
  }
  const fresh = after.filter((d) => d.path === undefined && d.media !== 'cdrom' && d.nocreate !== true);
  let made: Disk[] = [];
  if (fresh.length) {
    const first = Math.max(-1, ...before.map(indexOf)) + 1;
    made = await makeDisks(pool, vmDataset, fresh, { images, firstIndex: first });
    for (const m of made) undo.add(() => pool.destroy(String(m.zfs_filesystem), { recursive: true }));
  }
  const rest = after.filter((d) => !fresh.includes(d));
  const disks = [...rest, ...made].sort((a, b) => indexOf(a) - indexOf(b));
  return { disks, removed };
}
