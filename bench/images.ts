/**
 * Image benchmark: how long the built-in `minimal` image takes to build; how installing it from a
 * local file (a gzip'd rootfs tarball, or a gzip'd dataset stream) compares with a plain `tar -xzf` of
 * the same tarball; and that cloning an installed image into a new dataset (what every VM create does)
 * takes the same time for a tiny image and for a 1 GiB one.
 *
 * Run as root: `node --import tsx bench/images.ts`. Everything happens in a private Zonix environment
 * (config, run and pool-file folders in a fresh temp folder, a pool name with a random prefix), so the
 * host's own pools and images are never touched; the pool it makes is destroyed at the end, even on
 * failure, and the run fails if a mount or loop device is left behind.
 *
 * Prints a table, then one line `RESULT {json}` with every figure. Exits non-zero on any failure.
 * @module
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, createGzip } from 'node:zlib';
import type { ImageManifest, ImageStore } from '../src/images/index.ts';
import type { Pool } from '../src/storage/index.ts';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
/** Timed rounds (after the warm-up one) of the build and file-install measurements. */
const RUNS = positiveInt(process.env.ZONIX_BENCH_RUNS, 10);
/** Timed rounds of the clone measurement. */
const CLONE_RUNS = positiveInt(process.env.ZONIX_BENCH_CLONE_RUNS, 15);
const WARMUP = 1;
const POOL_FILE_SIZE = 4 * GiB;
const BIG_BYTES = GiB;
const CHUNK = 4 * MiB;
const DATA_FILE = 'random.bin';

const randomBytesAsync = promisify(randomBytes);

interface Stats {
  medianMs: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
}

interface BuildResult {
  uuid: string;
  version: string;
  /** Bytes under the image's root/ (apparent sizes) and the number of entries in it. */
  rootBytes: number;
  rootEntries: number;
  /** `importImage(store, 'minimal')` as `imgadm import minimal` calls it (fresh sources every time). */
  importMinimal: Stats;
  /** The same with one source list reused, so the busybox probe is cached after the first call. */
  importMinimalReusedSources: Stats;
}

interface FileKind {
  fileBytes: number;
  /** Decompressed size of the file. */
  rawBytes: number;
  install: Stats;
  /** median(installFromFiles) / median(tar -xzf of the tarball). */
  ratioVsTar: number;
}

interface FileImportResult {
  tarball: FileKind;
  stream: FileKind;
  tarBaseline: Stats;
  baseline: string;
}

interface CloneResult {
  bySize: Record<string, Stats & { imageBytes: number }>;
  /** median(1 GiB image) / median(minimal image): 1.0 = constant time. */
  ratio: number;
  /** What each extra GiB of image adds to the median clone time. */
  extraMsPerGiB: number;
  /** How long building the 1 GiB image took (write + fsync + snapshot; once, untimed elsewhere). */
  bigImageBuildSeconds: number;
}

interface BenchResult {
  host: { kernel: string; cpus: number; node: string; tmpFs: string };
  pool: { driver: string; backing: string };
  runs: number;
  cloneRuns: number;
  warmup: number;
  build: BuildResult;
  fileImport: FileImportResult;
  clone: CloneResult;
  totalSeconds: number;
}

interface BenchEnv {
  dir: string;
  prefix: string;
}

type Storage = Awaited<ReturnType<typeof loadStorage>>;
type Images = Awaited<ReturnType<typeof loadImages>>;

// ---- small helpers ---------------------------------------------------------------------------------

function positiveInt(text: string | undefined, fallback: number): number {
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

let interrupted = false;

/** Stop between steps on Ctrl-C / SIGTERM so that the cleanup still runs; a second signal quits. */
function trapSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      log(`${sig}: stopping after the current step, then cleaning up (again to quit at once)`);
    });
  }
}

function checkInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

const started = performance.now();

/** Progress goes to stderr, stamped with the time since start; stdout holds only the report. */
function log(msg: string): void {
  const t = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[bench ${t}s] ${msg}\n`);
}

/** Run a host program; resolves with its stdout, rejects with its stderr unless it exits 0. */
function exec(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out).toString());
      else
        reject(
          new Error(
            `${[cmd, ...args].join(' ')} failed (${signal ?? `exit ${code}`}): ${Buffer.concat(err).toString().trim()}`,
          ),
        );
    });
  });
}

/**
 * Wait (untimed) until btrfs has cleaned the subvolumes deleted so far: its cleaner runs after a commit,
 * which would otherwise come every 30 s; `btrfs filesystem sync` commits and wakes it. `btrfs subvolume
 * sync` does the same wait but polls once a second, hence this loop.
 */
async function settleBtrfsPool(top: string): Promise<void> {
  const deadline = performance.now() + 120_000;
  for (;;) {
    await exec('btrfs', ['filesystem', 'sync', top]);
    const pending = (await exec('btrfs', ['subvolume', 'list', '-d', top])).trim();
    if (pending === '') return;
    if (performance.now() > deadline) throw new Error(`deleted subvolumes still not cleaned:\n${pending}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Linear-interpolated quantile of already sorted samples. */
function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  return { medianMs: quantile(s, 0.5), p90Ms: quantile(s, 0.9), minMs: s[0]!, maxMs: s.at(-1)! };
}

const round = (n: number, digits: number) => Number(n.toFixed(digits));

/** `items` rotated by `n`, so that each goes first in turn across rounds. */
function rotate<T>(items: T[], n: number): T[] {
  const k = ((n % items.length) + items.length) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

// ---- data ------------------------------------------------------------------------------------------

/** A file of random (incompressible) bytes, written in 4 MiB chunks and fsynced. */
async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'wx', 0o644);
  try {
    let next = randomBytesAsync(Math.min(CHUNK, bytes));
    for (let done = 0; done < bytes;) {
      checkInterrupted();
      const buf = await next;
      const after = done + buf.length;
      // Make the next chunk while this one is written.
      if (after < bytes) next = randomBytesAsync(Math.min(CHUNK, bytes - after));
      for (let off = 0; off < buf.length;) off += (await fh.write(buf, off)).bytesWritten;
      done = after;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function sha1Of(path: string): Promise<string> {
  const hash = createHash('sha1');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Apparent bytes and number of entries under `dir` (not counting `dir`), symlinks not followed. */
async function treeSize(dir: string): Promise<{ bytes: number; entries: number }> {
  let bytes = 0;
  let entries = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    entries++;
    if (e.isFile()) bytes += (await stat(join(e.parentPath, e.name))).size;
  }
  return { bytes, entries };
}

/** Cheap check (untimed) that an image root is the minimal zone: busybox and an applet link in place. */
async function checkMinimalRoot(root: string, busyboxBytes: number, label: string): Promise<void> {
  const bb = await stat(join(root, 'bin/busybox')).catch(() => undefined);
  if (bb?.size !== busyboxBytes) throw new Error(`${label}: ${root}/bin/busybox missing or wrong size`);
  if (!existsSync(join(root, 'bin/sh'))) throw new Error(`${label}: ${root}/bin/sh missing`);
}

// ---- the measurements ------------------------------------------------------------------------------

interface Ctx {
  storage: Storage;
  images: Images;
  env: BenchEnv;
  pool: Pool;
  store: ImageStore;
  settle: () => Promise<void>;
}

const finalSnap = (pool: Pool, uuid: string) => `${pool.name}/${uuid}@final`;
const rootOf = (pool: Pool, uuid: string) => join(pool.datasetPath(finalSnap(pool, uuid)), 'root');

/**
 * 1. `importImage(store, 'minimal')`: build the built-in image from the host's busybox and snapshot it.
 * Both variants are interleaved; the image is deleted, and btrfs cleanup awaited, outside the timing.
 * Leaves the image installed for the next steps.
 */
async function benchBuild(ctx: Ctx): Promise<{ result: BuildResult; manifest: ImageManifest }> {
  const { images, store, pool } = ctx;
  const reused = images.allSources(pool);
  const ms = { fresh: [] as number[], reused: [] as number[] };
  let manifest: ImageManifest | undefined;
  log(`build: importImage(store, 'minimal'), ${WARMUP} warm-up + ${RUNS} rounds per variant`);
  for (let r = -WARMUP; r < RUNS; r++) {
    for (const variant of rotate(['fresh', 'reused'] as const, r)) {
      checkInterrupted();
      let results: Awaited<ReturnType<typeof images.importImage>> = [];
      const t = await timed(async () => {
        results = await (variant === 'fresh'
          ? images.importImage(store, 'minimal')
          : images.importImage(store, 'minimal', { sources: reused }));
      });
      const last = results.at(-1);
      if (!last?.installed) throw new Error(`importImage(minimal) did not install anything`);
      manifest = last.manifest;
      await store.delete(manifest.uuid);
      await ctx.settle();
      if (r >= 0) ms[variant].push(t);
    }
  }
  // Once more, untimed: the image the next steps start from.
  await images.importImage(store, 'minimal', { sources: reused });
  const m = manifest!;
  const size = await treeSize(rootOf(pool, m.uuid));
  return {
    manifest: m,
    result: {
      uuid: m.uuid,
      version: m.version,
      rootBytes: size.bytes,
      rootEntries: size.entries,
      importMinimal: stats(ms.fresh),
      importMinimalReusedSources: stats(ms.reused),
    },
  };
}

/** Bytes a gzip file holds once decompressed. */
async function gzipSize(path: string): Promise<number> {
  let n = 0;
  const gunzip = createGunzip();
  createReadStream(path).pipe(gunzip);
  for await (const c of gunzip) n += (c as Buffer).length;
  return n;
}

/** A manifest for `file` (gzip'd), a copy of the minimal one under a new UUID and name. */
async function writeManifest(
  base: ImageManifest,
  name: string,
  file: string,
  path: string,
): Promise<ImageManifest> {
  const m: ImageManifest = {
    ...base,
    uuid: randomUUID(),
    name,
    description: `bench/images.ts: ${base.name} ${base.version} as ${name}`,
    tags: {},
    files: [{ sha1: await sha1Of(file), size: (await stat(file)).size, compression: 'gzip' }],
  };
  await writeFile(path, JSON.stringify(m, null, 2));
  return m;
}

/**
 * 2. `installFromFiles` of the minimal image as a gzip'd rootfs tarball and as a gzip'd dataset stream,
 * against `tar -xzf` of the same tarball into a fresh folder on the same btrfs filesystem. The three are
 * interleaved, in rotating order; the image (or folder) is removed and btrfs settled outside the timing.
 */
async function benchFileImport(ctx: Ctx, minimal: ImageManifest): Promise<FileImportResult> {
  const { images, store, pool, env } = ctx;
  const srcRoot = rootOf(pool, minimal.uuid);
  const busyboxBytes = (await stat(join(srcRoot, 'bin/busybox'))).size;

  const tarFile = join(env.dir, 'minimal-root.tar.gz');
  const streamFile = join(env.dir, 'minimal.zfs.gz');
  log(`files: tar -C ${srcRoot} -czf ${tarFile} .`);
  await exec('tar', ['-C', srcRoot, '--numeric-owner', '-czf', tarFile, '.']);
  log(`files: Pool.send ${finalSnap(pool, minimal.uuid)} | gzip > ${streamFile}`);
  const gz = createGzip();
  const out = createWriteStream(streamFile);
  gz.pipe(out);
  await pool.send(finalSnap(pool, minimal.uuid), gz);
  gz.end();
  await finished(out);

  const kinds = {
    tarball: await writeManifest(minimal, 'bench-minimal-tarball', tarFile, join(env.dir, 'tarball.json')),
    stream: await writeManifest(minimal, 'bench-minimal-stream', streamFile, join(env.dir, 'stream.json')),
  };
  const files = { tarball: tarFile, stream: streamFile };
  const manifests = { tarball: join(env.dir, 'tarball.json'), stream: join(env.dir, 'stream.json') };

  const ms = { tarball: [] as number[], stream: [] as number[], tar: [] as number[] };
  const steps = ['tarball', 'stream', 'tar'] as const;
  log(`files: installFromFiles (tarball, stream) and tar -xzf, ${WARMUP} warm-up + ${RUNS} rounds each`);
  for (let r = -WARMUP; r < RUNS; r++) {
    for (const step of rotate([...steps], r)) {
      checkInterrupted();
      let t: number;
      if (step === 'tar') {
        const dir = join(pool.top, `bench-tar-${r + WARMUP}`);
        await mkdir(dir);
        t = await timed(() => exec('tar', ['-xzf', tarFile, '-C', dir]));
        await checkMinimalRoot(dir, busyboxBytes, 'tar -xzf');
        await rm(dir, { recursive: true });
      } else {
        const m = kinds[step];
        let installed = false;
        t = await timed(async () => {
          installed = (await images.installFromFiles(store, manifests[step], files[step])).installed;
        });
        if (!installed) throw new Error(`installFromFiles(${step}) installed nothing`);
        await checkMinimalRoot(rootOf(pool, m.uuid), busyboxBytes, `installFromFiles(${step})`);
        await store.delete(m.uuid);
      }
      await ctx.settle();
      if (r >= 0) ms[step].push(t);
    }
  }
  const tarBaseline = stats(ms.tar);
  const kind = async (k: 'tarball' | 'stream'): Promise<FileKind> => {
    const install = stats(ms[k]);
    return {
      fileBytes: (await stat(files[k])).size,
      rawBytes: await gzipSize(files[k]),
      install,
      ratioVsTar: round(install.medianMs / tarBaseline.medianMs, 3),
    };
  };
  const result = {
    tarball: await kind('tarball'),
    stream: await kind('stream'),
    tarBaseline,
    baseline: 'tar -xzf <tarball> -C <fresh empty folder on the pool filesystem> (a spawned GNU tar)',
  };
  await rm(tarFile);
  await rm(streamFile);
  return result;
}

/**
 * 3. `pool.clone(<pool>/<uuid>@final, <pool>/<vm-uuid>)` of the minimal image and of a 1 GiB one,
 * interleaved in alternating order; clones destroyed and btrfs settled outside the timing.
 */
async function benchClone(ctx: Ctx, minimal: ImageManifest): Promise<CloneResult> {
  const { store, pool } = ctx;
  const big: ImageManifest = {
    ...minimal,
    uuid: randomUUID(),
    name: 'bench-1gib',
    description: 'bench/images.ts: 1 GiB of random data under root/',
    tags: {},
  };
  delete big.files;
  log(`clone: building a ${BIG_BYTES / GiB} GiB image ${big.uuid} (random data under root/)`);
  const buildMs = await timed(() =>
    store.install(big, {
      kind: 'build',
      build: async (root) => {
        await writeRandomFile(join(root, DATA_FILE), BIG_BYTES);
        return undefined;
      },
    }),
  );
  log(`  done in ${(buildMs / 1000).toFixed(1)} s`);
  await exec('sync', []);
  await ctx.settle();

  const minimalBytes = (await treeSize(rootOf(pool, minimal.uuid))).bytes;
  const imgs = [
    { key: 'minimal', uuid: minimal.uuid, bytes: minimalBytes, check: 'bin/busybox' },
    { key: `${BIG_BYTES / GiB}GiB`, uuid: big.uuid, bytes: minimalBytes + BIG_BYTES, check: DATA_FILE },
  ];
  const ms = new Map(imgs.map((i) => [i.key, [] as number[]]));
  log(`clone: ${WARMUP} warm-up + ${CLONE_RUNS} rounds per image`);
  for (let r = -WARMUP; r < CLONE_RUNS; r++) {
    for (const img of rotate(imgs, r)) {
      checkInterrupted();
      const vm = `${pool.name}/${randomUUID()}`;
      const t = await timed(() => pool.clone(finalSnap(pool, img.uuid), vm));
      if (!existsSync(join(pool.datasetPath(vm), 'root', img.check)))
        throw new Error(`${vm}: root/${img.check} missing in the clone`);
      if (!store.clones(img.uuid).includes(vm))
        throw new Error(`${vm} is not listed as a clone of ${img.key}`);
      await pool.destroy(vm);
      await ctx.settle();
      if (r >= 0) ms.get(img.key)!.push(t);
    }
    if (r >= 0 && (r + 1) % 5 === 0) log(`  ${r + 1}/${CLONE_RUNS} rounds`);
  }
  await store.delete(big.uuid);
  await ctx.settle();

  const bySize: CloneResult['bySize'] = {};
  for (const img of imgs) bySize[img.key] = { ...stats(ms.get(img.key)!), imageBytes: img.bytes };
  const [small, large] = imgs.map((i) => ({ ms: bySize[i.key]!.medianMs, bytes: i.bytes }));
  return {
    bySize,
    ratio: round(large!.ms / small!.ms, 3),
    extraMsPerGiB: round((large!.ms - small!.ms) / ((large!.bytes - small!.bytes) / GiB), 2),
    bigImageBuildSeconds: round(buildMs / 1000, 2),
  };
}

// ---- the run ---------------------------------------------------------------------------------------

/** A fresh temp folder for the ZONIX_* folders, set before the Zonix modules are loaded. */
function makeEnv(): BenchEnv {
  const prefix = `zi${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(os.tmpdir(), `zonix-bench-${prefix}-`));
  process.env.ZONIX_CONFIG_DIR = join(dir, 'etc');
  process.env.ZONIX_RUN_DIR = join(dir, 'run');
  process.env.ZONIX_POOL_FILE_DIR = join(dir, 'pools');
  return { dir, prefix };
}

function loadStorage() {
  return import('../src/storage/index.ts');
}

function loadImages() {
  return import('../src/images/index.ts');
}

async function runBench(
  storage: Storage,
  images: Images,
  env: BenchEnv,
  made: string[],
): Promise<BenchResult> {
  const tmpFs = (await exec('findmnt', ['-n', '-o', 'FSTYPE', '-T', env.dir])).trim();
  const poolFiles = process.env.ZONIX_POOL_FILE_DIR!;
  await mkdir(poolFiles, { recursive: true });

  const name = `${env.prefix}i`;
  const poolFile = join(poolFiles, `${name}.img`);
  log(`creating btrfs pool ${name} on a ${POOL_FILE_SIZE / GiB} GiB sparse file ${poolFile}`);
  made.push(name);
  const pool = await storage.createPool(name, poolFile, {
    mountpoint: join(env.dir, 'mnt', name),
    size: POOL_FILE_SIZE,
    driver: 'btrfs',
  });
  const ctx: Ctx = {
    storage,
    images,
    env,
    pool,
    store: new images.ImageStore(pool),
    settle: () => settleBtrfsPool(pool.top),
  };

  const { result: build, manifest } = await benchBuild(ctx);
  const fileImport = await benchFileImport(ctx, manifest);
  const clone = await benchClone(ctx, manifest);

  await ctx.store.delete(manifest.uuid);
  const left = ctx.store.list();
  if (left.length) throw new Error(`images left installed: ${left.map((i) => i.manifest.uuid).join(', ')}`);

  return {
    host: { kernel: os.release(), cpus: os.cpus().length, node: process.version, tmpFs },
    pool: {
      driver: pool.driver.info.name,
      backing: `${POOL_FILE_SIZE / GiB} GiB sparse loop file on ${tmpFs}`,
    },
    runs: RUNS,
    cloneRuns: CLONE_RUNS,
    warmup: WARMUP,
    build,
    fileImport,
    clone,
    totalSeconds: round((performance.now() - started) / 1000, 1),
  };
}

// ---- cleanup and leak check ------------------------------------------------------------------------

function mountsUnder(dir: string): string[] {
  const targets: string[] = [];
  for (const line of readFileSyncSafe('/proc/self/mountinfo').split('\n')) {
    const target = line.split(' ')[4];
    if (target !== undefined && line.includes(dir)) targets.push(target);
  }
  return targets;
}

async function loopsUnder(dir: string): Promise<{ dev: string; file: string }[]> {
  const out: { dev: string; file: string }[] = [];
  for (const name of await readdir('/sys/block').catch(() => [] as string[])) {
    if (!name.startsWith('loop')) continue;
    const file = await readFile(join('/sys/block', name, 'loop', 'backing_file'), 'utf8').catch(() => '');
    if (file.includes(dir)) out.push({ dev: `/dev/${name}`, file: file.trim() });
  }
  return out;
}

function readFileSyncSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Leftover mounts and loop devices; loop autoclear can lag the unmount a little, so ask a few times. */
async function leaks(dir: string): Promise<string[]> {
  let found: string[] = [];
  for (let attempt = 0; attempt < 10; attempt++) {
    found = [
      ...mountsUnder(dir).map((m) => `mount left behind: ${m}`),
      ...(await loopsUnder(dir)).map((l) => `loop device left behind: ${l.dev} -> ${l.file}`),
    ];
    if (found.length === 0) return [];
    await new Promise((r) => setTimeout(r, 500));
  }
  return found;
}

/**
 * Destroy the pool this run made, then check that nothing mentions the temp folder any more. Whatever
 * the pool left is forced away (so the host stays clean) but still reported as a failure.
 */
async function cleanup(storage: Storage, env: BenchEnv, made: string[]): Promise<string[]> {
  const problems: string[] = [];
  for (const name of [...made].reverse()) {
    if (!storage.isImported(name)) continue;
    log(`destroying pool ${name}`);
    try {
      await storage.destroyPool(name, { force: true });
    } catch (err) {
      problems.push(`destroying pool ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const left = await leaks(env.dir);
  if (left.length) {
    problems.push(...left);
    for (const target of mountsUnder(env.dir).reverse())
      await exec('umount', [target]).catch(() => exec('umount', ['-l', target]).catch(() => undefined));
    for (const l of await loopsUnder(env.dir)) await exec('losetup', ['-d', l.dev]).catch(() => undefined);
  }
  const still = await leaks(env.dir);
  if (still.length) {
    problems.push(...still.map((s) => `${s} (could not remove it)`));
    problems.push(`not removing ${env.dir}: something is still mounted from it`);
  } else {
    await rm(env.dir, { recursive: true, force: true });
    if (existsSync(env.dir)) problems.push(`could not remove ${env.dir}`);
  }
  return problems;
}

// ---- report ----------------------------------------------------------------------------------------

function table(head: string[], rows: string[][], rightFrom: number): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    '  ' +
    cells
      .map((c, i) => (i >= rightFrom ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

const fmtMs = (n: number) => n.toFixed(1);
const fmtX = (n: number) => `${n.toFixed(2)}x`;
const fmtBytes = (n: number) => (n >= GiB ? `${(n / GiB).toFixed(2)} GiB` : `${(n / MiB).toFixed(2)} MiB`);
const statCells = (s: Stats) => [fmtMs(s.medianMs), fmtMs(s.p90Ms), fmtMs(s.minMs), fmtMs(s.maxMs)];

function report(r: BenchResult): string {
  const b = r.build;
  const f = r.fileImport;
  const c = r.clone;
  const out: string[] = [
    'Zonix image benchmark',
    `  host: Linux ${r.host.kernel}, ${r.host.cpus} CPUs, node ${r.host.node}; temp folder on ${r.host.tmpFs}`,
    `  pool: ${r.pool.driver} on a ${r.pool.backing}`,
    `  minimal image ${b.uuid} (${b.version}): ${b.rootEntries} entries, ${fmtBytes(b.rootBytes)} of files under root/`,
    '',
    `1. Build of the built-in minimal image, ms (${r.runs} runs each after ${r.warmup} warm-up; image deleted,`,
    '   and btrfs cleanup awaited, outside the timing)',
    table(
      ['what', 'median', 'p90', 'min', 'max'],
      [
        ["importImage(store, 'minimal')  (fresh sources: probes busybox)", ...statCells(b.importMinimal)],
        [
          'importImage, source list reused  (busybox probe cached)',
          ...statCells(b.importMinimalReusedSources),
        ],
      ],
      1,
    ),
    '',
    `2. Install of the minimal image from a local file vs tar -xzf of the same tarball, ms (${r.runs} runs`,
    `   each after ${r.warmup} warm-up, interleaved; image / folder removed and btrfs settled outside the timing)`,
    table(
      ['what', 'file', 'unpacked', 'median', 'p90', 'min', 'max', 'vs tar'],
      [
        [
          'installFromFiles: rootfs tarball (.tar.gz)',
          fmtBytes(f.tarball.fileBytes),
          fmtBytes(f.tarball.rawBytes),
          ...statCells(f.tarball.install),
          fmtX(f.tarball.ratioVsTar),
        ],
        [
          'installFromFiles: dataset stream (.zfs.gz)',
          fmtBytes(f.stream.fileBytes),
          fmtBytes(f.stream.rawBytes),
          ...statCells(f.stream.install),
          fmtX(f.stream.ratioVsTar),
        ],
        [
          'baseline: tar -xzf tarball -C <empty folder>',
          fmtBytes(f.tarball.fileBytes),
          fmtBytes(f.tarball.rawBytes),
          ...statCells(f.tarBaseline),
          fmtX(1),
        ],
      ],
      1,
    ),
    '   "vs tar" = median install / median tar -xzf; install also checks sha1 and size, makes the dataset,',
    '   its @final snapshot and the image record. Files are read from the page cache.',
    '',
    `3. Clone of an installed image into a new dataset (pool.clone(<pool>/<uuid>@final, <pool>/<vm-uuid>)),`,
    `   ms (${r.cloneRuns} runs each after ${r.warmup} warm-up, interleaved; clone destroyed and btrfs settled`,
    '   outside the timing)',
    table(
      ['image', 'size', 'median', 'p90', 'min', 'max'],
      Object.entries(c.bySize).map(([key, s]) => [key, fmtBytes(s.imageBytes), ...statCells(s)]),
      1,
    ),
    `   ratio median(1 GiB) / median(minimal) = ${fmtX(c.ratio)} (target ~1.00x: constant time); ` +
      `${c.extraMsPerGiB.toFixed(1)} ms per extra GiB`,
    `   (the 1 GiB image took ${c.bigImageBuildSeconds.toFixed(1)} s to build, once, untimed)`,
    '',
    `total run time ${r.totalSeconds.toFixed(1)} s`,
  ];
  return out.join('\n');
}

// ---- main ------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('bench/images.ts must run as root (it mounts btrfs on a loop device)');
    return 1;
  }
  trapSignals();
  const env = makeEnv();
  log(`private environment in ${env.dir}, pool prefix ${env.prefix}`);
  const storage = await loadStorage();
  const images = await loadImages();
  const made: string[] = [];
  let result: BenchResult | undefined;
  let failed = false;
  try {
    result = await runBench(storage, images, env, made);
    console.log(report(result));
  } catch (err) {
    console.error('benchmark failed:', err);
    failed = true;
  } finally {
    const problems = await cleanup(storage, env, made);
    for (const p of problems) console.error(`error: ${p}`);
    if (problems.length) failed = true;
    else log('cleanup done: no mounts, loop devices or pool files left');
  }
  if (failed || !result) return 1;
  console.log(`RESULT ${JSON.stringify(result)}`);
  return 0;
}

process.exitCode = await main();
