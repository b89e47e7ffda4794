/**
 * Installed images of one pool: each is a dataset `<pool>/<uuid>` with one `@final` snapshot that VMs
 * clone, and its manifest kept inside the pool. An install either completes or leaves nothing: the
 * manifest is recorded as `installing` first, and whatever an interrupted install left is removed by
 * the next change.
 * @module
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { finished, pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { processAlive, ZonixError } from '../common/index.ts';
import { HostCommandError, run, spawnStream } from '../platform/index.ts';
import { clonesOf, entityOf, type DocStore, type Pool } from '../storage/index.ts';
import { ImgadmError, notInstalled } from './errors.ts';
import { sniffPayload } from './file.ts';
import { checkManifest, describeImage, type ImageManifest } from './manifest.ts';

export interface InstalledImage {
  manifest: ImageManifest;
  zpool: string;
  source?: string;
}

interface ImageDoc extends InstalledImage {
  /** Set while an install is under way; such a record is not an image yet. */
  installing?: { pid: number; started: string };
}

/** How the content of a new image arrives. */
export type ImageContent =
  /** Decompressed, verified bytes: a dataset stream (zfs send) or a root-filesystem tarball. */
  | { kind: 'stream'; stream: Readable }
  /**
   * Fill the empty root directory of the new image (built-in images, registry pulls). Tags it
   * returns (what went in: packages, digests) are added to the manifest.
   */
  | { kind: 'build'; build: (root: string) => Promise<BuildResult | undefined> }
  /**
   * Write the blocks of a new volume image (type zvol): `build` gets a scratch file beside the
   * volume and leaves the raw disk in it, `sizeMiB` at most (built-in guest disks).
   */
  | { kind: 'volume'; build: (file: string) => Promise<BuildResult | undefined> };

export interface BuildResult {
  tags?: Record<string, unknown>;
}

export const FINAL = 'final';
const MiB = 1024 * 1024;

/** Copy a file's bytes into an existing file (keeping its attributes), holes kept as holes. */
async function copyInto(from: string, to: string): Promise<void> {
  await run('cp', ['--sparse=always', '--reflink=auto', from, to], { timeoutMs: 3_600_000 });
  await truncate(to, (await stat(from)).size);
}

export class ImageStore {
  private readonly docs: DocStore;

  constructor(readonly pool: Pool) {
    this.docs = pool.docs('images');
  }

  dataset(uuid: string): string {
    return `${this.pool.name}/${uuid}`;
  }

  /** Installed images (complete ones only), oldest published first. */
  list(): InstalledImage[] {
    const out: InstalledImage[] = [];
    for (const key of this.docs.keys()) {
      const d = this.docs.get<ImageDoc>(key);
      if (d && !d.installing) out.push(strip(d));
    }
    return out;
  }

  get(uuid: string): InstalledImage | undefined {
    const d = this.docs.get<ImageDoc>(uuid);
    return d && !d.installing ? strip(d) : undefined;
  }

  require(uuid: string): InstalledImage {
    const img = this.get(uuid);
    if (!img) throw notInstalled(uuid, this.pool.name);
    return img;
  }

  /** Datasets cloned from the image (VMs, or images made from it). */
  clones(uuid: string): string[] {
    return clonesOf(this.pool.meta(), this.dataset(uuid));
  }

  /**
   * Install an image. Returns false (and changes nothing) when it is installed already.
   */
  async install(raw: unknown, content: ImageContent, opts: { source?: string } = {}): Promise<boolean> {
    const manifest = checkManifest(raw);
    await this.cleanup(manifest.uuid);
    if (this.get(manifest.uuid)) return false;
    if (manifest.origin && !this.get(manifest.origin))
      throw new ImgadmError(
        'OriginNotInstalled',
        `origin image "${manifest.origin}" of ${describeImage(manifest)} is not installed`,
      );
    const ds = this.dataset(manifest.uuid);
    const doc: ImageDoc = {
      manifest,
      zpool: this.pool.name,
      ...(opts.source ? { source: opts.source } : {}),
      installing: { pid: process.pid, started: new Date().toISOString() },
    };
    this.docs.put(manifest.uuid, doc);
    try {
      if (content.kind === 'build') {
        const built = await this.installBuilt(ds, content.build);
        if (built?.tags) doc.manifest = { ...manifest, tags: { ...manifest.tags, ...built.tags } };
      } else if (content.kind === 'volume') {
        const built = await this.installVolume(ds, manifest, async (file) => {
          const scratch = `${file}.build`;
          try {
            const r = await content.build(scratch);
            await copyInto(scratch, file);
            return r;
          } finally {
            await rm(scratch, { force: true });
          }
        });
        if (built?.tags) doc.manifest = { ...manifest, tags: { ...manifest.tags, ...built.tags } };
      } else if (manifest.type === 'zvol') await this.installDiskStream(ds, manifest, content.stream);
      else await this.installStream(ds, content.stream);
      // A received stream brings its own @final.
      if (!this.pool.meta().datasets[ds]?.snapshots[FINAL]) await this.pool.snapshot([`${ds}@${FINAL}`]);
      // The image's files reach the disk before the record that says it is installed.
      await run('sync', ['-f', this.syncPath(ds)], { timeoutMs: 600_000 });
      delete doc.installing;
      this.docs.put(manifest.uuid, doc);
      return true;
    } catch (err) {
      await this.removeDataset(ds).catch(() => undefined);
      this.docs.delete(manifest.uuid);
      throw this.explain(err, manifest);
    }
  }

  private async installBuilt(
    ds: string,
    build: (root: string) => Promise<BuildResult | undefined>,
  ): Promise<BuildResult | undefined> {
    await this.pool.create(ds);
    const root = join(this.pool.datasetPath(ds), 'root');
    await mkdir(root, { mode: 0o755 });
    return build(root);
  }

  /** Where `sync -f` reaches a dataset's file system (a volume's data file is a file, not a dir). */
  private syncPath(ds: string): string {
    const e = this.pool.meta().datasets[ds];
    return e?.type === 'volume' ? this.pool.volumeFile(ds) : this.pool.datasetPath(ds);
  }

  /**
   * A volume image from its blocks: made at the manifest's `image_size` (1 MiB when it has none),
   * filled by `fill`, then sized to what it holds (never below `image_size`), in whole MiB.
   */
  private async installVolume(
    ds: string,
    m: ImageManifest,
    fill: (file: string) => Promise<BuildResult | undefined>,
  ): Promise<BuildResult | undefined> {
    const want = (m.image_size ?? 1) * MiB;
    await this.pool.create(ds, { volsize: want });
    const file = this.pool.volumeFile(ds);
    const result = await fill(file);
    const got = (await stat(file)).size;
    const size = Math.max(want, Math.ceil(got / MiB) * MiB);
    if (size !== want) await this.pool.set(ds, { volsize: String(size) });
    else if (got !== want) await truncate(file, want);
    return result;
  }

  /**
   * A zvol image's file: a dataset stream (zfs send of a volume, what imgadm create makes), a qcow2
   * file (converted with qemu-img) or a raw disk.
   */
  private async installDiskStream(ds: string, m: ImageManifest, input: Readable): Promise<void> {
    const { kind, stream } = await sniffPayload(input, { disk: true });
    if (kind === 'dataset-stream') {
      await this.pool.receive(`${ds}@${FINAL}`, stream);
      return;
    }
    if (kind === 'raw') {
      await this.installVolume(ds, m, async (file) => {
        await pipeline(stream, createWriteStream(file, { flags: 'r+' }));
        return undefined;
      });
      return;
    }
    // qcow2 needs seeking: the file lands in the pool's scratch space first.
    const scratchDir = this.pool.docs('image-files').dir;
    await mkdir(scratchDir, { recursive: true });
    const tmp = join(scratchDir, `.${m.uuid}.${process.pid}.qcow2`);
    try {
      await pipeline(stream, createWriteStream(tmp));
      const { stdout } = await run('qemu-img', ['info', '--output=json', '-f', 'qcow2', tmp], {
        timeoutMs: 60_000,
      });
      const virtual = Number((JSON.parse(stdout) as { 'virtual-size'?: number })['virtual-size']);
      if (!Number.isFinite(virtual) || virtual <= 0)
        throw new ImgadmError('InvalidImageFile', `qcow2 image of ${describeImage(m)} has no virtual size`);
      const sized = { ...m, image_size: Math.max(m.image_size ?? 0, Math.ceil(virtual / MiB)) };
      await this.installVolume(ds, sized, async (file) => {
        await run('qemu-img', ['convert', '-n', '-f', 'qcow2', '-O', 'raw', tmp, file], {
          timeoutMs: 3_600_000,
        });
        return undefined;
      });
    } finally {
      await rm(tmp, { force: true });
    }
  }

  private async installStream(ds: string, input: Readable): Promise<void> {
    const { kind, stream } = await sniffPayload(input);
    if (kind === 'dataset-stream') {
      await this.pool.receive(`${ds}@${FINAL}`, stream);
      return;
    }
    await this.installBuilt(ds, async (root) => {
      const p = spawnStream(
        'tar',
        ['-x', '-f', '-', '-C', root, '--numeric-owner', '--xattrs', '--xattrs-include=*', '-p'],
        {
          stdin: stream,
          stdout: 'ignore',
        },
      );
      // finished() also answers for a stream that failed before this point.
      await Promise.all([p.done, finished(stream, { writable: false })]);
    });
  }

  /** A full pool says so, whichever layer hit it (tar, btrfs receive, a write). */
  private explain(err: unknown, m: ImageManifest): unknown {
    const text =
      err instanceof HostCommandError
        ? err.stderr
        : err instanceof Error
          ? `${err.message} ${String((err as NodeJS.ErrnoException).code)}`
          : '';
    const code = err instanceof ZonixError ? err.code : '';
    // GNU tar only says "Wrote only N of M bytes" when the disk is full.
    if (
      code === 'ENOSPC' ||
      code === 'EDQUOT' ||
      /No space left on device|ENOSPC|out of space|Wrote only \d+ of \d+ bytes/i.test(text)
    )
      return new ImgadmError(
        'ImportError',
        `cannot install image ${describeImage(m)}: pool "${this.pool.name}" is out of space`,
        err,
      );
    return err;
  }

  /** Delete an installed image; refuses while anything is cloned from it. */
  async delete(uuid: string): Promise<InstalledImage> {
    await this.cleanup(uuid);
    const img = this.require(uuid);
    const clones = this.clones(uuid);
    if (clones.length)
      throw new ImgadmError(
        'ImageHasDependentClones',
        `image ${describeImage(img.manifest)} has dependent clones: ${clones.join(', ')}`,
      );
    await this.removeDataset(this.dataset(uuid));
    this.docs.delete(uuid);
    const cache = this.pool.docs('image-files');
    cache.delete(uuid);
    await rm(join(cache.dir, `${uuid}.zfs.gz`), { force: true });
    return img;
  }

  /** Remove what an install that died left behind (its record says installing, its process is gone). */
  async cleanup(uuid?: string): Promise<void> {
    for (const key of uuid ? [uuid] : this.docs.keys()) {
      const d = this.docs.get<ImageDoc>(key);
      if (!d?.installing || processAlive(d.installing.pid)) continue;
      await this.removeDataset(this.dataset(key));
      this.docs.delete(key);
    }
  }

  private async removeDataset(ds: string): Promise<void> {
    const meta = this.pool.meta();
    if (!meta.datasets[ds]) return;
    await this.pool.destroy(ds, { recursive: true });
  }

  /**
   * The image as a file to hand out (IMGAPI): its `@final` dataset stream, gzipped, made once and
   * kept in the pool until the snapshot changes.
   */
  async exportFile(uuid: string): Promise<{ path: string; sha1: string; size: number }> {
    this.require(uuid);
    const snap = `${this.dataset(uuid)}@${FINAL}`;
    const guid = entityOf(this.pool.meta(), snap).snap!.guid;
    const cache = this.pool.docs('image-files');
    const dir = cache.dir;
    const path = join(dir, `${uuid}.zfs.gz`);
    const known = cache.get<{ guid: string; sha1: string; size: number }>(uuid);
    if (known?.guid === guid && existsSync(path)) return { path, sha1: known.sha1, size: known.size };
    await mkdir(dir, { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    const hash = createHash('sha1');
    let size = 0;
    const gz = createGzip({ level: 6 });
    gz.on('data', (c: Buffer) => {
      hash.update(c);
      size += c.length;
    });
    const out = createWriteStream(tmp);
    const piped = pipeline(gz, out);
    await this.pool.send(snap, gz);
    gz.end();
    await piped;
    await rename(tmp, path);
    const rec = { guid, sha1: hash.digest('hex'), size };
    cache.put(uuid, rec);
    return { path, sha1: rec.sha1, size };
  }

  /** What the VM layer needs: manifest facts and the snapshot to clone (structurally vm's ImageCatalogue). */
  catalogue() {
    return {
      lookup: (uuid: string) => this.get(uuid)?.manifest,
      origin: (uuid: string) => `${this.dataset(uuid)}@${FINAL}`,
    };
  }

  /** Record a manifest change (imgadm update). */
  saveManifest(img: InstalledImage): void {
    this.docs.put(img.manifest.uuid, img);
  }
}

function strip(d: ImageDoc): InstalledImage {
  return { manifest: d.manifest, zpool: d.zpool, ...(d.source ? { source: d.source } : {}) };
}
