/**
 * The CLIs' side of zonixd: a Unix socket (`<run dir>/zonixd.sock`, root only) on which the resident
 * host core runs `vmadm` commands for zonix-client (bin/zonix-client.c), so that a command costs
 * the work it does, not a Node start and a cold core. A command runs exactly as in its own process
 * (same code, same output, same exit code) with the client's stdio relayed, its working folder, and
 * its operation cancelled if the client goes away. A client of another configuration (its ZONIX_*
 * variables differ from the server's) or another build is told to run the command itself.
 *
 * Frames, both ways: one type byte, a 4-byte big-endian length, the payload.
 *   client: H header (JSON), I stdin data (empty: end of input)
 *   server: O stdout data, E stderr data, R "send stdin", X exit code (4 bytes), F "run it yourself"
 * @module
 */
import { chmodSync, existsSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { socketAnswers, ZonixError } from '../common/index.ts';
import { runPath } from '../platform/index.ts';
import { report } from './run.ts';
import type { Io } from './vmadm/io.ts';

/** Where zonixd listens for the CLIs. */
export function cliSocketPath(): string {
  return runPath('zonixd.sock');
}

/** A tool's main, as its bin runs it: zonixd runs it with the client's stdio. */
export type ToolMain = (argv: string[], io: Io) => Promise<number>;

export interface Header {
  v: number;
  build: string;
  tool: string;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  tty: [boolean, boolean, boolean];
}

export interface CliServerOptions {
  /** The tools zonixd runs; a client of any other runs its command itself. */
  tools: Record<string, ToolMain>;
  /** This build's stamp: clients of another build run their commands themselves. */
  build: string;
  /** One line per command served (default: nothing). */
  log?: (line: string) => void;
}

/**
 * Commands that need the client's own terminal or move bulk data: the client is told to run them
 * itself (the one list of them; the client asks for every command).
 */
const LOCAL_COMMANDS = new Set(['console', 'send', 'receive', 'recv']);

/** This process's ZONIX_* variables: a client must have the same to be served. */
function zonixEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[0].startsWith('ZONIX_') && e[1] !== undefined),
  );
}

function sameEnv(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

function frame(type: string, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(5);
  h.write(type, 0, 'latin1');
  h.writeUInt32BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

/** Splits a byte stream into frames. */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): { type: string; data: Buffer }[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: { type: string; data: Buffer }[] = [];
    while (this.buf.length >= 5) {
      const n = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + n) break;
      out.push({ type: String.fromCharCode(this.buf[0]!), data: this.buf.subarray(5, 5 + n) });
      this.buf = this.buf.subarray(5 + n);
    }
    return out;
  }
}

/** Commands at most this big in their header; anything larger is not a client of ours. */
const MAX_HEADER = 1 << 20;

export class CliServer {
  private server: Server | undefined;
  private readonly env = zonixEnv(process.env);
  private readonly running = new Set<Promise<void>>();
  private closing = false;
  /** Aborted when zonixd stops: commands that run until interrupted (events) end. */
  private readonly stopping = new AbortController();

  constructor(private readonly opts: CliServerOptions) {}

  /**
   * Listen on `path`. A socket file left by a zonixd that died is replaced; one that a running zonixd
   * answers on is not (that is an error: one zonixd per host).
   */
  async listen(path = cliSocketPath()): Promise<void> {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    if (existsSync(path)) {
      if (await socketAnswers(path)) throw new ZonixError('EEXIST', `zonixd is already running (${path})`);
      unlinkSync(path);
    }
    const server = createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(path, 0o600);
    this.server = server;
  }

  /** Stop taking commands (new clients run theirs themselves), end the streams, wait for the rest. */
  async close(): Promise<void> {
    this.closing = true;
    this.stopping.abort();
    const server = this.server;
    this.server = undefined;
    if (server) {
      const path = server.address();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // Gone with the server, so that clients run their commands themselves at once.
      if (typeof path === 'string') rmSync(path, { force: true });
    }
    await Promise.allSettled([...this.running]);
  }

  private serve(sock: Socket): void {
    const reader = new FrameReader();
    let header: Header | undefined;
    let input: PassThrough | undefined;
    let inputWanted = false;
    const ac = new AbortController();
    let done = false;
    const send = (type: string, payload?: Buffer) => {
      if (!sock.destroyed) sock.write(frame(type, payload));
    };
    sock.on('error', () => undefined);
    sock.on('close', () => {
      if (!done) ac.abort();
      input?.end();
    });
    sock.on('data', (chunk: Buffer) => {
      // A client that sends more than a header's worth before its header is not one of ours.
      if (!header && sock.bytesRead > MAX_HEADER) return void sock.destroy();
      for (const f of reader.push(chunk)) {
        if (f.type === 'H' && !header) {
          try {
            header = JSON.parse(f.data.toString('utf8')) as Header;
          } catch {
            return void sock.destroy();
          }
          input = new PassThrough();
          const h = header;
          const task = this.run(
            h,
            send,
            input,
            () => {
              if (!inputWanted) {
                inputWanted = true;
                send('R');
              }
            },
            ac.signal,
          ).finally(() => {
            done = true;
            this.running.delete(task);
            sock.end();
          });
          this.running.add(task);
        } else if (f.type === 'I' && input) {
          if (f.data.length === 0) input.end();
          else input.write(Buffer.from(f.data));
        } else return void sock.destroy();
      }
    });
    // A client that never says what it wants is dropped.
    sock.setTimeout(10_000, () => {
      if (!header) sock.destroy();
    });
  }

  private async run(
    h: Header,
    send: (type: string, payload?: Buffer) => void,
    input: PassThrough,
    wantInput: () => void,
    signal: AbortSignal,
  ): Promise<void> {
    const main = Object.hasOwn(this.opts.tools, h.tool) ? this.opts.tools[h.tool] : undefined;
    const why = this.closing
      ? 'zonixd is stopping'
      : !main
        ? `zonixd does not run ${h.tool}`
        : h.build !== this.opts.build
          ? `the client is of build ${h.build}, zonixd of ${this.opts.build}`
          : !sameEnv(zonixEnv(h.env), this.env)
            ? 'the client has other ZONIX_* settings'
            : LOCAL_COMMANDS.has(h.argv[0] ?? '')
              ? `${h.argv[0]!} runs in the client`
              : undefined;
    if (why !== undefined || !main) {
      send('F', Buffer.from(why ?? ''));
      return;
    }
    const started = performance.now();
    const stream = (type: string, tty: boolean) => {
      const w = new Writable({
        write(chunk: Buffer | string, _enc, cb) {
          send(type, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
          cb();
        },
      });
      return Object.assign(w, { isTTY: tty });
    };
    const stdout = stream('O', h.tty[1]);
    const stderr = stream('E', h.tty[2]);
    const stdin = Object.assign(input, { isTTY: h.tty[0] }) as unknown as NodeJS.ReadStream;
    const io: Io = {
      stdout,
      stderr,
      stdin,
      writeAll: (text) => send('O', Buffer.from(text)),
      readInput: async () => {
        wantInput();
        const chunks: Buffer[] = [];
        for await (const c of input) chunks.push(c as Buffer);
        return Buffer.concat(chunks).toString('utf8');
      },
      cwd: h.cwd,
      op: { signal },
      until: AbortSignal.any([signal, this.stopping.signal]),
    };
    let code: number;
    try {
      code = await main(h.argv, io);
    } catch (err) {
      code = report(err, (s) => {
        send('E', Buffer.from(s));
        return true;
      });
    }
    const x = Buffer.alloc(4);
    x.writeInt32BE(code);
    send('X', x);
    this.opts.log?.(
      `${h.tool} ${h.argv.join(' ')} -> ${code} (${(performance.now() - started).toFixed(1)} ms)`,
    );
  }
}

/** This build's stamp (dist/buildstamp, written by the build); `dev` when run from the sources. */
export function buildStamp(dir: string): string {
  try {
    return readFileSync(join(dir, 'buildstamp'), 'utf8').trim();
  } catch {
    return 'dev';
  }
}
