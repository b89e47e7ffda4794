/**
 * What the benchmarks share: the private Zonix environment they run in, progress logging, running host
 * programs, timing and statistics, btrfs settling, random test data, the btrfs pool they measure on,
 * the cleanup and leak check, the report tables, and the `main` that ties these together.
 *
 * Nothing here imports a Zonix module at load time (type imports aside): the ZONIX_* folders must be
 * set before any of them is loaded, which {@link runBenchmark} does before {@link loadStorage}.
 * @module
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Pool } from '../src/storage/index.ts';

export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;
/** Size of the chunks random data is written (and compared) in. */
export const CHUNK = 4 * MiB;

const randomBytesAsync = promisify(randomBytes);

export interface Stats {
  medianMs: number;
  p90Ms: number;
  minMs: number;
  maxMs: number;
}

export interface Host {
  kernel: string;
  cpus: number;
  node: string;
  tmpFs: string;
}

export interface BenchEnv {
  dir: string;
  prefix: string;
}

export type Storage = Awaited<ReturnType<typeof loadStorage>>;

/** What a benchmark's run gets: the storage module, its private environment, and its pools. */
export interface BenchRun {
  storage: Storage;
  env: BenchEnv;
  /** Names of the pools made so far; the cleanup destroys them, last first. */
  made: string[];
}

// ---- small helpers ---------------------------------------------------------------------------------

export function positiveInt(text: string | undefined, fallback: number): number {
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

export function checkInterrupted(): void {
  if (interrupted) throw new Error('interrupted');
}

/** When the benchmark started (`performance.now()`). */
export const started = performance.now();

/** Progress goes to stderr, stamped with the time since start; stdout holds only the report. */
export function log(msg: string): void {
  const t = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[bench ${t}s] ${msg}\n`);
}

/** Run a host program; resolves with its stdout, rejects with its stderr unless it exits 0. */
export function exec(
  cmd: string,
  args: string[],
  stdout: 'pipe' | number = 'pipe',
  env?: NodeJS.ProcessEnv,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', stdout, 'pipe'], ...(env ? { env } : {}) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
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
export async function settleBtrfsPool(top: string): Promise<void> {
  const deadline = performance.now() + 120_000;
  for (;;) {
    await exec('btrfs', ['filesystem', 'sync', top]);
    const pending = (await exec('btrfs', ['subvolume', 'list', '-d', top])).trim();
    if (pending === '') return;
    if (performance.now() > deadline) throw new Error(`deleted subvolumes still not cleaned:\n${pending}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- timing ----------------------------------------------------------------------------------------

export async function timed(fn: () => Promise<unknown>): Promise<number> {
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

export function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  return { medianMs: quantile(s, 0.5), p90Ms: quantile(s, 0.9), minMs: s[0]!, maxMs: s.at(-1)! };
}

export function median(samples: number[]): number {
  return quantile(
    [...samples].sort((a, b) => a - b),
    0.5,
  );
}

export const round = (n: number, digits: number) => Number(n.toFixed(digits));

// ---- data ------------------------------------------------------------------------------------------

/** A file of random (incompressible) bytes, written in 4 MiB chunks and fsynced. */
export async function writeRandomFile(path: string, bytes: number): Promise<void> {
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

// ---- environment and pools -------------------------------------------------------------------------

/** A fresh temp folder for the ZONIX_* folders, set before the Zonix modules are loaded. */
function makeEnv(tag: string): BenchEnv {
  const prefix = `${tag}${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(os.tmpdir(), `zonix-bench-${prefix}-`));
  process.env.ZONIX_CONFIG_DIR = join(dir, 'etc');
  process.env.ZONIX_RUN_DIR = join(dir, 'run');
  process.env.ZONIX_POOL_FILE_DIR = join(dir, 'pools');
  return { dir, prefix };
}

export function loadStorage() {
  return import('../src/storage/index.ts');
}

/** The host the benchmark runs on, and the filesystem type of its temp folder. */
export async function hostInfo(env: BenchEnv): Promise<Host> {
  const tmpFs = (await exec('findmnt', ['-n', '-o', 'FSTYPE', '-T', env.dir])).trim();
  return { kernel: os.release(), cpus: os.cpus().length, node: process.version, tmpFs };
}

/** A btrfs pool `<prefix><suffix>` on a sparse file of `size` bytes in the private pool-file folder. */
export async function createBtrfsPool(
  run: BenchRun,
  suffix: string,
  size: number,
): Promise<{ pool: Pool; poolFile: string }> {
  const { storage, env, made } = run;
  const poolFiles = process.env.ZONIX_POOL_FILE_DIR!;
  await mkdir(poolFiles, { recursive: true });
  const name = `${env.prefix}${suffix}`;
  const poolFile = join(poolFiles, `${name}.img`);
  log(`creating btrfs pool ${name} on a ${size / GiB} GiB sparse file ${poolFile}`);
  made.push(name);
  const pool = await storage.createPool(name, poolFile, {
    mountpoint: join(env.dir, 'mnt', name),
    size,
    driver: 'btrfs',
  });
  return { pool, poolFile };
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

/** Stop the run's zonix-metadata (true when one ran), waiting until it is gone. */
export async function stopMetadata(): Promise<boolean> {
  const { askMetadata, controlSocket } = await import('../src/metadata/index.ts');
  const reply = await askMetadata({ op: 'stop' }, 3000).catch(() => undefined);
  if (!reply) return false;
  for (let i = 0; i < 50 && existsSync(controlSocket()); i++) await new Promise((r) => setTimeout(r, 100));
  return true;
}

/**
 * Destroy the pools this run made, then check that nothing mentions the temp folder any more. Whatever
 * the pools left is forced away (so the host stays clean) but still reported as a failure.
 */
async function cleanup({ storage, env, made }: BenchRun): Promise<string[]> {
  const problems: string[] = [];
  // The metadata process the run's zones started (if any) stops first: it is the run's, not the host's.
  const stopped = await stopMetadata();
  if (stopped) log('stopped zonix-metadata');
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

/** Columns padded to their widest cell, left-aligned before `rightFrom` and right-aligned from it. */
export function table(head: string[], rows: string[][], rightFrom: number): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    '  ' +
    cells
      .map((c, i) => (i >= rightFrom ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

export const fmtMs = (n: number) => n.toFixed(1);
export const fmtX = (n: number) => `${n.toFixed(2)}x`;

// ---- main ------------------------------------------------------------------------------------------

/**
 * A benchmark's `main`: check for root, trap signals, make the private environment, load the storage
 * module, then `run` and print `report` of its result. The cleanup runs whatever happened; then comes
 * the `RESULT {json}` line. Resolves with the exit status: 0 only if the run, report and cleanup all
 * succeeded.
 */
export async function runBenchmark<R>(
  script: string,
  tag: string,
  run: (ctx: BenchRun) => Promise<R>,
  report: (result: R) => string,
): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error(`${script} must run as root (it mounts btrfs on a loop device)`);
    return 1;
  }
  trapSignals();
  const env = makeEnv(tag);
  log(`private environment in ${env.dir}, pool prefix ${env.prefix}`);
  const ctx: BenchRun = { storage: await loadStorage(), env, made: [] };
  let result: R | undefined;
  let failed = false;
  try {
    result = await run(ctx);
    console.log(report(result));
  } catch (err) {
    console.error('benchmark failed:', err);
    failed = true;
  } finally {
    const problems = await cleanup(ctx);
    for (const p of problems) console.error(`error: ${p}`);
    if (problems.length) failed = true;
    else log('cleanup done: no mounts, loop devices or pool files left');
  }
  if (failed || result === undefined) return 1;
  console.log(`RESULT ${JSON.stringify(result)}`);
  return 0;
}

/** Run `fn` over `items`, at most `limit` at once. */
export async function limited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export interface Load {
  rps: number;
  p99: number;
  p50: number;
  bytes: number;
}

/** autocannon on `url`: a 2 s warm-up, then the measured run; any error or non-2xx answer fails it. */
export async function loadUrl(
  url: string,
  headers: Record<string, string>,
  opts: { connections: number; seconds: number },
): Promise<Load> {
  const { default: autocannon } = await import('autocannon');
  await autocannon({ url, connections: opts.connections, duration: 2, headers });
  const r = await autocannon({ url, connections: opts.connections, duration: opts.seconds, headers });
  if (r.non2xx || r.errors) throw new Error(`${url}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  return { rps: r.requests.average, p99: r.latency.p99, p50: r.latency.p50, bytes: r.throughput.average };
}
