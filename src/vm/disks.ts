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
  opts: { origin: (image: string) => string | undefined; op?: Operation },
): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let index = 0;
  for (const d of disks) {
    if (d.media === 'cdrom' || d.nocreate === true) {
      out.push({ ...d });
      continue;
    }
    const ds = diskDataset(vmDataset, index++);
    const image = typeof d.image_uuid === 'string' ? d.image_uuid : undefined;
    const imageSize = typeof d.image_size === 'number' ? d.image_size : undefined;
    const size = typeof d.size === 'number' ? d.size : imageSize;
    if (size === undefined) throw new VmError('EINVAL', 'missing properties: disks.size');
    reportProgress(opts.op, { phase: 'disks', subject: ds });
    if (image) {
      const origin = opts.origin(image);
      if (!origin) throw new VmError('EINVAL', `image ${image} is not installed`);
      await pool.clone(origin, ds);
      if (size > (imageSize ?? 0)) await pool.set(ds, { volsize: String(size * MiB) });
    } else {
      await pool.create(ds, { volsize: size * MiB });
    }
    const { media: _m, ...rest } = d;
    out.push({
      ...rest,
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
