/**
 * `imgadm create`: an image made from a stopped VM, as SmartOS's imgadm makes one. The VM's dataset is
 * snapshotted and cloned; the clone keeps only `root/` (the VM's `config/` stays out), gets its own
 * `@final`, and is sent (in full, or with `-i` relative to the origin image's `@final`) to
 * `<prefix>.zfs[.gz|.bz2|.xz]`, with `<prefix>.imgmanifest` beside it. Nothing is installed.
 *
 * Before it makes the snapshot and the clone, a create records them, with its process, in the pool
 * (`imgadm-create` documents); whatever a killed `imgadm create` left behind is removed by the next
 * one on that pool. (Not as dataset properties: those would travel in the stream into the image.)
 * The VM's lock is held throughout, so it cannot be started or deleted halfway.
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, statSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { PassThrough, Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { UsageError, ZonixError } from '../common/index.ts';
import { writeFileAtomicSync } from '../common/index.ts';
import { processStartTime } from '../common/index.ts';
import { spawnStream, type StreamProcess } from '../platform/index.ts';
import { systemPoolName } from '../platform/index.ts';
import { readHostFacts } from '../platform/index.ts';
import { importedPoolNames, openPool, type Pool } from '../storage/index.ts';
import { getBrand, lockVm, VmStore } from '../vm/index.ts';
import { manifestProblems, UUID_RE, type ImageManifest, type ManifestProblem } from './manifest.ts';
import { FINAL, ImageStore } from './store.ts';

/** What `-c` accepts, in SmartOS's order. */
export const CREATE_COMPRESSIONS = ['none', 'bzip2', 'gzip', 'xz'] as const;
export type CreateCompression = (typeof CREATE_COMPRESSIONS)[number];

const EXTENSION: Record<CreateCompression, string> = { none: '', gzip: '.gz', bzip2: '.bz2', xz: '.xz' };

/** Fields an image made from a VM takes from the VM's image unless the caller gives them. */
const INHERITED_FIELDS = [
  'type',
  'os',
  'requirements',
  'users',
  'billing_tags',
  'traits',
  'generate_passwords',
  'inherited_directories',
  'nic_driver',
  'disk_driver',
  'cpu_type',
  'image_size',
];

/** 'SDC Version' as sysinfo reports it: the key of requirements.min_platform. */
const SDC_VERSION = '7.0';
/** The pool's record of the creates under way: what each makes, and its process. */
const JOBS = 'imgadm-create';

interface CreateJob {
  pid: number;
  /** The process's start time (a reused PID is another process). */
  start: string;
  snapshot: string;
  dataset: string;
  /** The image file being written (absolute), before it gets its name. */
  partial: string;
}

/** imgadm's errors for create, with SmartOS's codes (all exit 1). */
export class ImageCreateError extends ZonixError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { exitCode: 1, httpStatus: code === 'VmNotFound' ? 404 : 409, cause });
  }
}

export const invalidUuid = (uuid: string) => new ImageCreateError('InvalidUUID', `invalid uuid: "${uuid}"`);
export const vmNotFound = (uuid: string) => new ImageCreateError('VmNotFound', `vm "${uuid}" was not found`);
export const vmNotStopped = (uuid: string) =>
  new ImageCreateError('VmNotStopped', `vm "${uuid}" is not stopped`);
export const vmHasNoOrigin = (uuid: string) =>
  new ImageCreateError('VmHasNoOrigin', `cannot create an incremental image: vm "${uuid}" has no origin`);
export const originHasNoFinalSnapshot = (uuid: string) =>
  new ImageCreateError(
    'OriginHasNoFinalSnapshot',
    `cannot create an incremental image: origin image "${uuid}" has no "@final" snapshot ` +
      '(sometimes this can be fixed by "imgadm update")',
  );

// ---- manifest data ---------------------------------------------------------------------------------

/** Manifest fields that are strings: `version=1.0` stays "1.0" (SmartOS's imgadm would make it 1). */
const STRING_FIELDS = new Set([
  'uuid',
  'owner',
  'name',
  'version',
  'description',
  'homepage',
  'eula',
  'type',
  'os',
  'origin',
  'state',
  'published_at',
  'nic_driver',
  'disk_driver',
  'cpu_type',
  'urn',
]);

/**
 * `FIELD=VALUE` arguments: each value is read as JSON, else kept as a string (`disabled=true` is a
 * boolean, `name=foo` and `name="true"` are strings). String fields keep the text as typed unless it
 * is a JSON string.
 */
export function parseFieldArgs(args: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq === -1) throw new UsageError(`invalid manifest field arg "${arg}": must match "<field>=<value>"`);
    const field = arg.slice(0, eq);
    const raw = arg.slice(eq + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      /* a plain string */
    }
    out[field] = STRING_FIELDS.has(field) && typeof value !== 'string' ? raw : value;
  }
  return out;
}

/** Manifest data from `-m` (a file, or `-` for stdin) text, as an object. */
export function parseManifestData(text: string, from: string): Record<string, unknown> {
  let data: unknown;
  const where = from === '-' ? 'on stdin' : `in "${from}"`;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`invalid manifest JSON ${where}: ${(err as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new UsageError(`invalid manifest JSON ${where}: not an object`);
  return data as Record<string, unknown>;
}

/** A file-name-safe form of a name or version: `My App 1` → `my-app-1`. */
export function pathSlugify(s: string): string {
  return s
    .replace(/[^\w\s._-]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[-\s]+/g, '-');
}

/**
 * Where the files go: `<template>.imgmanifest` and `<template>.zfs[.EXT]`; a template that is a
 * directory (or none: the current one) gets `NAME-VERSION` inside it.
 */
export function savePrefixFor(data: Record<string, unknown>, template?: string): string {
  const stem = `${pathSlugify(String(data.name))}-${pathSlugify(String(data.version))}`;
  if (template === undefined) return stem;
  let isDir = false;
  try {
    isDir = statSync(template).isDirectory();
  } catch {
    /* not there yet: a prefix */
  }
  return isDir ? join(template, stem) : template;
}

/** SmartOS's wording: `invalid manifest: name (MissingParameter), os (must be one of: ...)`. */
export function manifestValidationMessage(problems: readonly ManifestProblem[]): string {
  const parts = problems.map((p) =>
    p.code === 'MissingParameter' ? `${p.field} (MissingParameter)` : `${p.field} (${p.message})`,
  );
  return `invalid manifest: ${parts.join(', ')}`;
}

export interface ManifestInputs {
  /** What the caller gave (`-m` data with FIELD=VALUE merged over it). */
  given: Record<string, unknown>;
  uuid: string;
  vm: { uuid: string; brand?: unknown; bootrom?: unknown };
  /** The VM's image, when it is installed. */
  origin?: ImageManifest;
  incremental: boolean;
  /** The platform the image is made on (SmartOS images need at least it): sysinfo's version and stamp. */
  platform?: { sdcVersion: string; liveImage: string };
  now: Date;
}

/** The new image's manifest, before its file is known. Throws VmHasNoOrigin for `-i` without origin. */
export function buildManifest(inp: ManifestInputs): Record<string, unknown> {
  const m: Record<string, unknown> = { v: 2, uuid: inp.uuid, ...inp.given };
  const givenReq = isObject(inp.given.requirements) ? inp.given.requirements : undefined;
  if (inp.origin) {
    const om = inp.origin as Record<string, unknown>;
    for (const f of INHERITED_FIELDS) {
      if (f in m || !(f in om)) continue;
      const v = om[f];
      if (!Array.isArray(v) || v.length > 0) m[f] = structuredClone(v);
    }
  }
  const requirements = (): Record<string, unknown> => {
    const r = isObject(m.requirements) ? { ...m.requirements } : {};
    m.requirements = r;
    return r;
  };
  const brand = getBrand(inp.vm.brand);
  if (brand?.image.requiresPlatform && inp.platform && !givenReq?.min_platform)
    requirements().min_platform = { [inp.platform.sdcVersion]: inp.platform.liveImage };
  if (brand?.image.requiresBrand && !(givenReq && 'brand' in givenReq)) requirements().brand = brand.name;
  if (
    brand?.image.recordsBootrom &&
    typeof inp.vm.bootrom === 'string' &&
    !(givenReq && 'bootrom' in givenReq)
  )
    requirements().bootrom = inp.vm.bootrom;
  if (inp.incremental) {
    if (!inp.origin) throw vmHasNoOrigin(inp.vm.uuid);
    m.origin = inp.origin.uuid;
  }
  if (m.published_at === undefined) m.published_at = inp.now.toISOString();
  return m;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON indented by four spaces, as imgadm logs the manifest. */
export function indentJson(v: unknown): string {
  return JSON.stringify(v, null, 2)
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

// ---- making the image ------------------------------------------------------------------------------

export interface CreateImageOptions {
  vmUuid: string;
  /** Manifest data (name and version at least, unless the VM's image provides them). */
  manifest: Record<string, unknown>;
  /** Default `none`, as on SmartOS. */
  compression?: CreateCompression;
  /** Relative to the origin image's `@final`; the manifest gets `origin`. */
  incremental?: boolean;
  /** Fail when the origin chain (the VM's image and its ancestors) is deeper than this. */
  maxOriginDepth?: number;
  /** Path prefix of the files written (see savePrefixFor). */
  savePrefix: string;
  /** Progress lines, as imgadm prints them (`Snapshotting to ...`). */
  log?: (line: string) => void;
  /** Bytes written to the image file so far. */
  onBytes?: (done: number) => void;
}

export interface CreatedImage {
  manifest: ImageManifest;
  manifestPath: string;
  filePath: string;
}

/** The pool holding the VM (the system pool is looked at first). */
export function findVmPool(uuid: string): Pool {
  const names = importedPoolNames();
  const sys = systemPoolName();
  const ordered = names.includes(sys) ? [sys, ...names.filter((n) => n !== sys)] : names;
  for (const name of ordered) {
    const pool = openPool(name);
    if (new VmStore(pool).uuids().includes(uuid)) return pool;
  }
  throw vmNotFound(uuid);
}

/** `imgadm create`: write the image file and manifest of a stopped VM. */
export async function createImage(opts: CreateImageOptions): Promise<CreatedImage> {
  const log = opts.log ?? (() => undefined);
  if (!UUID_RE.test(opts.vmUuid)) throw invalidUuid(opts.vmUuid);
  const pool = findVmPool(opts.vmUuid);
  await removeLeftovers(pool);
  const lock = await lockVm(opts.vmUuid, 'imgadm create');
  try {
    const { manifest, originFinal, bootDisk } = await prepareManifest(pool, opts, log);
    const compression = opts.compression ?? 'none';
    const file = { path: `${opts.savePrefix}.zfs${EXTENSION[compression]}`, compression };
    const partial = resolve(dirname(file.path), `.${basename(file.path)}.${process.pid}.partial`);
    const job = { vmUuid: opts.vmUuid, imageUuid: manifest.uuid, partial };
    const write = (snap: string) =>
      writeImage(pool, snap, { manifest, originFinal, file: { ...file, partial }, opts, log });
    return await withImageSnapshot(pool, { ...job, ...(bootDisk ? { bootDisk } : {}) }, log, write);
  } finally {
    lock.release();
  }
}

/** The checks SmartOS makes before it touches anything, in its order, and the new manifest. */
async function prepareManifest(
  pool: Pool,
  opts: CreateImageOptions,
  log: (line: string) => void,
): Promise<{ manifest: ImageManifest; originFinal?: string; bootDisk?: string }> {
  // The VM core (zones, runtime) is loaded only by create, not by every imgadm command.
  const { VmCore } = await import('../vm/index.ts');
  const vm = await new VmCore(pool).get(opts.vmUuid);
  if (vm.state !== 'stopped') throw vmNotStopped(opts.vmUuid);
  const brand = getBrand(vm.brand);
  if (brand && !brand.image.creatable)
    throw new ImageCreateError(
      'NotSupported',
      `cannot create an image from vm "${opts.vmUuid}": images of ${brand.name} VMs are not supported yet`,
    );
  const images = new ImageStore(pool);
  // A hardware VM's image is its boot disk, and its origin that disk's image.
  const disk = brand?.image.holds === 'boot-disk' ? bootVolume(vm, opts.vmUuid) : undefined;
  const imageOf = disk ? disk.image_uuid : vm.image_uuid;
  const origin = typeof imageOf === 'string' ? images.get(imageOf)?.manifest : undefined;
  if (opts.maxOriginDepth !== undefined && origin)
    checkOriginDepth((u) => images.get(u)?.manifest, origin, opts.maxOriginDepth);
  const platform = brand?.image.requiresPlatform
    ? { sdcVersion: SDC_VERSION, liveImage: (await readHostFacts()).buildstamp }
    : undefined;
  if (origin) log(`Inheriting from origin image ${origin.uuid} (${origin.name} ${origin.version})`);
  const data = buildManifest({
    given: opts.manifest,
    uuid: randomUUID(),
    vm,
    ...(origin ? { origin } : {}),
    incremental: opts.incremental ?? false,
    ...(platform ? { platform } : {}),
    now: new Date(),
  });
  if (disk) {
    data.type ??= 'zvol';
    data.image_size ??= disk.size;
  }
  log(`Manifest:\n${indentJson(data)}`);
  const problems = manifestProblems(data);
  if (problems.length) throw new ImageCreateError('ManifestValidation', manifestValidationMessage(problems));
  const manifest = data as ImageManifest;
  const bootDisk = disk ? { bootDisk: String(disk.zfs_filesystem) } : {};
  if (!opts.incremental || !origin) return { manifest, ...bootDisk };
  if (!pool.meta().datasets[images.dataset(origin.uuid)]?.snapshots[FINAL])
    throw originHasNoFinalSnapshot(origin.uuid);
  return { manifest, originFinal: `${images.dataset(origin.uuid)}@${FINAL}`, ...bootDisk };
}

/** The volume a hardware VM boots from (the disk marked `boot`, else its first volume). */
function bootVolume(vm: Record<string, unknown>, uuid: string): Record<string, unknown> {
  const disks = (Array.isArray(vm.disks) ? vm.disks : []) as Record<string, unknown>[];
  const volumes = disks.filter((d) => typeof d.zfs_filesystem === 'string' && d.media !== 'cdrom');
  const disk = volumes.find((d) => d.boot === true) ?? volumes[0];
  if (!disk)
    throw new ImageCreateError(
      'NotSupported',
      `cannot create an image from vm "${uuid}": it has no disk volume to make the image of`,
    );
  return disk;
}

/**
 * Snapshot the VM, clone the snapshot, keep only `root/` in the clone and snapshot it as `@final`;
 * run `fn` on that, then remove the clone and the VM's snapshot whatever happened.
 */
async function withImageSnapshot<T>(
  pool: Pool,
  what: { vmUuid: string; imageUuid: string; partial: string; bootDisk?: string },
  log: (line: string) => void,
  fn: (snap: string) => Promise<T>,
): Promise<T> {
  const { vmUuid, imageUuid, bootDisk } = what;
  // A hardware VM's image is a snapshot of its boot disk as it is; a zone's, its root alone.
  const snap = `${bootDisk ?? `${pool.name}/${vmUuid}`}@imgadm-create-${imageUuid}`;
  const work = `${pool.name}/imgadm-create-${imageUuid}`;
  const jobs = pool.docs(JOBS);
  const job: CreateJob = {
    pid: process.pid,
    start: processStartTime(process.pid) ?? '0',
    snapshot: snap,
    dataset: bootDisk ? '' : work,
    partial: what.partial,
  };
  jobs.put(imageUuid, job);
  const undo: (() => Promise<unknown>)[] = [];
  try {
    log(`Snapshotting to "${snap}"`);
    await pool.snapshot([snap]);
    undo.unshift(() => pool.destroy(snap));
    if (bootDisk) return await fn(snap);
    await pool.clone(snap, work);
    undo.unshift(() => pool.destroy(work, { recursive: true }));
    await keepOnlyRoot(pool.datasetPath(work), vmUuid);
    await pool.snapshot([`${work}@${FINAL}`]);
    return await fn(`${work}@${FINAL}`);
  } finally {
    let failed = false;
    for (const step of undo) await step().catch(() => (failed = true));
    // Kept when the clean-up failed: the next create on this pool retries it.
    if (!failed) jobs.delete(imageUuid);
  }
}

/** The image file, then the manifest that describes it. */
async function writeImage(
  pool: Pool,
  snap: string,
  w: {
    manifest: ImageManifest;
    originFinal?: string | undefined;
    file: ImageFileTarget;
    opts: CreateImageOptions;
    log: (line: string) => void;
  },
): Promise<CreatedImage> {
  const { manifest, opts } = w;
  const filePath = w.file.path;
  w.log(`Sending image file to "${filePath}"`);
  const file = await writeImageFile(pool, snap, {
    ...(w.originFinal !== undefined ? { from: w.originFinal } : {}),
    ...w.file,
    ...(opts.onBytes ? { onBytes: opts.onBytes } : {}),
  });
  manifest.files = [{ sha1: file.sha1, size: file.size, compression: w.file.compression }];
  const manifestPath = `${opts.savePrefix}.imgmanifest`;
  w.log(`Saving manifest to "${manifestPath}"`);
  try {
    writeFileAtomicSync(manifestPath, JSON.stringify(manifest, null, 2));
  } catch (err) {
    await rm(filePath, { force: true });
    throw new ImageCreateError(
      'FileSystem',
      `error saving manifest to "${manifestPath}": ${(err as Error).message}`,
      err,
    );
  }
  return { manifest, manifestPath, filePath };
}

/**
 * `--max-origin-depth`: the VM's image counts as one level, each origin above it as one more; a chain
 * deeper than `max` is refused.
 */
export function checkOriginDepth(
  lookup: (uuid: string) => ImageManifest | undefined,
  origin: ImageManifest,
  max: number,
): void {
  let depth = 1;
  for (let cur: ImageManifest | undefined = origin; cur?.origin !== undefined;) {
    depth += 1;
    if (depth > max)
      throw new ImageCreateError(
        'MaxOriginDepth',
        `cannot create image: maximum origin depth "${max}" has been reached`,
      );
    cur = lookup(cur.origin);
  }
}

/**
 * Remove the clone, the snapshot and the unfinished file of every `imgadm create` on the pool whose
 * process is gone.
 */
export async function removeLeftovers(pool: Pool): Promise<string[]> {
  const removed: string[] = [];
  const jobs = pool.docs(JOBS);
  for (const key of jobs.keys()) {
    const job = jobs.get<CreateJob>(key);
    if (!job || processStartTime(job.pid) === job.start) continue;
    const meta = pool.meta();
    if (job.dataset && meta.datasets[job.dataset]) {
      await pool.destroy(job.dataset, { recursive: true });
      removed.push(job.dataset);
    }
    const [ds, snap] = job.snapshot.split('@') as [string, string];
    if (pool.meta().datasets[ds]?.snapshots[snap]) {
      await pool.destroy(job.snapshot);
      removed.push(job.snapshot);
    }
    await rm(job.partial, { force: true });
    jobs.delete(key);
  }
  return removed;
}

/** The image holds the zone's root filesystem only: the VM's `config/` and the rest go. */
async function keepOnlyRoot(dir: string, vmUuid: string): Promise<void> {
  const entries = await readdir(dir);
  if (!entries.includes('root'))
    throw new ImageCreateError('InternalError', `vm "${vmUuid}" has no root filesystem (${dir}/root)`);
  for (const e of entries) if (e !== 'root') await rm(join(dir, e), { recursive: true, force: true });
}

/** Where the image file goes: its name, and the name it has until it is complete. */
interface ImageFileTarget {
  path: string;
  partial: string;
  compression: CreateCompression;
}

/**
 * `zfs send` of `snap` (incremental from `from`) through the compressor into `path`, counting bytes
 * and the sha1 of what is written. The file appears only once complete. When writing fails, the rest
 * of the stream is read and dropped, so that the send finishes rather than hangs.
 */
async function writeImageFile(
  pool: Pool,
  snap: string,
  opts: ImageFileTarget & { from?: string; onBytes?: (n: number) => void },
): Promise<{ sha1: string; size: number }> {
  const { partial } = opts;
  const hash = createHash('sha1');
  let size = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      opts.onBytes?.(size);
      cb(null, chunk);
    },
  });
  const head = new PassThrough({ highWaterMark: 1 << 20 });
  const sink = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      if (head.destroyed || head.write(chunk)) {
        cb();
        return;
      }
      const go = () => {
        head.off('drain', go);
        head.off('close', go);
        cb();
      };
      head.on('drain', go);
      head.on('close', go);
    },
    final(cb) {
      if (!head.destroyed) head.end();
      cb();
    },
  });
  const out = createWriteStream(partial, { mode: 0o644 });
  let compressor: StreamProcess | undefined;
  let written: Promise<void>;
  if (opts.compression === 'none') written = pipeline(head, counter, out);
  else if (opts.compression === 'gzip') written = pipeline(head, createGzip(), counter, out);
  else {
    compressor = spawnStream(opts.compression, ['-c', '-q'], { stdin: head, stdout: 'pipe' });
    written = pipeline(compressor.child.stdout as Readable, counter, out);
    compressor.done.catch((err: unknown) => head.destroy(err as Error));
  }
  written.catch((err: unknown) => head.destroy(err as Error));
  const sent = pool.send(snap, sink, opts.from !== undefined ? { from: opts.from } : {}).then(
    () => new Promise<void>((resolve) => sink.end(resolve)),
    (err: unknown) => {
      head.destroy(err as Error);
      throw err;
    },
  );
  const results = await Promise.allSettled([sent, written, compressor?.done]);
  const failure = results.find((r) => r.status === 'rejected');
  if (failure === undefined) {
    await rename(partial, opts.path);
    return { sha1: hash.digest('hex'), size };
  }
  await rm(partial, { force: true });
  const err: unknown = failure.reason;
  if (err instanceof ZonixError) throw err;
  throw new ImageCreateError(
    'InternalError',
    `error writing image file "${opts.path}": ${err instanceof Error ? err.message : String(err)}`,
    err,
  );
}

// ---- command line ----------------------------------------------------------------------------------

export interface CreateArgs {
  vmUuid: string;
  /** `FIELD=VALUE` operands after the VM's UUID. */
  fields: string[];
  manifestFile?: string;
  outputTemplate?: string;
  compression?: CreateCompression;
  incremental: boolean;
  prepareScript?: string;
  publish?: string;
  quiet: boolean;
  maxOriginDepth?: number;
  help: boolean;
}

const SHORT: Record<string, boolean> = {
  h: false,
  m: true,
  o: true,
  c: true,
  i: false,
  s: true,
  p: true,
  q: false,
};
const LONG: Record<string, string> = {
  help: 'h',
  'output-template': 'o',
  compression: 'c',
  incremental: 'i',
  publish: 'p',
  quiet: 'q',
  'max-origin-depth': 'max-origin-depth',
};

/**
 * `imgadm create` arguments, checked in SmartOS's order. Options may come before, between or after
 * the operands (`create -s prep VM name=x version=1 -o /var/tmp`), long ones as `--opt VAL` or
 * `--opt=VAL`.
 */
export function parseCreateArgv(argv: readonly string[], usage?: string): CreateArgs {
  const opts = new Map<string, string>();
  const operands: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const key = LONG[name];
      if (key === undefined) throw new UsageError(`unknown option: "${a}"`, usage);
      const takes = key === 'max-origin-depth' || SHORT[key] === true;
      if (!takes) {
        if (eq >= 0)
          throw new UsageError(`argument given to "--${name}" option that does not take one`, usage);
        opts.set(key, '');
        continue;
      }
      const val = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (val === undefined) throw new UsageError(`do not have enough args for "--${name}" option`, usage);
      opts.set(key, val);
      continue;
    }
    if (!a.startsWith('-') || a === '-') {
      operands.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      const takes = SHORT[c];
      if (takes === undefined) throw new UsageError(`unknown option: "-${c}"`, usage);
      if (!takes) {
        opts.set(c, '');
        continue;
      }
      const val = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
      if (val === undefined) throw new UsageError(`do not have enough args for "-${c}" option`, usage);
      opts.set(c, val);
      break;
    }
  }
  const help = opts.has('h');
  const [vmUuid, ...fields] = operands;
  if (vmUuid === undefined && !help) throw new UsageError(`incorrect number of args (0): ""`, usage);
  if (vmUuid !== undefined && !UUID_RE.test(vmUuid)) throw invalidUuid(vmUuid);
  const c = opts.get('c');
  if (c !== undefined && !(CREATE_COMPRESSIONS as readonly string[]).includes(c))
    throw new UsageError(
      `invalid -c,--compression "${c}": must be one of "${CREATE_COMPRESSIONS.join('", "')}"`,
      usage,
    );
  if (opts.has('o') && opts.has('p'))
    throw new UsageError('cannot specify both -o,--output-template and -p,--publish', usage);
  const depth = opts.get('max-origin-depth');
  if (depth !== undefined && !/^[1-9]\d*$/.test(depth))
    throw new UsageError(`arg for "--max-origin-depth" is not a positive integer: "${depth}"`, usage);
  if (depth !== undefined && Number(depth) < 2)
    throw new UsageError(`invalid max-origin-depth "${depth}": must be greater than 1`, usage);
  const get = (k: string) => opts.get(k);
  return {
    vmUuid: vmUuid ?? '',
    fields,
    ...(get('m') !== undefined ? { manifestFile: get('m')! } : {}),
    ...(get('o') !== undefined ? { outputTemplate: get('o')! } : {}),
    ...(c !== undefined ? { compression: c as CreateCompression } : {}),
    incremental: opts.has('i'),
    ...(get('s') !== undefined ? { prepareScript: get('s')! } : {}),
    ...(get('p') !== undefined ? { publish: get('p')! } : {}),
    quiet: opts.has('q'),
    ...(depth !== undefined ? { maxOriginDepth: Number(depth) } : {}),
    help,
  };
}
