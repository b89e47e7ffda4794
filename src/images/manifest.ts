/**
 * Image manifests (v2), checked as node-imgmanifest checks them: every problem is reported with its
 * field, as `{field, code: MissingParameter|Invalid, message}`.
 * @module
 */
import { ImgadmError } from './errors.ts';

import type { ImageCompression, ImageManifest } from './imgapi/types.ts';

// One definition of the manifest's shape: the IMGAPI wire type.
export type { ImageFile, ImageManifest, ImageRequirements } from './imgapi/types.ts';
export type Compression = ImageCompression;

export const COMPRESSIONS: readonly Compression[] = ['gzip', 'bzip2', 'xz', 'zstd', 'none'];
export const IMAGE_TYPES = ['zone-dataset', 'lx-dataset', 'zvol', 'docker', 'lxd', 'other'] as const;
export const IMAGE_OSES = ['smartos', 'linux', 'windows', 'bsd', 'illumos', 'other'] as const;
export const IMAGE_STATES = ['active', 'unactivated', 'disabled', 'creating', 'failed'] as const;

export interface ManifestProblem {
  field: string;
  code: 'MissingParameter' | 'Invalid';
  message: string;
}

export const UUID_RE = /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/;
const NAME_RE = /^[A-Za-z0-9._/ -]+$/;
const VERSION_RE = /^[A-Za-z0-9._/+-]+$/;
const DATE_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** Every problem with `m`, in field order; empty when the manifest is valid. */
export function manifestProblems(m: unknown): ManifestProblem[] {
  const out: ManifestProblem[] = [];
  if (!isObj(m)) return [{ field: '', code: 'Invalid', message: 'manifest must be a JSON object' }];
  const missing = (field: string) =>
    out.push({ field, code: 'MissingParameter', message: `"${field}" is required` });
  const invalid = (field: string, message: string) => out.push({ field, code: 'Invalid', message });
  const req = (field: string, check: (v: unknown) => string | undefined) => {
    if (m[field] === undefined || m[field] === null) missing(field);
    else {
      const why = check(m[field]);
      if (why) invalid(field, why);
    }
  };
  const opt = (field: string, check: (v: unknown) => string | undefined) => {
    if (m[field] === undefined) return;
    const why = check(m[field]);
    if (why) invalid(field, why);
  };
  const uuid = (v: unknown) =>
    typeof v === 'string' && UUID_RE.test(v) ? undefined : 'must be a lowercase UUID';
  const bool = (v: unknown) => (typeof v === 'boolean' ? undefined : 'must be a boolean');
  const str = (v: unknown) => (typeof v === 'string' ? undefined : 'must be a string');
  const oneOf = (list: readonly string[]) => (v: unknown) =>
    typeof v === 'string' && list.includes(v) ? undefined : `must be one of: ${list.join(', ')}`;

  req('v', (v) => (v === 2 ? undefined : 'must be 2'));
  req('uuid', uuid);
  opt('owner', uuid);
  req('name', (v) =>
    typeof v !== 'string' || !NAME_RE.test(v)
      ? 'must contain only letters, digits, ".", "_", "/", " " and "-"'
      : v.length > 512
        ? 'must be at most 512 characters'
        : undefined,
  );
  req('version', (v) =>
    typeof v !== 'string' || !VERSION_RE.test(v)
      ? 'must contain only letters, digits, ".", "_", "/", "+" and "-"'
      : v.length > 128
        ? 'must be at most 128 characters'
        : undefined,
  );
  opt('description', str);
  opt('homepage', (v) =>
    typeof v === 'string' && /^https?:\/\//.test(v) ? undefined : 'must be an http(s) URL',
  );
  req('type', oneOf(IMAGE_TYPES));
  req('os', oneOf(IMAGE_OSES));
  opt('state', oneOf(IMAGE_STATES));
  for (const f of ['disabled', 'public', 'activated']) opt(f, bool);
  opt('published_at', (v) =>
    typeof v === 'string' && DATE_RE.test(v) ? undefined : 'must be an ISO date (YYYY-MM-DDTHH:MM:SS(.sss)Z)',
  );
  opt('origin', uuid);
  opt('files', (v) => {
    if (!Array.isArray(v)) return 'must be an array';
    if (v.length > 1) return 'must have at most one file';
    return undefined;
  });
  if (Array.isArray(m.files)) {
    m.files.forEach((f: unknown, i) => {
      const at = `files.${i}`;
      if (!isObj(f)) return invalid(at, 'must be an object');
      if (typeof f.sha1 !== 'string' || !/^[a-f0-9]{40}$/.test(f.sha1))
        invalid(`${at}.sha1`, 'must be 40 hex digits');
      if (!isInt(f.size) || f.size < 0) invalid(`${at}.size`, 'must be a non-negative integer');
      if (typeof f.compression !== 'string' || !(COMPRESSIONS as readonly string[]).includes(f.compression))
        invalid(`${at}.compression`, `must be one of: ${COMPRESSIONS.join(', ')}`);
    });
  }
  opt('requirements', (v) => (isObj(v) ? undefined : 'must be an object'));
  if (isObj(m.requirements)) {
    const r = m.requirements;
    for (const k of ['min_ram', 'max_ram'])
      if (r[k] !== undefined && (!isInt(r[k]) || r[k] < 0))
        invalid(`requirements.${k}`, 'must be a non-negative integer (MiB)');
    if (r.brand !== undefined && typeof r.brand !== 'string')
      invalid('requirements.brand', 'must be a string');
    if (r.ssh_key !== undefined && typeof r.ssh_key !== 'boolean')
      invalid('requirements.ssh_key', 'must be a boolean');
    if (r.networks !== undefined && !Array.isArray(r.networks))
      invalid('requirements.networks', 'must be an array');
    if (r.bootrom !== undefined && r.bootrom !== 'bios' && r.bootrom !== 'uefi')
      invalid('requirements.bootrom', 'must be "bios" or "uefi"');
  }
  if (m.type === 'zvol') {
    if (m.image_size === undefined) missing('image_size');
    else if (!isInt(m.image_size) || m.image_size <= 0)
      invalid('image_size', 'must be a positive integer (MiB)');
  } else if (m.image_size !== undefined) invalid('image_size', 'is only allowed for images of type "zvol"');
  opt('tags', (v) => (isObj(v) ? undefined : 'must be an object'));
  return out;
}

/** The manifest, typed, or ManifestValidation naming every bad field. */
export function checkManifest(m: unknown): ImageManifest {
  const problems = manifestProblems(m);
  if (problems.length) {
    const list = problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join('; ');
    throw new ImgadmError('ManifestValidation', `invalid image manifest: ${list}`);
  }
  return m as ImageManifest;
}

export function describeImage(m: Pick<ImageManifest, 'uuid' | 'name' | 'version'>): string {
  return `${m.uuid} (${m.name}@${m.version})`;
}
