/**
 * Images as CloudAPI shows them, from imgadm manifests (the reference's section 5.3), and which an
 * account may use: public ones, its own, and those shared with it.
 * @module
 */
import type { ImageManifest } from '../images/index.ts';

export interface CloudImage {
  id: string;
  name: string;
  version: string;
  os: string;
  type: string;
  requirements: Record<string, unknown>;
  published_at?: string;
  owner?: string;
  public: boolean;
  state: string;
  description?: string;
  homepage?: string;
  tags?: Record<string, unknown>;
  files?: { compression?: string; sha1?: string; size?: number }[];
  origin?: string;
  acl?: string[];
  eula?: string;
  image_size?: number;
  error?: Record<string, unknown>;
}

export const usableImage = (m: ImageManifest, owner: string | undefined): boolean =>
  owner === undefined || m.public === true || m.owner === owner || (m.acl ?? []).includes(owner);

export function toImage(m: ImageManifest): CloudImage {
  const r = m.requirements ?? {};
  const req: Record<string, unknown> = {};
  for (const k of ['min_memory', 'max_memory', 'min_ram', 'max_ram', 'brand', 'bootrom'] as const)
    if ((r as Record<string, unknown>)[k] !== undefined) req[k] = (r as Record<string, unknown>)[k];
  const f = m.files?.[0];
  return {
    id: m.uuid,
    name: m.name,
    version: m.version,
    os: m.os,
    type: m.type,
    requirements: req,
    ...(m.published_at ? { published_at: m.published_at } : {}),
    ...(m.owner ? { owner: m.owner } : {}),
    public: m.public === true,
    state: m.state ?? 'active',
    ...(m.description ? { description: m.description } : {}),
    ...(m.homepage ? { homepage: m.homepage } : {}),
    ...(m.tags ? { tags: m.tags } : {}),
    ...(f ? { files: [{ compression: f.compression, sha1: f.sha1, size: f.size }] } : {}),
    ...(m.origin ? { origin: m.origin } : {}),
    ...(m.acl?.length ? { acl: m.acl } : {}),
    ...(m.eula ? { eula: m.eula } : {}),
    ...(m.type === 'zvol' && m.image_size !== undefined ? { image_size: m.image_size } : {}),
    ...(m.state === 'failed' && m.error ? { error: m.error } : {}),
  };
}

/** ListImages' filters: `state` (active by default, `all`), `name`, `os`, `version`, `public`, `owner`, `type`. */
export function imageFilter(q: Record<string, string | undefined>): (i: CloudImage) => boolean {
  const state = q.state ?? 'active';
  return (i) =>
    (state === 'all' || i.state === state) &&
    (q.name === undefined || i.name === q.name) &&
    (q.os === undefined || i.os === q.os) &&
    (q.version === undefined || i.version === q.version) &&
    (q.public === undefined || String(i.public) === q.public) &&
    (q.owner === undefined || i.owner === q.owner) &&
    (q.type === undefined ? i.type !== 'docker' : i.type === q.type);
}
