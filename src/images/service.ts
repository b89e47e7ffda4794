/**
 * What imgadm does, over the store and the sources: find an image, fetch it with its checks, install
 * it; install from local files; vacuum. The CLI and (later) the API call these.
 * @module
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { systemPool } from '../storage/index.ts';
import type { Pool } from '../storage/index.ts';

export { systemPool };
import { ImgadmError } from './errors.ts';
import { autoDecompress, decompress, verifying } from './file.ts';
import { checkManifest, describeImage, UUID_RE, type Compression, type ImageManifest } from './manifest.ts';
import { BuiltinSource, openSource, readSourceConfig, type ImageSource } from './sources.ts';
import { ImageStore, type ImageContent } from './store.ts';
import { importDocker, isDockerReference } from './docker.ts';

/** The pool imgadm and vmadm work on by default: the system pool (`zones`), else the first imported. */
export function storeFor(poolName?: string): ImageStore {
  return new ImageStore(systemPool(poolName));
}

/** The built-in source, then the configured ones in order. */
export function allSources(pool: Pool): ImageSource[] {
  return [new BuiltinSource(), ...readSourceConfig(pool).map(openSource)];
}

export interface Found {
  source: ImageSource;
  manifest: ImageManifest;
}

/** Find `spec` (a UUID, or NAME or NAME@VERSION: the newest match) in the sources. */
export async function findImage(sources: ImageSource[], spec: string): Promise<Found> {
  if (UUID_RE.test(spec)) {
    for (const source of sources) {
      const manifest = await source.get(spec).catch(() => undefined);
      if (manifest) return { source, manifest };
    }
    throw new ImgadmError('ImageNotFound', `image "${spec}" was not found in any source`);
  }
  const at = spec.lastIndexOf('@');
  const name = at > 0 ? spec.slice(0, at) : spec;
  const version = at > 0 ? spec.slice(at + 1) : undefined;
  const hits: Found[] = [];
  for (const source of sources) {
    for (const manifest of await source.list()) {
      if (manifest.name === name && (version === undefined || manifest.version === version))
        hits.push({ source, manifest });
    }
  }
  hits.sort((a, b) => (a.manifest.published_at ?? '').localeCompare(b.manifest.published_at ?? ''));
  const newest = hits.at(-1);
  if (!newest) throw new ImgadmError('ImageNotFound', `image "${spec}" was not found in any source`);
  return newest;
}

export interface Progress {
  /** Called with bytes transferred so far and the total when known. */
  onBytes?: (done: number, total?: number) => void;
}

export interface ImportResult {
  manifest: ImageManifest;
  source: string;
  installed: boolean;
}

/** `imgadm import`: origins first, then the image; a no-op when it is installed already. */
export async function importImage(
  store: ImageStore,
  spec: string,
  opts: Progress & { sources?: ImageSource[] } = {},
): Promise<ImportResult[]> {
  if (!UUID_RE.test(spec) && isDockerReference(spec)) return [await importDocker(store, spec, opts)];
  const sources = opts.sources ?? allSources(store.pool);
  const found = await findImage(sources, spec);
  const results: ImportResult[] = [];
  await importFound(store, sources, found, opts, results);
  return results;
}

async function importFound(
  store: ImageStore,
  sources: ImageSource[],
  found: Found,
  opts: Progress,
  out: ImportResult[],
) {
  const m = found.manifest;
  if (store.get(m.uuid)) {
    out.push({ manifest: m, source: found.source.url, installed: false });
    return;
  }
  if (m.origin && !store.get(m.origin))
    await importFound(store, sources, await findImage(sources, m.origin), opts, out);
  let done = 0;
  const fetched = await found.source.fetch(m, (n) => {
    done += n;
    opts.onBytes?.(done, m.files?.[0]?.size);
  });
  const installed = await installChecked(store, m, fetched.content, found.source.url);
  out.push({ manifest: m, source: found.source.url, installed });
}

/**
 * Install with the manifest's checks applied to a streamed file: sha1 and size while it streams,
 * then decompression. A failed check is reported as itself, not as whatever it broke downstream.
 */
async function installChecked(store: ImageStore, m: ImageManifest, content: ImageContent, source: string) {
  if (content.kind !== 'stream') return store.install(m, content, { source });
  const file = m.files?.[0];
  const check = verifying({ ...(file ? { sha1: file.sha1, size: file.size } : {}) }, `image ${m.uuid} file`);
  let checkError: Error | undefined;
  check.on('error', (e) => (checkError = e));
  content.stream.on('error', (e) => check.destroy(e));
  const compression: Compression = file?.compression ?? 'none';
  const data = decompress(content.stream.pipe(check), compression);
  try {
    return await store.install(m, { kind: 'stream', stream: data }, { source });
  } catch (err) {
    if (checkError !== undefined) throw checkError;
    throw err instanceof ImgadmError
      ? err
      : new ImgadmError('ImportError', `cannot import ${describeImage(m)}: ${(err as Error).message}`, err);
  }
}

/** `imgadm install -m MANIFEST -f FILE`: from local files. */
export async function installFromFiles(
  store: ImageStore,
  manifestPath: string,
  filePath: string,
  opts: Progress = {},
) {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (err) {
    throw new ImgadmError(
      'InvalidManifest',
      `cannot read manifest ${manifestPath}: ${(err as Error).message}`,
      err,
    );
  }
  const m = checkManifest(raw);
  const size = (await stat(filePath).catch(() => undefined))?.size;
  if (size === undefined) throw new ImgadmError('InvalidImageFile', `image file ${filePath} does not exist`);
  const compression = m.files?.[0]?.compression;
  const stream = meter(createReadStream(filePath, { highWaterMark: 1 << 20 }), size, opts);
  const check = verifying(
    m.files?.[0] ? { sha1: m.files[0].sha1, size: m.files[0].size } : {},
    `image file ${filePath}`,
  );
  let checkError: Error | undefined;
  check.on('error', (e) => (checkError = e));
  const checked = stream.pipe(check);
  // Without files[] in the manifest, the data's first bytes say how it is compressed.
  const data = compression ? decompress(checked, compression) : await autoDecompress(checked);
  try {
    const installed = await store.install(
      m,
      { kind: 'stream', stream: data },
      { source: `file://${filePath}` },
    );
    return { manifest: m, installed };
  } catch (err) {
    if (checkError !== undefined) throw checkError;
    throw err;
  }
}

function meter(stream: Readable, total: number, opts: Progress): Readable {
  if (!opts.onBytes) return stream;
  let done = 0;
  stream.on('data', (c: Buffer) => {
    done += c.length;
    opts.onBytes?.(done, total);
  });
  return stream;
}

/** `imgadm vacuum`: images nothing is cloned from. */
export function unusedImages(store: ImageStore): ImageManifest[] {
  return store
    .list()
    .filter((img) => store.clones(img.manifest.uuid).length === 0)
    .map((img) => img.manifest);
}
