/**
 * What integration tests share: a private Zonix environment per test file (config and run folders
 * under a unique temp dir, so nothing touches the host's own pools), CLI runners, and a leak check.
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { rm, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { processAlive } from '../../src/common/index.ts';
import { findTool } from '../../src/platform/exec.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
export const isRoot = process.getuid?.() === 0;

export interface TestEnv {
  /** Unique to this run: prefix every pool, link and namespace name with it. */
  prefix: string;
  dir: string;
}

/** A private environment; sets ZONIX_* variables for this process and the CLIs it starts. */
export function makeTestEnv(tag: string): TestEnv {
  const prefix = `zt${tag}${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  process.env.ZONIX_CONFIG_DIR = join(dir, 'etc');
  process.env.ZONIX_RUN_DIR = join(dir, 'run');
  process.env.ZONIX_POOL_FILE_DIR = join(dir, 'pools');
  process.env.ZONIX_CGROUP_PARENT = `zonix-${prefix}`;
  return { prefix, dir };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** A file to use as stdin. */
  stdinFile?: string;
  /** A file to write stdout to (binary streams). */
  stdoutFile?: string;
  input?: string | Buffer;
  /** The folder to run it in. */
  cwd?: string;
}

/** Run one of the bin/ tools as a user would. */
export function cli(tool: string, args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const inFd = opts.stdinFile ? openSync(opts.stdinFile, 'r') : undefined;
    const outFd = opts.stdoutFile ? openSync(opts.stdoutFile, 'w') : undefined;
    const child = spawn(join(ROOT, 'bin', tool), args, {
      stdio: [inFd ?? (opts.input !== undefined ? 'pipe' : 'ignore'), outFd ?? 'pipe', 'pipe'],
      env: process.env,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    child.on('error', reject);
    child.on('close', (code) => {
      if (inFd !== undefined) closeSync(inFd);
      if (outFd !== undefined) closeSync(outFd);
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
  });
}

/** Run a tool and fail with its stderr unless it exits 0. */
export async function ok(tool: string, args: string[], opts?: CliOptions): Promise<string> {
  const r = await cli(tool, args, opts);
  if (r.code !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** `vmadm create -f` of `payload` (written to a file in `dir`), as a user runs it: the new VM's UUID. */
export async function createVm(dir: string, payload: Record<string, unknown>): Promise<string> {
  const f = join(dir, `${randomUUID()}.json`);
  writeFileSync(f, JSON.stringify(payload));
  const r = await cli('vmadm', ['create', '-f', f]);
  if (r.code !== 0) throw new Error(`vmadm create exited ${r.code}: ${r.stderr}`);
  return /Successfully created VM (\S+)/.exec(r.stderr)![1]!;
}

/** Processes started with the test's run folder in their environment (zonix-metadata, say). */
export function envProcesses(env: TestEnv): number[] {
  const mark = `ZONIX_RUN_DIR=${join(env.dir, 'run')}\0`;
  const out: number[] = [];
  for (const p of readdirSafe('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/environ`, 'utf8').includes(mark)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Stop the test's zonix-metadata (and its respawner), if one was started; killed if it lingers. */
export async function stopMetadata(env: TestEnv): Promise<void> {
  // Through the metadata subsystem's own client (it times out: a stuck server is killed below).
  const { askMetadata } = await import('../../src/metadata/index.ts');
  await askMetadata({ op: 'stop' }, 3000).catch(() => undefined);
  const mine = () =>
    envProcesses(env).filter((pid) => {
      try {
        return /zonix-(metadata|respawn)/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      } catch {
        return false;
      }
    });
  for (let i = 0; i < 50 && mine().length; i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of mine()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** Which of `pids` still run (a test's zonixd processes must all be gone at its end). */
export function stillRunning(pids: number[]): number[] {
  return pids.filter((pid) => processAlive(pid));
}

/** Mounts, loop devices, cgroups and processes that still mention the test's folder or prefix. */
export function leaks(env: TestEnv): string[] {
  const found: string[] = [];
  for (const pid of envProcesses(env)) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    found.push(`process ${pid}: ${cmd}`);
  }
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (line.includes(env.dir) || line.includes(env.prefix)) found.push(`mount: ${line}`);
  }
  for (const f of loopBackingFiles()) if (f.includes(env.dir)) found.push(`loop device backed by ${f}`);
  for (const c of readdirSafe('/sys/fs/cgroup')) {
    for (const d of readdirSafe(join('/sys/fs/cgroup', c)))
      if (d.includes(env.prefix)) found.push(`cgroup ${c}/${d}`);
  }
  return found;
}

function loopBackingFiles(): string[] {
  const out: string[] = [];
  const dir = '/sys/block';
  for (const name of readdirSafe(dir)) {
    if (!name.startsWith('loop')) continue;
    try {
      out.push(readFileSync(join(dir, name, 'loop', 'backing_file'), 'utf8').trim());
    } catch {
      /* not attached */
    }
  }
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Best-effort teardown: the zones named, then export/destroy what is left, unmount leftovers, remove
 * the folder.
 */
export async function teardown(env: TestEnv, pools: string[], zones: string[] = []): Promise<void> {
  await stopMetadata(env);
  // Zones a failed test left running go first (their rootfs is in the pools).
  if (zones.length) {
    const { OciRuntime } = await import('../../src/zones/index.ts');
    const runtime = new OciRuntime('runc');
    for (const z of zones) await runtime.delete(z, { force: true }).catch(() => undefined);
  }
  for (const p of pools) await cli('zpool', ['destroy', '-f', p]).catch(() => undefined);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').reverse()) {
    const target = line.split(' ')[4];
    if (target && (target.includes(env.dir) || target.includes(env.prefix))) {
      await new Promise((r) => spawn('umount', ['-l', target]).on('close', r));
    }
  }
  for (const c of readdirSafe('/sys/fs/cgroup')) {
    const parent = join('/sys/fs/cgroup', c, `zonix-${env.prefix}`);
    for (const d of readdirSafe(parent)) await rmdirQuiet(join(parent, d));
    await rmdirQuiet(parent);
  }
  await rm(env.dir, { recursive: true, force: true });
}

async function rmdirQuiet(path: string): Promise<void> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) await rmdir(path);
  } catch {
    /* gone, or not empty: the leak check says so */
  }
}

/** Why a zone test cannot run here (not root, or runc/conmon missing), or false. */
export function zoneTestSkip(): string | false {
  if (!isRoot) return 'needs root';
  return findTool('runc') && findTool('conmon') ? false : 'needs runc and conmon';
}

export interface Zonixd {
  pid: number;
  /** The API's address on loopback, its Unix socket and its token. */
  url: string;
  /** CloudAPI's address, when it was started with `--cloudapi`. */
  cloudapi: string;
  apiSocket: string;
  token: string;
  /** Resolves with its exit code when it has gone. */
  exited: Promise<number | null>;
  /** What it logged so far (one line per command it ran). */
  log(): string;
  /** SIGTERM, and its exit code once it has gone. */
  stop(): Promise<number | null>;
}

/**
 * Start bin/zonixd with this process's environment (so the CLIs the test runs, having the same ZONIX_*
 * settings, go through it) and wait until it listens.
 */
export async function startZonixd(args: string[] = []): Promise<Zonixd> {
  // A port of its own (the host's zonixd, or another test's, may have 9090).
  const all = args.includes('--listen') ? args : ['--listen', '127.0.0.1:0', ...args];
  const child = spawn(join(ROOT, 'bin', 'zonixd'), all, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: process.env,
  });
  let text = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes(' zonixd: listening on ')) resolve();
    });
    void exited.then((code) => reject(new Error(`zonixd exited ${code}: ${text}`)));
  });
  const state = JSON.parse(readFileSync(join(process.env.ZONIX_RUN_DIR!, 'zonixd.json'), 'utf8')) as {
    url: string | null;
    cloudapi_url: string | null;
    api_socket: string;
    token_file: string;
  };
  return {
    pid: child.pid!,
    url: state.url ?? '',
    cloudapi: state.cloudapi_url ?? '',
    apiSocket: state.api_socket,
    token: readFileSync(state.token_file, 'utf8').trim(),
    exited,
    log: () => text,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * A pool `name` on a sparse file in the test's folder, mounted at `<dir>/zones` unless told, with the
 * built-in minimal image installed: resolves to the image's UUID.
 */
export async function makeZonePool(
  env: TestEnv,
  name: string,
  opts: { size?: string; mountpoint?: string } = {},
): Promise<string> {
  const mnt = opts.mountpoint ?? join(env.dir, 'zones');
  await ok('zpool', [
    'create',
    '-m',
    mnt,
    '-o',
    `size=${opts.size ?? '1G'}`,
    name,
    join(env.dir, 'pool.img'),
  ]);
  await ok('imgadm', ['import', '-P', name, 'minimal']);
  return (await ok('imgadm', ['list', '-P', name, '-H', '-o', 'uuid'])).trim();
}
