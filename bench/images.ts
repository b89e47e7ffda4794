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
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { ImageManifest, ImageStore } from '../src/images/index.ts';
import type { Pool } from '../src/storage/index.ts';
import type { BenchEnv, BenchRun, Host, Stats, Storage } from './lib.ts';
import { GiB, MiB, positiveInt, round } from './lib.ts';
import { createBtrfsPool, hostInfo, runBenchmark, settleBtrfsPool } from './lib.ts';
import { checkInterrupted, exec, log, started, stats, timed, writeRandomFile } from './lib.ts';
import { fmtMs, fmtX, table } from './lib.ts';

/** Timed rounds (after the warm-up one) of the build and file-install measurements. */
const RUNS = positiveInt(process.env.ZONIX_BENCH_RUNS, 10);
/** Timed rounds of the clone measurement. */
const CLONE_RUNS = positiveInt(process.env.ZONIX_BENCH_CLONE_RUNS, 15);
const WARMUP = 1;
const POOL_FILE_SIZE = 4 * GiB;
const BIG_BYTES = GiB;
const DATA_FILE = 'random.bin';

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
  host: Host;
  pool: { driver: string; backing: string };
  runs: number;
  cloneRuns: number;
  warmup: number;
  build: BuildResult;
  fileImport: FileImportResult;
  clone: CloneResult;
  totalSeconds: number;
}

type Images = Awaited<ReturnType<typeof loadImages>>;

// ---- small helpers ---------------------------------------------------------------------------------

/** `items` rotated by `n`, so that each goes first in turn across rounds. */
function rotate<T>(items: T[], n: number): T[] {
  const k = ((n % items.length) + items.length) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

// ---- data ------------------------------------------------------------------------------------------

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

function loadImages() {
  return import('../src/images/index.ts');
}

async function runBench(run: BenchRun, images: Images): Promise<BenchResult> {
  const { storage, env } = run;
  const host = await hostInfo(env);
  const { tmpFs } = host;

  const { pool } = await createBtrfsPool(run, 'i', POOL_FILE_SIZE);
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
    host,
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

// ---- report ----------------------------------------------------------------------------------------

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

// Like the storage module, the images module is loaded only once the private environment is set.
process.exitCode = await runBenchmark(
  'bench/images.ts',
  'zi',
  async (run) => runBench(run, await loadImages()),
  report,
);
