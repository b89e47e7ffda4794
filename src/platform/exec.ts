/**
 * The one way Zonix runs a host program: argv arrays (never a shell), a timeout on every call, output
 * captured, and failures raised as typed errors carrying the command, exit code and stderr.
 * @module
 */
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

// child_process is loaded by the first command run, not by every tool that starts.
let childProcess: typeof import('node:child_process') | undefined;
const spawn: typeof import('node:child_process').spawn = ((
  ...args: Parameters<typeof import('node:child_process').spawn>
) =>
  (childProcess ??= createRequire(import.meta.url)(
    'node:child_process',
  ) as typeof import('node:child_process')).spawn(...args)) as typeof import('node:child_process').spawn;
import { ZonixError } from '../common/index.ts';

const DEFAULT_TIMEOUT_MS = 60_000;
const osSignals = osConstants.signals as Record<string, number>;
const STDERR_KEEP = 4096;

export interface RunOptions {
  timeoutMs?: number;
  /** Data for stdin. */
  input?: string | Uint8Array;
  /** An open descriptor to be the program's stdin instead (a pty master a helper sets up, say). */
  stdinFd?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Exit codes that are not failures (default [0]). */
  okCodes?: number[];
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

function describe(tool: string, argv: readonly string[]): string {
  return [tool, ...argv].join(' ');
}

export class HostCommandError extends ZonixError {
  constructor(
    readonly tool: string,
    readonly argv: readonly string[],
    /** The program's exit status (null when a signal ended it). */
    readonly status: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stderr: string,
  ) {
    const how = signal ? `killed by ${signal}` : `exit ${status}`;
    const detail = stderr.trim().split('\n').slice(-3).join('; ');
    super('EHOSTCMD', `Failed to run: ${describe(tool, argv)}: ${how}${detail ? ` (${detail})` : ''}`);
  }
}

export class HostCommandTimeoutError extends ZonixError {
  constructor(
    readonly tool: string,
    readonly argv: readonly string[],
    readonly timeoutMs: number,
  ) {
    super('ETIMEDOUT', `Timed out after ${timeoutMs} ms: ${describe(tool, argv)}`);
  }
}

export class ToolNotFoundError extends ZonixError {
  constructor(readonly tool: string) {
    super('ENOTOOL', `required host program not found: ${tool}`);
  }
}

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const resolved = new Map<string, string | null>();

/** ZONIX_TRACE=1 prints each host command, its exit status and how long it took, on stderr. */
const TRACE = Boolean(process.env.ZONIX_TRACE);

function trace(tool: string, argv: readonly string[], started: number, code: number | null): void {
  if (!TRACE) return;
  const ms = (performance.now() - started).toFixed(1);
  process.stderr.write(`[zonix] ${describe(tool, argv)} -> ${code ?? 'signal'} (${ms} ms)\n`);
}

/** The absolute path of a host program, looked up once per process; undefined if absent. */
export function findTool(tool: string): string | undefined {
  if (tool.includes('/')) return tool;
  const hit = resolved.get(tool);
  if (hit !== undefined) return hit ?? undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...SEARCH_PATH].filter(Boolean);
  for (const dir of dirs) {
    const p = join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      resolved.set(tool, p);
      return p;
    } catch {
      /* next */
    }
  }
  resolved.set(tool, null);
  return undefined;
}

function toolPath(tool: string): string {
  const p = findTool(tool);
  if (p === undefined) throw new ToolNotFoundError(tool);
  return p;
}

/** Run a program to completion and capture its output. */
export function run(tool: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const okCodes = opts.okCodes ?? [0];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(toolPath(tool), argv, {
        cwd: opts.cwd,
        env: opts.env,
        stdio: [opts.stdinFd ?? (opts.input === undefined ? 'ignore' : 'pipe'), 'pipe', 'pipe'],
        signal: opts.signal,
      });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      trace(tool, argv, started, code);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (timedOut) reject(new HostCommandTimeoutError(tool, argv, timeoutMs));
      else if (code === null || !okCodes.includes(code))
        reject(new HostCommandError(tool, argv, code, signal, stderr.slice(-STDERR_KEEP)));
      else resolve({ stdout, stderr, exitCode: code });
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** Run a program and parse its stdout as JSON. */
export async function runJson<T>(tool: string, argv: readonly string[], opts?: RunOptions): Promise<T> {
  const { stdout } = await run(tool, argv, opts);
  return JSON.parse(stdout) as T;
}

export interface StreamOptions {
  stdin?: Readable | 'ignore';
  stdout?: Writable | 'pipe' | 'ignore';
  /** No timeout by default: streams (send/receive) run as long as data flows. */
  timeoutMs?: number;
  cwd?: string;
}

export interface StreamProcess {
  child: ChildProcess;
  /** Resolves on exit 0, rejects with HostCommandError otherwise. */
  done: Promise<void>;
}

/**
 * Start a program whose stdin/stdout are streams (btrfs send/receive, tar, zstd). stderr is captured
 * for the error.
 */
export function spawnStream(tool: string, argv: readonly string[], opts: StreamOptions = {}): StreamProcess {
  const stdio: StdioOptions = [
    opts.stdin === undefined || opts.stdin === 'ignore' ? 'ignore' : 'pipe',
    opts.stdout === 'ignore' ? 'ignore' : 'pipe',
    'pipe',
  ];
  const started = performance.now();
  const child = spawn(toolPath(tool), argv, { stdio, cwd: opts.cwd });
  const err: Buffer[] = [];
  child.stderr?.on('data', (d: Buffer) => err.push(d));
  if (opts.stdin && opts.stdin !== 'ignore' && child.stdin) {
    const input = child.stdin;
    input.on('error', () => undefined);
    // A source that fails (or failed already) ends the program's input rather than leaving it waiting.
    if (opts.stdin.errored || opts.stdin.destroyed) input.destroy();
    else {
      opts.stdin.on('error', () => input.destroy());
      opts.stdin.pipe(input);
    }
  }
  if (opts.stdout && typeof opts.stdout !== 'string' && child.stdout) child.stdout.pipe(opts.stdout);
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  if (opts.timeoutMs) {
    timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
  }
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      trace(tool, argv, started, code);
      if (timedOut) reject(new HostCommandTimeoutError(tool, argv, opts.timeoutMs ?? 0));
      else if (code !== 0)
        reject(
          new HostCommandError(
            tool,
            argv,
            code,
            signal,
            Buffer.concat(err).toString('utf8').slice(-STDERR_KEEP),
          ),
        );
      else resolve();
    });
  });
  return { child, done };
}

/**
 * Run a program on this process's own terminal (stdin, stdout and stderr inherited) and return its
 * exit status: for zlogin and consoles. A signal death maps to 128 + the signal number, as shells do.
 */
export function runInteractive(tool: string, argv: readonly string[]): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(toolPath(tool), argv, { stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      trace(tool, argv, started, code);
      resolve(code ?? 128 + (signal ? (osSignals[signal] ?? 1) : 1));
    });
  });
}
