/**
 * The zone console: what the zone's init writes to its terminal, and what is typed to it. The zone's
 * monitor (conmon, run with a terminal) keeps the terminal's master side; it logs what init writes to
 * `console.log` and offers the terminal on an attach socket, a SOCK_SEQPACKET unix socket (each packet
 * from conmon is one byte naming the stream, 1 stdout or 2 stderr, then data; what is written to it is
 * typed on the terminal). The window size goes through the monitor's control fifo (`1 <rows> <cols>`).
 * Node's `net` cannot speak SOCK_SEQPACKET; `node-unix-socket` (N-API, prebuilt) can.
 * @module
 */
import { closeSync, constants, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { ZonixError } from '../common/index.ts';
import { zoneDir } from '../zones/index.ts';

/** Ctrl-], what detaches from `vmadm console` (as from SmartOS's serial consoles). */
export const CTRL_RIGHT_BRACKET = 0x1d;

/** conmon reads what clients send in packets of at most 32 KiB: stay well under. */
const PACKET = 4096;

/**
 * How the user leaves the console. `immediate`: the escape character detaches wherever it is typed.
 * `line`: it must start a line and be followed by `.` (zlogin's `~.`); typed twice it sends itself.
 */
export interface EscapeSpec {
  mode: 'immediate' | 'line';
  char: number;
}

/** Finds the escape sequence in what is typed; everything else goes to the console unchanged. */
export class EscapeScanner {
  private atLineStart = true;
  private pending = false;

  constructor(readonly spec: EscapeSpec) {}

  /** The bytes to send for this chunk, and whether the user asked to detach (what follows is dropped). */
  feed(chunk: Uint8Array): { send: Buffer; detach: boolean } {
    const out: number[] = [];
    const { mode, char } = this.spec;
    const put = (b: number) => {
      out.push(b);
      this.atLineStart = b === 0x0a || b === 0x0d;
    };
    for (const b of chunk) {
      if (mode === 'immediate') {
        if (b === char) return { send: Buffer.from(out), detach: true };
        put(b);
      } else if (this.pending) {
        this.pending = false;
        if (b === 0x2e) return { send: Buffer.from(out), detach: true };
        if (b !== char) put(char);
        put(b);
      } else if (this.atLineStart && b === char) this.pending = true;
      else put(b);
    }
    return { send: Buffer.from(out), detach: false };
  }
}

/**
 * zlogin's `-e` argument: a character, `^X` for a control character, or `\ooo` in octal.
 * Undefined when it is none of these.
 */
export function parseEscapeChar(arg: string): number | undefined {
  if (/^\\[0-7]{1,3}$/.test(arg)) return parseInt(arg.slice(1), 8) & 0xff;
  if (/^\^[@-_a-z?]$/.test(arg)) {
    const c = arg.toUpperCase().charCodeAt(1);
    return c === 0x3f ? 0x7f : c & 0x1f;
  }
  return arg.length === 1 ? arg.charCodeAt(0) : undefined;
}

/** The monitor's files for zone `id`: its attach socket, control fifo and bundle config. */
export function consolePaths(id: string): { attach: string; ctl: string; config: string } {
  const dir = zoneDir(id);
  return { attach: join(dir, 'attach'), ctl: join(dir, 'ctl'), config: join(dir, 'config.json') };
}

/** Whether the zone's init was given a terminal (zones started before consoles existed were not). */
export function hasTerminal(id: string): boolean {
  try {
    const spec = JSON.parse(readFileSync(consolePaths(id).config, 'utf8')) as {
      process?: { terminal?: boolean };
    };
    return spec.process?.terminal === true;
  } catch {
    return false;
  }
}

/** Tell the monitor the console window's size; quietly nothing when it is not listening. */
export function resizeConsole(id: string, rows: number, cols: number): void {
  if (!(rows > 0 && cols > 0)) return;
  try {
    const fd = openSync(consolePaths(id).ctl, constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      writeSync(fd, `1 ${Math.min(rows, 1000)} ${Math.min(cols, 1000)}\n`);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* no monitor: the zone is going away */
  }
}

type Seqpacket = import('node-unix-socket').SeqpacketSocket;

/** The native module is loaded when a console is opened, and never bundled (it ships a .node file). */
function seqpacketSocket(): Seqpacket {
  const name = 'node-unix-socket';
  const mod = createRequire(import.meta.url)(name) as typeof import('node-unix-socket');
  return new mod.SeqpacketSocket();
}

export interface ConsoleStreams {
  /** What the user types (a TTY is put in raw mode while attached, and restored after). */
  input: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  /** Where the console's output goes (a TTY's size is passed on to the zone's terminal). */
  output: Writable & { isTTY?: boolean; columns?: number; rows?: number };
}

export interface AttachOptions extends ConsoleStreams {
  escape: EscapeSpec;
  /** Called once connected, before the terminal is put in raw mode (for a "Connected" line). */
  onConnected?: () => void;
  /** When input ends (not a TTY), how long output must be quiet before leaving; default 300 ms. */
  drainQuietMs?: number;
}

/** Why the console session ended. */
export type DetachReason = 'escape' | 'eof' | 'closed';

/**
 * Attach to zone `id`'s console until the user detaches (the escape sequence), input ends (then output
 * is copied until it has been quiet for a moment), or the monitor goes away (the zone stopped).
 * The zone keeps running after a detach.
 */
export async function attachConsole(id: string, opts: AttachOptions): Promise<DetachReason> {
  if (id.startsWith('/')) return attachSerialConsole(id, opts);
  const { attach } = consolePaths(id);
  if (!existsSync(attach))
    throw new ZonixError('ENOTRUNNING', `cannot connect to console: zone ${id} has no monitor`);
  const sock = seqpacketSocket();
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    try {
      // conmon's socket path is short (run dir + UUID); a longer one goes through the folder's fd.
      if (Buffer.byteLength(attach) < 108) sock.connect(attach, resolve);
      else {
        const dirFd = openSync(zoneDir(id), constants.O_RDONLY | constants.O_DIRECTORY);
        try {
          sock.connect(`/proc/self/fd/${dirFd}/attach`, resolve);
        } finally {
          // connect(2) on a unix socket has resolved the path by the time it returns.
          closeSync(dirFd);
        }
      }
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  }).catch((err: unknown) => {
    sock.destroy();
    const why = err instanceof Error ? err.message : String(err);
    throw new ZonixError('ECONNREFUSED', `cannot connect to console of zone ${id}: ${why}`, { cause: err });
  });
  sock.removeAllListeners('error');
  opts.onConnected?.();
  const { output } = opts;
  return consoleSession(
    opts,
    {
      send: (b) => {
        try {
          for (let off = 0; off < b.length; off += PACKET)
            sock.write(b.subarray(off, Math.min(off + PACKET, b.length)));
          return true;
        } catch {
          return false; // the monitor went away meanwhile
        }
      },
      onData: (fn) => sock.on('data', fn),
      close: () => {
        sock.removeAllListeners();
        sock.on('error', () => undefined);
        sock.destroy();
      },
      resize: () => {
        if (output.isTTY) resizeConsole(id, output.rows ?? 0, output.columns ?? 0);
      },
    },
    (finish) => {
      sock.on('data', (packet: Buffer) => {
        // The first byte names the stream (1 stdout, 2 stderr): one terminal, both go to the output.
        if (packet.length > 1) output.write(packet.subarray(1));
      });
      sock.on('end', () => finish('closed'));
      sock.on('error', () => finish('closed'));
    },
  );
}

/**
 * A hardware guest's serial console: the stream socket its hypervisor offers (`vm.console` in its
 * zone). The guest keeps running after a detach; the session ends when the hypervisor goes.
 */
export async function attachSerialConsole(path: string, opts: AttachOptions): Promise<DetachReason> {
  const sock = await new Promise<Socket>((resolve, reject) => {
    const s = createConnection(path);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  }).catch((err: unknown) => {
    const why = err instanceof Error ? err.message : String(err);
    throw new ZonixError('ECONNREFUSED', `cannot connect to serial console ${path}: ${why}`, { cause: err });
  });
  sock.removeAllListeners('error');
  opts.onConnected?.();
  return consoleSession(
    opts,
    {
      send: (b) => {
        if (sock.destroyed) return false;
        sock.write(b);
        return true;
      },
      onData: (fn) => sock.on('data', fn),
      close: () => {
        sock.removeAllListeners();
        sock.on('error', () => undefined);
        sock.destroy();
      },
    },
    (finish) => {
      sock.on('data', (b: Buffer) => opts.output.write(b));
      sock.on('close', () => finish('closed'));
      sock.on('error', () => finish('closed'));
    },
  );
}

/**
 * A console session with the user's terminal, whatever carries the bytes: raw mode while attached,
 * the escape scanned for, the console's answer waited out when input ends. `listen` hooks the
 * carrier's end to `finish`.
 */
function consoleSession(
  opts: AttachOptions,
  io: {
    send: (b: Buffer) => boolean;
    onData: (fn: () => void) => void;
    close: () => void;
    resize?: () => void;
  },
  listen: (finish: (why: DetachReason) => void) => void,
): Promise<DetachReason> {
  const { input, output } = opts;
  const tty = input.isTTY === true && typeof input.setRawMode === 'function';
  const scanner = new EscapeScanner(opts.escape);
  const resize = () => io.resize?.();
  return new Promise<DetachReason>((resolve) => {
    let done = false;
    let quiet: NodeJS.Timeout | undefined;
    let cap: NodeJS.Timeout | undefined;
    const finish = (why: DetachReason) => {
      if (done) return;
      done = true;
      clearTimeout(quiet);
      clearTimeout(cap);
      input.off('data', onInput);
      input.off('end', onEnd);
      output.off('resize', resize);
      if (tty) input.setRawMode?.(false);
      input.pause();
      if (!tty) input.destroy();
      io.close();
      resolve(why);
    };
    const onInput = (chunk: Buffer | string) => {
      const { send, detach } = scanner.feed(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      if (send.length && !io.send(send)) {
        finish('closed');
        return;
      }
      if (detach) finish('escape');
    };
    // Input is over (a script, a file): wait for the console's answer to what was sent, then leave.
    const onEnd = () => {
      const wait = opts.drainQuietMs ?? 300;
      const arm = () => {
        clearTimeout(quiet);
        quiet = setTimeout(() => finish('eof'), wait);
      };
      arm();
      io.onData(arm);
      cap = setTimeout(() => finish('eof'), Math.max(wait * 10, 3000));
    };
    listen(finish);
    if (tty) input.setRawMode?.(true);
    resize();
    output.on('resize', resize);
    input.on('data', onInput);
    input.on('end', onEnd);
    input.resume();
  });
}
