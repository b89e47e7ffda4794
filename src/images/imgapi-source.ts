/**
 * IMGAPI servers as image sources (`imgadm sources -a URL`), and the installed images of a pool served
 * over IMGAPI, so that one Zonix host can be another's source.
 * @module
 */
import { createReadStream } from 'node:fs';
import type { Server } from 'node:http';
import { ImgapiClient, createImgapiServer, ImgapiError, type ImgapiProvider } from './imgapi/index.ts';
import type { ImageManifest } from './manifest.ts';
import { registerSourceType, type Fetched, type ImageSource, type SourceConfig } from './sources.ts';
import type { ImageStore } from './store.ts';

export class ImgapiSource implements ImageSource {
  readonly type = 'imgapi' as const;
  private readonly client: ImgapiClient;

  constructor(readonly url: string) {
    this.client = new ImgapiClient(url);
  }

  ping() {
    return this.client.ping();
  }

  list(): Promise<ImageManifest[]> {
    return this.client.listImages();
  }

  async get(uuid: string): Promise<ImageManifest | undefined> {
    try {
      return await this.client.getImage(uuid);
    } catch (err) {
      if (err instanceof ImgapiError && err.code === 'ImageNotFound') return undefined;
      throw err;
    }
  }

  async fetch(manifest: ImageManifest, onBytes?: (n: number) => void): Promise<Fetched> {
    const { stream, size } = await this.client.getImageFile(manifest.uuid);
    if (onBytes) stream.on('data', (c: Buffer) => onBytes(c.length));
    return { content: { kind: 'stream', stream }, ...(size !== undefined ? { size } : {}) };
  }
}

registerSourceType('imgapi', (cfg: SourceConfig) => new ImgapiSource(cfg.url));

/** Serve a pool's installed images: each one's file is its `@final` dataset stream, gzipped. */
export function serveImages(store: ImageStore, opts: { version?: string } = {}): Server {
  const withFile = async (m: ImageManifest): Promise<ImageManifest> => {
    const f = await store.exportFile(m.uuid);
    return { ...m, state: m.state ?? 'active', files: [{ sha1: f.sha1, size: f.size, compression: 'gzip' }] };
  };
  const provider: ImgapiProvider = {
    listManifests: async () => Promise.all(store.list().map((i) => withFile(i.manifest))),
    getManifest: async (uuid) => {
      const img = store.get(uuid);
      return img ? withFile(img.manifest) : undefined;
    },
    openFile: async (uuid) => {
      if (!store.get(uuid)) return undefined;
      const f = await store.exportFile(uuid);
      return { stream: createReadStream(f.path, { highWaterMark: 1 << 20 }), size: f.size };
    },
  };
  return createImgapiServer(provider, opts);
}
