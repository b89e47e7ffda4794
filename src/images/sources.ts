/**
 * Where images come from. Every host has the built-in source (images it builds itself, no network);
 * IMGAPI servers and docker registries are added with `imgadm sources -a`. The list is kept in the
 * system pool, so it survives with the pool.
 * @module
 */
import { UsageError } from '../common/index.ts';
import type { Pool } from '../storage/index.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { nativeDir } from '../platform/index.ts';
import { buildMinimalRoot, busyboxInfo, minimalManifest } from './builtin/minimal.ts';
import { buildGuestDisk, guestAvailable, guestKernelVersion, guestManifest } from './builtin/guest.ts';
import { ImgadmError } from './errors.ts';
import type { ImageManifest } from './manifest.ts';
import type { BuildResult, ImageContent } from './store.ts';
import {
  aptMirror,
  buildDebianRoot,
  debianAvailable,
  debianCloudInitManifest,
  debianManifest,
} from './builtin/debian.ts';

type Build = (root: string) => Promise<BuildResult | undefined>;
type Entry = { manifest: ImageManifest; build: Build; volume?: boolean };

export type SourceType = 'builtin' | 'imgapi' | 'docker';

export interface SourceConfig {
  url: string;
  type: Exclude<SourceType, 'builtin'>;
  insecure?: boolean;
}

export interface Fetched {
  content: ImageContent;
  /** Bytes to transfer, for progress (files only). */
  size?: number;
}

export interface ImageSource {
  readonly url: string;
  readonly type: SourceType;
  list(): Promise<ImageManifest[]>;
  get(uuid: string): Promise<ImageManifest | undefined>;
  fetch(manifest: ImageManifest, onBytes?: (n: number) => void): Promise<Fetched>;
}

export const BUILTIN_URL = 'builtin';

/** Images this host builds itself. */
export class BuiltinSource implements ImageSource {
  readonly url = BUILTIN_URL;
  readonly type = 'builtin' as const;
  private cached: Promise<Entry[]> | undefined;

  private catalogue() {
    this.cached ??= (async () => {
      const bb = await busyboxInfo();
      const out: Entry[] = [
        {
          manifest: minimalManifest(bb),
          build: async (root) => {
            await buildMinimalRoot(root, bb);
            return undefined;
          },
        },
      ];
      const mdataClient = join(nativeDir(), 'usr/sbin/mdata-get');
      if (guestAvailable() && existsSync(mdataClient)) {
        const kernel = await guestKernelVersion().catch(() => undefined);
        if (kernel)
          out.push({
            manifest: guestManifest(kernel, bb.version),
            volume: true,
            build: async (file) => {
              await buildGuestDisk(file, { mdataClient });
              return undefined;
            },
          });
      }
      if (debianAvailable()) {
        const mirror = await aptMirror();
        out.push(
          {
            manifest: debianManifest(mirror),
            build: async (root) => ({ tags: { 'zonix:packages': await buildDebianRoot(root, mirror) } }),
          },
          {
            manifest: debianCloudInitManifest(mirror),
            build: async (root) => ({
              tags: { 'zonix:packages': await buildDebianRoot(root, mirror, { cloudInit: true }) },
            }),
          },
        );
      }
      return out;
    })();
    return this.cached;
  }

  async list(): Promise<ImageManifest[]> {
    return (await this.catalogue()).map((c) => c.manifest);
  }

  async get(uuid: string): Promise<ImageManifest | undefined> {
    return (await this.catalogue()).find((c) => c.manifest.uuid === uuid)?.manifest;
  }

  async fetch(manifest: ImageManifest): Promise<Fetched> {
    const hit = (await this.catalogue()).find((c) => c.manifest.uuid === manifest.uuid);
    if (!hit) throw new ImgadmError('ImageNotFound', `image "${manifest.uuid}" was not found`);
    return { content: { kind: hit.volume ? 'volume' : 'build', build: hit.build } };
  }
}

interface ImgadmConfig {
  sources: SourceConfig[];
}

/** The configured sources (not counting the built-in one), kept in `pool`. */
export function readSourceConfig(pool: Pool): SourceConfig[] {
  return pool.docs('imgadm').get<ImgadmConfig>('config')?.sources ?? [];
}

export function writeSourceConfig(pool: Pool, sources: SourceConfig[]): void {
  const docs = pool.docs('imgadm');
  const cur = docs.get<ImgadmConfig>('config') ?? { sources: [] };
  docs.put('config', { ...cur, sources });
}

/**
 * `imgadm sources -a`: add a source (checked by listing it unless `force`). Says whether it was added
 * or was there already; a bad type or URL is a UsageError, as imgadm says it.
 */
export async function addSource(
  pool: Pool,
  given: { url: string; type?: string; insecure?: boolean },
  opts: { force?: boolean } = {},
): Promise<{ source: SourceConfig; added: boolean }> {
  const type = given.type ?? 'imgapi';
  if (type !== 'imgapi' && type !== 'docker') throw new UsageError(`invalid source type: "${type}"`);
  if (!/^https?:\/\//.test(given.url) && type === 'imgapi')
    throw new UsageError(`invalid source URL: "${given.url}"`);
  const source: SourceConfig = {
    url: given.url.replace(/\/+$/, ''),
    type,
    ...(given.insecure ? { insecure: true } : {}),
  };
  const current = readSourceConfig(pool);
  if (current.some((s) => s.url === source.url)) return { source, added: false };
  if (!opts.force) await openSource(source).list();
  writeSourceConfig(pool, [...current, source]);
  return { source, added: true };
}

/** `imgadm sources -d`: remove a source; false when there was no such source. */
export function deleteSource(pool: Pool, url: string): boolean {
  const want = url.replace(/\/+$/, '');
  const current = readSourceConfig(pool);
  if (!current.some((s) => s.url === want)) return false;
  writeSourceConfig(
    pool,
    current.filter((s) => s.url !== want),
  );
  return true;
}

/** Turns a configured source into a working one (the IMGAPI and docker kinds register here). */
export type SourceFactory = (cfg: SourceConfig) => ImageSource;
const factories = new Map<string, SourceFactory>();

export function registerSourceType(type: SourceConfig['type'], make: SourceFactory): void {
  factories.set(type, make);
}

export function openSource(cfg: SourceConfig): ImageSource {
  const make = factories.get(cfg.type);
  if (!make) throw new ImgadmError('UnknownSource', `unknown source type "${cfg.type}" for ${cfg.url}`);
  return make(cfg);
}
