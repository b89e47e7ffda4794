/**
 * Dataset benchmark: how long snapshot and clone take as a dataset grows (btrfs: constant; dir: copies),
 * and how fast send and receive move a 1 GiB dataset compared with plain `cat`.
 *
 * Run as root: `node --import tsx bench/datasets.ts` (or `npm run bench:datasets`). Everything happens
 * in a private Zonix environment (config, run and pool-file folders in a fresh temp folder, pool names
 * with a random prefix), so the host's own pools are never touched; the pools it makes are destroyed
 * at the end, even on failure, and the run fails if a mount or loop device is left behind.
 *
 * Prints a table, then one line `RESULT {json}` with every figure. Exits non-zero on any failure.
 * @module
 */
import { closeSync, createReadStream, createWriteStream, openSync } from 'node:fs';
import { mkdir, open, rm, rmdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { finished } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import type { Pool } from '../src/storage/index.ts';
import type { BenchEnv, BenchRun, Host, Stats } from './lib.ts';
import { CHUNK, GiB, MiB, positiveInt, round } from './lib.ts';
import { createBtrfsPool, hostInfo, runBenchmark, settleBtrfsPool } from './lib.ts';
import { checkInterrupted, exec, log, median, stats, timed, writeRandomFile } from './lib.ts';
import { fmtMs, fmtX, table } from './lib.ts';

/** Timed snapshot/clone rounds per dataset (after the warm-up ones), overridable for quick runs. */
const RUNS = positiveInt(process.env.ZONIX_BENCH_RUNS, 15);
const WARMUP = 1;
/** Rounds of each throughput measurement (the median is reported). */
const STREAM_RUNS = 3;
const POOL_FILE_SIZE = 6 * GiB;
const DATA_FILE = 'random.bin';

interface Size {
  /** For dataset names and JSON keys: `1MiB`. */
  key: string;
  label: string;
  bytes: number;
}

const size = (n: number, unit: 'MiB' | 'GiB'): Size => ({
  key: `${n}${unit}`,
  label: `${n} ${unit}`,
  bytes: n * (unit === 'MiB' ? MiB : GiB),
});

const BTRFS_SIZES: [Size, Size] = [size(1, 'MiB'), size(1, 'GiB')];
const DIR_SIZES: [Size, Size] = [size(1, 'MiB'), size(64, 'MiB')];

interface OpResult {
  /** Per dataset size key. */
  bySize: Record<string, Stats>;
  /** Median for the larger dataset / median for the smaller (1.0 = constant time). */
  ratio: number;
  /** What each extra GiB of data adds to the median, from the two sizes (0 = constant time). */
  extraMsPerGiB: number;
}

interface DriverResult {
  driver: string;
  instantSnapshots: boolean;
  backing: string;
  sizes: string[];
  snapshot: OpResult;
  clone: OpResult;
}

interface Rate {
  seconds: number;
  mibPerSec: number;
}

interface StreamResult {
  datasetBytes: number;
  streamBytes: number;
  /** The size of the same snapshot's plain `btrfs send` stream. */
  rawStreamBytes: number;
  runs: number;
  send: Rate;
  receive: Rate;
  receiveSynced: Rate;
  catStream: Rate;
  catData: Rate;
  /** References: btrfs send to /dev/null and btrfs receive from a file, without Zonix around them. */
  rawSend: Rate;
  rawReceive: Rate;
  rawReceiveSynced: Rate;
  sendVsCat: number;
  receiveVsCat: number;
  baseline: string;
}

interface BenchResult {
  host: Host;
  runs: number;
  warmup: number;
  btrfs: DriverResult;
  dir: DriverResult;
  stream: StreamResult;
}

// ---- small helpers ---------------------------------------------------------------------------------

function rate(bytes: number, ms: number): Rate {
  return { seconds: round(ms / 1000, 3), mibPerSec: round(bytes / MiB / (ms / 1000), 1) };
}

// ---- data ------------------------------------------------------------------------------------------

/** Are two files the same size with equal first, middle and last chunks? (A cheap check, untimed.) */
async function sameSamples(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a), stat(b)]);
  if (sa.size !== sb.size) return false;
  const offsets = [0, Math.max(0, Math.floor(sa.size / 2) - CHUNK / 2), Math.max(0, sa.size - CHUNK)];
  const [fa, fb] = await Promise.all([open(a, 'r'), open(b, 'r')]);
  try {
    for (const off of offsets) {
      const [ba, bb] = [Buffer.alloc(CHUNK), Buffer.alloc(CHUNK)];
      const [ra, rb] = await Promise.all([fa.read(ba, 0, CHUNK, off), fb.read(bb, 0, CHUNK, off)]);
      if (ra.bytesRead !== rb.bytesRead || !ba.subarray(0, ra.bytesRead).equals(bb.subarray(0, rb.bytesRead)))
        return false;
    }
    return true;
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

async function makeDataset(pool: Pool, name: string, bytes: number): Promise<void> {
  await pool.create(name);
  await writeRandomFile(join(pool.datasetPath(name), DATA_FILE), bytes);
}

// ---- snapshot and clone ----------------------------------------------------------------------------

/**
 * Time `snapshot` then `clone` of each dataset, `RUNS` times after `WARMUP` rounds, each round on fresh
 * names; the clone and the snapshot are destroyed and the pool settled outside the timed part. Sizes are
 * interleaved, in alternating order, so that background noise falls on both alike.
 */
async function timeSnapshotClone(
  pool: Pool,
  datasets: { name: string; size: Size }[],
  settle: () => Promise<void>,
): Promise<{ snapshot: OpResult; clone: OpResult }> {
  const samples = new Map(
    datasets.map((d) => [d.size.key, { snapshot: [] as number[], clone: [] as number[] }]),
  );
  for (let round = -WARMUP; round < RUNS; round++) {
    // Alternate which size goes first, so that neither always follows the other's cleanup.
    for (const d of round % 2 === 0 ? datasets : [...datasets].reverse()) {
      checkInterrupted();
      const tag = round < 0 ? `warm${-round}` : `r${round}`;
      const snap = `${d.name}@${tag}`;
      const clone = `${d.name}-clone-${tag}`;
      const snapMs = await timed(() => pool.snapshot([snap]));
      const cloneMs = await timed(() => pool.clone(snap, clone));
      const copy = await stat(join(pool.datasetPath(clone), DATA_FILE));
      if (copy.size !== d.size.bytes) throw new Error(`${clone}: data file is ${copy.size} bytes`);
      await pool.destroy(clone);
      await pool.destroy(snap);
      await settle();
      if (round >= 0) {
        samples.get(d.size.key)!.snapshot.push(snapMs);
        samples.get(d.size.key)!.clone.push(cloneMs);
      }
    }
    if (round >= 0 && (round + 1) % 5 === 0) log(`  ${pool.driver.info.name}: ${round + 1}/${RUNS} rounds`);
  }
  const op = (which: 'snapshot' | 'clone'): OpResult => {
    const bySize: Record<string, Stats> = {};
    for (const [key, s] of samples) bySize[key] = stats(s[which]);
    const [small, large] = datasets.map((d) => ({ ms: bySize[d.size.key]!.medianMs, bytes: d.size.bytes }));
    return {
      bySize,
      ratio: large!.ms / small!.ms,
      extraMsPerGiB: (large!.ms - small!.ms) / ((large!.bytes - small!.bytes) / GiB),
    };
  };
  return { snapshot: op('snapshot'), clone: op('clone') };
}

async function benchDriver(
  pool: Pool,
  sizes: [Size, Size],
  backing: string,
  settle: () => Promise<void>,
): Promise<DriverResult> {
  const datasets = sizes.map((s) => ({ name: `${pool.name}/data-${s.key}`, size: s }));
  for (const d of datasets) {
    log(`${pool.driver.info.name}: writing ${d.size.label} of random data to ${d.name}`);
    const ms = await timed(() => makeDataset(pool, d.name, d.size.bytes));
    log(`  done in ${(ms / 1000).toFixed(1)} s`);
  }
  await exec('sync', []);
  log(`${pool.driver.info.name}: timing snapshot and clone (${WARMUP} warm-up + ${RUNS} rounds per size)`);
  const ops = await timeSnapshotClone(pool, datasets, settle);
  return {
    driver: pool.driver.info.name,
    instantSnapshots: pool.driver.info.instantSnapshots,
    backing,
    sizes: sizes.map((s) => s.key),
    ...ops,
  };
}

// ---- send and receive ------------------------------------------------------------------------------

async function sendTo(pool: Pool, snap: string, out: Writable): Promise<void> {
  await pool.send(snap, out);
  out.end();
  await finished(out);
}

/** Run a program with its stdout to /dev/null (the baselines: `cat file`, raw `btrfs send`). */
async function toDevNull(cmd: string, args: string[]): Promise<void> {
  const devNull = openSync('/dev/null', 'w');
  try {
    await exec(cmd, args, devNull);
  } finally {
    closeSync(devNull);
  }
}

type StreamMeasure =
  | 'send'
  | 'receive'
  | 'receiveSynced'
  | 'catStream'
  | 'catData'
  | 'rawSend'
  | 'rawReceive'
  | 'rawReceiveSynced';

/**
 * Send the big dataset's snapshot to /dev/null, receive its stream from a file into a new dataset, and
 * read the same bytes with cat; for reference, the same with btrfs send/receive alone (no Zonix framing,
 * checksum or metadata). Each `STREAM_RUNS` times, interleaved; medians are reported.
 */
async function benchStream(
  pool: Pool,
  dataset: string,
  dataBytes: number,
  env: BenchEnv,
  settle: () => Promise<void>,
  poolFile: string,
): Promise<StreamResult> {
  const snap = `${dataset}@send`;
  await pool.snapshot([snap]);
  const snapPath = pool.datasetPath(snap);
  const dataFile = join(snapPath, DATA_FILE);
  const streamFile = join(env.dir, 'stream.zfs');
  const rawFile = join(env.dir, 'stream.btrfs');
  log(`stream: sending ${snap} to ${streamFile}, and with btrfs send alone to ${rawFile}`);
  await sendTo(pool, snap, createWriteStream(streamFile));
  await exec('btrfs', ['send', '-q', '-f', rawFile, snapPath]);
  const streamBytes = (await stat(streamFile)).size;
  const rawBytes = (await stat(rawFile)).size;
  // Raw receives go to a scratch folder in the pool's storage, beside (not inside) its datasets.
  const rawDir = join(pool.top, 'bench-raw');
  await mkdir(rawDir);
  // Until received data is on disk: the btrfs filesystem, then the pool file under its loop device.
  const syncToDisk = async () => {
    await exec('sync', ['-f', pool.top]);
    await exec('sync', ['-f', poolFile]);
  };
  const ms: Record<StreamMeasure, number[]> = {
    send: [],
    receive: [],
    receiveSynced: [],
    catStream: [],
    catData: [],
    rawSend: [],
    rawReceive: [],
    rawReceiveSynced: [],
  };
  for (let r = 0; r < STREAM_RUNS; r++) {
    checkInterrupted();
    log(`stream: round ${r + 1}/${STREAM_RUNS}`);
    ms.send.push(await timed(() => sendTo(pool, snap, createWriteStream('/dev/null'))));
    ms.rawSend.push(await timed(() => toDevNull('btrfs', ['send', '-q', snapPath])));
    ms.catStream.push(await timed(() => toDevNull('cat', [streamFile])));
    ms.catData.push(await timed(() => toDevNull('cat', [dataFile])));

    const target = `${pool.name}/received-${r}`;
    const recvMs = await timed(() => pool.receive(target, createReadStream(streamFile)));
    ms.receive.push(recvMs);
    ms.receiveSynced.push(recvMs + (await timed(syncToDisk)));
    if (!(await sameSamples(dataFile, join(pool.datasetPath(target), DATA_FILE))))
      throw new Error(`${target}: received data differs from ${dataset}`);
    await pool.destroy(target, { recursive: true });
    await settle();

    const rawMs = await timed(() => exec('btrfs', ['receive', '-q', '-f', rawFile, rawDir]));
    ms.rawReceive.push(rawMs);
    ms.rawReceiveSynced.push(rawMs + (await timed(syncToDisk)));
    const raw = join(rawDir, basename(snapPath));
    if (!(await sameSamples(dataFile, join(raw, DATA_FILE))))
      throw new Error(`btrfs receive: received data differs from ${dataset}`);
    await exec('btrfs', ['subvolume', 'delete', raw]);
    await settle();
  }
  await rmdir(rawDir);
  await rm(streamFile);
  await rm(rawFile);
  await pool.destroy(snap);
  const med = (m: StreamMeasure, bytes: number) => rate(bytes, median(ms[m]));
  const send = med('send', streamBytes);
  const receive = med('receive', streamBytes);
  const catStream = med('catStream', streamBytes);
  return {
    datasetBytes: dataBytes,
    streamBytes,
    rawStreamBytes: rawBytes,
    runs: STREAM_RUNS,
    send,
    receive,
    receiveSynced: med('receiveSynced', streamBytes),
    catStream,
    catData: med('catData', dataBytes),
    rawSend: med('rawSend', rawBytes),
    rawReceive: med('rawReceive', rawBytes),
    rawReceiveSynced: med('rawReceiveSynced', rawBytes),
    sendVsCat: round(send.mibPerSec / catStream.mibPerSec, 3),
    receiveVsCat: round(receive.mibPerSec / catStream.mibPerSec, 3),
    baseline: 'page cache (caches are not dropped: cat reads cached pages, an upper bound)',
  };
}

// ---- the run ---------------------------------------------------------------------------------------

async function runBench(run: BenchRun): Promise<BenchResult> {
  const { storage, env, made } = run;
  const host = await hostInfo(env);
  const { tmpFs } = host;

  const { pool: bPool, poolFile } = await createBtrfsPool(run, 'b', POOL_FILE_SIZE);
  const settleBtrfs = () => settleBtrfsPool(bPool.top);
  const btrfs = await benchDriver(
    bPool,
    BTRFS_SIZES,
    `${POOL_FILE_SIZE / GiB} GiB sparse loop file on ${tmpFs}`,
    settleBtrfs,
  );
  const stream = await benchStream(
    bPool,
    `${bPool.name}/data-${BTRFS_SIZES[1].key}`,
    BTRFS_SIZES[1].bytes,
    env,
    settleBtrfs,
    poolFile,
  );

  const dName = `${env.prefix}d`;
  const dPath = join(env.dir, 'dirpool', dName);
  log(`creating dir pool ${dName} in ${dPath}`);
  made.push(dName);
  const dPool = await storage.createPool(dName, dPath, {
    mountpoint: join(env.dir, 'mnt', dName),
    driver: 'dir',
  });
  const dir = await benchDriver(dPool, DIR_SIZES, `a folder on ${tmpFs}`, () =>
    exec('sync', ['-f', dPool.top]).then(() => undefined),
  );

  return {
    host,
    runs: RUNS,
    warmup: WARMUP,
    btrfs,
    dir,
    stream,
  };
}

// ---- report ----------------------------------------------------------------------------------------

const sizeLabel = (key: string) => key.replace(/^(\d+)/, '$1 ');

function report(r: BenchResult): string {
  const out: string[] = [
    'Zonix dataset benchmark',
    `  host: Linux ${r.host.kernel}, ${r.host.cpus} CPUs, node ${r.host.node}; temp folder on ${r.host.tmpFs}`,
    `  btrfs pool: ${r.btrfs.backing} (compress=zstd, quotas on); dir pool: ${r.dir.backing}`,
    '  data: random bytes (incompressible), fsynced and synced before timing',
    '',
    `Snapshot and clone through the in-process Pool API, ms (${r.runs} runs each after ${r.warmup} warm-up;`,
    '  fresh names every run; clone and snapshot destroyed, and btrfs cleanup awaited, outside the timing)',
  ];
  const rows: string[][] = [];
  for (const d of [r.btrfs, r.dir]) {
    for (const op of ['snapshot', 'clone'] as const) {
      for (const key of d.sizes) {
        const s = d[op].bySize[key]!;
        rows.push([
          d.driver,
          op,
          sizeLabel(key),
          fmtMs(s.medianMs),
          fmtMs(s.p90Ms),
          fmtMs(s.minMs),
          fmtMs(s.maxMs),
        ]);
      }
    }
  }
  out.push(table(['driver', 'operation', 'dataset', 'median', 'p90', 'min', 'max'], rows, 3), '');

  out.push(
    'Growth with size: median(large) / median(small), near 1.00x = constant time; and ms added per GiB',
  );
  const ratioRows = [r.btrfs, r.dir].map((d) => [
    d.driver,
    `${sizeLabel(d.sizes[1]!)} / ${sizeLabel(d.sizes[0]!)}`,
    fmtX(d.snapshot.ratio),
    fmtX(d.clone.ratio),
    d.snapshot.extraMsPerGiB.toFixed(0),
    d.clone.extraMsPerGiB.toFixed(0),
    d.instantSnapshots ? 'CoW subvolume snapshots: constant time' : 'contrast: copies, time grows with size',
  ]);
  out.push(
    table(['driver', 'sizes', 'snapshot', 'clone', 'snap ms/GiB', 'clone ms/GiB', ''], ratioRows, 2),
    '',
  );

  const s = r.stream;
  out.push(
    `Send and receive of the ${s.datasetBytes / GiB} GiB btrfs dataset, median of ${s.runs} (Zonix stream ` +
      `${(s.streamBytes / MiB).toFixed(1)} MiB, btrfs stream ${(s.rawStreamBytes / MiB).toFixed(1)} MiB)`,
  );
  const vsCat = (v: Rate) => fmtX(v.mibPerSec / s.catStream.mibPerSec);
  const row = (what: string, v: Rate) => [what, v.seconds.toFixed(2), v.mibPerSec.toFixed(0), vsCat(v)];
  out.push(
    table(
      ['what', 's', 'MiB/s', 'vs cat'],
      [
        row('Pool.send -> /dev/null', s.send),
        row('Pool.receive <- stream file (until it returns)', s.receive),
        row('Pool.receive + sync (data on disk)', s.receiveSynced),
        row('cat stream file > /dev/null (baseline)', s.catStream),
        row('cat dataset data file > /dev/null', s.catData),
        row('reference: btrfs send > /dev/null', s.rawSend),
        row('reference: btrfs receive -f file', s.rawReceive),
        row('reference: btrfs receive -f file + sync', s.rawReceiveSynced),
      ],
      1,
    ),
    '  Note: the cat baselines read from the page cache (dropping caches is not reliable here), so they',
    '  are an upper bound; send and receive read cached data too. "vs cat" = MiB/s over MiB/s of',
    '  cat on the stream file; the references show what btrfs alone does with the same snapshot.',
  );
  return out.join('\n');
}

process.exitCode = await runBenchmark('bench/datasets.ts', 'zb', runBench, report);
