/**
 * OCI and Docker images for `imgadm import`: pull from a registry (`pullImage`) or read a local
 * `docker save` / OCI layout archive (`importArchive`) and unpack it, layer by layer, into an empty
 * directory; `dockerTags` turns the result into the `docker:*` tags a SmartOS image manifest carries.
 *
 * Every byte is checked against its digest (manifest, config, each blob, each layer's diff_id) before
 * the rootfs is touched. On failure `targetDir` may hold part of the image: the caller destroys it.
 * @module
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { readArchiveDir, unpackArchive, type ArchiveImage } from './archive.ts';
import { OciError } from './errors.ts';
import { applyLayer } from './layers.ts';
import {
  checkPlatform,
  HOST_PLATFORM,
  parseConfig,
  selectPlatform,
  type ImageConfig,
  type ImageManifest,
  type RunConfig,
} from './manifest.ts';
import { familiarName, formatReference, parseReference, type ImageReference } from './reference.ts';
import { RegistryClient, type RegistryOptions } from './registry.ts';

export { OciError, isOciError, type OciErrorCode } from './errors.ts';
export {
  parseReference,
  formatReference,
  familiarName,
  registryHost,
  type ImageReference,
} from './reference.ts';
export { RegistryClient, type RegistryOptions } from './registry.ts';
export type { RunConfig, Platform } from './manifest.ts';

export interface PullProgress {
  /** 1-based index of the layer being fetched. */
  layer: number;
  layers: number;
  /** Bytes of this layer so far. */
  bytes: number;
  totalBytes?: number;
}

export interface CommonOptions {
  onProgress?: (p: PullProgress) => void;
  /** Where layer downloads and unpacked archives are kept while importing (default: the OS temp dir). */
  tmpDir?: string;
  /** Limit for extracting one layer (default 1 hour). */
  layerTimeoutMs?: number;
}

export type PullOptions = RegistryOptions & CommonOptions;

export interface ImportArchiveOptions extends CommonOptions {
  /** Which image to take from an archive holding several, and the name to record for an unnamed one. */
  reference?: string;
}

export interface OciImageInfo {
  /** Normalised: `docker.io/library/alpine:3.20`; undefined for an archive that names no image. */
  reference?: string;
  /** What the reference resolved to (the manifest list's digest for a multi-platform image). */
  digest?: string;
  /** The linux/amd64 image manifest's digest (equal to `digest` for a single-platform image). */
  manifestDigest?: string;
  /** The image ID docker shows: the config's digest. */
  id: string;
  config: RunConfig;
  architecture: string;
  os: string;
  variant?: string;
  /** Base layer first; `digest` is the blob as stored, `diffId` the uncompressed tar's. */
  layers: { digest: string; size: number; diffId: string }[];
  created?: string;
}

async function requireDir(dir: string): Promise<void> {
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    throw new OciError('InvalidImage', `target directory ${dir} does not exist`, { cause: err });
  }
  if (!st.isDirectory()) throw new OciError('InvalidImage', `target ${dir} is not a directory`);
}

function checkLayerCount(cfg: ImageConfig, layers: number, what: string): void {
  if (cfg.diffIds.length !== layers)
    throw new OciError(
      'InvalidImage',
      `${what}: the config lists ${cfg.diffIds.length} diff_ids for ${layers} layers`,
    );
}

function infoOf(cfg: ImageConfig, id: string, layers: { digest: string; size: number }[]): OciImageInfo {
  const info: OciImageInfo = {
    id,
    config: cfg.config,
    architecture: cfg.architecture,
    os: cfg.os,
    layers: layers.map((l, i) => ({ digest: l.digest, size: l.size, diffId: cfg.diffIds[i] ?? '' })),
  };
  if (cfg.variant) info.variant = cfg.variant;
  if (cfg.created) info.created = cfg.created;
  return info;
}

/** onProgress at most once per MiB, and at the end of each layer. */
function throttled(
  onProgress: ((p: PullProgress) => void) | undefined,
  layer: number,
  layers: number,
  totalBytes: number,
): ((bytes: number) => void) | undefined {
  if (!onProgress) return undefined;
  let last = -1;
  return (bytes) => {
    if (bytes === totalBytes || last < 0 || bytes - last >= 1 << 20) {
      last = bytes;
      onProgress({ layer, layers, bytes, totalBytes });
    }
  };
}

async function resolveImage(
  client: RegistryClient,
  ref: ImageReference,
): Promise<{ digest: string; manifestDigest: string; manifest: ImageManifest }> {
  const top = await client.getManifest(ref.digest ?? ref.tag ?? 'latest');
  if (top.manifest.kind === 'manifest')
    return { digest: top.digest, manifestDigest: top.digest, manifest: top.manifest };
  const desc = selectPlatform(top.manifest, HOST_PLATFORM, client.what);
  const inner = await client.getManifest(desc.digest);
  if (inner.manifest.kind !== 'manifest')
    throw new OciError('InvalidImage', `${client.what}: manifest list entry ${desc.digest} is itself a list`);
  return { digest: top.digest, manifestDigest: inner.digest, manifest: inner.manifest };
}

interface RemoteImage {
  client: RegistryClient;
  manifest: ImageManifest;
  cfg: ImageConfig;
  info: OciImageInfo;
}

async function resolveRemote(ref: string, opts: RegistryOptions): Promise<RemoteImage> {
  const parsed = parseReference(ref);
  const client = new RegistryClient(parsed, opts);
  const { digest, manifestDigest, manifest } = await resolveImage(client, parsed);
  const configWhat = `config ${manifest.config.digest} of ${client.what}`;
  const cfg = parseConfig(await client.getBlob(manifest.config, 'config'), configWhat);
  checkPlatform(cfg, HOST_PLATFORM, client.what);
  checkLayerCount(cfg, manifest.layers.length, client.what);
  const info = infoOf(cfg, manifest.config.digest, manifest.layers);
  info.reference = client.what;
  info.digest = digest;
  info.manifestDigest = manifestDigest;
  return { client, manifest, cfg, info };
}

/**
 * What `pullImage` would unpack, without fetching any layer: the manifest and config of the linux/amd64
 * image. Pull `pinnedReference(info)` afterwards to get exactly this image even if the tag moves.
 */
export async function inspectImage(ref: string, opts: RegistryOptions = {}): Promise<OciImageInfo> {
  return (await resolveRemote(ref, opts)).info;
}

/** The reference with the digest it resolved to: `docker.io/library/alpine:3.20@sha256:...`. */
export function pinnedReference(info: OciImageInfo): string {
  if (info.reference === undefined || info.digest === undefined)
    throw new OciError('InvalidImage', 'image has no registry reference and digest to pin');
  return formatReference({ ...parseReference(info.reference), digest: info.digest });
}

/**
 * Pull `ref` (`alpine`, `localhost:5000/a/b:1`, `host/name@sha256:...`) from its registry and unpack the
 * linux/amd64 image into `targetDir`, which must exist (and should be empty).
 */
export async function pullImage(
  ref: string,
  targetDir: string,
  opts: PullOptions = {},
): Promise<OciImageInfo> {
  await requireDir(targetDir);
  const { client, manifest, cfg, info } = await resolveRemote(ref, opts);
  const work = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'zonix-pull-'));
  try {
    const n = manifest.layers.length;
    for (const [i, desc] of manifest.layers.entries()) {
      const file = join(work, `layer-${i}`);
      const label = `layer ${i + 1}/${n}`;
      const progress = throttled(opts.onProgress, i + 1, n, desc.size);
      await client.downloadBlob(desc, file, progress, label);
      const what = `${label} ${desc.digest} of ${client.what}`;
      await applyLayer({ file, diffId: cfg.diffIds[i] ?? '', what }, targetDir, {
        timeoutMs: opts.layerTimeoutMs,
      });
      await rm(file, { force: true });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return info;
}

async function applyArchive(image: ArchiveImage, label: string, targetDir: string, opts: CommonOptions) {
  const cfg = parseConfig(image.config, `${label}: config ${image.configDigest}`);
  checkPlatform(cfg, HOST_PLATFORM, label);
  checkLayerCount(cfg, image.layers.length, label);
  const n = image.layers.length;
  for (const [i, layer] of image.layers.entries()) {
    const diffId = cfg.diffIds[i] ?? '';
    const what = `${label}: layer ${i + 1}/${n} ${layer.digest ?? diffId}`;
    const applied: { file: string; diffId: string; what: string; digest?: string } = {
      file: layer.file,
      diffId,
      what,
    };
    if (layer.digest !== undefined) applied.digest = layer.digest;
    await applyLayer(applied, targetDir, { timeoutMs: opts.layerTimeoutMs });
    opts.onProgress?.({ layer: i + 1, layers: n, bytes: layer.size, totalBytes: layer.size });
  }
  const info = infoOf(
    cfg,
    image.configDigest,
    image.layers.map((l, i) => ({ digest: l.digest ?? cfg.diffIds[i] ?? '', size: l.size })),
  );
  if (image.reference) info.reference = formatReference(image.reference);
  if (image.digest) info.digest = image.digest;
  if (image.manifestDigest) info.manifestDigest = image.manifestDigest;
  return info;
}

/**
 * Unpack the image in a local archive into `targetDir`: a `docker save` tarball, an OCI image layout
 * directory, or a tar of one (compressed or not).
 */
export async function importArchive(
  file: string,
  targetDir: string,
  opts: ImportArchiveOptions = {},
): Promise<OciImageInfo> {
  const wanted = opts.reference !== undefined ? parseReference(opts.reference) : undefined;
  await requireDir(targetDir);
  const label = basename(file);
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    throw new OciError('InvalidImage', `${file}: no such file or directory`, { cause: err });
  }
  if (st.isDirectory())
    return applyArchive(await readArchiveDir(file, label, wanted), label, targetDir, opts);
  const work = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'zonix-archive-'));
  try {
    await unpackArchive(file, work);
    return await applyArchive(await readArchiveDir(work, label, wanted), label, targetDir, opts);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The `docker:config` tag: the part of the config SmartOS keeps on the image. */
export interface DockerConfigTag {
  Cmd?: string[];
  Entrypoint?: string[];
  Env?: string[];
  WorkingDir?: string;
}

export interface DockerTags {
  /** The repository as docker prints it: `alpine`, `user/app`, `localhost:5000/foo/bar`. */
  'docker:repo'?: string;
  /** The image ID (config digest). */
  'docker:id': string;
  'docker:architecture': string;
  'docker:config': DockerConfigTag;
  /** One `docker:tag:<tag>: true` per tag. */
  [tag: `docker:tag:${string}`]: true;
}

/**
 * SmartOS-style tags for an imported image, as imgadm sets them on docker images: `docker:repo` (the
 * familiar name), `docker:tag:<tag>`, `docker:id`, `docker:architecture` and `docker:config`
 * (Cmd, Entrypoint, Env, WorkingDir).
 */
export function dockerTags(info: OciImageInfo): DockerTags {
  const config: DockerConfigTag = {};
  for (const key of ['Cmd', 'Entrypoint', 'Env'] as const) {
    const v = info.config[key];
    if (v !== undefined) config[key] = v;
  }
  if (info.config.WorkingDir !== undefined) config.WorkingDir = info.config.WorkingDir;
  const tags: DockerTags = {
    'docker:id': info.id,
    'docker:architecture': info.architecture,
    'docker:config': config,
  };
  if (info.reference !== undefined) {
    const ref = parseReference(info.reference);
    tags['docker:repo'] = familiarName(ref);
    if (ref.tag !== undefined) tags[`docker:tag:${ref.tag}`] = true;
  }
  return tags;
}

/**
 * The image UUID SmartOS derives from a docker image's layer digests (base first): the first 128 bits
 * of sha256 over the digests joined by spaces, written as a UUID.
 */
export function dockerImageUuid(info: OciImageInfo): string {
  const hex = createHash('sha256')
    .update(info.layers.map((l) => l.digest).join(' '))
    .digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
