/**
 * Images from local files: a `docker save` tarball (manifest.json, config, layer tars) or an OCI image
 * layout (oci-layout, index.json, blobs/sha256/...), as a directory or a tar of one. Tarballs are
 * unpacked into a work directory; every file the archive names must stay inside it.
 * @module
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { isErrno } from '../../common/index.ts';
import { run } from '../../platform/index.ts';
import { requireSha256, sha256Digest, verifyBuffer } from './digest.ts';
import { OciError } from './errors.ts';
import {
  HOST_PLATFORM,
  parseJsonObject,
  parseManifest,
  selectPlatform,
  type Descriptor,
  type ImageManifest,
} from './manifest.ts';
import { formatReference, parseReference, type ImageReference } from './reference.ts';

export interface ArchiveLayer {
  file: string;
  /** The blob digest to check (OCI layouts, `blobs/sha256/<hex>` paths); undefined for legacy layer.tar. */
  digest?: string;
  size: number;
  mediaType?: string;
}

export interface ArchiveImage {
  /** How the image was found: `docker-save` or `oci-layout`. */
  format: 'docker-save' | 'oci-layout';
  /** The name recorded in the archive, normalised, if any. */
  reference?: ImageReference;
  /** The digest of the index entry that was picked, when the archive has one. */
  digest?: string;
  /** The digest of the platform's image manifest, when the archive has one. */
  manifestDigest?: string;
  configDigest: string;
  config: Buffer;
  layers: ArchiveLayer[];
}

const REF_NAME = 'org.opencontainers.image.ref.name';
const CONTAINERD_NAME = 'io.containerd.image.name';

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    throw err;
  }
}

/** A path the archive names, resolved and kept inside the archive's directory. */
async function fileInside(root: string, rel: string, what: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(join(root, rel));
  } catch (err) {
    throw new OciError('InvalidImage', `${what}: "${rel}" is missing from the archive`, { cause: err });
  }
  if (!real.startsWith(root + sep))
    throw new OciError('InvalidImage', `${what}: "${rel}" points outside the archive`);
  return real;
}

function blobPath(digest: string): string {
  const [alg, hex] = digest.split(':');
  return join('blobs', alg ?? '', hex ?? '');
}

async function readVerified(root: string, desc: Descriptor, what: string): Promise<Buffer> {
  requireSha256(desc.digest, what);
  const body = await readFile(await fileInside(root, blobPath(desc.digest), what));
  verifyBuffer(body, desc.digest, `${what} ${desc.digest}`);
  return body;
}

/** Unpack a tarball (any compression GNU tar detects) into `into`. */
export async function unpackArchive(file: string, into: string, timeoutMs = 3_600_000): Promise<void> {
  try {
    await run('tar', ['-x', '-f', file, '-C', into, '--no-same-owner', '--no-same-permissions'], {
      timeoutMs,
    });
  } catch (err) {
    throw new OciError('InvalidImage', `${file}: not a readable tar archive`, { cause: err });
  }
}

function refOf(name: string | undefined): ImageReference | undefined {
  if (!name) return undefined;
  try {
    return parseReference(name);
  } catch {
    return undefined;
  }
}

/** `org.opencontainers.image.ref.name` is a full reference only when it has a registry, path or tag part. */
function refNameOf(d: Descriptor): ImageReference | undefined {
  const name = d.annotations?.[REF_NAME];
  return name !== undefined && /[/:@]/.test(name) ? refOf(name) : undefined;
}

/** Does an index entry carry the wanted name? (`ref.name` may be a bare tag, as skopeo writes it.) */
function entryMatches(d: Descriptor, wanted: ImageReference): boolean {
  const full = refOf(d.annotations?.[CONTAINERD_NAME]) ?? refNameOf(d);
  if (full && formatReference(full) === formatReference(wanted)) return true;
  const bare = d.annotations?.[REF_NAME];
  return bare !== undefined && bare === wanted.tag;
}

async function readOciLayout(
  root: string,
  label: string,
  wanted: ImageReference | undefined,
): Promise<ArchiveImage> {
  const layout = parseJsonObject(await readFile(join(root, 'oci-layout')), `${label}: oci-layout`);
  if (typeof layout.imageLayoutVersion !== 'string')
    throw new OciError('InvalidImage', `${label}: oci-layout has no imageLayoutVersion`);
  const indexWhat = `${label}: index.json`;
  const top = parseManifest(await readFile(join(root, 'index.json')), undefined, indexWhat);
  if (top.kind !== 'index') throw new OciError('InvalidImage', `${indexWhat}: not an image index`);
  let picked: Descriptor | undefined;
  if (wanted) picked = top.manifests.find((d) => entryMatches(d, wanted));
  else if (top.manifests.length === 1) picked = top.manifests[0];
  if (!picked) {
    const names = top.manifests.map(
      (d) => d.annotations?.[CONTAINERD_NAME] ?? d.annotations?.[REF_NAME] ?? d.digest,
    );
    throw new OciError(
      'InvalidImage',
      wanted
        ? `${label}: no image named ${formatReference(wanted)} (has: ${names.join(', ') || 'none'})`
        : `${label}: holds ${names.length} images, name one (${names.join(', ')})`,
    );
  }
  const reference = wanted ?? refOf(picked.annotations?.[CONTAINERD_NAME]) ?? refNameOf(picked);
  const digest = picked.digest;
  let desc = picked;
  let manifest: ImageManifest | undefined;
  for (let depth = 0; depth < 4 && !manifest; depth++) {
    const what = `${label}: manifest`;
    const doc = parseManifest(await readVerified(root, desc, what), desc.mediaType, `${what} ${desc.digest}`);
    if (doc.kind === 'manifest') manifest = doc;
    else desc = selectPlatform(doc, HOST_PLATFORM, `${label}: manifest list ${desc.digest}`);
  }
  if (!manifest) throw new OciError('InvalidImage', `${label}: manifest lists nested too deep`);
  const config = await readVerified(root, manifest.config, `${label}: config`);
  const layers: ArchiveLayer[] = [];
  for (const l of manifest.layers) {
    requireSha256(l.digest, `${label}: layer`);
    layers.push({
      file: await fileInside(root, blobPath(l.digest), `${label}: layer ${l.digest}`),
      digest: l.digest,
      size: l.size,
      mediaType: l.mediaType,
    });
  }
  const image: ArchiveImage = {
    format: 'oci-layout',
    digest,
    manifestDigest: desc.digest,
    configDigest: manifest.config.digest,
    config,
    layers,
  };
  if (reference) image.reference = reference;
  return image;
}

interface DockerSaveEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

function parseDockerManifest(body: Buffer, what: string): DockerSaveEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new OciError('InvalidImage', `${what}: not valid JSON`, { cause: err });
  }
  if (!Array.isArray(v)) throw new OciError('InvalidImage', `${what}: expected a JSON array`);
  return v.map((e: unknown, i) => {
    const r = (typeof e === 'object' && e !== null ? e : {}) as Record<string, unknown>;
    const tags = Array.isArray(r.RepoTags)
      ? r.RepoTags.filter((t): t is string => typeof t === 'string')
      : [];
    if (
      typeof r.Config !== 'string' ||
      !Array.isArray(r.Layers) ||
      !r.Layers.every((l) => typeof l === 'string')
    )
      throw new OciError('InvalidImage', `${what}: entry ${i} lacks Config or Layers`);
    return { Config: r.Config, RepoTags: tags, Layers: r.Layers };
  });
}

/** `blobs/sha256/<hex>` (docker 25+) and `<hex>.json` names say what their content must hash to. */
function digestFromName(rel: string): string | undefined {
  const m = /(?:^|\/)blobs\/sha256\/([a-f0-9]{64})$/.exec(rel) ?? /^([a-f0-9]{64})\.json$/.exec(rel);
  return m?.[1] ? `sha256:${m[1]}` : undefined;
}

async function readDockerSave(
  root: string,
  label: string,
  wanted: ImageReference | undefined,
): Promise<ArchiveImage> {
  const what = `${label}: manifest.json`;
  const entries = parseDockerManifest(await readFile(join(root, 'manifest.json')), what);
  const named = (e: DockerSaveEntry) =>
    e.RepoTags.map(refOf).filter((r): r is ImageReference => r !== undefined);
  let picked: DockerSaveEntry | undefined;
  if (wanted)
    picked = entries.find((e) => named(e).some((r) => formatReference(r) === formatReference(wanted)));
  else if (entries.length === 1) picked = entries[0];
  if (!picked) {
    const names = entries.flatMap((e) => (e.RepoTags.length ? e.RepoTags : [e.Config]));
    throw new OciError(
      'InvalidImage',
      wanted
        ? `${label}: no image named ${formatReference(wanted)} (has: ${names.join(', ') || 'none'})`
        : `${label}: holds ${entries.length} images, name one (${names.join(', ')})`,
    );
  }
  const config = await readFile(await fileInside(root, picked.Config, `${label}: config`));
  const configDigest = sha256Digest(config);
  const expected = digestFromName(picked.Config);
  if (expected !== undefined) verifyBuffer(config, expected, `${label}: config ${picked.Config}`);
  const layers: ArchiveLayer[] = [];
  for (const rel of picked.Layers) {
    const file = await fileInside(root, rel, `${label}: layer`);
    const layer: ArchiveLayer = { file, size: (await stat(file)).size };
    const digest = digestFromName(rel);
    if (digest) layer.digest = digest;
    layers.push(layer);
  }
  const image: ArchiveImage = { format: 'docker-save', configDigest, config, layers };
  const reference = wanted ?? named(picked)[0];
  if (reference) image.reference = reference;
  return image;
}

/**
 * Read the image in an unpacked archive directory. `wanted` picks one of several images (and names an
 * unnamed one); OCI layouts are preferred when a docker 25+ save holds both forms.
 */
export async function readArchiveDir(
  dir: string,
  label: string,
  wanted?: ImageReference,
): Promise<ArchiveImage> {
  const root = await realpath(dir);
  if ((await exists(join(root, 'oci-layout'))) && (await exists(join(root, 'index.json'))))
    return readOciLayout(root, label, wanted);
  if (await exists(join(root, 'manifest.json'))) return readDockerSave(root, label, wanted);
  throw new OciError(
    'InvalidImage',
    `${label}: neither a docker save archive (manifest.json) nor an OCI image layout (oci-layout, index.json)`,
  );
}
