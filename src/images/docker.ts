/**
 * Docker/OCI images as SmartOS images: `imgadm import <registry reference>` pulls one (registry API v2,
 * token auth, linux/amd64 from a manifest list, digests verified, whiteouts applied) into a new image
 * of type `docker`, and `imgadm install -f <docker save or OCI layout tarball>` does the same from a
 * file. The image config (Entrypoint, Cmd, Env, WorkingDir, User) is kept in the manifest's `docker:*`
 * tags for docker-brand zones.
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import {
  dockerImageUuid,
  dockerTags,
  familiarName,
  importArchive,
  inspectImage,
  parseReference,
  pinnedReference,
  pullImage,
  registryHost,
  type OciImageInfo,
  type PullProgress,
} from './oci/index.ts';
import type { ImageManifest } from './manifest.ts';
import type { ImportResult, Progress } from './service.ts';
import type { ImageStore } from './store.ts';
import { readSourceConfig } from './sources.ts';

/** Does `spec` look like a registry reference rather than an image UUID or NAME[@VERSION]? */
export function isDockerReference(spec: string): boolean {
  return /[/:]/.test(spec) && !spec.includes('@') ? true : /@sha256:[a-f0-9]{64}$/.test(spec);
}

function published(created: string | undefined): string {
  const d = created ? new Date(created) : new Date();
  return (Number.isNaN(d.getTime()) ? new Date() : d).toISOString();
}

/** The SmartOS manifest of a docker image. */
export function dockerManifest(info: OciImageInfo, uuid: string, fallbackName: string): ImageManifest {
  const ref = info.reference ? parseReference(info.reference) : undefined;
  const name = (ref ? familiarName(ref) : fallbackName).replace(/[^A-Za-z0-9._/ -]/g, '-').slice(0, 512);
  const version = (ref?.tag ?? info.id.replace(/^sha256:/, '').slice(0, 12)).replace(
    /[^A-Za-z0-9._/+-]/g,
    '-',
  );
  return {
    v: 2,
    uuid,
    owner: '00000000-0000-0000-0000-000000000000',
    name,
    version,
    description: `Docker image ${info.reference ?? fallbackName} (${info.id})`,
    type: 'docker',
    os: 'linux',
    state: 'active',
    disabled: false,
    public: true,
    published_at: published(info.created),
    requirements: {},
    tags: { ...dockerTags(info) },
  };
}

function bytesOf(onBytes: Progress['onBytes']) {
  if (!onBytes) return undefined;
  return (p: PullProgress) => onBytes(p.bytes, p.totalBytes);
}

/** `imgadm import <reference>`: a no-op when the same image (same layers) is installed. */
export async function importDocker(
  store: ImageStore,
  spec: string,
  opts: Progress = {},
): Promise<ImportResult> {
  const ref = parseReference(spec);
  const host = registryHost(ref);
  const cfg = readSourceConfig(store.pool).find(
    (s) => s.type === 'docker' && s.url.replace(/^\w+:\/\//, '') === host,
  );
  const regOpts = cfg?.insecure ? { insecure: true } : {};
  const info = await inspectImage(spec, regOpts);
  const uuid = dockerImageUuid(info);
  const source = `docker://${host}`;
  const have = store.get(uuid);
  if (have) return { manifest: have.manifest, installed: false, source };
  const manifest = dockerManifest(info, uuid, spec);
  const onProgress = bytesOf(opts.onBytes);
  await store.install(
    manifest,
    {
      kind: 'build',
      build: async (root) => {
        await pullImage(pinnedReference(info), root, { ...regOpts, ...(onProgress ? { onProgress } : {}) });
        return undefined;
      },
    },
    { source },
  );
  return { manifest, installed: true, source };
}

/** `imgadm install -f <archive>` without a manifest: a docker save or OCI layout tarball. */
export async function installDockerArchive(
  store: ImageStore,
  file: string,
  opts: Progress = {},
): Promise<ImportResult> {
  // The archive's bytes name the image: the same file installs once.
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  const h = hash.digest('hex');
  const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  const have = store.get(uuid);
  const source = `file://${file}`;
  if (have) return { manifest: have.manifest, installed: false, source };
  let info: OciImageInfo | undefined;
  const onProgress = bytesOf(opts.onBytes);
  const placeholder: ImageManifest = {
    v: 2,
    uuid,
    name: basename(file).replace(/[^A-Za-z0-9._/ -]/g, '-'),
    version: h.slice(0, 12),
    type: 'docker',
    os: 'linux',
  };
  await store.install(
    placeholder,
    {
      kind: 'build',
      build: async (root) => {
        info = await importArchive(file, root, onProgress ? { onProgress } : {});
        return { tags: { ...dockerTags(info) } };
      },
    },
    { source },
  );
  // Now that the archive has been read, record the name and date it gives.
  const manifest = { ...dockerManifest(info!, uuid, placeholder.name), tags: store.get(uuid)!.manifest.tags };
  store.saveManifest({ ...store.get(uuid)!, manifest });
  return { manifest, installed: true, source };
}
