/**
 * The JSON documents of an image: manifests (docker schema2, OCI), manifest lists (docker list, OCI index)
 * and the image config. Pure parsing and checking, shared by the registry client and the archive reader.
 * @module
 */
import { requireSha256 } from './digest.ts';
import { OciError } from './errors.ts';

export const MEDIA_TYPES = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
} as const;

/** The Accept header for manifest requests, most wanted first. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
].join(', ');

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** The platform Zonix runs. */
export const HOST_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

/** The parts of the image config's `config` that a zone needs. */
export interface RunConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  config: RunConfig;
  diffIds: string[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isStringRecord(v: unknown): v is Record<string, string> {
  return isObject(v) && Object.values(v).every((x) => typeof x === 'string');
}

function bad(what: string, why: string): OciError {
  return new OciError('InvalidImage', `${what}: ${why}`);
}

/** Parse JSON bytes into an object, or throw InvalidImage naming `what`. */
export function parseJsonObject(body: Uint8Array | string, what: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
  } catch (err) {
    throw new OciError('InvalidImage', `${what}: not valid JSON`, { cause: err });
  }
  if (!isObject(v)) throw bad(what, 'expected a JSON object');
  return v;
}

function parsePlatform(v: unknown): Platform | undefined {
  if (!isObject(v) || typeof v.os !== 'string' || typeof v.architecture !== 'string') return undefined;
  const p: Platform = { os: v.os, architecture: v.architecture };
  if (typeof v.variant === 'string') p.variant = v.variant;
  return p;
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw bad(what, 'descriptor is not an object');
  const { mediaType, digest, size } = v;
  if (typeof digest !== 'string') throw bad(what, 'descriptor has no digest');
  requireSha256(digest, what);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw bad(what, `descriptor ${digest} has no valid size`);
  const d: Descriptor = { mediaType: typeof mediaType === 'string' ? mediaType : '', digest, size };
  const platform = parsePlatform(v.platform);
  if (platform) d.platform = platform;
  if (isStringRecord(v.annotations)) d.annotations = v.annotations;
  if (isStringArray(v.urls)) d.urls = v.urls;
  return d;
}

/**
 * Parse a manifest or manifest list. The media type comes from the document, else from the
 * Content-Type it was served with; docker schema1 and artifacts that are not images are refused.
 */
export function parseManifest(
  body: Uint8Array,
  contentType: string | undefined,
  what: string,
): ImageManifest | ImageIndex {
  const doc = parseJsonObject(body, what);
  const served = contentType?.split(';')[0]?.trim() ?? '';
  const mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : served;
  if (doc.schemaVersion === 1 || mediaType.startsWith('application/vnd.docker.distribution.manifest.v1'))
    throw bad(
      what,
      'docker schema1 manifests are not supported (push the image again with a current docker)',
    );
  if (doc.schemaVersion !== 2)
    throw bad(what, `unsupported manifest schemaVersion ${String(doc.schemaVersion)}`);
  if (Array.isArray(doc.manifests)) {
    const manifests = doc.manifests.map((m, i) => parseDescriptor(m, `${what} (manifests[${i}])`));
    return { kind: 'index', mediaType: mediaType || MEDIA_TYPES.ociIndex, manifests };
  }
  if (!Array.isArray(doc.layers)) throw bad(what, 'manifest has no layers');
  const config = parseDescriptor(doc.config, `${what} (config)`);
  if (config.mediaType !== MEDIA_TYPES.dockerConfig && config.mediaType !== MEDIA_TYPES.ociConfig)
    throw bad(what, `not a container image (config media type "${config.mediaType}")`);
  const layers = doc.layers.map((l, i) => parseDescriptor(l, `${what} (layers[${i}])`));
  for (const l of layers) {
    if (l.mediaType.includes('foreign') || l.mediaType.includes('nondistributable') || l.urls?.length)
      throw bad(what, `layer ${l.digest} is a foreign layer (${l.mediaType}), which is not supported`);
    if (l.mediaType.includes('encrypted'))
      throw bad(what, `layer ${l.digest} is encrypted, which is not supported`);
  }
  const m: ImageManifest = {
    kind: 'manifest',
    mediaType: mediaType || MEDIA_TYPES.ociManifest,
    config,
    layers,
  };
  if (isStringRecord(doc.annotations)) m.annotations = doc.annotations;
  return m;
}

export function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The manifest for `wanted` in a list (os and architecture must match; the variant is not checked). */
export function selectPlatform(index: ImageIndex, wanted: Platform, what: string): Descriptor {
  const hit = index.manifests.find(
    (m) => m.platform?.os === wanted.os && m.platform.architecture === wanted.architecture,
  );
  if (hit) return hit;
  const have = index.manifests.flatMap((m) => (m.platform ? [platformString(m.platform)] : []));
  throw new OciError(
    'PlatformNotFound',
    `${what}: no ${platformString(wanted)} image in the manifest list (has: ${have.join(', ') || 'none'})`,
  );
}

function pickRunConfig(v: unknown): RunConfig {
  const c: RunConfig = {};
  if (!isObject(v)) return c;
  if (isStringArray(v.Entrypoint)) c.Entrypoint = v.Entrypoint;
  if (isStringArray(v.Cmd)) c.Cmd = v.Cmd;
  if (isStringArray(v.Env)) c.Env = v.Env;
  if (typeof v.WorkingDir === 'string' && v.WorkingDir !== '') c.WorkingDir = v.WorkingDir;
  if (typeof v.User === 'string' && v.User !== '') c.User = v.User;
  if (isStringRecord(v.Labels)) c.Labels = v.Labels;
  return c;
}

/** Parse the image config blob; its rootfs.diff_ids must list one sha256 per layer. */
export function parseConfig(body: Uint8Array, what: string): ImageConfig {
  const doc = parseJsonObject(body, what);
  const rootfs = doc.rootfs;
  if (!isObject(rootfs) || !isStringArray(rootfs.diff_ids)) throw bad(what, 'config has no rootfs.diff_ids');
  for (const d of rootfs.diff_ids) requireSha256(d, `${what} (rootfs.diff_ids)`);
  const cfg: ImageConfig = {
    architecture: typeof doc.architecture === 'string' ? doc.architecture : '',
    os: typeof doc.os === 'string' ? doc.os : '',
    config: pickRunConfig(doc.config),
    diffIds: rootfs.diff_ids,
  };
  if (typeof doc.variant === 'string') cfg.variant = doc.variant;
  if (typeof doc.created === 'string') cfg.created = doc.created;
  return cfg;
}

/** Refuse an image built for another platform (an empty os or architecture is accepted). */
export function checkPlatform(cfg: ImageConfig, wanted: Platform, what: string): void {
  if ((cfg.os && cfg.os !== wanted.os) || (cfg.architecture && cfg.architecture !== wanted.architecture))
    throw new OciError(
      'PlatformNotFound',
      `${what}: image is for ${cfg.os || '?'}/${cfg.architecture || '?'}, this host runs ${platformString(wanted)}`,
    );
}
