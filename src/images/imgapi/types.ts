/**
 * The IMGAPI wire types: image manifests (v2) as IMGAPI serves them, the ping answer, and the
 * provider a server reads images from. Field names stay SmartOS's snake_case.
 * @module
 */
import type { Readable } from 'node:stream';

export type ImageType = 'zone-dataset' | 'lx-dataset' | 'zvol' | 'docker' | 'lxd' | 'other';
export type ImageOs = 'smartos' | 'linux' | 'windows' | 'bsd' | 'illumos' | 'other';
export type ImageState = 'active' | 'unactivated' | 'disabled' | 'creating' | 'failed';
export type ImageCompression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

/** One entry of `files`: at most one per image (two for lxd). */
export interface ImageFile {
  sha1: string;
  /** Bytes. */
  size: number;
  compression: ImageCompression;
  dataset_guid?: string;
}

export interface ImageRequirements {
  networks?: { name: string; description?: string }[];
  brand?: string;
  ssh_key?: boolean;
  /** MiB. */
  min_ram?: number;
  /** MiB. */
  max_ram?: number;
  /** `{"<sdc version>": "YYYYMMDDTHHMMSSZ"}` */
  min_platform?: Record<string, string>;
  max_platform?: Record<string, string>;
  bootrom?: 'bios' | 'uefi';
  [key: string]: unknown;
}

/**
 * An image manifest, v2 (smartos.md 4.2). Only `v, uuid, name, version, type, os` are always
 * there; IMGAPI adds `owner, state, disabled, public, published_at, files`. Unknown fields pass
 * through untouched. Structurally the same as the imgadm core's `ImageManifest` (either assigns
 * to the other).
 */
export interface ImageManifest {
  v: number;
  uuid: string;
  owner?: string;
  name: string;
  version: string;
  description?: string;
  homepage?: string;
  eula?: string;
  icon?: boolean;
  type: ImageType;
  os: ImageOs;
  state?: ImageState;
  disabled?: boolean;
  activated?: boolean;
  public?: boolean;
  /** ISO date, `YYYY-MM-DDTHH:MM:SS(.sss)Z`. */
  published_at?: string;
  origin?: string;
  files?: ImageFile[];
  requirements?: ImageRequirements;
  /** MiB; zvol images only. */
  image_size?: number;
  nic_driver?: string;
  disk_driver?: string;
  cpu_type?: string;
  tags?: Record<string, unknown>;
  users?: { name: string }[];
  generate_passwords?: boolean;
  billing_tags?: string[];
  traits?: Record<string, unknown>;
  inherited_directories?: string[];
  acl?: string[];
  channels?: string[];
  urn?: string;
  error?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The answer to `GET /ping`; a source is an IMGAPI only when `imgapi` is true. */
export interface ImgapiPing {
  ping: string;
  version?: string;
  imgapi: boolean;
}

/** Where an IMGAPI server gets its images; storage is the provider's business. */
export interface ImgapiProvider {
  /** Every manifest, in any state and order; the server filters and sorts. */
  listManifests(): Promise<ImageManifest[]>;
  getManifest(uuid: string): Promise<ImageManifest | undefined>;
  /** The image's (first) file, or undefined when it has none. */
  openFile(uuid: string): Promise<{ stream: Readable; size: number } | undefined>;
}
